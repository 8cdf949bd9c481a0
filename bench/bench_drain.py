"""The server's CPU per task in a drain, user and system apart (issue 13). Run by hand:

    python -m bench.bench_drain [--kind in-process|worker] [--tasks 10000] [--rounds 1]
                                [--instances N]

In this process, as ``python -m bench``'s task rows set it up (:class:`bench.server.Bench`):
on CPU 0 where the machine has two CPUs (the warm worker row's handler processes on CPU
1), it deploys one function with a result-message destination, warms every worker
instance (``--kind worker``), submits ``--tasks`` async tasks held by a delay on the
manual clock, then drains them. It prints, per round, the drain's rate and this
process's user and system CPU per task (``getrusage``: every thread of the server, not
the handler processes), with its voluntary and involuntary context switches; with
``--kind worker`` also the handler processes' CPU per task (user + system of every
process below this one, from ``/proc``, over the drain: the handlers' own time, which
the goal's server CPU is "beyond").

``--instances N`` caps the emulator's instances (``fcemu.Emulator(max_instances=N)``):
the worker row warms that many handler processes (all on one CPU), an in-process
function runs on that many threads. Default: the emulator's default (16), as in
``python -m bench``.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from functools import partial

from bench.server import Bench, pin_handlers
from fcemu.engine import Engine
from fcemu.runtime.procfs import tree_pids


async def instances_of(name: str, engine: Engine) -> int:
    """How many instances of function ``name`` are alive."""
    return sum(i["functionName"] == name for i in engine.runtimes.instances())


def handler_ticks() -> dict[tuple[int, str], int]:
    """User + system clock ticks of every process below this one, by (PID, start time)."""
    ticks: dict[tuple[int, str], int] = {}
    for pid in tree_pids(os.getpid())[1:]:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue  # gone since the walk
        ticks[(pid, fields[19])] = int(fields[11]) + int(fields[12])
    return ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("in-process", "worker"), default="worker")
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--instances", type=int, default=None,
                        help="the emulator's max_instances (default: its own, 16)")
    args = parser.parse_args()
    pinned = hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    if pinned:
        os.sched_setaffinity(0, {0})
    bench = Bench(max_instances=args.instances)
    try:
        for r in range(args.rounds):
            name = f"d{r}"
            bench.deploy(name, args.kind, destination=True)
            warm = 0
            if args.kind == "worker":
                bench.warm(name)
                warm = bench.emu.call(partial(instances_of, name))
                if pinned:
                    pin_handlers(1)
            bench.submit(name, args.tasks)
            handlers_before = handler_ticks()
            before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            bench.emu.drain(timeout=3600)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_SELF)
            handlers_after = handler_ticks()
            user = (after.ru_utime - before.ru_utime) / args.tasks * 1e6
            system = (after.ru_stime - before.ru_stime) / args.tasks * 1e6
            line = (f"{args.kind} drain of {args.tasks:,}: {args.tasks / wall:,.0f}/s; server "
                    f"CPU per task: user {user:.0f} us + sys {system:.0f} us = "
                    f"{user + system:.0f} us ({(user + system) * args.tasks / 1e6:.2f} s in all); "
                    f"context switches {after.ru_nvcsw - before.ru_nvcsw:,} voluntary, "
                    f"{after.ru_nivcsw - before.ru_nivcsw:,} involuntary")
            if args.kind == "worker":
                ticks = sum(t - handlers_before.get(key, 0) for key, t in handlers_after.items())
                handlers = ticks / os.sysconf("SC_CLK_TCK") / args.tasks * 1e6
                line += (f"; {warm} warm instances, handler processes' CPU per task "
                         f"{handlers:.0f} us")
            print(line, flush=True)
            bench.reset()
    finally:
        bench.close()


if __name__ == "__main__":
    main()
