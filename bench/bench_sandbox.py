"""Warm-instance invoke cost with and without the bubblewrap sandbox, side by side.

Run by hand (never in CI):  python bench/bench_sandbox.py [--invokes N] [--rounds R]

For a Python worker (``python3.10``) and a custom runtime (a standard-library HTTP
server on port 9000), in each containment this machine has (``bwrap``: the sandbox;
``pidns``: the fallback, an ``unshare`` PID namespace), on one warm instance:

- warm: N sequential invocations through ``Runtimes.invoke`` (the engine's path to a
  handler, HTTP front door left out), after one that starts the instance: microseconds
  per invoke (median of R rounds);
- cold: the first invocation of each round (starting the instance, its sandbox included).

It prints each figure and the bwrap/pidns ratio, which is what to compare across changes
(absolute numbers depend on the machine). A custom runtime in the sandbox is reached
through the launcher's relay socket, outside it over TCP to its own port.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fcemu.ids import IdGenerator
from fcemu.models import Function
from fcemu.runtime import Invocation, Runtimes
from fcemu.runtime.contain import containment

HANDLER = "def handler(event, context):\n    return event\n"
SERVER = '''\
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("0.0.0.0", int(os.environ["FC_SERVER_PORT"])),
                                Handler).serve_forever()
'''


def functions(root: Path) -> dict[str, Function]:
    worker, custom = root / "worker", root / "custom"
    worker.mkdir()
    custom.mkdir()
    (worker / "index.py").write_text(HANDLER)
    (custom / "server.py").write_text(SERVER)
    common = {"arn": "acs:fc:cn-hangzhou:1:functions/x", "function_id": "f", "created_ms": 0,
              "modified_ms": 0, "timeout": 30}
    return {
        "python worker": Function(name="worker", runtime="python3.10", handler="index.handler",
                                  code_dir=worker, **common),
        "custom runtime": Function(name="custom", runtime="custom.debian10",
                                   handler="index.handler", code_dir=custom,
                                   custom_runtime_config={"command": [sys.executable,
                                                                      "server.py"]},
                                   **common),
    }


async def measure(fn: Function, mode: str, invokes: int) -> tuple[float, float]:
    """(cold start ms, warm invoke µs median over ``invokes``) on a fresh Runtimes."""
    runtimes = Runtimes(IdGenerator(7), containment=mode)
    try:
        started = time.perf_counter()
        first = await runtimes.invoke(Invocation("r-0", fn, b"{}", "LATEST", "r", "1"))
        cold_ms = (time.perf_counter() - started) * 1000
        assert first.kind == "ok", first
        times = []
        for i in range(invokes):
            started = time.perf_counter()
            outcome = await runtimes.invoke(Invocation(f"r-{i + 1}", fn, b"{}", "LATEST",
                                                       "r", "1"))
            times.append(time.perf_counter() - started)
            assert outcome.kind == "ok", outcome
        return cold_ms, statistics.median(times) * 1e6
    finally:
        await runtimes.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    modes = [m for m in ("bwrap", "pidns") if containment(m).mode == m]
    if "bwrap" not in modes:
        sys.exit("bubblewrap does not work here: apt-get install bubblewrap")
    with tempfile.TemporaryDirectory() as root:
        for label, fn in functions(Path(root)).items():
            results: dict[str, tuple[float, float]] = {}
            for mode in modes:
                rounds = [asyncio.run(measure(fn, mode, args.invokes))
                          for _ in range(args.rounds)]
                results[mode] = (statistics.median(r[0] for r in rounds),
                                 statistics.median(r[1] for r in rounds))
                print(f"{label:15} {mode:6} cold {results[mode][0]:7.1f} ms   "
                      f"warm {results[mode][1]:7.0f} µs/invoke")
            if "pidns" in results:
                cold = results["bwrap"][0] / results["pidns"][0]
                warm = results["bwrap"][1] / results["pidns"][1]
                print(f"{label:15} bwrap/pidns: cold x{cold:.2f}, warm x{warm:.2f}")


if __name__ == "__main__":
    main()
