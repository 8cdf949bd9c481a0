"""The Node.js sample (fixtures/samples/nodejs-async, issue 16): its s.yaml loads unchanged,
its async tasks reach their destinations, and ``fcemu serve`` / ``fcemu invoke`` run it as
its README says. Skipped, with the reason, where ``node`` is not installed (CI installs it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.conftest import serving
from tests.examples.test_samples import SAMPLES, emulator, invoke

SAMPLE = SAMPLES / "nodejs-async"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: "
                                "apt-get install nodejs (CI's .ci/run does)")


@needs_node
def test_the_sample_quotes_and_fails_to_its_destinations() -> None:
    with emulator(SAMPLE / "s.yaml") as emu:
        invoke(emu, "quote", {"item": "apple", "quantity": 3}, task_id="good")
        invoke(emu, "quote", {"item": "durian", "quantity": 1}, task_id="bad")
        emu.drain()
        [done] = emu.queue("quotes").json()
        result = json.loads(done["responsePayload"])
        assert (result["item"], result["total"], result["currency"]) == ("apple", 7.5, "CNY")
        assert result["requestId"] == done["requestContext"]["requestId"]
        [failed] = emu.queue("quote-failures").json()
        assert failed["requestContext"]["condition"] == "InvocationError"
        assert failed["requestContext"]["approximateInvokeCount"] == 2
        error = json.loads(failed["responsePayload"])
        assert (error["errorType"], error["errorMessage"]) == ("RangeError",
                                                               "no price for 'durian'")
        assert any("pricing/index.js" in line for line in error["stackTrace"])
        assert emu.task("quote", "good")["status"] == "Succeeded"
        assert emu.task("quote", "bad")["status"] == "Failed"
        logs = emu.task_logs("quote", "good")
        assert "quoting apple x 3" in logs


@needs_node
def test_fcemu_serve_and_invoke_run_the_sample(tmp_path: Path) -> None:
    with serving("--clock", "manual", "--config", "s.yaml", cwd=SAMPLE,
                 log=tmp_path / "serve.log") as server:
        ok = server("invoke", "quote", "--payload", '{"item": "pear", "quantity": 2}')
        assert ok.code == 0, ok.err
        assert json.loads(ok.out)["total"] == 6
        failed = server("invoke", "quote", "--payload", '{"item": "durian", "quantity": 1}')
        assert failed.code == 1
        assert json.loads(failed.out)["errorType"] == "RangeError"
        assert "UnhandledInvocationError" in failed.err


def test_serve_node_names_the_interpreter_and_a_missing_one_says_what_to_install(
        tmp_path: Path) -> None:
    missing = tmp_path / "bin" / "node"
    with serving("--node", str(missing), "--config", "s.yaml", cwd=SAMPLE,
                 log=tmp_path / "serve.log") as server:
        failed = server("invoke", "quote", "--payload", '{"item": "pear", "quantity": 1}')
        assert failed.code == 1
        error = json.loads(failed.out)
        assert error["errorType"] == "NodeNotAvailable"
        assert f"'{missing}'" in error["errorMessage"]
        assert "Node.js 18 or later" in error["errorMessage"]
