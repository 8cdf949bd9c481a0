"""Run ``fcemu`` as a user types it: a ``fcemu serve`` subprocess and CLI subprocesses; or,
without real-time waits, a ``fcemu serve`` :class:`~fcemu.cli.serve.Service` in this process
and CLI commands through :func:`fcemu.cli.main.main`."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from fcemu.cli.main import build_parser, main
from fcemu.cli.serve import Service, settings_from

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
    #: With ``serving(..., stderr_pipe=True)``: the server's stderr, read by :meth:`wait_for`.
    pipe: IO[str] | None = None
    read: str = field(default="", init=False)

    def __call__(self, *args: str, stdin: str | None = None,
                 env: dict[str, str] | None = None) -> Result:
        return fcemu(*args, endpoint=self.url, stdin=stdin, env=env)

    def stderr(self) -> str:
        return self.read if self.pipe is not None else self.log.read_text()

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """Read the server's stderr pipe until ``text`` appears in it (a handshake on the
        pipe, bounded by ``timeout`` real seconds); returns what was read so far."""
        assert self.pipe is not None, "serving(..., stderr_pipe=True) reads stderr"
        deadline = time.monotonic() + timeout
        while text not in self.read:
            ready, _, _ = select.select([self.pipe], [], [], max(deadline - time.monotonic(), 0))
            assert ready, f"no {text!r} on stderr after {timeout:g}s:\n{self.read}"
            chunk = os.read(self.pipe.fileno(), 65536).decode("utf-8", "replace")
            assert chunk, f"fcemu serve ended before {text!r}:\n{self.read}"
            self.read += chunk
        return self.read


@contextmanager
def serving(*args: str, cwd: Path = ROOT, log: Path,
            stderr_pipe: bool = False) -> Iterator[Server]:
    """``python -m fcemu serve --port 0 ARGS...``; its first stdout line gives the URL.

    Its stderr goes to ``log``, or with ``stderr_pipe`` to a pipe that
    :meth:`Server.wait_for` reads.
    """
    with log.open("w") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "fcemu", "serve", "--port", "0", *args], cwd=cwd,
            env=environment(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if stderr_pipe else errors, text=True)
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        found = re.search(r"listening on (http://\S+)", banner)
        if not found:
            process.wait(timeout=30)
            raise AssertionError(f"fcemu serve did not start (exit {process.returncode}):\n"
                                 f"{banner}{log.read_text()}")
        yield Server(found[1], banner, process, log, process.stderr)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()


@dataclass
class Local:
    """A ``fcemu serve`` running in this process; ``local("queue", "q")`` runs a CLI command
    against it through :func:`fcemu.cli.main.main`, its output captured by ``capsys``."""

    service: Service
    banner: str
    capsys: pytest.CaptureFixture[str]

    @property
    def url(self) -> str:
        return self.service.emulator.endpoint

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = main(["--endpoint", self.url, *args])
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def poll(self) -> bool:
        """``--watch``: look at the files now (the watcher has no timer of its own here)."""
        return self.service.emulator.poll_config()


@contextmanager
def serving_here(capsys: pytest.CaptureFixture[str], *args: str) -> Iterator[Local]:
    """``fcemu serve --port 0 ARGS...`` as a :class:`Service` in this process (relative paths
    are read from the current directory); ``--watch`` looks at the files only when told."""
    parsed = build_parser().parse_args(["serve", "--port", "0", *args])
    out = io.StringIO()
    with Service(settings_from(parsed), watch=parsed.watch, watch_interval=None,
                 out=out) as service:
        yield Local(service, out.getvalue(), capsys)
