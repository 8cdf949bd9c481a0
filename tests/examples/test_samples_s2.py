"""The Serverless Devs 2.x sample (fixtures/samples/legacy-2x-async) loads unchanged:
``fcemu check`` and ``fcemu serve --config`` convert it as ``s cli fc3 s2tos3`` does, and
the converted functions run through the official FC and MNS SDKs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from alibabacloud_fc20230330 import models as fc
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.models import Config
from alibabacloud_tea_util.models import RuntimeOptions
from mns.account import Account

from tests.cli.conftest import ROOT, fcemu, serving

SAMPLE = ROOT / "fixtures" / "samples" / "legacy-2x-async"
S_YAML = SAMPLE / "s.yaml"

pytestmark = pytest.mark.fc_verified(
    "names: FC 3.0 addresses an FC 2.0 service's function as service$function; conversion: "
    "devsapp/fc3 src/subCommands/2to3/index.ts")


def test_check_converts_and_says_what_it_converted() -> None:
    result = fcemu("check", str(S_YAML))
    assert result.code == 0, result.err
    assert "functions orders$process, orders$sink" in result.out
    assert "a Serverless Devs 2.x file (component fc), converted to fc3" in result.err
    for line in ("service orders + function process → functionName orders$process",
                 "acs:fc:::services/orders/functions/sink → acs:fc:${this.props.region}::"
                 "functions/orders$sink",
                 "asyncConfiguration → asyncInvokeConfig",
                 "initializer/initializationTimeout → instanceLifecycleConfig.initializer",
                 "instanceType: dropped"):
        assert line in result.err


def test_check_json_shows_the_fc3_model() -> None:
    result = fcemu("check", "--json", str(S_YAML))
    assert result.code == 0, result.err
    worker = json.loads(result.out)["functions"]["orders$process"]
    assert worker["function"]["instanceLifecycleConfig"] == {
        "initializer": {"handler": "index.initialize", "timeout": 10}}
    qualifier, config = worker["asyncInvokeConfig"]
    assert qualifier == "LATEST" and config["asyncTask"] is True
    assert config["destinationConfig"]["onSuccess"]["destination"].endswith(
        ":functions/orders$sink")


def test_served_2x_project_runs_through_the_sdks(tmp_path: Path) -> None:
    with serving("--config", str(S_YAML), "--clock", "manual", log=tmp_path / "serve.log") \
            as server:
        host = server.url.removeprefix("http://")
        client = Client(Config(access_key_id="AKID", access_key_secret="SECRET", endpoint=host,
                               protocol="http", region_id="cn-hangzhou"))
        names = [f.function_name for f in
                 client.list_functions(fc.ListFunctionsRequest()).body.functions]
        assert names == ["orders$process", "orders$sink"]
        for task_id, order in (("good-1", {"id": "A1", "qty": 2}),
                               ("bad-1", {"id": "B2", "qty": 1, "fail": True})):
            headers = fc.InvokeFunctionHeaders(x_fc_invocation_type="Async",
                                               x_fc_async_task_id=task_id)
            answer = client.invoke_function_with_options(
                "orders$process", fc.InvokeFunctionRequest(body=io.BytesIO(
                    json.dumps(order).encode())), headers, RuntimeOptions())
            assert answer.status_code == 202
        assert server("drain").code == 0
        good, bad = (client.get_async_task("orders$process", task_id,
                                           fc.GetAsyncTaskRequest()).body
                     for task_id in ("good-1", "bad-1"))
        assert (good.status, bad.status) == ("Succeeded", "Failed")
        assert json.loads(bad.task_payload) == {"id": "B2", "qty": 1, "fail": True}
        assert bad.qualifier == "LATEST" and good.function_arn.endswith("orders$process")
        account = Account(server.url, "AKID", "SECRET")
        results, failures = account.get_queue("order-results"), account.get_queue("order-failures")
        for queue in (results, failures):
            queue.set_encoding(False)  # FC writes result messages as raw JSON text
        try:
            result = json.loads(results.receive_message(0).message_body)
            failure = json.loads(failures.receive_message(0).message_body)
        finally:
            account.get_client().close_connection()
        assert json.loads(result["responsePayload"]) == {
            "stored": "A1", "from": result["requestContext"]["functionArn"].replace(
                "orders$sink", "orders$process")}
        assert failure["requestContext"]["approximateInvokeCount"] == 2
        assert "order B2 cannot be processed" in failure["responsePayload"]
