"""``python -m bench``: every issue-13 figure, side by side with the floor, in one table.

Starts a bare aiohttp floor (:mod:`bench.floor`) and fcemu (:mod:`bench.server`), each on
CPU 0 when ``taskset`` exists, and drives the load from this process on CPU 1; in the
warm worker row the load is the handler processes, which bench.server moves to CPU 1
once they are warm (they inherit its CPU 0 when spawned). HTTP cells
run ``--rounds`` rounds and report the median round; the floor's and fcemu's rounds
are made in turn, as are the queue cells' two depths (the queue refilled before each
round). The warm worker row runs ``--rounds`` drains too, each on a fresh state, and
reports the median by the server's CPU, with the rounds' range. ``--quick`` shrinks every
count (for
a smoke run; the figures then mean little). Prints one table: what, fcemu, reference
(the floor, or the same cell at small scale), ratio, goal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, urlencode, urlsplit

from bench.load import Connection, Request, Result, expect, run

FC = "/2023-03-30/functions"
MNS_HEADERS = {"x-mns-version": "2015-06-06", "Content-Type": "text/xml"}
SEND_BODY = (b'<?xml version="1.0" encoding="UTF-8"?><Message xmlns="http://mns.aliyuncs.com/'
             b'doc/v1/"><MessageBody>hello</MessageBody><Priority>8</Priority></Message>')
HANDLE = re.compile(rb"<ReceiptHandle>([^<]+)</ReceiptHandle>")


@dataclass
class Row:
    what: str
    value: str
    reference: str
    ratio: float | None
    goal: str


class Proc:
    """A server process (pinned to CPU 0 where taskset exists) that prints its port."""

    def __init__(self, module: str, pin: bool) -> None:
        cmd = [sys.executable, "-m", module]
        self.pinned = pin
        if pin:
            cmd = ["taskset", "-c", "0", *cmd]
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env=env)
        first = self._stdout().readline()
        if not first:
            raise RuntimeError(f"{module} did not start")
        doc = json.loads(first)
        self.port = int(doc["port"] if isinstance(doc, dict) else doc)
        self.base = f"http://127.0.0.1:{self.port}"

    def _stdout(self) -> IO[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout

    def command(self, cmd: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self._stdout().readline())
        if "error" in answer:
            raise RuntimeError(f"bench server: {cmd}: {answer['error']}")
        return answer["ok"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


#: A cell's load: the server's base URL, and how to make request ``i`` on a connection.
Load = tuple[str, Request]


def median(results: list[Result]) -> Result:
    """The median round, by rate."""
    return sorted(results, key=lambda r: r.rate)[len(results) // 2]


def paired_rounds(floor: Callable[[], Load], emu: Callable[[], Load], count: int,
                  connections: int, n: int) -> tuple[Result, Result]:
    """The median (by rate) of ``n`` rounds of the floor and of fcemu, made in turn (floor,
    fcemu, floor, ...), so that what else the machine runs weighs on both alike."""
    results: tuple[list[Result], list[Result]] = ([], [])
    for _ in range(n):
        for make, got in zip((floor, emu), results, strict=True):
            got.append(asyncio.run(run(*make(), count, connections)))
    return median(results[0]), median(results[1])


def post(url: str, body: bytes, status: int, headers: Callable[[int], dict[str, str]] | None
         = None) -> Load:
    base, path = _split(url)

    async def request(conn: Connection, i: int) -> None:
        answer = await conn.call("POST", path, headers(i).items() if headers else (), body)
        expect(answer, status, url)
    return base, request


def receive_delete(base: str, queue: str) -> Load:
    path = f"/queues/{queue}/messages"
    mns = list(MNS_HEADERS.items())

    async def request(conn: Connection, i: int) -> None:
        answer = await conn.call("GET", path, mns)
        expect(answer, 200, "ReceiveMessage")
        match = HANDLE.search(answer.body)
        assert match is not None, answer.body
        handle = quote(match.group(1).decode(), safe="")
        expect(await conn.call("DELETE", f"{path}?ReceiptHandle={handle}", mns), 204,
               "DeleteMessage")
    return base, request


def get(url: str, params: dict[str, str]) -> Load:
    base, path = _split(url)
    target = f"{path}?{urlencode(params)}" if params else path

    async def request(conn: Connection, i: int) -> None:
        expect(await conn.call("GET", target), 200, url)
    return base, request


def _split(url: str) -> tuple[str, str]:
    """``http://host:port/path`` -> (``http://host:port``, ``/path``)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/"


