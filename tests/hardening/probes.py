"""Generated HTTP requests ("probes") to every route of fcemu, for the property test.

Routes come from the app's own router (:func:`app_routes`), so a new route is probed
without editing this file. A probe starts as a request the route would accept (names
that exist in the baseline, the route's query parameters and wire fields with valid
values) and then takes up to two faults, each one of: a hostile path parameter, an odd
query parameter, a header (odd values, or a browser's ``Origin``/``Host``/
``Sec-Fetch-Site``), one body field set to a wrong or extreme value (wrong types, 5000
digits, 1e308, NaN, lone surrogates, 70 000 characters, bad zips), the whole body
replaced (any JSON, random bytes, 100 000-deep nesting, XML entities), or another method.
Starting from a valid request lets one fault reach the code behind the first check.
"""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from hypothesis import strategies as st

from fcemu.api import make_app
from tests.constants import ACCOUNT

NS = "http://mns.aliyuncs.com/doc/v1/"
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class Route:
    method: str  # "*" for the MNS catch-alls
    path: str    # canonical, with {param} placeholders


def app_routes(engine: Any = None) -> list[Route]:
    """Every (method, path) the app serves, sub-apps included, read from its router (a
    sub-app's resources carry its prefix once it is added). The routes do not depend on
    the engine, so none is needed to list them (e.g. at test collection)."""
    routes: list[Route] = []

    def walk(app: Any) -> None:
        for resource in app.router.resources():
            info = resource.get_info()
            if "app" in info:
                walk(info["app"])
                continue
            path = info.get("formatter") or info.get("path", "")
            routes.extend(Route(r.method, path) for r in resource if r.method != "HEAD")

    walk(make_app(engine))
    return sorted(set(routes), key=lambda r: (r.path, r.method))


@dataclass
class Probe:
    """One generated request, and the faults it was given."""

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    faults: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        more = "..." if len(self.body) > 300 else ""
        return (f"Probe({self.method} {self.target[:300]} headers={self.headers} "
                f"body={self.body[:300]!r}{more} faults={self.faults})")


# -- values -------------------------------------------------------------------------------


def zip_b64(*members: tuple[str, str], link: str | None = None) -> str:
    """A code.zipFile of these members (fixed times, so the same bytes every run);
    ``link``: also a symbolic link member ``lnk`` pointing there."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members:
            archive.writestr(zipfile.ZipInfo(name, (2024, 5, 1, 0, 0, 0)), text)
        if link is not None:
            info = zipfile.ZipInfo("lnk", (2024, 5, 1, 0, 0, 0))
            info.external_attr = 0o120777 << 16
            archive.writestr(info, link)
    return base64.b64encode(buffer.getvalue()).decode()


def weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Draw from one of the strategies, each chosen ``weight`` times in ``sum(weights)``
    (``st.one_of`` gives no weights, and collapses repeated branches)."""
    choices = [strategy for weight, strategy in options for _ in range(weight)]
    return st.sampled_from(choices).flatmap(lambda strategy: strategy)


HANDLER = "def handler(event, context):\n    return event\n"
GOOD_CODE = {"zipFile": zip_b64(("index.py", HANDLER))}
BAD_CODES = [{"zipFile": zip_b64(("a", "x"), ("a/b.py", ""))},
             {"zipFile": zip_b64(("../evil.py", ""))},
             {"zipFile": zip_b64(("index.py", HANDLER), link="/etc")},
             {"zipFile": "!!"}, {"zipFile": ""}, {"ossBucketName": "b", "ossObjectName": "o"}]
#: Stand for a 5000-digit number and for 100 000-deep nesting in a JSON body (json.dumps
#: cannot write either); :func:`_dumps` puts them in.
HUGE, DEEP = "\x00huge", "\x00deep"
#: Text, now and then with lone surrogates (Hypothesis leaves category Cs out by default).
texts = st.one_of(st.text(max_size=12), st.text(st.one_of(
    st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)), max_size=6))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=6)
