"""Async task throughput, in-process handlers vs worker processes, side by side.

Run by hand (never in CI):  python bench/bench_async.py [--tasks N]

For each runtime it measures, in one run on the same emulator:
- accept: N async InvokeFunction calls through the official SDK over 127.0.0.1
  (202s per second, one client, sequential);
- complete: the time for ``drain()`` to run those N tasks (held Enqueued by
  ``x-fc-async-delay`` until then) to Succeeded and push N result messages
  to an SMQ queue.
It prints both rates and the worker/in-process ratio, which is what to
compare across changes (absolute numbers depend on the machine).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import time
import zipfile

for _proxy in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
    os.environ.pop(_proxy, None)

from alibabacloud_fc20230330 import models as fc  # noqa: E402
from alibabacloud_fc20230330.client import Client  # noqa: E402
from alibabacloud_tea_openapi.models import Config  # noqa: E402
from darabonba.runtime import RuntimeOptions  # noqa: E402

import fcemu  # noqa: E402

SOURCE = "def handler(event, context):\n    return event\n"


def zipped(source: str) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("index.py", source)
    return base64.b64encode(buf.getvalue()).decode()


def deploy(emu: fcemu.Emulator, client: Client, name: str, kind: str) -> None:
    if kind == "in-process":
        emu.register_function(name, lambda event, context: event)
    else:
        client.create_function(fc.CreateFunctionRequest(body=fc.CreateFunctionInput(
            function_name=name, runtime="python3.10", handler="index.handler",
            code=fc.InputCodeLocation(zip_file=zipped(SOURCE)))))
    emu.put_async_invoke_config(name, asyncTask=True, on_success=f"{name}-done")


def measure(emu: fcemu.Emulator, client: Client, kind: str, tasks: int) -> tuple[float, float]:
    name = "bench-" + kind.replace("-", "")
    deploy(emu, client, name, kind)
    # a 1 s delay on the manual clock holds every task Enqueued until drain()
    headers = fc.InvokeFunctionHeaders(x_fc_invocation_type="Async",
                                       common_headers={"x-fc-async-delay": "1"})
    started = time.perf_counter()
    for i in range(tasks):
        client.invoke_function_with_options(
            name, fc.InvokeFunctionRequest(body=str(i).encode()), headers, RuntimeOptions())
    accepted = time.perf_counter() - started
    started = time.perf_counter()
    emu.drain(timeout=600)
    completed = time.perf_counter() - started
    assert len(emu.queue(f"{name}-done").messages()) == tasks
    return tasks / accepted, tasks / completed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    args = parser.parse_args()
    with fcemu.Emulator(clock="manual", seed=1) as emu:
        client = Client(Config(access_key_id="a", access_key_secret="b",
                               endpoint=emu.host_port, protocol="http"))
        rows = {kind: measure(emu, client, kind, args.tasks) for kind in ("in-process", "worker")}
    print(f"{'runtime':<12}{'accept/s':>12}{'complete/s':>12}")
    for kind, (accept, complete) in rows.items():
        print(f"{kind:<12}{accept:>12.0f}{complete:>12.0f}")
    (ia, ic), (wa, wc) = rows["in-process"], rows["worker"]
    print(f"worker/in-process: accept {wa / ia:.2f}x, complete {wc / ic:.2f}x")


if __name__ == "__main__":
    main()
