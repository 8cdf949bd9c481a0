"""Issue 9, point 7: verify mode is closed.

- The control API (``/_fcemu``: reset, clock, scripts, queue peeks...) needs the same
  ACS3 credentials as the FC API; the pytest plugin (Python API and SDK fixtures) and
  the CLI's HTTP client keep working.
- The built-in ``STS.fcemu-local-access-key`` pair that handlers get is accepted only
  when the user lists it.
- As the Alibaba Cloud API gateway does: an ``x-acs-date`` more than 15 minutes from now
  is 400 ``InvalidTimeStamp.Expired`` (an unreadable one ``InvalidTimeStamp.Format``), a
  reused ``x-acs-signature-nonce`` 400 ``SignatureNonceUsed``; an MNS ``Date`` more than
  15 minutes off is 408 ``TimeExpired``. "Now" is real time, not the emulator clock.

Every refused request is checked to have changed nothing.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import fcemu
from fcemu import cli, signing
from fcemu.api import replay
from fcemu.cli.client import EXIT_API, Client
from fcemu.runtime import Credentials
from tests.api.conftest import zip_b64
from tests.hardening.state import FC, Http, Reply

KEY = ("AKVERIFY", "verify-secret")
OTHER = ("AKOTHER", "other-secret")
pytestmark = pytest.mark.fcemu(clock="manual", access_keys=(KEY, OTHER))

JSON = {"content-type": "application/json"}
MINUTE = 60
FUNCTION_KEY = (Credentials().access_key_id, Credentials().access_key_secret)


@pytest.fixture
def http(fcemu: fcemu.Emulator) -> Iterator[Http]:
    client = Http("127.0.0.1", fcemu.port)
    yield client
    client.close()


def acs_date(offset_s: float = 0.0) -> str:
    """An ``x-acs-date`` ``offset_s`` real seconds from now."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_s))


def signed(http: Http, emu: fcemu.Emulator, method: str, target: str, body: Any = None, *,
           key: tuple[str, str] = KEY, date: str | None = None,
           nonce: str | None = None) -> Reply:
    """An ACS3-signed request, as the SDK signs it (``date`` and ``nonce`` may be forced)."""
    data = b"" if body is None else json.dumps(body).encode()
    headers = signing.sign_acs3(method, target, JSON if body is not None else {}, data,
                                key[0], key[1], host=emu.host_port, action="Test", date=date,
                                nonce=nonce or uuid.uuid4().hex)
    return http.request(method, target, headers, data)


def mns_signed(http: Http, method: str, target: str, *, key: tuple[str, str] = KEY,
               date: str | None = None) -> Reply:
    headers = signing.sign_mns(method, target, {}, b"", key[0], key[1], date=date)
    return http.request(method, target, headers)


def fc_error(reply: Reply) -> tuple[int, str, str]:
    doc = reply.json()
    assert set(doc) == {"Code", "Message", "RequestId"}, doc
    return reply.status, doc["Code"], doc["Message"]


def mns_error(reply: Reply) -> tuple[int, str]:
    code = reply.body.split(b"<Code>")[1].split(b"</Code>")[0].decode()
    return reply.status, code


def setup_state(emu: fcemu.Emulator) -> None:
    """A function with a finished task and its result message on queue ``q``."""
    emu.register_function("f", lambda event, context: event)
    emu.put_async_invoke_config("f", on_success="q", asyncTask=True)
    emu.invoke("f", b"{}", asynchronous=True, task_id="t1")
    emu.settle()


def state(emu: fcemu.Emulator) -> dict[str, Any]:
    """What the control calls below could change, read through the Python API."""
    async def inner(engine: Any) -> dict[str, Any]:
        return {"functions": sorted(engine.functions), "faults": engine.describe_faults(),
                "seed": engine.ids.seed}

    return {"now": emu.clock.now(), "tasks": emu.tasks("f"),
            "queue": [(m.message_id, m.body) for m in emu.queue("q").messages()],
            **emu.call(inner)}


# -- the control API ---------------------------------------------------------------------------

