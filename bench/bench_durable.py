"""Async submit throughput with ``--data-dir`` against in memory, side by side (issue 17).
Run by hand (never in CI):

    python -m bench.bench_durable [--tasks 3000] [--conns 32] [--rounds 3]

Starts ``fcemu serve --clock manual`` three times (in memory, ``--data-dir`` strict,
``--data-dir --durability relaxed``), deploys one function in each, and sends ``--tasks``
async InvokeFunction requests over ``--conns`` keep-alive connections: with
``x-fc-async-delay: 60`` (the submit path alone: every 202 waits for its commit), then
with no delay (the tasks also run in worker processes and push a result message each,
all committed; each round ends once its tasks are done, ``POST /_fcemu/settle``). The
three servers run side by side and each round goes to the three in turn, so that a
machine whose load changes during the run (a shared one) moves all three alike. Prints,
per server, submits per second (the median of ``--rounds`` rounds), the ratio to in
memory (the median of each round's ratio; the issue's goal: durable >= 0.5x), the
p50/p99 latency of one submit (every round's submits) and the server's CPU time per
submit (its process, all threads, the median of the rounds; Linux; with the tasks
running, their dispatch and results too): unlike the rates, the CPU time hardly moves
with the load of a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from urllib.parse import urlsplit

from bench.load import Connection, expect

FC = "/2023-03-30/functions"


def zipped() -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return event\n")
    return base64.b64encode(buffer.getvalue()).decode()


class Server:
    def __init__(self, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fcemu", "serve", "--port", "0", "--clock", "manual", *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert self.proc.stdout is not None
        found = re.search(r"listening on (http://\S+)", self.proc.stdout.readline())
        assert found, "fcemu serve did not start"
        self.url = found[1]
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        for method, path, body in (
                ("POST", FC, {"functionName": "f", "runtime": "python3.10",
                              "handler": "index.handler", "code": {"zipFile": zipped()}}),
                ("PUT", f"{FC}/f/async-invoke-config",
                 {"asyncTask": True, "destinationConfig": {"onSuccess": {
                     "destination": "acs:mns:cn-hangzhou:1234567890123456:/queues/done/"
                                    "messages"}}})):
            opener.open(urllib.request.Request(self.url + path, json.dumps(body).encode(),
                                               {"content-type": "application/json"},
                                               method=method)).close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


async def submit(url: str, tasks: int, conns: int, delay: int, prefix: str
                 ) -> tuple[float, list[float]]:
    """Submits per second, and each submit's latency in seconds (over :mod:`bench.load`'s
    connections: a load side that costs little CPU beside the servers)."""
    headers = [("x-fc-invocation-type", "Async")]
    if delay:
        headers.append(("x-fc-async-delay", str(delay)))
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    opened = [(await loop.create_connection(lambda: Connection(parts.netloc), host, port))[1]
              for _ in range(conns)]
    latencies: list[float] = []
    next_i = iter(range(tasks))
    try:
        async def worker(conn: Connection) -> None:
            for i in next_i:
                sent = time.perf_counter()
                answer = await conn.call("POST", f"{FC}/f/invocations",
                                         [*headers, ("x-fc-async-task-id", f"{prefix}-{i}")],
                                         b"{}")
                expect(answer, 202, "async InvokeFunction")
                latencies.append(time.perf_counter() - sent)
        start = time.perf_counter()
        await asyncio.gather(*(worker(conn) for conn in opened))
        rate = tasks / (time.perf_counter() - start)
        if not delay:  # the tasks run: the next round starts once they are done
            settled = await opened[0].call("POST", "/_fcemu/settle",
                                           [("content-type", "application/json")],
                                           b'{"timeout": 600}')
            expect(settled, 200, "settle")
    finally:
        for conn in opened:
            conn.close()
    return rate, latencies


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid`` so far (Linux; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ms(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="fcemu-bench-durable-")
    modes = {"in memory": (), "--data-dir (strict)": ("--data-dir", f"{data}/strict"),
             "--data-dir --durability relaxed": ("--data-dir", f"{data}/relaxed",
                                                 "--durability", "relaxed")}
    servers: dict[str, Server] = {}
    rates: dict[tuple[str, int], list[float]] = {}
    latencies: dict[tuple[str, int], list[float]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    try:
        for name, options in modes.items():
            servers[name] = Server(*options)
        for delay in (60, 0):
            for r in range(args.rounds):
                for name, server in servers.items():
                    before = cpu_seconds(server.proc.pid)
                    rate, each = asyncio.run(submit(server.url, args.tasks, args.conns,
                                                    delay, f"d{delay}r{r}"))
                    cpu.setdefault((name, delay), []).append(
                        (cpu_seconds(server.proc.pid) - before) / args.tasks)
                    rates.setdefault((name, delay), []).append(rate)
                    latencies.setdefault((name, delay), []).extend(each)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
    for delay, what in ((60, "submit only (tasks wait)"), (0, "submit, tasks run")):
        base = rates[("in memory", delay)]
        print(what)
        for name in modes:
            runs = rates[(name, delay)]
            ratio = statistics.median([r / b for r, b in zip(runs, base, strict=True)])
            each = latencies[(name, delay)]
            print(f"  {name:32} {statistics.median(runs):8.0f} submits/s  {ratio:5.2f}x in "
                  f"memory (goal >= 0.5x)  p50 {_ms(each, 0.5):6.1f} ms  "
                  f"p99 {_ms(each, 0.99):6.1f} ms  CPU "
                  f"{1e6 * statistics.median(cpu[(name, delay)]):4.0f} us/submit")


if __name__ == "__main__":
    main()
