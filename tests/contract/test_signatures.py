"""Verify mode end to end: a real fcemu with AccessKey pairs, the official FC and MNS SDKs.

``fcemu.Emulator(access_keys=...)`` checks ACS3-HMAC-SHA256 signatures on the
FC API and the control API, and MNS signatures on the SMQ routes (decisions.md
"Accounts, regions, credentials"; issue 9 closed the control API). Without
access keys nothing is checked (every other contract test runs that way with
made-up keys). Here the plugin's ``fcemu`` fixture runs in verify mode through
the module's ``fcemu`` marker; its ``fc_client`` and ``mns_account`` sign with
the first pair, other clients are made with other keys on purpose.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fcemu import Emulator

pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")
pytest.importorskip("mns", reason="pip install -e '.[test]'")

from alibabacloud_fc20230330 import models as fc
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_openapi.models import Config
from darabonba.runtime import RuntimeOptions
from mns.account import Account
from mns.mns_exception import MNSServerException
from mns.queue import Message, QueueMeta
from mns.topic import TopicMessage, TopicMeta

from fcemu.runtime import Credentials

from .conftest import create_function

KEY_ID, SECRET = "AKID", "SECRET"
ECHO = "def handler(event, context):\n    return event\n"
BINARY = bytes(range(256)) * 4 + b"\r\n+ =&%"

KEYS = ((KEY_ID, SECRET), ("AKID2", "S2"))

pytestmark = pytest.mark.fcemu(access_keys=KEYS, seed=3)


@pytest.fixture
def account(fcemu: Emulator) -> Iterator[Callable[..., Account]]:
    """Make MNS accounts with other keys; their keep-alive sockets are closed at teardown."""
    made: list[Account] = []

    def make(key_id: str = KEY_ID, secret: str = SECRET, token: str = "") -> Account:
        made.append(Account(fcemu.endpoint, key_id, secret, token))
        return made[-1]

    yield make
    for acc in made:
        acc.get_client().close_connection()


def client_with(emu: Emulator, key_id: str = KEY_ID, secret: str = SECRET,
                **config: Any) -> Client:
    """An FC client signing with other keys (or an STS token) than ``fc_client``'s."""
    return Client(Config(access_key_id=key_id, access_key_secret=secret,
                         endpoint=emu.host_port, protocol="http", read_timeout=60_000,
                         **config))


def client_error(call: Callable[[], object]) -> ClientException:
    with pytest.raises(ClientException) as info:
        call()
    return info.value


def mns_error(call: Callable[[], object]) -> MNSServerException:
    with pytest.raises(MNSServerException) as info:
        call()
    return info.value


def invoke(client: Client, name: str, payload: bytes, **headers: Any) -> Any:
    return client.invoke_function_with_options(
        name, fc.InvokeFunctionRequest(body=io.BytesIO(payload)),
        fc.InvokeFunctionHeaders(**headers), RuntimeOptions())


# -- FC API ---------------------------------------------------------------------------------


