"""The bench moves the processes below its server (the warm handlers) to the load's CPU,
and cleans up after itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.server import pin_handlers

# a child that starts a grandchild and prints its PID: both exist once the line is read
_TREE = ("import subprocess, sys\n"
         "g = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'],"
         " stdin=subprocess.PIPE)\n"
         "print(g.pid, flush=True)\n"
         "sys.stdin.read()\n"
         "g.stdin.close(); g.wait()\n")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs two CPUs and sched_setaffinity")
def test_every_process_below_the_root_goes_to_the_cpu_and_the_root_stays() -> None:
    cpus = sorted(os.sched_getaffinity(0))
    target = cpus[-1]
    with subprocess.Popen([sys.executable, "-c", _TREE], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as root:
        assert root.stdout is not None and root.stdin is not None
        try:
            grandchild = int(root.stdout.readline())
            moved = pin_handlers(target, root=root.pid)
            assert moved >= 1
            assert os.sched_getaffinity(grandchild) == {target}
            assert os.sched_getaffinity(root.pid) == set(cpus)  # not below itself
        finally:
            root.stdin.close()
            root.wait(timeout=30)


def test_the_bench_server_removes_its_code_directory_when_its_input_ends(tmp_path) -> None:
    # the handler code of the worker row goes in a temporary directory: gone at the end
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["TMPDIR"] = str(tmp_path)
    with subprocess.Popen([sys.executable, "-m", "bench.server"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
                          ) as server:
        assert server.stdin is not None and server.stdout is not None
        assert "port" in server.stdout.readline()
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith("fcemu-bench-")]
        server.stdin.close()
        assert server.wait(timeout=60) == 0
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("fcemu-bench-")]


def test_bench_drain_prints_the_cpu_per_task_and_leaves_nothing_behind(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "bench.bench_drain", "--kind", "in-process",
                           "--tasks", "50", "--rounds", "2"], capture_output=True, text=True,
                          env=env, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(
        line.startswith("in-process drain of 50: ") and "server CPU per task: user " in line
        for line in lines), done.stdout
    assert not list(tmp_path.iterdir())


def _naming(marker: str) -> list[int]:
    """Running processes (not zombies, not this one) whose command line or environment
    holds ``marker``."""
    needle, found = marker.encode(), []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                if stat.read().rpartition(b")")[2].split()[0] == b"Z":
                    continue
            texts = [Path(f"/proc/{entry}/{part}").read_bytes() for part in ("cmdline", "environ")]
        except OSError:
            continue  # gone, or not ours to read
        if int(entry) != os.getpid() and any(needle in text for text in texts):
            found.append(int(entry))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_bench_drain_caps_the_warm_instances_and_leaves_no_process_behind(tmp_path) -> None:
    # --instances 2: two warm handler processes, their CPU printed; none left, nor files.
    # The handlers' sandboxes name the code directory (under TMPDIR) in their command line
    # and unsandboxed handlers inherit TMPDIR: a process left behind holds tmp_path.
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["TMPDIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "bench.bench_drain", "--kind", "worker",
                           "--tasks", "200", "--instances", "2"], capture_output=True,
                          text=True, env=env, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("worker drain of 200: "), done.stdout
    assert "; 2 warm instances, handler processes' CPU per task " in lines[0], done.stdout
    assert _naming(str(tmp_path)) == []
    assert not list(tmp_path.iterdir())