#: Values that broke parsers before: extremes, wrong types, lone surrogates, depth.
NASTY = [HUGE, DEEP, 1e308, float("nan"), "\ud800", "a\udfffb", "x" * 70_000, 2**63, -1,
         None, True, "", [], {"a": [1]}]
#: What any field may get instead of its own value.
hostile = weighted((2, st.sampled_from(NASTY)), (1, texts), (1, json_values))

#: Per route (by the end of its canonical path): the wire fields it reads, each with
#: values it accepts and values it should refuse (besides :data:`hostile`).
_FUNCTION = {
    "functionName": (["new_fn"], ["1bad", "x" * 65]),
    "runtime": (["python3.10", "python3.12"], ["java11", "custom.nope"]),
    "handler": (["index.handler"], ["x" * 129]),
    "timeout": ([3, 60], [0, 86401]), "memorySize": ([128, 512], [100, 32769]),
    "diskSize": ([512], [10241]), "cpu": ([0.35], [0.01, 100.0]),
    "instanceConcurrency": ([1, 2], [0, 201]), "description": (["d"], ["x" * 257]),
    "environmentVariables": ([{"A": "b"}], [{"A": 1}, {"": "x"}, {"A": "\ud800"}]),
    "code": ([GOOD_CODE], BAD_CODES),
    "customRuntimeConfig": ([{"command": ["python3"], "port": 9000}], [{"port": 70000}]),
    "instanceLifecycleConfig": ([{"initializer": {"handler": "index.init", "timeout": 3}}],
                                [{"initializer": {"timeout": -1}}]),
}
_ASYNC = {
    "asyncTask": ([True, False], ["yes"]), "maxAsyncRetryAttempts": ([0, 3], [9, -1]),
    "maxAsyncEventAgeInSeconds": ([60, 86400], [0, 604801]),
    "destinationConfig": ([{"onSuccess": {"destination":
                                          f"acs:mns:cn-hangzhou:{ACCOUNT}:/queues/q5/messages"}}],
                          [{"onFailure": {"destination": "acs:nope"}}, {"onSuccess": None}]),
}
ROUTE_FIELDS: dict[str, dict[str, tuple[list[Any], list[Any]]]] = {
    "/functions": _FUNCTION, "/functions/{functionName}": _FUNCTION,
    "/async-invoke-config": _ASYNC,
    "/concurrency": {"reservedConcurrency": ([0, 3], [-1, 301])},
    "/clock/advance": {"seconds": ([1, 600], [-1, 10**30, 1e308])},
    "/clock/set": {"now": ([1_714_521_700_000, "2024-05-02T00:00:00Z"],
                           ["2024-13-01", -1, 1e300, "9999-12-31T23:59:59Z"])},
    "/settle": {"timeout": ([5], [-1, 1e308])}, "/drain": {"timeout": ([5], [-1, 1e308])},
    "/seed": {"seed": ([7], [-1, 2**70, 1.5])},
    "/script": {"steps": ([[{"outcome": "ok", "value": "v"}, {"outcome": "error", "times": 2}]],
                          [[{"outcome": "x"}], [{"outcome": "ok", "times": 10**9}]])},
    "/destinations/faults": {"destination": (["q1", f"acs:mns:cn-hangzhou:{ACCOUNT}:/topics/t1"
                                                    "/messages"], ["acs:nope"]),
                             "times": ([1], [-1, 10**9])},
}
#: MNS routes: (method, path) → the XML root and its elements (accepted, refused values).
_QUEUE = {"VisibilityTimeout": (["60"], ["0", "43201"]), "DelaySeconds": (["0"], ["604801"]),
          "MaximumMessageSize": (["65536"], ["1023"]),
          "MessageRetentionPeriod": (["345600"], ["59"]),
          "PollingWaitSeconds": (["0"], ["31"]), "LoggingEnabled": (["True"], ["maybe"])}
_MESSAGE = {"MessageBody": (["hi"], ["", "x" * 70_000]), "DelaySeconds": (["0"], ["-1"]),
            "Priority": (["8"], ["0", "17"])}