def test_correct_keys_work_for_fc_operations(fcemu: Emulator, fc_client: Client) -> None:
    client = fc_client
    create_function(client, "echo", ECHO)
    assert client.get_function("echo", fc.GetFunctionRequest()).body.function_name == "echo"
    assert [f.function_name for f in
            client.list_functions(fc.ListFunctionsRequest(prefix="ec")).body.functions] == [
        "echo"]
    body = fc.PutAsyncInvokeConfigInput(async_task=True, max_async_retry_attempts=0)
    client.put_async_invoke_config("echo", fc.PutAsyncInvokeConfigRequest(body=body))

    # a binary body: hashed and signed as bytes, echoed back unchanged
    sync = invoke(client, "echo", BINARY, x_fc_invocation_type="Sync")
    assert sync.status_code == 200 and sync.body.read() == BINARY
    accepted = invoke(client, "echo", BINARY, x_fc_invocation_type="Async",
                      x_fc_async_task_id="job-1")
    assert accepted.status_code == 202
    fcemu.drain()
    task = client.get_async_task("echo", "job-1",
                                 fc.GetAsyncTaskRequest(qualifier="LATEST")).body
    assert task.status == "Succeeded"

    # ListAsyncTasks: values with '+' and spaces travel form-encoded and are signed RFC 3986
    listed = client.list_async_tasks("echo", fc.ListAsyncTasksRequest(
        prefix="job-", include_payload=True, limit=5, sort_order_by_time="asc")).body
    assert [t.task_id for t in listed.tasks] == ["job-1"]
    none = client.list_async_tasks("echo", fc.ListAsyncTasksRequest(prefix="a b+c/d=")).body
    assert none.tasks == []
    # a made-up token passes the signature check and reaches the handler intact
    error = client_error(lambda: client.list_async_tasks(
        "echo", fc.ListAsyncTasksRequest(next_token="tok en+/=")))
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    assert "'tok en+/='" in error.message

    client.delete_function("echo")


@pytest.mark.fc_verified
def test_paging_with_a_real_next_token(fc_client: Client) -> None:
    client = fc_client
    create_function(client, "echo", ECHO)
    client.put_async_invoke_config("echo", fc.PutAsyncInvokeConfigRequest(
        body=fc.PutAsyncInvokeConfigInput(async_task=True)))
    for n in range(3):
        invoke(client, "echo", b"{}", x_fc_invocation_type="Async", x_fc_async_task_id=f"t-{n}")
    first = client.list_async_tasks("echo", fc.ListAsyncTasksRequest(limit=2)).body
    assert len(first.tasks) == 2 and first.next_token
    rest = client.list_async_tasks("echo", fc.ListAsyncTasksRequest(
        limit=2, next_token=first.next_token)).body
    assert len(rest.tasks) == 1


@pytest.mark.fc_verified
def test_wrong_secret_is_signature_not_match(fcemu: Emulator) -> None:
    error = client_error(lambda: client_with(fcemu, secret="wrong").list_functions(
        fc.ListFunctionsRequest()))
    assert (error.status_code, error.code) == (403, "SignatureNotMatch")
    assert "does not match the signature you provided" in error.message
    assert error.request_id
    # a body signed with one secret is refused too (POST, binary body)
    error = client_error(lambda: invoke(client_with(fcemu, secret="wrong"), "echo", BINARY))
    assert (error.status_code, error.code) == (403, "SignatureNotMatch")


@pytest.mark.fc_verified
def test_unknown_key_id_is_invalid_access_key_id(fcemu: Emulator) -> None:
    error = client_error(lambda: client_with(fcemu, key_id="NOPE").list_functions(
        fc.ListFunctionsRequest()))
    assert (error.status_code, error.code) == (403, "InvalidAccessKeyID")
    assert "invalid access key ID 'NOPE'" in error.message


def test_sts_token_and_second_key_work(fcemu: Emulator) -> None:
    sts = client_with(fcemu, security_token="STS-TOKEN-X")
    create_function(sts, "echo", ECHO)
    assert invoke(sts, "echo", b"hi", x_fc_invocation_type="Sync").body.read() == b"hi"
    other = client_with(fcemu, key_id="AKID2", secret="S2")
    assert [f.function_name for f in
            other.list_functions(fc.ListFunctionsRequest()).body.functions] == ["echo"]


def test_function_credentials_work_only_when_configured(
        fcemu: Emulator, account: Callable[..., Account]) -> None:
    """What a handler finds in ``context.credentials`` is a fixed, public pair: it calls
    back into the emulator only when the user lists it too (issue 9)."""
    creds = Credentials()

    def calls() -> None:
        client = client_with(fcemu, key_id=creds.access_key_id,
                             secret=creds.access_key_secret, security_token=creds.security_token)
        assert client.list_functions(fc.ListFunctionsRequest()).body.functions == []
        queue = account(creds.access_key_id, creds.access_key_secret,
                        creds.security_token).get_queue("from-a-function")
        queue.create(QueueMeta())

    error = client_error(calls)
    assert (error.status_code, error.code) == (403, "InvalidAccessKeyID")
    fcemu.reset(access_keys=((KEY_ID, SECRET),
                             (creds.access_key_id, creds.access_key_secret)))
    try:
        calls()
    finally:
        fcemu.reset(access_keys=KEYS)


