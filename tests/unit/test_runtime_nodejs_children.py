"""A Node.js instance's memory counts the child processes its handler leaves running.

The worker says in each reply whether it may have children (worker.js's mayHaveChildren();
its replies: tests/unit/test_node_worker_replies.py); if it says none, the server counts the
worker's own peak and reads the other processes at most once per ``MEMORY_POLL_S``. A
handler here starts a child that holds 200 MB and returns while the child runs: the
request's ``maxMemoryUsage`` must count the child (the worker's own peak is a few tens of
MB), whether the child is ref'd or detached and unref'd (then Node.js does not list it
among its active resources).
"""

from __future__ import annotations

import json

import pytest

from fcemu.runtime import Runtimes
from tests.unit.test_runtime_nodejs import invoke_all, needs_node, node_function
from tests.unit.test_runtime_worker import call, instance_processes, run

#: The child: 200 MB, touched; "ready" on its output once it holds them; then it waits.
CHILD = ("const b = Buffer.alloc(200 * 1024 * 1024, 1); process.stdout.write('ready\\n'); "
         "setInterval(() => { b[0] += 1; }, 1000);")

HANDLER = """
const { spawn } = require('child_process');
const { once } = require('events');
exports.handler = async (event) => {
  const options = %s;
  const child = spawn(process.execPath, ['-e', %s], options);
  if (options.detached) child.unref();
  await once(child.stdout, 'data');  // "ready": it holds its 200 MB
  child.stdout.destroy();
  return {pid: child.pid};
};
"""


@needs_node
@pytest.mark.parametrize("options", [
    "{stdio: ['ignore', 'pipe', 'inherit']}",
    "{detached: true, stdio: ['ignore', 'pipe', 'inherit']}",
], ids=["child", "detached-unrefd-child"])
def test_a_running_child_counts_in_the_instances_memory(tmp_path, options):
    fn = node_function(tmp_path, {"index.js": HANDLER % (options, json.dumps(CHILD))},
                       memory_size=1024, timeout=30)

    async def body(runtimes: Runtimes) -> list[int]:
        peaks = []
        for request_id in ("r-1", "r-2"):
            outcome = await runtimes.invoke(call(fn, b"", request_id=request_id))
            assert outcome.kind == "ok", outcome.body
            # the worker and the children it left running (and the launcher, if any)
            assert len(instance_processes(outcome.instance_id)) >= 2
            peaks.append(outcome.max_memory_mb)
        return peaks

    first, second = run(body)
    assert first >= 200 and second >= 400, (first, second)  # each child's 200 MB counted


@needs_node
def test_a_plain_handlers_memory_is_its_worker(tmp_path):
    fn = node_function(tmp_path, {"index.js": "exports.handler = async (e) => e;\n"},
                       memory_size=128)
    outcomes = invoke_all(fn, b"a", b"b", b"c")
    assert [o.kind for o in outcomes] == ["ok"] * 3
    assert all(0 < o.max_memory_mb < 128 for o in outcomes)
