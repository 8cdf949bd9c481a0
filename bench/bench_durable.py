"""Async submit throughput with ``--data-dir`` against in memory, side by side (issue 17).
Run by hand (never in CI):

    python -m bench.bench_durable [--tasks 3000] [--conns 32] [--rounds 3]

Starts ``fcemu serve --clock manual`` three times (in memory, ``--data-dir`` strict,
``--data-dir --durability relaxed``), deploys one function, and sends ``--tasks`` async
InvokeFunction requests over ``--conns`` keep-alive connections: once with
``x-fc-async-delay: 60`` (the submit path alone: every 202 waits for its commit), once
with no delay (the tasks also run in-process-free worker processes and push a result
message each, all committed). Prints submits per second, the median of ``--rounds``
rounds, and the ratio to in memory (the issue's goal: durable >= 0.5x).
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

import aiohttp

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


async def submit(url: str, tasks: int, conns: int, delay: int, prefix: str) -> float:
    headers = {"x-fc-invocation-type": "Async"}
    if delay:
        headers["x-fc-async-delay"] = str(delay)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(tasks):
        queue.put_nowait(i)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns),
                                     trust_env=False) as session:
        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                async with session.post(f"{url}{FC}/f/invocations", data=b"{}", headers={
                        **headers, "x-fc-async-task-id": f"{prefix}-{i}"}) as answer:
                    assert answer.status == 202, await answer.text()
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conns)))
        return tasks / (time.perf_counter() - start)


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
    rates: dict[tuple[str, int], float] = {}
    try:
        for name, options in modes.items():
            server = Server(*options)
            try:
                for delay in (60, 0):
                    runs = [asyncio.run(submit(server.url, args.tasks, args.conns, delay,
                                               f"d{delay}r{r}")) for r in range(args.rounds)]
                    rates[(name, delay)] = statistics.median(runs)
            finally:
                server.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)
    for delay, what in ((60, "submit only (tasks wait)"), (0, "submit, tasks run")):
        base = rates[("in memory", delay)]
        print(what)
        for name in modes:
            rate = rates[(name, delay)]
            print(f"  {name:32} {rate:8.0f} submits/s  {rate / base:5.2f}x in memory "
                  f"(goal >= 0.5x)")


if __name__ == "__main__":
    main()
