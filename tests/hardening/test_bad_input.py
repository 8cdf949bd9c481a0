"""Issue 9, point 2 (payload part): bad input is a 4xx in the route's own error format,
never a 500, and a refused request changes nothing.

One table, :data:`CASES`: (method, target, headers, body) → status and error ``Code``
(FC JSON on FC and control routes, MNS XML on ``/queues`` and ``/topics``). Each case
starts from the same baseline, sends its request over real HTTP to 127.0.0.1 and then
reads the whole observable state back through the APIs
(:func:`tests.hardening.state.snapshot`) and the emulator's code directory: both must
be as they were. The ``fcemu`` fixture fails the test on any server-side error.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import warnings
import zipfile
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

import pytest

import fcemu
from fcemu.api import wire
from fcemu.api.smq import xml as smq_xml
from fcemu.checks import MAX_JSON_DEPTH
from fcemu.errors import InvalidArgument
from tests.hardening.state import FC, MNS_HEADERS, Http, Reply, differences, snapshot

pytestmark = pytest.mark.fcemu(clock="manual")

JSON = {"Content-Type": "application/json"}
NS = "http://mns.aliyuncs.com/doc/v1/"
HUGE = "9" * 5000  # over Python's 4300-digit int() limit
#: Nested past the JSON decoder's recursion limit, and just past fcemu's depth limit.
DEEP = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
DEEPISH = {"a": 1}
for _ in range(MAX_JSON_DEPTH + 5):
    DEEPISH = {"a": DEEPISH}


def zip_of(*members: tuple[str, bytes | str, int]) -> str:
    """A base64 ``code.zipFile`` of (name, content, unix mode) members, in that order."""
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": wanted here
        for name, content, mode in members:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = mode << 16
            info.create_system = 3
            archive.writestr(info, content)
    return base64.b64encode(buffer.getvalue()).decode()


FILE = stat.S_IFREG | 0o644
LINK = stat.S_IFLNK | 0o777
DIR = stat.S_IFDIR | 0o755
INDEX = ("index.py", "def handler(event, context):\n    return event\n", FILE)


def body(doc: Any) -> bytes:
    """JSON as a client may send it: lone surrogates as ``\\ud800`` escapes, NaN allowed."""
    return json.dumps(doc, allow_nan=True).encode()


def create(**fields: Any) -> bytes:
    return body({"functionName": "g", "runtime": "python3.10", "handler": "index.handler",
                 "code": {"zipFile": zip_of(INDEX)}, **fields})


def update(**fields: Any) -> bytes:
    """A valid new description, plus the bad part: nothing of it may stick."""
    return body({"description": "changed", **fields})


def xml(root: str, **children: str) -> bytes:
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in children.items())
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{NS}">{inner}</{root}>'.encode()


@dataclass(frozen=True)
class Case:
    id: str
    method: str
    target: str
    body: bytes
    status: int
    code: str
    says: str = ""
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))


def fc(id: str, method: str, path: str, data: bytes, says: str = "", status: int = 400,
       code: str = "InvalidArgument", **headers: str) -> Case:
    return Case(id, method, FC + path, data, status, code, says, {**JSON, **headers})


def ctl(id: str, path: str, data: bytes, says: str = "") -> Case:
    return Case(id, "POST", "/_fcemu" + path, data, 400, "InvalidArgument", says)


def mns(id: str, method: str, target: str, data: bytes = b"", says: str = "",
        code: str = "InvalidArgument", **headers: str) -> Case:
    return Case(id, method, target, data, 400, code, says, {**MNS_HEADERS, **headers})


CASES = [
    # -- JSON nested too deep, on every JSON route -----------------------------------
    fc("create-deep", "POST", "/functions", DEEP, "nested more than"),
    fc("create-deepish", "POST", "/functions", create(vpcConfig=DEEPISH), "vpcConfig.a.a"),
    fc("update-deep", "PUT", "/functions/f", DEEP, "nested more than"),
    fc("async-config-deep", "PUT", "/functions/f/async-invoke-config", DEEP, "nested"),
    fc("concurrency-deep", "PUT", "/functions/f/concurrency", DEEP, "nested"),
    ctl("advance-deep", "/clock/advance", DEEP, "nested"),
    ctl("set-deep", "/clock/set", DEEP, "nested"),
    ctl("settle-deep", "/settle", DEEP, "nested"),
    ctl("drain-deep", "/drain", DEEP, "nested"),
    ctl("seed-deep", "/seed", DEEP, "nested"),
    ctl("script-deep", "/functions/f/script", DEEP, "nested"),
    ctl("script-array-deep", "/functions/f/script", b"[" * 100_000 + b"]" * 100_000, "nested"),
    ctl("fault-deep", "/destinations/faults", DEEP, "nested"),
    # -- lone surrogates in any string field -----------------------------------------
    fc("create-description-surrogate", "POST", "/functions", create(description="\ud800"),
       "description is not valid Unicode"),
    fc("create-env-surrogate", "POST", "/functions",
       create(environmentVariables={"A": "x\udc80"}), "environmentVariables.A is not valid"),
    fc("create-env-key-surrogate", "POST", "/functions",
       create(environmentVariables={"\ud800": "x"}), "a key of environmentVariables"),
    fc("create-tag-surrogate", "POST", "/functions",
       create(tags=[{"Key": "k", "Value": "\udfff"}]), "tags[0].Value"),
    fc("create-name-surrogate", "POST", "/functions", create(functionName="\ud800"),
       "functionName"),
    fc("update-description-surrogate", "PUT", "/functions/f", body({"description": "\ud800"}),
       "description is not valid Unicode"),
    fc("async-config-surrogate", "PUT", "/functions/f/async-invoke-config", body(
        {"asyncTask": True, "destinationConfig": {"onSuccess": {"destination": "\ud800"}}}),
       "destinationConfig.onSuccess.destination"),
    ctl("script-surrogate", "/functions/f/script", body([{"outcome": "error",
                                                          "message": "\ud800"}]), "[0].message"),
    ctl("fault-surrogate", "/destinations/faults", body({"destination": "q\ud800"}),
        "destination"),
    ctl("set-surrogate", "/clock/set", body({"now": "2025\ud800"}), "now"),
    # -- other field checks happen before anything changes ---------------------------
    fc("create-env-nul", "POST", "/functions", create(environmentVariables={"A": "x\0y"}),
       "NUL"),
    fc("create-tags-not-list", "POST", "/functions", create(tags=5), "tags must be a list"),
    fc("create-layers-not-list", "POST", "/functions", create(layers="acs:fc:x"), "layers"),
    fc("create-custom-command-not-list", "POST", "/functions", create(
        runtime="custom.debian10", customRuntimeConfig={"command": "python3 app.py"}),
       "customRuntimeConfig.command must be a list of strings"),
    fc("create-custom-port", "POST", "/functions", create(
        runtime="custom.debian10", customRuntimeConfig={"port": 70000}), "port number"),
    fc("create-initializer-not-object", "POST", "/functions", create(
        instanceLifecycleConfig={"initializer": "index.init"}), "initializer must be an object"),
    fc("create-initializer-timeout", "POST", "/functions", create(instanceLifecycleConfig={
        "initializer": {"handler": "index.init", "timeout": 301}}),
       "instanceLifecycleConfig.initializer.timeout must be between 1 and 300"),
    fc("update-prestop-handler", "PUT", "/functions/f", update(instanceLifecycleConfig={
        "preStop": {"handler": 5}}), "preStop.handler must be a string"),
    fc("create-huge-int", "POST", "/functions",
       create()[:-1] + f',"timeout":{HUGE}}}'.encode(), "not valid JSON"),
    fc("create-timeout-1e308", "POST", "/functions", create(timeout=1e308), "timeout"),
    fc("update-bad-memory", "PUT", "/functions/f", update(memorySize=100), "memorySize"),
    fc("async-config-bad-destination", "PUT", "/functions/f/async-invoke-config",
       body({"asyncTask": False, "destinationConfig": {"onSuccess": {"destination": "x"}}}),
       "destinationConfig.onSuccess"),
    fc("async-config-inf-retries", "PUT", "/functions/f/async-invoke-config",
       b'{"asyncTask": false, "maxAsyncRetryAttempts": Infinity}', "Infinity is not a JSON"),
    fc("async-config-1e400-age", "PUT", "/functions/f/async-invoke-config",
       b'{"asyncTask": false, "maxAsyncEventAgeInSeconds": 1e400}', "1e400 is out of range"),
    fc("concurrency-1e308", "PUT", "/functions/f/concurrency",
       body({"reservedConcurrency": 1e308}), "reservedConcurrency"),
    fc("concurrency-nan", "PUT", "/functions/f/concurrency",
       b'{"reservedConcurrency": NaN}', "NaN is not a JSON value"),
    fc("invoke-huge-delay", "POST", "/functions/f/invocations", b"{}", "x-fc-async-delay",
       **{"x-fc-invocation-type": "Async", "x-fc-async-delay": HUGE}),
    fc("list-huge-limit", "GET", f"/functions?limit={HUGE}", b"", "limit"),
    fc("tasks-huge-time", "GET", f"/functions/f/async-tasks?startedTimeBegin={HUGE}", b"",
       "startedTimeBegin"),
    # -- digits other than ASCII ones: int() reads "²" no more than 5000 digits -------
    fc("versions-superscript-token", "GET", "/functions/f/versions?nextToken=%C2%B2", b"",
       "nextToken"),
    fc("versions-huge-token", "GET", f"/functions/f/versions?nextToken={HUGE}", b"",
       "nextToken"),
    fc("tags-superscript-token", "GET", "/tags-v2?NextToken=%C2%B2", b"", "NextToken"),
    fc("tags-huge-token", "GET", f"/tags-v2?NextToken={HUGE}", b"", "NextToken"),
    # -- code packages: checked (and test-unpacked) before anything is applied --------
    fc("create-zip-file-and-dir", "POST", "/functions", create(code={"zipFile": zip_of(
        INDEX, ("a", "x", FILE), ("a/b.py", "y", FILE))}), "'a' is both a file and a dir"),
    fc("create-zip-symlinked-dir", "POST", "/functions", create(code={"zipFile": zip_of(
        INDEX, ("lib", "/etc", LINK), ("lib/x.py", "y", FILE))}), "'lib' is a symbolic link"),
    fc("create-zip-dotdot", "POST", "/functions", create(code={"zipFile": zip_of(
        INDEX, ("../evil.py", "x", FILE))}), "escapes the code directory"),
    fc("create-zip-absolute", "POST", "/functions", create(code={"zipFile": zip_of(
        INDEX, ("/tmp/evil.py", "x", FILE))}), "absolute path"),
    fc("create-zip-twice", "POST", "/functions", create(code={"zipFile": zip_of(
        INDEX, ("index.py", "y", FILE))}), "twice"),
    fc("create-zip-not-base64", "POST", "/functions", create(code={"zipFile": "!!"}),
       "base64"),
    fc("create-zip-not-zip", "POST", "/functions",
       create(code={"zipFile": base64.b64encode(b"not a zip").decode()}), "zip archive"),
    fc("update-description-and-conflicting-zip", "PUT", "/functions/f", update(code={
        "zipFile": zip_of(INDEX, ("a", "x", FILE), ("a/b.py", "y", FILE))}), "both a file"),
    fc("update-description-and-escaping-link", "PUT", "/functions/f", update(code={
        "zipFile": zip_of(INDEX, ("passwd", "/etc/passwd", LINK))}), "outside the code"),
    fc("update-description-and-dotdot-link", "PUT", "/functions/f", update(code={
        "zipFile": zip_of(INDEX, ("up", "../..", LINK))}), "outside the code"),
    fc("update-description-and-chained-escape", "PUT", "/functions/f", update(code={
        "zipFile": zip_of(INDEX, ("deep/s", "../x", LINK), ("p", "deep/s/../..", LINK))}),
       "resolves outside"),
    fc("update-description-and-dir-over-link", "PUT", "/functions/f", update(code={
        "zipFile": zip_of(INDEX, ("d", "sub", LINK), ("d/", b"", DIR))}), "symbolic link"),
    # -- clock routes: finite, in range ---------------------------------------------
    ctl("advance-1e308", "/clock/advance", body({"seconds": 1e308}), "seconds must be"),
    ctl("advance-inf", "/clock/advance", b'{"seconds": Infinity}', "Infinity is not a JSON"),
    ctl("advance-1e400", "/clock/advance", b'{"seconds": 1e400}', "out of range"),
    ctl("advance-nan", "/clock/advance", b'{"seconds": NaN}', "NaN is not a JSON value"),
    ctl("advance-minus-inf", "/clock/advance", b'{"seconds": -Infinity}', "not a JSON value"),
    ctl("advance-negative", "/clock/advance", body({"seconds": -1}), "backwards"),
    ctl("advance-past-year-9999", "/clock/advance", body({"seconds": 253_402_300_799}),
        "cannot move"),
    ctl("set-1e308", "/clock/set", body({"now": 1e308}), "not a time"),
    ctl("set-nan", "/clock/set", b'{"now": NaN}', "NaN is not a JSON value"),
    ctl("set-1e20", "/clock/set", body({"now": 1e20}), "not a time"),
    ctl("set-huge-digits", "/clock/set", body({"now": HUGE}), "not a time"),
    ctl("set-year-99999", "/clock/set", body({"now": "99999-01-01T00:00:00Z"}), "ISO 8601"),
    ctl("settle-nan", "/settle", b'{"timeout": NaN}', "NaN is not a JSON value"),
    ctl("settle-huge", "/settle", body({"timeout": 1e300}), "timeout must be"),
    ctl("settle-negative", "/settle", body({"timeout": -1}), "timeout must be"),
    ctl("drain-inf", "/drain", b'{"timeout": Infinity}', "Infinity is not a JSON"),
    ctl("drain-negative", "/drain", body({"timeout": -5}), "timeout must be"),
    ctl("seed-float", "/seed", body({"seed": 1.5}), "seed must be an integer"),
    ctl("fault-destination-object", "/destinations/faults", body({"destination": {"a": 1}}),
        "destination must be"),
    ctl("fault-times-1e308", "/destinations/faults", body({"destination": "q", "times": 1e308}),
        "times must be"),
    # -- MNS XML: numbers too long for int(), in every numeric element ------------------
    mns("send-huge-delay", "POST", "/queues/q/messages",
        xml("Message", MessageBody="x", DelaySeconds=HUGE), "DelaySeconds"),
    mns("send-huge-priority", "POST", "/queues/q/messages",
        xml("Message", MessageBody="x", Priority=HUGE), "Priority"),
    mns("batch-send-huge-priority", "POST", "/queues/q/messages", xml(
        "Messages", Message=f"<MessageBody>x</MessageBody><Priority>{HUGE}</Priority>"),
        "Priority"),
    mns("create-queue-huge-visibility", "PUT", "/queues/q2",
        xml("Queue", VisibilityTimeout=HUGE), "VisibilityTimeout"),
    mns("set-queue-attributes-half-bad", "PUT", "/queues/q?metaoverride=true",
        xml("Queue", DelaySeconds="10", MaximumMessageSize=HUGE), "MaximumMessageSize"),
    mns("set-queue-attributes-huge-retention", "PUT", "/queues/q?metaoverride=true",
        xml("Queue", PollingWaitSeconds="3", MessageRetentionPeriod=HUGE),
        "MessageRetentionPeriod"),
    mns("receive-huge-wait", "GET", f"/queues/q/messages?waitseconds={HUGE}", b"",
        "waitseconds"),
    mns("receive-huge-count", "GET", f"/queues/q/messages?numOfMessages={HUGE}", b"",
        "numOfMessages"),
    mns("visibility-huge", "PUT",
        f"/queues/q/messages?receiptHandle=1-abc&visibilityTimeout={HUGE}", b"",
        "VisibilityTimeout"),
    mns("create-topic-huge-size", "PUT", "/topics/t2",
        xml("Topic", MaximumMessageSize=HUGE), "MaximumMessageSize"),
    mns("set-topic-huge-size", "PUT", "/topics/t?metaoverride=true",
        xml("Topic", MaximumMessageSize=HUGE), "MaximumMessageSize"),
    mns("list-huge-ret-number", "GET", "/queues", b"", "x-mns-ret-number",
        **{"x-mns-ret-number": HUGE}),
    mns("xml-deep", "POST", "/queues/q/messages", xml(
        "Message", MessageBody="<a>" * 100_000 + "</a>" * 100_000), "MessageBody"),
    mns("xml-surrogate-reference", "POST", "/queues/q/messages",
        xml("Message", MessageBody="&#xD800;"), "not well-formed", code="MalformedXML"),
]


def baseline(emu: fcemu.Emulator, http: Http) -> None:
    """f (zip code, description, env), its async config and concurrency, a queue with a
    message, a topic with a subscription, a script, a destination fault."""
    steps = [
        ("POST", f"{FC}/functions", JSON, body({
            "functionName": "f", "runtime": "python3.10", "handler": "index.handler",
            "description": "base", "environmentVariables": {"A": "1"},
            "code": {"zipFile": zip_of(INDEX)}}), 200),
        ("PUT", f"{FC}/functions/f/async-invoke-config", JSON,
         body({"asyncTask": True, "destinationConfig": {"onSuccess": {
             "destination": f"acs:mns:{emu.region}:{emu.account_id}:/queues/q/messages"}}}),
         200),
        ("PUT", f"{FC}/functions/f/concurrency", JSON, body({"reservedConcurrency": 5}), 200),
        ("PUT", "/queues/q", MNS_HEADERS, xml("Queue", VisibilityTimeout="60"), 201),
        ("POST", "/queues/q/messages", MNS_HEADERS, xml("Message", MessageBody="m1"), 201),
        ("PUT", "/topics/t", MNS_HEADERS, b"", 201),
        ("PUT", "/topics/t/subscriptions/s", MNS_HEADERS, xml(
            "Subscription", Endpoint=f"acs:mns:{emu.region}:{emu.account_id}:queues/q"), 201),
    ]
    for method, target, headers, data, status in steps:
        reply = http.request(method, target, headers, data)
        assert reply.status == status, (method, target, reply)
    emu.script("f", [{"outcome": "error", "times": 1}])
    emu.fail_destination("q9", times=2)


@pytest.fixture
def http(fcemu: fcemu.Emulator) -> Any:
    client = Http("127.0.0.1", fcemu.port)
    yield client
    client.close()


def code_dirs(emu: fcemu.Emulator) -> list[str]:
    """What the emulator's code store holds on disk."""
    async def listing(engine: Any) -> list[str]:
        return sorted(os.listdir(engine.code.root))

    return emu.call(listing)