@pytest.mark.fc_verified
def test_bearer_token_is_refused(fcemu: Emulator) -> None:
    client = Client(Config(bearer_token="a-bearer-token", endpoint=fcemu.host_port,
                           protocol="http"))
    error = client_error(lambda: client.list_functions(fc.ListFunctionsRequest()))
    assert (error.status_code, error.code) == (403, "AccessDenied")
    assert "bearer tokens are not accepted" in error.message


def http(emu: Emulator, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(emu.endpoint + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_unsigned_requests_and_the_control_api(fcemu: Emulator) -> None:
    status, headers, body = http(fcemu, "GET", "/2023-03-30/functions")
    assert status == 400
    assert json.loads(body)["Code"] == "MissingRequiredHeader"
    assert json.loads(body)["RequestId"] == headers["x-fc-request-id"]
    status, headers, body = http(fcemu, "GET", "/queues")
    assert status == 400
    assert b"<Code>MissingAuthorizationHeader</Code>" in body and "x-mns-request-id" in headers
    status, _, body = http(fcemu, "GET", "/_fcemu/clock")  # checked too since issue 9
    assert status == 400 and json.loads(body)["Code"] == "MissingRequiredHeader"


def test_reset_can_turn_verify_mode_off(fcemu: Emulator) -> None:
    try:
        fcemu.reset(access_keys=())
        assert http(fcemu, "GET", "/2023-03-30/functions")[0] == 200
        assert client_with(fcemu, "any", "thing").list_functions(
            fc.ListFunctionsRequest()).body.functions == []
    finally:
        fcemu.reset(access_keys=KEYS)
    assert http(fcemu, "GET", "/2023-03-30/functions")[0] == 400


# -- SMQ (MNS) API --------------------------------------------------------------------------


@pytest.mark.fc_verified
def test_correct_keys_work_for_mns_operations(mns_account: Account) -> None:
    acc = mns_account
    queue = acc.get_queue("signed")
    queue.create(QueueMeta(vis_timeout=30))
    assert queue.get_attributes().visibility_timeout == 30
    queue.send_message(Message("hello + world =="))
    got = queue.receive_message(wait_seconds=1)
    assert got.message_body == b"hello + world =="
    # the receipt handle travels raw in the query and is signed as sent
    changed = queue.change_message_visibility(got.receipt_handle, 10)
    queue.delete_message(changed.receipt_handle)
    assert mns_error(queue.receive_message).type == "MessageNotExist"
    topic = acc.get_topic("signed-topic")
    topic.create(TopicMeta())
    assert topic.publish_message(TopicMessage('{"x": 1}')).message_id
    assert [url.rsplit("/", 1)[1] for url in acc.list_queue("sig")[0]] == ["signed"]
    queue.delete()


@pytest.mark.fc_verified
def test_mns_wrong_secret_and_unknown_key(account: Callable[..., Account],
                                          mns_account: Account) -> None:
    queue = account(KEY_ID, "wrong").get_queue("q")
    error = mns_error(lambda: queue.create(QueueMeta()))
    assert error.type == "SignatureDoesNotMatch"
    assert error.req_id and error.host_id
    error = mns_error(lambda: account("NOPE", SECRET).get_queue("q").create(QueueMeta()))
    assert error.type == "InvalidAccessKeyId"
    # neither request reached the handler
    good = mns_account.get_queue("q")
    assert mns_error(good.get_attributes).type == "QueueNotExist"
