"""fcemu in its own process for the benchmarks, driven by JSON lines on stdin.

``python -m bench.server`` starts an :class:`fcemu.Emulator` on the manual clock (tasks
wait until a ``drain``), prints ``{"port": ...}``, then answers one JSON line per command
line (see :data:`COMMANDS`). In-process handlers, queue filling and task bursts go through
the engine's front door on the emulator's loop, so that what is timed is the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fcemu
from fcemu.engine import Engine
from fcemu.runtime.procfs import tree_pids

WORKER_SOURCE = "def handler(event, context):\n    return event\n"


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # this process only: not the workers
    return usage.ru_utime + usage.ru_stime


def pin_handlers(cpu: int, root: int | None = None) -> int:
    """Put every process below ``root`` (default: this one; the warm instances' sandboxes,
    launchers and handlers, each of their threads) on ``cpu`` alone; how many threads
    were moved.

    The processes the server spawns inherit its affinity: pinned to CPU 0 by the bench,
    the server and all its handler processes would share that core. The handlers are
    the load side of the worker row (their CPU is not the server's), so the bench moves
    them to the load's core. This is the bench's doing: fcemu itself pins nothing."""
    moved = 0
    for pid in tree_pids(os.getpid() if root is None else root)[1:]:
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue  # gone since the walk
        for thread in threads:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(thread), {cpu})
                moved += 1
    return moved


class Bench:
    """``max_instances``: the emulator's cap on handler processes (:class:`fcemu.Settings`;
    None: its default, 16), which is also how many instances :meth:`warm` starts."""

    def __init__(self, max_instances: int | None = None) -> None:
        caps: dict[str, int] = {} if max_instances is None else {"max_instances": max_instances}
        self.emu = fcemu.Emulator(clock="manual", seed=1, **caps)
        self.emu.start()
        self.code = Path(tempfile.mkdtemp(prefix="fcemu-bench-"))
        (self.code / "index.py").write_text(WORKER_SOURCE)

    def deploy(self, name: str, kind: str = "in-process",
               destination: bool = False) -> dict[str, Any]:
        if kind == "in-process":
            self.emu.register_function(name, lambda event, context: event)
        else:
            self.emu.register_function(name, code=self.code, runtime="python3.10")
        self.emu.put_async_invoke_config(name, asyncTask=True, max_async_retry_attempts=0,
                                         on_success=f"{name}-done" if destination else None)
        return {}

    def submit(self, name: str, n: int, prefix: str = "") -> float:
        """Submit ``n`` async tasks held by a 1 s delay; the seconds it took."""
        async def go(engine: Engine) -> float:
            t0 = time.perf_counter()
            for i in range(n):
                await engine.invoke_function(name, b"{}", asynchronous=True, delay_s=1,
                                             task_id=f"{prefix}{i:07d}" if prefix else None)
            return time.perf_counter() - t0
        return self.emu.call(go)

    def drain(self) -> tuple[float, float]:
        """Run every waiting task: (wall seconds, this process's CPU seconds)."""
        c0, t0 = cpu_seconds(), time.perf_counter()
        self.emu.drain(timeout=3600)
        return time.perf_counter() - t0, cpu_seconds() - c0

    def e2e(self, name: str, n: int, kind: str = "in-process",
            handlers_cpu: int | None = None) -> dict[str, Any]:
        """Submit n tasks, then drain them to Succeeded with a result message each.

        ``handlers_cpu``: after the warm-up, the handler processes run on that CPU only
        (:func:`pin_handlers`)."""
        self.deploy(name, kind, destination=True)
        if kind != "in-process":
            self.warm(name)
            if handlers_cpu is not None:
                pin_handlers(handlers_cpu)
        submit_s = self.submit(name, n)
        drain_s, cpu_s = self.drain()
        done = len(self.emu.queue(f"{name}-done").messages())
        if done != n:
            raise RuntimeError(f"{name}: {done} result messages, wanted {n}")
        return {"submit_per_s": n / submit_s, "drain_per_s": n / drain_s,
                "e2e_per_s": n / (submit_s + drain_s), "drain_cpu_s": cpu_s}

    def warm(self, name: str) -> None:
        """Start every instance the pool allows for ``name``: one sync invoke per instance,
        all at once (a drain spreads its tasks over that many instances; a start measured
        inside the drain would be a cold start of a whole interpreter, not a warm task)."""
        async def go(engine: Engine) -> None:
            runtimes, count = engine.runtimes, engine.runtimes.usage().max_instances
            for _ in range(8):  # an instance freed early may serve two of the invokes
                if sum(i["functionName"] == name for i in runtimes.instances()) >= count:
                    return
                await asyncio.gather(*(engine.invoke_function(name, b"{}")
                                       for _ in range(count)))
        self.emu.call(go)

    def memory(self, name: str, n: int) -> dict[str, Any]:
        """RSS and live heap per retained Succeeded task (no destination message)."""
        self.deploy(name)
        gc.collect()
        before = rss_bytes()
        self.submit(name, n)
        self.drain()
        gc.collect()
        after = rss_bytes()
        return {"rss_per_task": (after - before) / n}

    def tasks(self, name: str, n: int, prefix: str) -> dict[str, Any]:
        """n Succeeded tasks of one function, task IDs ``prefix0000000``..."""
        self.deploy(name)
        self.submit(name, n, prefix)
        self.drain()
        return {}

    def fill(self, queue: str, n: int) -> dict[str, Any]:
        """Create ``queue`` (or empty it) and put ``n`` messages in it."""
        async def go(engine: Engine) -> None:
            smq = engine.smq
            q, _ = smq.create_queue(queue)
            q.clear()
            for i in range(n):
                q.send(f"m{i}")
        self.emu.call(go)
        return {}

    def close(self) -> None:
        """Stop the emulator and remove the handler code's temporary directory."""
        try:
            self.emu.stop()
        finally:
            shutil.rmtree(self.code, ignore_errors=True)

    def rss(self) -> dict[str, Any]:
        gc.collect()
        return {"rss": rss_bytes()}

    def reset(self) -> dict[str, Any]:
        self.emu.reset()
        return {}


COMMANDS: dict[str, Callable[..., Any]] = {
    name: getattr(Bench, name)
    for name in ("deploy", "e2e", "memory", "tasks", "fill", "rss", "reset")
}


def main() -> None:
    bench = Bench()
    try:
        print(json.dumps({"port": bench.emu.port}), flush=True)
        for line in sys.stdin:
            request = json.loads(line)
            try:
                answer = COMMANDS[request.pop("cmd")](bench, **request)
                print(json.dumps({"ok": answer}), flush=True)
            except Exception as exc:  # reported to the driver, which stops
                print(json.dumps({"error": repr(exc)}), flush=True)
    finally:
        bench.close()


if __name__ == "__main__":
    main()
