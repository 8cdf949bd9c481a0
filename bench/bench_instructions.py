"""Instructions per request or per task, counted by valgrind's callgrind (issue 13). By hand:

    python -m bench.bench_instructions submit [--count 3000]      # fcemu's async submit
    python -m bench.bench_instructions floor [--count 3000]       # the floor's POST
    python -m bench.bench_instructions sync [--count 3000]        # fcemu's sync invoke
    python -m bench.bench_instructions floor-echo [--count 3000]  # the floor's echo
    python -m bench.bench_instructions drain [--kind worker] [--count 2000]
    python -m bench.bench_instructions engine [--count 3000]      # the submit's engine side

Wall-clock rates move with whatever else the machine runs; an instruction count hardly
moves, so it is what the fifth pass compared before and after each change (run the
same command on two trees: ``PYTHONPATH`` picks the tree). ``submit`` and ``floor`` run
the server under callgrind with counting off, send 1,000 warm-up requests, then count
only while ``--count`` more are made (:mod:`bench.load`, 16 connections: the submit
row's requests). ``sync`` and ``floor-echo`` do the same for the sync invoke row (a sync
``InvokeFunction`` of an in-process echo handler, against the floor's echo; one
connection). ``drain`` runs :class:`bench.server.Bench`'s task-row set-up under
callgrind, drains :data:`WARM_UP` tasks uncounted (what happens once: an in-process
function's lazily imported runtime modules, compiled on each run where
``PYTHONDONTWRITEBYTECODE`` is set, were about 14k instructions per task at 2,000), and
counts only the drain of ``--count`` tasks after (every thread of the server, not the
handler processes). Under valgrind a request runs so slowly that every one
would read ``/proc`` for the instance's memory (at most once per 50 ms each): ``drain``
turns that poll off (``MEMORY_POLL_S``), as it costs nothing at full speed. Needs
``valgrind`` (``callgrind_control``); a run takes a minute or two. ``engine`` counts the
engine's side of the submit row's requests alone: ``Engine.invoke_async`` called on the
loop (a task ID each, a 1 s delay), ``--count`` calls after 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from bench.load import run

if TYPE_CHECKING:
    from fcemu.engine import Engine


def _count(out: Path) -> int:
    """The instructions a callgrind output file counted (its ``totals``/``summary``)."""
    total = 0
    for path in out.parent.glob(out.name + "*"):
        counts = {line.split(":")[0]: int(line.split()[1])
                  for line in path.read_text(errors="replace").splitlines()
                  if line.startswith(("totals:", "summary:"))}
        total += counts.get("totals", counts.get("summary", 0))
    return total


def _env() -> dict[str, str]:
    """The counted process's environment: no proxy (loopback only), and one hash seed, so
    that set and dict layouts (and the instructions their probes take) are the same from
    run to run (a random seed moved a count by up to 1.5 %)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONHASHSEED"] = "0"
    return env


def _instrument(pid: int, state: str) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _callgrind(out: Path, *args: str, counting: bool) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out}",
            f"--instr-atstart={'yes' if counting else 'no'}", sys.executable, *args]


def http(kind: str, count: int, out: Path) -> float:
    """Instructions per request of the server: fcemu's async submit (``submit``) or sync
    invoke (``sync``), or the floor's POST (``floor``) or echo (``floor-echo``)."""
    from bench.__main__ import FC, post  # the submit and sync invoke rows' requests

    floor = kind.startswith("floor")
    connections = 1 if kind in ("sync", "floor-echo") else 16
    module = "bench.floor" if floor else "bench.server"
    proc = subprocess.Popen(_callgrind(out, "-m", module, counting=False),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env())
    assert proc.stdin is not None and proc.stdout is not None
    try:
        doc = json.loads(proc.stdout.readline())
        base = f"http://127.0.0.1:{doc['port'] if isinstance(doc, dict) else doc}"
        if floor:
            load = post(f"{base}/post", b"{}", 202) if kind == "floor" else \
                post(f"{base}/echo", b"{}", 200)
        else:
            name = "sub" if kind == "submit" else "echo"
            proc.stdin.write(json.dumps({"cmd": "deploy", "name": name}) + "\n")
            proc.stdin.flush()
            proc.stdout.readline()
            if kind == "submit":
                seen = itertools.count()
                load = post(f"{base}{FC}/sub/invocations", b"{}", 202, lambda i: {
                    "x-fc-invocation-type": "Async", "x-fc-async-task-id": f"t{next(seen)}",
                    "x-fc-async-delay": "1"})
            else:
                load = post(f"{base}{FC}/echo/invocations", b"{}", 200)
        asyncio.run(run(*load, 1000, connections))
        _instrument(proc.pid, "on")
        asyncio.run(run(*load, count, connections))
        _instrument(proc.pid, "off")
    finally:
        proc.stdin.close()
        proc.wait(timeout=300)
        proc.stdout.close()
    return _count(out) / (count + connections)  # and one warm-up request per connection