def fmt_rate(r: Result) -> str:
    return f"{r.rate:,.0f}/s p50 {r.p50_ms:.2f} p99.9 {r.p999_ms:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    args = parser.parse_args()
    scale = 0.05 if args.quick else 1.0

    def n(count: int) -> int:
        return max(200, int(count * scale))

    pin = shutil.which("taskset") is not None and (os.cpu_count() or 1) >= 2
    if pin:
        os.sched_setaffinity(0, {1})
    rows: list[Row] = []
    memory = Proc("bench.server", pin)  # a fresh process: nothing ran in it before
    try:
        rows += memory_cells(memory, n)
    finally:
        memory.close()
    floor, emu = Proc("bench.floor", pin), Proc("bench.server", pin)
    try:
        rows += http_cells(floor, emu, n, args.rounds)
        rows += task_cells(emu, n, args.rounds)
    finally:
        floor.close()
        emu.close()
    print(f"\nfcemu {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"{'servers on CPU 0, load on CPU 1' if pin else 'no pinning'}, "
          f"median of {args.rounds} rounds\n")
    widths = [max(len(r.what) for r in rows), max(len(r.value) for r in rows),
              max(len(r.reference) for r in rows)]
    print(f"{'what':<{widths[0]}}  {'fcemu':<{widths[1]}}  {'reference':<{widths[2]}}  "
          f"{'ratio':>6}  goal")
    for r in rows:
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else ""
        print(f"{r.what:<{widths[0]}}  {r.value:<{widths[1]}}  {r.reference:<{widths[2]}}  "
              f"{ratio:>6}  {r.goal}")


def http_cells(floor: Proc, emu: Proc, n: Callable[[int], int], k: int) -> list[Row]:
    rows = []
    emu.command("deploy", name="sub")
    emu.command("deploy", name="echo")
    count = n(20000)
    seen = iter(range(10**9))

    def async_invoke() -> Load:
        # held Enqueued by a delay on the manual clock: this row is the submit path alone
        return post(f"{emu.base}{FC}/sub/invocations", b"{}", 202, lambda i: {
            "x-fc-invocation-type": "Async", "x-fc-async-task-id": f"t{next(seen)}",
            "x-fc-async-delay": "1"})
    base, got = paired_rounds(lambda: post(f"{floor.base}/post", b"{}", 202), async_invoke,
                              count, 16, k)
    rows.append(Row("async submit, 16 conns", fmt_rate(got), "floor " + fmt_rate(base),
                    got.rate / base.rate, ">= 0.70x, p99.9 <= 10 ms"))
    count = n(5000)
    base, got = paired_rounds(lambda: post(f"{floor.base}/echo", b"{}", 200),
                              lambda: post(f"{emu.base}{FC}/echo/invocations", b"{}", 200),
                              count, 1, k)
    rows.append(Row("sync invoke in-process, 1 conn", fmt_rate(got), "floor " + fmt_rate(base),
                    got.rate / base.rate, "(issue: 0.41x)"))
    count = n(10000)
    send = lambda: post(f"{emu.base}/queues/q/messages", SEND_BODY, 201,  # noqa: E731
                        lambda i: MNS_HEADERS)
    shallow, deep = depth_rounds(emu, "q", 0, n(100000), send, count, k)
    rows.append(Row(f"SMQ send at depth {n(100000):,}", fmt_rate(deep),
                    "depth 0: " + fmt_rate(shallow), deep.rate / shallow.rate, ">= 0.80x"))
    count = n(5000)
    shallow, deep = depth_rounds(emu, "r", count + 16, n(100000) + count + 16,
                                 lambda: receive_delete(emu.base, "r"), count, k)
    rows.append(Row(f"SMQ receive+delete at depth {n(100000):,}", fmt_rate(deep),
                    "depth 0: " + fmt_rate(shallow), deep.rate / shallow.rate, ">= 0.80x"))
    return rows


