"""Run ``fcemu`` as a user types it: a ``fcemu serve`` subprocess and CLI subprocesses."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "stateful-async-invocation"


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FCEMU_ENDPOINT", "FCEMU_ACCESS_KEY")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


@dataclass(frozen=True)
class Result:
    """A finished ``fcemu`` command."""

    code: int
    out: str
    err: str


def fcemu(*args: str, endpoint: str | None = None, cwd: Path = ROOT,
          stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    """``python -m fcemu [--endpoint URL] ARGS...``, waited for (``env``: extra variables)."""
    prefix = ["--endpoint", endpoint] if endpoint else []
    done = subprocess.run([sys.executable, "-m", "fcemu", *prefix, *args], cwd=cwd,
                          env={**environment(), **(env or {})}, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)
    return Result(done.returncode, done.stdout, done.stderr)


@dataclass
class Server:
    """A running ``fcemu serve``; ``server("queue", "q")`` runs a CLI command against it."""

    url: str
    banner: str
    process: subprocess.Popen[str]
    log: Path

    def __call__(self, *args: str, stdin: str | None = None,
                 env: dict[str, str] | None = None) -> Result:
        return fcemu(*args, endpoint=self.url, stdin=stdin, env=env)

    def stderr(self) -> str:
        return self.log.read_text()


@contextmanager
def serving(*args: str, cwd: Path = ROOT, log: Path) -> Iterator[Server]:
    """``python -m fcemu serve --port 0 ARGS...``; its first stdout line gives the URL."""
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "fcemu", "serve", "--port", "0", *args], cwd=cwd,
            env=environment(), stdout=subprocess.PIPE, stderr=errors, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"listening on (http://\S+)", banner)
        if not found:
            process.wait(timeout=30)
            raise AssertionError(f"fcemu serve did not start (exit {process.returncode}):\n"
                                 f"{banner}{log.read_text()}")
        yield Server(found[1], banner, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