#: Control calls that read or change state: (method, path, JSON body).
CONTROL = [
    ("GET", "/clock", None),
    ("POST", "/clock/advance", {"seconds": 3600}),
    ("POST", "/clock/set", {"now": "2030-01-01T00:00:00Z"}),
    ("POST", "/reset", None),
    ("POST", "/drain", None),
    ("POST", "/seed", {"seed": 5}),
    ("GET", "/queues", None),
    ("GET", "/queues/q/messages", None),
    ("POST", "/functions/f/script", {"steps": ["crash"]}),
    ("DELETE", "/functions/f/script", None),
    ("POST", "/destinations/faults", {"destination": "q", "times": 3}),
    ("GET", "/instances", None),
    ("GET", "/health", None),
]
#: How a refused control call is sent, and what it is answered.
REFUSED = {"unsigned": (None, 400, "MissingRequiredHeader"),
           "wrong secret": ((KEY[0], "not-the-secret"), 403, "SignatureNotMatch"),
           "unknown key": (("AKNOPE", "x"), 403, "InvalidAccessKeyID"),
           "function credentials": (FUNCTION_KEY, 403, "InvalidAccessKeyID")}


@pytest.mark.parametrize("how", list(REFUSED))
@pytest.mark.parametrize(("method", "path", "body"), CONTROL,
                         ids=[f"{m} {p}" for m, p, _ in CONTROL])
def test_the_control_api_needs_the_same_credentials(fcemu: fcemu.Emulator, http: Http,
                                                    how: str, method: str, path: str,
                                                    body: Any) -> None:
    setup_state(fcemu)
    before = state(fcemu)
    target = "/_fcemu" + path
    key, status, code = REFUSED[how]
    if key is None:
        data = b"" if body is None else json.dumps(body).encode()
        reply = http.request(method, target, JSON if body is not None else {}, data)
    else:
        reply = signed(http, fcemu, method, target, body, key=key)
    assert fc_error(reply)[:2] == (status, code), reply
    assert state(fcemu) == before
    accepted = signed(http, fcemu, method, target, body)
    assert accepted.status in (200, 204), accepted