def error_code(reply: Reply) -> tuple[str, str]:
    """``Code`` and ``Message`` of an FC JSON or MNS XML error."""
    if reply.headers.get("content-type", "").startswith("application/json"):
        doc = reply.json()
        assert set(doc) == {"Code", "Message", "RequestId"}, doc
        assert doc["RequestId"] == reply.headers["x-fc-request-id"]
        return doc["Code"], doc["Message"]
    root = ElementTree.fromstring(reply.body)
    if root.tag.endswith("Messages"):  # BatchSendMessage: one result per message
        values = {child.tag.rpartition("}")[2]: child.text or "" for child in root[0]}
        return values["ErrorCode"], values["ErrorMessage"]
    values = {child.tag.rpartition("}")[2]: child.text or "" for child in root}
    assert set(values) == {"Code", "Message", "RequestId", "HostId"}, values
    return values["Code"], values["Message"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_and_changes_nothing(fcemu: fcemu.Emulator, http: Http,
                                                   case: Case) -> None:
    baseline(fcemu, http)
    before, dirs = snapshot(http), code_dirs(fcemu)

    reply = http.request(case.method, case.target, case.headers, case.body)

    assert reply.status == case.status, reply
    code, message = error_code(reply)
    assert code == case.code, reply
    assert case.says in message, message
    assert not differences(before, snapshot(http))
    assert code_dirs(fcemu) == dirs


def test_the_python_api_refuses_what_the_http_api_refuses(fcemu: fcemu.Emulator) -> None:
    """register_function and the config loader reach the same checks (no HTTP involved)."""
    for fields in ({"description": "\ud800"}, {"environmentVariables": {"A": "\udc80"}},
                   {"vpcConfig": DEEPISH}, {"tags": 5}):
        with pytest.raises(InvalidArgument):
            fcemu.register_function("h", lambda event, context: event, **fields)
    assert fcemu.call(_function_names) == []


async def _function_names(engine: Any) -> list[str]:
    return sorted(engine.functions)


def test_responses_stay_valid_whatever_a_string_holds() -> None:
    """The JSON writer never fails: a lone surrogate (which UTF-8 cannot hold) is written as
    its JSON escape, so one bad record cannot turn GetFunction or ListFunctions into 500s;
    the MNS XML writer writes it as "?"."""
    encoded = wire.encode({"description": "a\ud800b", "\udc80": ["\\\ud800"]})
    assert json.loads(encoded) == {"description": "a\ud800b", "\udc80": ["\\\ud800"]}
    assert encoded.decode("utf-8")  # valid UTF-8 on the wire
    xml_doc = smq_xml.document("Message", smq_xml.inner({"MessageBody": "a\ud800b"}))
    assert ElementTree.fromstring(xml_doc)[0].text == "a?b"


def test_a_refused_update_keeps_every_field(fcemu: fcemu.Emulator, http: Http) -> None:
    """The issue's case, field by field: a valid description with bad code answers 400 and
    GetFunction still shows the old description, code checksum and modification time."""
    baseline(fcemu, http)
    before = http.json("GET", f"{FC}/functions/f")
    reply = http.request("PUT", f"{FC}/functions/f", JSON, update(timeout=9, code={
        "zipFile": zip_of(INDEX, ("a", "x", FILE), ("a/b.py", "y", FILE))}))
    assert reply.status == 400, reply
    assert http.json("GET", f"{FC}/functions/f") == before
    good = http.request("PUT", f"{FC}/functions/f", JSON, update(timeout=9))
    assert good.status == 200, good
    after = http.json("GET", f"{FC}/functions/f")
    assert (after["description"], after["timeout"]) == ("changed", 9)
