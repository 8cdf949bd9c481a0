"""The worker's own peak memory (``maxrss_kb`` in its frames), read with ``getrusage``.

``ru_maxrss`` survives ``exec``: a worker started from a larger process must report its
own peak (``VmHWM``), not the peak of the process it was started from, until it grows
past that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WORKER_MAIN = Path(__file__).resolve().parents[2] / "fcemu" / "runtime" / "_worker_main.py"

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")

#: Loads the worker file as a module (its main() is not run) and reports PeakMemory's
#: figures and VmHWM, before and after allocating 150 MB.
PROBE = f"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("probe_worker", {str(WORKER_MAIN)!r})
worker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(worker)
peak = worker.handler_api.PeakMemory()
before = (peak.kb(), worker.handler_api.maxrss_kb())
hog = bytearray(150 * 1024 * 1024)
after = (peak.kb(), worker.handler_api.maxrss_kb())
print(json.dumps({{"before": before, "after": after}}))
"""

#: Grows to 300 MB, then replaces itself with the probe (as a launcher execs the worker).
EXEC_FROM_BIG = f"""
import os, sys
hog = bytearray(300 * 1024 * 1024)
os.execv(sys.executable, [sys.executable, "-c", {PROBE!r}])
"""


def probe(script: str) -> dict[str, list[int]]:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def close(a: int, b: int) -> bool:
    return abs(a - b) <= 2048  # KiB: the kernel's counters differ by a few pages


@pytest.mark.parametrize("script", [PROBE, EXEC_FROM_BIG], ids=["fresh", "exec-from-300MB"])
def test_the_peak_is_the_workers_own_vmhwm(script):
    figures = probe(script)
    (before, hwm_before), (after, hwm_after) = figures["before"], figures["after"]
    assert close(before, hwm_before) and before < 100 * 1024  # not the 300 MB it came from
    assert close(after, hwm_after) and after > 150 * 1024
