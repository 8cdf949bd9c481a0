"""Under pytest-xdist every worker gets its own emulator on its own free port."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import ONLY_FCEMU

PARALLEL = '''
import pathlib

import pytest
from alibabacloud_fc20230330 import models as fc
from darabonba.runtime import RuntimeOptions

import handlers

@pytest.mark.parametrize("n", range(8))
def test_parallel(fcemu, fc_client, fcemu_function, worker_id, n):
    fcemu_function("job", handlers.ok, on_success="done", async_config={"asyncTask": True})
    fc_client.invoke_function_with_options(
        "job", fc.InvokeFunctionRequest(body=str(n).encode()),
        fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id="t"),
        RuntimeOptions())
    fcemu.drain()
    assert [m.json()["responsePayload"] for m in fcemu.queue("done").messages()] == [f"ok:{n}"]
    pathlib.Path(f"port-{worker_id}-{n}").write_text(str(fcemu.port))
'''


def test_two_workers_two_emulators_no_port_clash(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makepyfile(test_parallel=PARALLEL)
    result = only_fcemu.runpytest_subprocess("-p", "xdist.plugin", "-n", "2", *ONLY_FCEMU)
    result.assert_outcomes(passed=8)
    ports: dict[str, set[str]] = {}
    for path in only_fcemu.path.glob("port-*"):
        ports.setdefault(path.name.split("-")[1], set()).add(path.read_text())
    assert sorted(ports) == ["gw0", "gw1"]
    assert all(len(p) == 1 for p in ports.values())  # one server per worker, reused
    assert ports["gw0"] != ports["gw1"]
