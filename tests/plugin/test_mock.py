"""Mock mode: code that builds its own clients for the real endpoints runs against fcemu."""

from __future__ import annotations

import pytest

from tests.plugin.conftest import ONLY_FCEMU

pytest.importorskip("responses", reason="pip install -e '.[test]'")

#: The code under test: no endpoint anywhere, HTTPS to the real Alibaba Cloud hosts.
APP = '''
from alibabacloud_fc20230330 import models as fc
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.models import Config
from darabonba.runtime import RuntimeOptions
from mns.account import Account

ACCOUNT_ID = "1234567890123456"

def fc_client():
    return Client(Config(access_key_id="AK", access_key_secret="SK", region_id="cn-hangzhou"))

def submit_job(task_id, body):
    fc_client().invoke_function_with_options(
        "job", fc.InvokeFunctionRequest(body=body),
        fc.InvokeFunctionHeaders(x_fc_invocation_type="Async", x_fc_async_task_id=task_id),
        RuntimeOptions())

def job_status(task_id):
    return fc_client().get_async_task("job", task_id, fc.GetAsyncTaskRequest()).body.status

async def job_status_async(task_id):
    answer = await fc_client().get_async_task_async("job", task_id, fc.GetAsyncTaskRequest())
    return answer.body.status

def take_result(queue_name):
    account = Account(f"https://{ACCOUNT_ID}.mns.cn-hangzhou.aliyuncs.com", "AK", "SK")
    try:
        queue = account.get_queue(queue_name)
        queue.set_encoding(False)
        message = queue.receive_message()
        queue.delete_message(message.receipt_handle)
        return message.message_body
    finally:
        account.get_client().close_connection()
'''

TESTS = '''
import asyncio
import json

import app
import handlers

def test_same_scenario_with_no_endpoint_in_the_code(fcemu_mock, fcemu_function, fc_client):
    fcemu_function("job", handlers.fail, on_failure="dlq",
                   async_config={"asyncTask": True, "maxAsyncRetryAttempts": 1})
    app.submit_job("job-1", b"boom")
    fcemu_mock.drain()
    assert app.job_status("job-1") == "Failed"
    assert asyncio.run(app.job_status_async("job-1")) == "Failed"
    result = json.loads(app.take_result("dlq"))
    assert result["requestContext"]["approximateInvokeCount"] == 2
    assert fcemu_mock.queue("dlq").messages() == []  # consumed through the MNS SDK
    # the plugin's own client (127.0.0.1) passes through untouched
    functions = fc_client.list_functions(app.fc.ListFunctionsRequest()).body.functions
    assert [f.function_name for f in functions] == ["job"]

def test_outside_mock_mode_nothing_is_patched():
    from darabonba.core import DaraCore
    from mns.mns_http import MNSHttp
    assert DaraCore.async_do_action.__module__ == "darabonba.core"
    assert MNSHttp.send_request.__module__ == "mns.mns_http"
'''


def test_mock_mode_end_to_end(only_fcemu: pytest.Pytester) -> None:
    only_fcemu.makepyfile(app=APP, test_mock=TESTS)
    only_fcemu.runpytest(*ONLY_FCEMU).assert_outcomes(passed=2)


@pytest.mark.parametrize(("host", "kind"), [
    ("fcv3.cn-hangzhou.aliyuncs.com", "fc"),
    ("fcv3.ap-southeast-1.aliyuncs.com:443", "fc"),
    ("fc-vpc.cn-shanghai.aliyuncs.com", "fc"),
    ("1234567890123456.cn-hangzhou.fc.aliyuncs.com", "fc"),
    ("1234567890123456.cn-hangzhou-internal.fc.aliyuncs.com", "fc"),
    ("cn-shanghai-finance-1.fc.aliyuncs.com", "fc"),
    ("1234567890123456.mns.cn-hangzhou.aliyuncs.com", "mns"),
    ("1234567890123456.mns.cn-hangzhou-internal-vpc.aliyuncs.com", "mns"),
    ("oss-cn-hangzhou.aliyuncs.com", None),
    ("ecs.cn-hangzhou.aliyuncs.com", None),
    ("example.com", None),
])
def test_matched_hosts(host: str, kind: str | None) -> None:
    from pytest_fcemu.mock import FC_HOST, MNS_HOST

    found = "fc" if FC_HOST.match(host) else "mns" if MNS_HOST.match(host) else None
    assert found == kind


def test_decorator_starts_and_stops_its_own_emulator() -> None:
    pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")
    from alibabacloud_fc20230330 import models as fc
    from alibabacloud_fc20230330.client import Client
    from alibabacloud_tea_openapi.models import Config

    from pytest_fcemu import mock_endpoints

    mocked = mock_endpoints(clock="manual", region="ap-southeast-1")

    @mocked
    def deployed_function_arns() -> list[str]:
        assert mocked.emulator is not None
        mocked.emulator.register_function("f", lambda event, context: event)
        client = Client(Config(access_key_id="AK", access_key_secret="SK",
                               endpoint="1234567890123456.ap-southeast-1.fc.aliyuncs.com"))
        answer = client.list_functions(fc.ListFunctionsRequest())
        return [f.function_arn for f in answer.body.functions]

    assert deployed_function_arns() == ["acs:fc:ap-southeast-1:1234567890123456:functions/f"]
    assert mocked.emulator is None