ROUTE_XML: dict[tuple[str, str], tuple[str, dict[str, tuple[list[str], list[str]]]]] = {
    ("PUT", "/queues/{queue}"): ("Queue", _QUEUE),
    ("POST", "/queues/{queue}/messages"): ("Message", _MESSAGE),
    ("DELETE", "/queues/{queue}/messages"): ("ReceiptHandles", {"ReceiptHandle": (
        ["{handle}"], ["1-x", "bad handle"])}),
    ("PUT", "/topics/{topic}"): ("Topic", {k: _QUEUE[k] for k in ("MaximumMessageSize",
                                                                 "LoggingEnabled")}),
    ("POST", "/topics/{topic}/messages"): ("Message", {"MessageBody": (["hi"], ["x" * 70_000]),
                                                       "MessageTag": (["t"], ["x" * 17])}),
    ("PUT", "/topics/{topic}/subscriptions/{sub}"): ("Subscription", {
        "Endpoint": ([f"acs:mns:cn-hangzhou:{ACCOUNT}:queues/q1"], [" x", ""]),
        "NotifyStrategy": (["BACKOFF_RETRY"], ["NOPE"]),
        "NotifyContentFormat": (["SIMPLIFIED"], ["HTML"]), "FilterTag": (["t"], ["x" * 17])}),
}
XML_NASTY = ["9" * 5000, "-" + "9" * 5000, "-1", "1e3", " 7 ", "\uff17", "x" * 70_000, "",
             "\x7f", "<>&"]
xml_odd = weighted((2, st.sampled_from(XML_NASTY)), (1, texts.map(
    lambda t: t.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))))
#: Query parameters a route reads: name → accepted values (odd ones come from faults).
ROUTE_QUERY: dict[str, dict[str, list[str]]] = {
    "/async-tasks": {"limit": ["10"], "status": ["Succeeded", "Dequeued"], "prefix": ["task"],
                     "sortOrderByTime": ["asc"], "includePayload": ["true"],
                     "startedTimeBegin": ["0"], "startedTimeEnd": ["1714521700000"]},
    "/functions": {"limit": ["10"], "prefix": ["f"], "nextToken": [""]},
    "/async-invoke-configs": {"functionName": ["f1"], "limit": ["1"]},
    "/concurrency-configs": {"functionName": ["f2"], "limit": ["1"]},
    "/invocations": {"qualifier": ["LATEST"]},
    "/async-invoke-config": {"qualifier": ["LATEST"]},
    "/queues/{queue}/messages": {"numOfMessages": ["2"], "peekonly": ["true"],
                                 "ReceiptHandle": ["{handle}"], "VisibilityTimeout": ["10"]},
    "/queues/{queue}": {"metaoverride": ["true"]}, "/topics/{topic}": {"metaoverride": ["true"]},
}
QUERY_ODD = ("limit", "nextToken", "status", "startedTimeBegin", "qualifier", "waitseconds",
             "numOfMessages", "ReceiptHandle", "VisibilityTimeout", "x")