def depth_rounds(emu: Proc, queue: str, shallow_n: int, deep_n: int, make: Callable[[], Load],
                 count: int, k: int) -> tuple[Result, Result]:
    """A queue cell at two depths: ``k`` rounds of each in turn, the queue filled to its
    depth before each round (a round changes it), and the median round of each. In turn,
    so that what else the machine runs weighs on both depths alike."""
    results: tuple[list[Result], list[Result]] = ([], [])
    for _ in range(k):
        for depth, got in zip((shallow_n, deep_n), results, strict=True):
            emu.command("fill", queue=queue, n=depth)
            got.append(asyncio.run(run(*make(), count, 16)))
    return median(results[0]), median(results[1])


LIST_FILTERS: dict[str, dict[str, str]] = {
    "no filter": {},
    "prefix (all)": {"prefix": "job-"},
    "prefix (10)": {"prefix": "job-000012"},
    "status Succeeded": {"status": "Succeeded"},
    "status Running (none)": {"status": "Running"},
    "time window, asc": {"startedTimeBegin": "0", "startedTimeEnd": "99999999999999",
                         "sortOrderByTime": "asc"},
}


def memory_cells(emu: Proc, n: Callable[[int], int]) -> list[Row]:
    """Resident memory per retained task, in a server where nothing ran before."""
    size = n(100000)
    emu.command("tasks", name="warm", n=100, prefix="w-")  # imports, pools: before the baseline
    before = emu.command("rss")["rss"]
    emu.command("tasks", name="big", n=size, prefix="job-")
    after = emu.command("rss")["rss"]
    per_task = (after - before) / size
    return [Row(f"RSS per retained Succeeded task (N={size:,})", f"{per_task:,.0f} B",
                "1 KiB", per_task / 1024, "<= 1.00x (1 KiB)")]


def task_cells(emu: Proc, n: Callable[[int], int], k: int) -> list[Row]:
    rows = []
    rates = {}
    emu.command("e2e", name="warm-up", n=n(2000))  # thread pool, allocator: as warm as later
    for size in (n(5000), n(20000), n(100000)):
        emu.command("reset")
        rates[size] = emu.command("e2e", name=f"e{size}", n=size)
    small = min(rates)
    for size in sorted(rates)[1:]:
        rows.append(Row(f"end-to-end in-process tasks, N={size:,}",
                        f"{rates[size]['e2e_per_s']:,.0f}/s "
                        f"(drain {rates[size]['drain_per_s']:,.0f}/s)",
                        f"N={small:,}: {rates[small]['e2e_per_s']:,.0f}/s",
                        rates[size]["e2e_per_s"] / rates[small]["e2e_per_s"],
                        ">= 5k/s, flat"))
    emu.command("reset")
    size = n(100000)
    emu.command("tasks", name="big", n=size, prefix="job-")
    emu.command("tasks", name="small", n=1000, prefix="job-")
    for label, params in LIST_FILTERS.items():
        query = {"limit": "100", **params}
        small_r = asyncio.run(run(*get(f"{emu.base}{FC}/small/async-tasks", query), n(2000), 1))
        big_r = asyncio.run(run(*get(f"{emu.base}{FC}/big/async-tasks", query), n(2000), 1))
        rows.append(Row(f"ListAsyncTasks limit 100, {label}, {size:,} tasks",
                        f"p50 {big_r.p50_ms:.2f} ms", f"1,000 tasks: p50 {small_r.p50_ms:.2f} ms",
                        big_r.p50_ms / small_r.p50_ms, "<= 2.00x"))
    size = n(10000)
    rounds = []
    for r in range(k):  # each round on a fresh state, its instances warmed first
        emu.command("reset")
        # the handler processes are the load side: on CPU 1 (they inherit the server's CPU 0)
        rounds.append(emu.command("e2e", name=f"w{r}", n=size, kind="worker",
                                  handlers_cpu=1 if emu.pinned else None))
    rounds.sort(key=lambda got: got["drain_cpu_s"])
    worker = rounds[len(rounds) // 2]  # the median round by the server's CPU
    spread = "" if k < 2 else (f" (rounds {rounds[0]['drain_cpu_s']:.2f}-"
                               f"{rounds[-1]['drain_cpu_s']:.2f} s)")
    rows.append(Row(f"warm worker tasks, N={size:,}",
                    f"{worker['drain_per_s']:,.0f}/s, server CPU {worker['drain_cpu_s']:.2f} s"
                    + spread, "3k/s", worker["drain_per_s"] / 3000, ">= 1.00x; CPU <= 1 s"))
    return rows


if __name__ == "__main__":
    main()
