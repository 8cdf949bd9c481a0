"""The server's CPU per task in a drain, user and system apart (issue 13). Run by hand:

    python -m bench.bench_drain [--kind in-process|worker] [--tasks 10000] [--rounds 1]

In this process, as ``python -m bench``'s task rows set it up (:class:`bench.server.Bench`):
on CPU 0 where the machine has two CPUs (the warm worker row's handler processes on CPU
1), it deploys one function with a result-message destination, warms every worker
instance (``--kind worker``), submits ``--tasks`` async tasks held by a delay on the
manual clock, then drains them. It prints, per round, the drain's rate and this
process's user and system CPU per task (``getrusage``: every thread of the server, not
the handler processes), with its voluntary and involuntary context switches.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from bench.server import Bench, pin_handlers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("in-process", "worker"), default="worker")
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    pinned = hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
    if pinned:
        os.sched_setaffinity(0, {0})
    bench = Bench()
    try:
        for r in range(args.rounds):
            name = f"d{r}"
            bench.deploy(name, args.kind, destination=True)
            if args.kind == "worker":
                bench.warm(name)
                if pinned:
                    pin_handlers(1)
            bench.submit(name, args.tasks)
            before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            bench.emu.drain(timeout=3600)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_SELF)
            user = (after.ru_utime - before.ru_utime) / args.tasks * 1e6
            system = (after.ru_stime - before.ru_stime) / args.tasks * 1e6
            print(f"{args.kind} drain of {args.tasks:,}: {args.tasks / wall:,.0f}/s; server "
                  f"CPU per task: user {user:.0f} us + sys {system:.0f} us = "
                  f"{user + system:.0f} us ({(user + system) * args.tasks / 1e6:.2f} s in all); "
                  f"context switches {after.ru_nvcsw - before.ru_nvcsw:,} voluntary, "
                  f"{after.ru_nivcsw - before.ru_nivcsw:,} involuntary", flush=True)
            bench.reset()
    finally:
        bench.close()


if __name__ == "__main__":
    main()
