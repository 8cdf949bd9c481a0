"""The README's quick start and "Five minutes with curl", run as written against a
``fcemu serve`` process (the port swapped for the one it picked)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

import fcemu
from tests.cli.conftest import environment, serving

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PROXIES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def blocks(heading: str, language: str) -> list[str]:
    """The ```language blocks of one README ``## heading`` section."""
    text = README.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(rf"```{language}\n(.*?)```", text[start:end if end > 0 else None], re.S)


def control(url: str, path: str, body: dict[str, object]) -> None:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=60):
        pass


def test_quick_start_runs_twice_and_prints_succeeded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The snippet as pasted, twice, against ``fcemu serve``: on a manual clock, each
    ``time.sleep(s)`` of its polling loop moves the emulator's clock by ``s`` instead of
    waiting, so the task's 1 s ``x-fc-async-delay`` passes without real waiting."""
    pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")
    [code] = blocks("Quick start with the official SDK", "python")
    for name in PROXIES:
        monkeypatch.delenv(name, raising=False)
    with serving("--clock", "manual", log=tmp_path / "serve.log") as server:
        host_port = server.url.removeprefix("http://")
        code = code.replace('"127.0.0.1:9000"', repr(host_port))
        moved: list[float] = []

        def sleep(seconds: float) -> None:
            moved.append(seconds)
            control(server.url, "/_fcemu/clock/advance", {"seconds": seconds})

        with monkeypatch.context() as patch:
            patch.setattr(time, "sleep", sleep)
            for run in ("first", "second"):
                exec(compile(code, f"README.md quick start ({run} run)", "exec"), {})
        assert capsys.readouterr().out.split() == ["Succeeded", "Succeeded"]
        assert 1 <= sum(moved) < 10  # it waited for the delay, through its bounded loop
        with urllib.request.urlopen(server.url + "/_fcemu/queues/done/messages") as answer:
            messages = json.load(answer)["messages"]
        assert [json.loads(m["body"])["responsePayload"] for m in messages] == ["HI", "HI"]


def test_five_minutes_with_curl(tmp_path: Path) -> None:
    """The curl session, line by line in bash, against the server the section starts; the
    results its comments promise are in its output, in order."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (the section is for curl users)")
    serve, session = blocks("Five minutes with curl", "sh")
    args = serve.split()
    assert args[:2] == ["fcemu", "serve"]
    with serving(*args[2:], log=tmp_path / "serve.log") as server:
        port = server.url.rsplit(":", 1)[1]
        script = session.replace("127.0.0.1:9000", f"127.0.0.1:{port}")
        env = {k: v for k, v in environment().items() if k not in PROXIES}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    expected = ['{"status":"ok"}', '{"mode":"manual","now":1714521600000}',
                '"functionName":"hello"', '"asyncTask":true', '"status":"Enqueued"',
                '"now":1714521660000', '"status":"Succeeded"', '\\"responsePayload\\":\\"HI\\"',
                '"status":"ok","mode":"manual"']
    positions = [out.find(text) for text in expected]
    assert -1 not in positions and positions == sorted(positions), (expected, out)
    for comment in re.findall(r"# (\{.*\})$", session, re.M):  # the literal outputs shown
        assert comment in out


def test_emulator_invoke_sync_and_errors() -> None:
    with fcemu.Emulator() as emu:
        emu.register_function("upper", lambda event, context: event.upper())
        emu.register_function("bad", lambda event, context: 1 / 0)
        assert emu.invoke("upper", "abc") == "ABC"
        with pytest.raises(RuntimeError, match=r"UnhandledInvocationError.*ZeroDivisionError"):
            emu.invoke("bad")
        with pytest.raises(fcemu.FcError, match="function 'ghost' does not exist"):
            emu.invoke("ghost")