HEADERS_OK: dict[str, dict[str, list[str]]] = {
    "/invocations": {"x-fc-invocation-type": ["Async", "Sync"], "x-fc-async-task-id": ["t-new"],
                     "x-fc-async-delay": ["0", "5"], "x-fc-log-type": ["Tail"]},
    "/queues": {"x-mns-ret-number": ["1"], "x-mns-prefix": ["q"], "x-mns-with-meta": ["true"]},
    "/topics": {"x-mns-ret-number": ["1"], "x-mns-marker": ["t"]},
}
HEADERS_ODD: dict[str, list[str]] = {
    "x-fc-invocation-type": ["async", "Nope", ""], "x-fc-async-task-id": ["task-1", "1bad",
                                                                        "x" * 200, '""'],
    "x-fc-async-delay": ["-1", "3601", "9" * 40, "abc"], "x-fc-log-type": ["x"],
    "x-mns-ret-number": ["0", "-5", "9" * 5000, "x"], "x-mns-marker": ["\u00ff"],
    "Content-Type": ["text/plain", "multipart/form-data; boundary=x", "garbage/\u00ff"],
    "Authorization": ["ACS3-HMAC-SHA256 Credential=x", "MNS a:b", "Bearer x", "\u00e9"],
    "x-acs-date": ["1970-01-01T00:00:00Z", "nope"], "x-acs-signature-nonce": ["n"],
    "Content-Encoding": ["gzip"], "Expect": ["100-continue"],
    # a web page's request
    "Origin": ["http://evil.example", "null"], "Sec-Fetch-Site": ["cross-site"],
    "Host": ["evil.example", "localhost", "[::1]", "127.0.0.1:1"],
}
KNOWN = {
    "functionName": ["f1", "f2", "f3", "nope"], "name": ["f1", "f2", "f3", "nope"],
    "taskId": ["task-1", "task-2", "nope"], "queue": ["q1", "q2", "nope"],
    "topic": ["t1", "nope"], "sub": ["s1", "nope"],
    "tail": ["q2/messages/x", "q2/x", "t1/subscriptions/s1/x", ""],
}
HOSTILE_XML = [
    b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<Message><MessageBody>&e;</MessageBody></Message>',
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<Message><MessageBody>&b;&b;</MessageBody></Message>",
    b"<Message><MessageBody>x</MessageBody>", b"\xff\xfe<\x00", b"<X/>",
]
deep_bodies = st.tuples(st.sampled_from([1000, 100_000]),
                        st.sampled_from(["json", "obj", "xml"])).map(lambda t: _nested(*t))
odd_bodies = weighted(
    (2, deep_bodies), (1, st.binary(max_size=300)), (1, json_values.map(lambda v: _dumps(v))),
    (2, st.sampled_from([b"", b"[1e999]", b"NaN", b'"\\ud800"', b"\xff", b"{" * 3,
                         *HOSTILE_XML])),
)


def _dumps(doc: Any) -> bytes:
    # ensure_ascii writes a lone surrogate as the escape "\ud800", as a client may send it
    text = json.dumps(doc, allow_nan=True).encode()
    return text.replace(json.dumps(HUGE).encode(), b"9" * 5000).replace(
        json.dumps(DEEP).encode(), _nested(100_000, "json"))


def _nested(depth: int, kind: str) -> bytes:
    return {"json": b"[" * depth + b"]" * depth, "obj": b'{"a":' * depth + b"1" + b"}" * depth,
            "xml": b"<a>" * depth + b"</a>" * depth}[kind]