def test_the_cli_signs_its_control_calls(fcemu: fcemu.Emulator,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    setup_state(fcemu)
    base = ["--endpoint", fcemu.endpoint]
    now = fcemu.clock.now()
    assert cli.main([*base, "--access-key", ":".join(KEY), "clock", "advance", "90"]) == 0
    assert fcemu.clock.now() == now + 90_000
    capsys.readouterr()
    assert cli.main([*base, "--access-key", ":".join(OTHER), "queue", "q", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["messages"]) == 1
    client = Client(fcemu.endpoint, access_key=KEY)
    assert client.control("POST", "/reset")["status"] == "ok"
    assert fcemu.tasks("f") == []
    assert cli.main([*base, "clock", "advance", "90"]) == EXIT_API
    err = capsys.readouterr().err
    assert "MissingRequiredHeader" in err and "pass --access-key ID:SECRET" in err
    assert fcemu.clock.now() == now  # the reset set it back; the unsigned call did nothing


def test_the_plugin_works_in_verify_mode(fcemu: fcemu.Emulator, fcemu_clock: Any,
                                         fc_client: Any, mns_account: Any) -> None:
    """Fixtures sign with the configured key; the Python API needs no HTTP at all."""
    from alibabacloud_fc20230330 import models
    from mns.queue import QueueMeta

    setup_state(fcemu)
    queue = mns_account.get_queue("q")
    queue.set_encoding(False)  # raw JSON bodies (the emulator's default encoding)
    received = queue.receive_message()
    assert json.loads(received.message_body)["requestContext"]["requestId"]
    fcemu_clock.advance(400 * 24 * 3600)  # the manual clock far from real time: no matter
    names = [f.function_name for f in fc_client.list_functions(
        models.ListFunctionsRequest()).body.functions]
    assert names == ["f"]
    mns_account.get_queue("made").create(QueueMeta())
    assert mns_account.get_queue("made").get_attributes().queue_name == "made"


# -- the function credentials pair ---------------------------------------------------------------


def test_function_credentials_are_refused_unless_configured(fcemu: fcemu.Emulator,
                                                            http: Http) -> None:
    assert fc_error(signed(http, fcemu, "GET", f"{FC}/functions", key=FUNCTION_KEY))[:2] == \
        (403, "InvalidAccessKeyID")
    assert mns_error(mns_signed(http, "GET", "/queues", key=FUNCTION_KEY)) == \
        (403, "InvalidAccessKeyId")
    assert mns_error(mns_signed(http, "PUT", "/queues/sneaky", key=FUNCTION_KEY)) == \
        (403, "InvalidAccessKeyId")
    assert fcemu.queue("sneaky").messages() == []


@pytest.mark.fcemu(access_keys=(KEY, FUNCTION_KEY))
def test_function_credentials_work_when_configured(fcemu: fcemu.Emulator, http: Http) -> None:
    assert signed(http, fcemu, "GET", f"{FC}/functions", key=FUNCTION_KEY).status == 200
    assert signed(http, fcemu, "GET", "/_fcemu/clock", key=FUNCTION_KEY).status == 200
    assert mns_signed(http, "GET", "/queues", key=FUNCTION_KEY).status == 200


# -- dates and nonces ------------------------------------------------------------------------------

#: (x-acs-date, answered?, refusal code): 15 minutes either way, by real time.
DATES = [
    (acs_date, 0, None),
    (acs_date, -14 * MINUTE, None),
    (acs_date, 14 * MINUTE, None),
    (acs_date, -16 * MINUTE, "InvalidTimeStamp.Expired"),
    (acs_date, 16 * MINUTE, "InvalidTimeStamp.Expired"),
    (acs_date, -3 * 24 * 3600, "InvalidTimeStamp.Expired"),
    (lambda _: "2024-05-01T00:00:00Z", 0, "InvalidTimeStamp.Expired"),  # the emulator's time
    (lambda _: "yesterday", 0, "InvalidTimeStamp.Format"),
    (lambda _: acs_date().replace("T", " "), 0, "InvalidTimeStamp.Format"),
]


@pytest.mark.parametrize(("make", "offset", "code"), DATES,
                         ids=["now", "-14m", "+14m", "-16m", "+16m", "-3d", "emulator clock",
                              "words", "no T"])
def test_a_request_date_too_far_from_now_is_refused(fcemu: fcemu.Emulator, http: Http,
                                                    make: Any, offset: float,
                                                    code: str | None) -> None:
    body = {"functionName": "dated", "runtime": "python3.10", "handler": "index.handler",
            "code": {"zipFile": zip_b64()}}
    reply = signed(http, fcemu, "POST", f"{FC}/functions", body, date=make(offset))
    if code is None:
        assert reply.status == 200, reply
        return
    status, got, message = fc_error(reply)
    assert (status, got) == (400, code)
    assert message in (replay.InvalidTimeStampExpired.default_message,
                       replay.InvalidTimeStampFormat.default_message)
    assert signed(http, fcemu, "GET", f"{FC}/functions/dated").status == 404


def test_a_reused_nonce_is_refused(fcemu: fcemu.Emulator, http: Http) -> None:
    body = {"functionName": "once", "runtime": "python3.10", "handler": "index.handler",
            "code": {"zipFile": zip_b64()}}
    date, nonce = acs_date(), uuid.uuid4().hex
    assert signed(http, fcemu, "POST", f"{FC}/functions", body, date=date,
                  nonce=nonce).status == 200
    fcemu.delete_function("once")
    replayed = signed(http, fcemu, "POST", f"{FC}/functions", body, date=date, nonce=nonce)
    assert fc_error(replayed) == (400, "SignatureNonceUsed",
                                  "Specified signature nonce was used already.")
    assert signed(http, fcemu, "GET", f"{FC}/functions/once").status == 404
    fcemu.reset()  # a reset forgets nothing: it is no way to replay a request
    again = signed(http, fcemu, "POST", "/_fcemu/reset", date=date, nonce=nonce)
    assert fc_error(again)[:2] == (400, "SignatureNonceUsed")
    same_key_other_nonce = signed(http, fcemu, "POST", f"{FC}/functions", body, date=date)
    assert same_key_other_nonce.status == 200


@pytest.mark.parametrize(("missing", "header"), [("date", "x-acs-date"),
                                                 ("nonce", "x-acs-signature-nonce")])
def test_date_and_nonce_are_required(fcemu: fcemu.Emulator, http: Http, missing: str,
                                     header: str) -> None:
    """A correct signature over a request without its date or nonce is not enough."""
    headers = signing.sign_acs3("GET", f"{FC}/functions", {}, b"", *KEY, host=fcemu.host_port,
                                action="ListFunctions")
    del headers[header]
    headers["authorization"] = _authorization(headers)  # signed as it now is
    status, code, message = fc_error(http.request("GET", f"{FC}/functions", headers))
    assert (status, code) == (400, "MissingRequiredHeader") and header in message


def _authorization(headers: dict[str, str]) -> str:
    """The ACS3 Authorization of a GET of /functions with exactly these headers signed."""
    names = sorted(h for h in headers if h != "authorization")
    canonical = signing._acs3_canonical_request(  # the module's own canonical form
        "GET", f"{FC}/functions", signing._collect(headers), names,
        headers["x-acs-content-sha256"])
    return (f"{signing.ACS3} Credential={KEY[0]},SignedHeaders={';'.join(names)},"
            f"Signature={signing._acs3_signature(KEY[1], canonical)}")


def test_nonces_are_remembered_for_the_date_window_only() -> None:
    """Memory stays bounded: a nonce is forgotten once its request's date is out of the
    window (the date check alone then refuses a replay)."""
    now = [time.time()]
    nonces = replay.Nonces(clock=lambda: now[0])
    for i in range(1000):
        nonces.check(acs_date(now[0] - time.time()), f"n{i}")
    assert len(nonces) == 1000
    with pytest.raises(replay.SignatureNonceUsed):
        nonces.check(acs_date(now[0] - time.time()), "n1")
    now[0] += replay.SKEW_S + 2
    nonces.check(acs_date(now[0] - time.time()), "fresh")
    assert len(nonces) == 1
    with pytest.raises(replay.InvalidTimeStampExpired):  # the old request, replayed
        nonces.check(acs_date(now[0] - time.time() - replay.SKEW_S - 2), "n1")


#: (MNS Date, status, code): 15 minutes either way, by real time.
MNS_DATES = [
    (lambda: email.utils.formatdate(time.time() - 5 * MINUTE, usegmt=True), 200, None),
    (lambda: email.utils.formatdate(time.time() - 20 * MINUTE, usegmt=True), 408,
     "TimeExpired"),
    (lambda: email.utils.formatdate(time.time() + 20 * MINUTE, usegmt=True), 408,
     "TimeExpired"),
    (lambda: "Tuesday at noon", 400, "InvalidDateHeader"),
]


@pytest.mark.parametrize(("make", "status", "code"), MNS_DATES,
                         ids=["-5m", "-20m", "+20m", "words"])
def test_an_mns_date_too_far_from_now_is_refused(fcemu: fcemu.Emulator, http: Http,
                                                 make: Any, status: int,
                                                 code: str | None) -> None:
    reply = mns_signed(http, "PUT", "/queues/dated", date=make())
    if code is None:
        assert reply.status == 201, reply
        return
    assert mns_error(reply) == (status, code)
    assert mns_signed(http, "GET", "/queues/dated").status == 404


def test_mock_mode_works_in_verify_mode(fcemu_mock: fcemu.Emulator) -> None:
    """An SDK client built for the real endpoint reaches the emulator with the real
    ``Host`` (signed as such), sync and async: the front door answers Alibaba Cloud's
    endpoint names."""
    from alibabacloud_fc20230330 import models
    from alibabacloud_fc20230330.client import Client
    from alibabacloud_tea_openapi.models import Config

    fcemu_mock.register_function("f", lambda event, context: event)
    client = Client(Config(access_key_id=KEY[0], access_key_secret=KEY[1],
                           region_id="cn-hangzhou"))
    listed = client.list_functions(models.ListFunctionsRequest()).body.functions
    assert [f.function_name for f in listed] == ["f"]
    listed = asyncio.run(client.list_functions_async(models.ListFunctionsRequest()))
    assert [f.function_name for f in listed.body.functions] == ["f"]


def test_the_sdk_async_methods_work_in_verify_mode(fcemu: fcemu.Emulator,
                                                   fc_client: Any) -> None:
    """They go through aiohttp, which adds an unsigned ``Content-Type`` to body-less
    calls; a content type that describes no body is not required to be signed."""
    from alibabacloud_fc20230330 import models

    fcemu.register_function("f", lambda event, context: event)
    listed = asyncio.run(fc_client.list_functions_async(models.ListFunctionsRequest()))
    assert [f.function_name for f in listed.body.functions] == ["f"]


def test_a_body_needs_its_content_type_signed(fcemu: fcemu.Emulator, http: Http) -> None:
    body = json.dumps({"functionName": "typed", "runtime": "python3.10",
                       "handler": "index.handler", "code": {"zipFile": zip_b64()}}).encode()
    headers = signing.sign_acs3("POST", f"{FC}/functions", {}, body, *KEY,
                                host=fcemu.host_port, action="CreateFunction")
    headers["content-type"] = "application/json"  # added after signing
    assert fc_error(http.request("POST", f"{FC}/functions", headers, body))[:2] == \
        (403, "SignatureNotMatch")
    assert signed(http, fcemu, "GET", f"{FC}/functions/typed").status == 404