def drain(kind: str, count: int, out: Path) -> float:
    """Instructions per task of a drain (run in a child under callgrind: :func:`_child`)."""
    subprocess.run(_callgrind(out, "-m", "bench.bench_instructions", "--child", kind,
                              "--count", str(count), counting=False), check=True, env=_env())
    return _count(out) / count


#: Tasks a ``drain`` count runs first, uncounted (see the module docstring).
WARM_UP = 200


def _child(kind: str, count: int) -> None:
    """Under callgrind: the task row's set-up, counting the drain only (or, for
    ``engine``, the engine's async submits)."""
    import fcemu.runtime.instance_memory
    from bench.server import Bench

    if kind == "engine":
        _engine_child(count)
        return

    fcemu.runtime.instance_memory.MEMORY_POLL_S = 1e9  # see the module docstring
    bench = Bench()
    try:
        bench.deploy("w", kind, destination=True)
        if kind == "worker":
            bench.warm("w")
        bench.submit("w", WARM_UP, prefix="warm-")  # a first drain, not counted: one-time
        bench.emu.drain(timeout=3600)  # costs (lazy imports, first queue) stay out
        bench.submit("w", count)
        _instrument(os.getpid(), "on")
        bench.emu.drain(timeout=3600)
        _instrument(os.getpid(), "off")
    finally:
        bench.close()


def _engine_child(count: int) -> None:
    from bench.server import Bench

    bench = Bench()
    try:
        bench.deploy("sub")

        async def submits(engine: Engine) -> None:
            for i in range(1000):
                engine.invoke_async("sub", b"{}", delay_s=1, task_id=f"w{i}")
            _instrument(os.getpid(), "on")
            for i in range(count):
                engine.invoke_async("sub", b"{}", delay_s=1, task_id=f"t{i}")
            _instrument(os.getpid(), "off")

        bench.emu.call(submits)
    finally:
        bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?",
                        choices=("submit", "floor", "sync", "floor-echo", "drain", "engine"))
    parser.add_argument("--kind", choices=("in-process", "worker"), default="in-process")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--child", choices=("in-process", "worker", "engine"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.count)
        return
    if args.what is None:
        parser.error("say what to count: submit, floor, sync, floor-echo, drain or engine")
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("bench_instructions needs valgrind (callgrind and callgrind_control): "
                 "apt-get install valgrind")
    with tempfile.TemporaryDirectory(prefix="fcemu-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        if args.what == "drain":
            count = args.count or 2000
            per = drain(args.kind, count, out)
            print(f"{args.kind} drain of {count:,} tasks: {per / 1000:,.1f}k instructions "
                  "per task (the server process, every thread)")
        elif args.what == "engine":
            count = args.count or 3000
            per = drain("engine", count, out)
            print(f"Engine.invoke_async, {count:,} async submits: {per / 1000:,.1f}k "
                  "instructions per submit (the engine's side)")
        else:
            count = args.count or 3000
            per = http(args.what, count, out)
            what, over = {"submit": ("fcemu async submit", "16 connections"),
                          "floor": ("floor POST", "16 connections"),
                          "sync": ("fcemu sync invoke (in-process echo)", "1 connection"),
                          "floor-echo": ("floor echo", "1 connection")}[args.what]
            print(f"{what}, {count:,} requests over {over}: {per / 1000:,.1f}k "
                  "instructions per request (the server process)")


if __name__ == "__main__":
    main()