def _segment(value: str) -> str:
    """A path segment or query value, percent-encoded (lone surrogates as their bytes)."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _for(table: Mapping[str, Any], path: str) -> Any:
    return next((v for suffix, v in table.items() if path.endswith(suffix)), {})


def _inner(children: list[tuple[str, str]]) -> str:
    return "".join(f"<{k}>{escape(v)}</{k}>" for k, v in children)


def _xml(root: str, inner: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{NS}">{inner}</{root}>'.encode()


# -- probes -------------------------------------------------------------------------------

#: Faults a probe may get; a route that reads a body gets more body and field faults.
FAULTS = ("param", "query", "header", "method", "body")
BODY_FAULTS = ("field", "field", "body", "body", *FAULTS)


@st.composite
def probes(draw: st.DrawFn, route: Route, handle: str) -> Probe:
    """A request ``route`` accepts, mostly with one or two faults (module docstring)."""
    reads_body = route.method in ("POST", "PUT", "DELETE", "*")
    some = st.lists(st.sampled_from(BODY_FAULTS if reads_body else FAULTS), min_size=1,
                    max_size=2)
    faults = draw(weighted((3, some), (1, st.just([]))))
    method = route.method if route.method != "*" else draw(st.sampled_from(METHODS))
    if "method" in faults:
        method = draw(st.sampled_from(METHODS))
    odd_param = draw(st.sampled_from(re.findall(r"\{(\w+)", route.path) or [""]))

    def param(match: re.Match[str]) -> str:
        if "param" in faults and match[1] == odd_param:
            return _segment(draw(texts | st.sampled_from(["x" * 300, "..", "%", "a%2Fb"])))
        value = draw(st.sampled_from(KNOWN.get(match[1], ["x"])))
        return value if match[1] == "tail" else _segment(value)

    path = _PARAM.sub(param, route.path)
    accepted = _for(ROUTE_QUERY, route.path)
    query = {k: draw(st.sampled_from(v)).replace("{handle}", handle)
             for k, v in accepted.items() if draw(st.booleans())}
    if "query" in faults:
        query[draw(st.sampled_from(QUERY_ODD + tuple(accepted)))] = draw(
            texts | st.sampled_from(["-1", "0", "101", "9" * 5000, "1e308", "nan"]))
    if re.fullmatch(r"/queues/[^/]+/messages", path) and method in ("GET", "HEAD"):
        # never a long poll: 0, or a value ReceiveMessage refuses at once
        query = {k: v for k, v in query.items() if k.lower() != "waitseconds"}
        query["waitseconds"] = draw(st.sampled_from(["0", "-1", "31", "abc", "9" * 5000]))
    target = path + ("?" + "&".join(f"{_segment(k)}={_segment(v)}" for k, v in query.items())
                     if query else "")
    headers = {k: draw(st.sampled_from(v)) for k, v in _for(HEADERS_OK, route.path).items()
               if draw(st.booleans())}
    mns = route.path.startswith(("/queues", "/topics"))
    if mns:
        headers["x-mns-version"] = "2015-06-06"
    if "header" in faults:
        name = draw(st.sampled_from(sorted(HEADERS_ODD)))
        headers[name] = draw(st.sampled_from(HEADERS_ODD[name]))
    if "body" in faults:
        body = draw(odd_bodies)
    elif mns:
        body = draw(_xml_body(route, handle, "field" in faults))
    else:
        body = draw(_json_body(route, "field" in faults))
    return Probe(method, target, headers, body, faults)


@st.composite
def _json_body(draw: st.DrawFn, route: Route, odd_field: bool) -> bytes:
    fields = _for(ROUTE_FIELDS, route.path)
    if not fields:
        return draw(st.sampled_from([b"", b"{}", b'{"a": 1}']))
    doc = {k: draw(st.sampled_from(ok)) for k, (ok, _) in fields.items() if draw(st.booleans())}
    if odd_field:
        name = draw(st.sampled_from(sorted(fields)))
        odd = weighted((1, st.sampled_from(fields[name][1] + NASTY)), (1, hostile))
        if route.path.endswith(("/settle", "/drain")):
            odd = odd.filter(_not_racy)
        doc[name] = draw(odd)
    return _dumps(doc)


def _not_racy(value: Any) -> bool:
    """A settle or drain ``timeout`` from 0 to a few real seconds is a valid request that
    may expire while the baseline's task runs: leave those out so the test is deterministic.

    Such an expiry is not bad input but the server's true answer (503 ``SettleTimeout``,
    naming what is still busy), and a drain is not a transaction: the work it ran before
    the deadline stays done, as ``Emulator.drain`` in Python does.
    """
    return not (isinstance(value, (int, float)) and not isinstance(value, bool)
                and 0 <= value < 5)


@st.composite
def _xml_body(draw: st.DrawFn, route: Route, handle: str, odd_field: bool) -> bytes:
    root, elements = ROUTE_XML.get((route.method, route.path), ("Message", {}))
    children = [(k, draw(st.sampled_from(ok)).replace("{handle}", handle))
                for k, (ok, _) in elements.items() if draw(st.booleans())]
    if odd_field and elements:
        name = draw(st.sampled_from(sorted(elements)))
        children.append((name, draw(weighted((1, st.sampled_from(elements[name][1] + XML_NASTY)),
                                             (1, xml_odd)))))
    if root == "Message" and route.path.startswith("/queues") and draw(st.booleans()):
        # BatchSendMessage: 1-17 messages, one of them possibly refused
        good = f"<Message>{_inner([('MessageBody', 'ok')])}</Message>"
        batch = [good] * draw(st.integers(0, 16)) + [f"<Message>{_inner(children)}</Message>"]
        return _xml("Messages", "".join(batch))
    return _xml(root, _inner(children))
