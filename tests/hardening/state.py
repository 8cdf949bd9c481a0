"""The emulator's observable state, read back through its own HTTP APIs, for comparisons.

``snapshot(http)`` reads everything a client can see: functions (ListFunctions and
GetFunction of each), async invoke configs, concurrency configs, each function's
async tasks and script, destination faults, SMQ queues (attributes and every live
message, peeked) and topics (attributes, subscriptions), and the clock. Two snapshots
are equal when nothing observable changed, so a test asserts that a refused (4xx)
request left ``snapshot()`` as it was. Two things are left out because they differ
between identical runs: a task's ``durationMs`` (the handler's real execution time)
and the ``RequestId`` of error answers (only their ``Code`` is kept).

:class:`Http` is a raw keep-alive HTTP/1.1 client that sends any method, target,
headers and body bytes, as a hostile client would; the snapshot reads use it too.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

from tests.constants import FC

#: Headers the MNS routes expect from a client (spec §13.1).
MNS_HEADERS = {"x-mns-version": "2015-06-06", "Content-Type": "text/xml;charset=utf-8"}
#: Bound on pages read while listing (a runaway nextToken loop fails loudly).
MAX_PAGES = 50


@dataclass(frozen=True)
class Reply:
    """One HTTP response, read in full."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:300]!r})"


class Http:
    """A raw HTTP/1.1 client of one emulator on 127.0.0.1, reconnecting when the server
    closes the connection. ``request`` sends exactly the target, headers and body given."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(self, method: str, target: str, headers: dict[str, str] | None = None,
                body: bytes = b"") -> Reply:
        """Send one request; one retry on a fresh connection if a kept-alive one was closed."""
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port,
                                                        timeout=self.timeout)
            try:
                own_host = any(name.lower() == "host" for name in headers or {})
                self._conn.putrequest(method, target, skip_host=own_host,
                                      skip_accept_encoding=True)
                for name, value in (headers or {}).items():
                    self._conn.putheader(name, value)
                if body or method in ("POST", "PUT", "PATCH"):
                    self._conn.putheader("Content-Length", str(len(body)))
                self._conn.endheaders(body or None)
                response = self._conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.BadStatusLine):
                self.close()
                if attempt == 2:
                    raise
                continue
            reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                          data)
            if response.will_close:
                self.close()
            return reply
        raise AssertionError("unreachable")

    def json(self, method: str, target: str) -> Any:
        """A request that must succeed with a JSON body (snapshot reads)."""
        reply = self.request(method, target)
        assert reply.status == 200, f"{method} {target}: {reply}"
        return reply.json()


def _q(name: str) -> str:
    return quote(name, safe="")


def _xml_fields(body: bytes) -> dict[str, Any]:
    """An MNS XML document as nested dicts of local names (lists for repeated names)."""
    def convert(element: ElementTree.Element) -> Any:
        if len(element) == 0:
            return element.text or ""
        out: dict[str, Any] = {}
        for child in element:
            name = child.tag.rpartition("}")[2]
            value = convert(child)
            if name in out:
                previous = out[name]
                out[name] = (previous if isinstance(previous, list) else [previous]) + [value]
            else:
                out[name] = value
        return out
    return {"root": convert(ElementTree.fromstring(body))} if body.strip() else {}


def _mns(http: Http, target: str, **headers: str) -> tuple[int, dict[str, Any]]:
    reply = http.request("GET", target, MNS_HEADERS | headers)
    assert reply.status < 500, f"GET {target}: {reply}"
    return reply.status, _xml_fields(reply.body)


def _names(doc: dict[str, Any], element: str, url_key: str) -> list[str]:
    items = doc.get("root", {})
    items = items.get(element, []) if isinstance(items, dict) else []
    items = items if isinstance(items, list) else [items]
    return [str(item[url_key]).rstrip("/").rpartition("/")[2] for item in items]


def _paged(http: Http, path: str, key: str) -> list[Any]:
    """Every item of an FC list operation, following ``nextToken``."""
    items: list[Any] = []
    token = ""
    for _ in range(MAX_PAGES):
        sep = "&" if "?" in path else "?"
        doc = http.json("GET", f"{path}{sep}limit=100" + (f"&nextToken={_q(token)}"
                                                           if token else ""))
        items += doc.get(key) or []
        token = doc.get("nextToken") or ""
        if not token:
            return items
    raise AssertionError(f"{path}: more than {MAX_PAGES} pages")


def _answer(reply: Reply) -> tuple[int, Any]:
    """A read's status and JSON body; of an error, only its ``Code``."""
    assert reply.status < 500, reply
    doc = reply.json()
    return reply.status, doc if reply.status == 200 else doc.get("Code")


def _without_durations(doc: Any) -> Any:
    if isinstance(doc, dict) and isinstance(doc.get("tasks"), list):
        doc["tasks"] = [{k: v for k, v in t.items() if k != "durationMs"} for t in doc["tasks"]]
    return doc


def functions_state(http: Http) -> dict[str, Any]:
    """Functions, their async configs, concurrency, tasks and scripts."""
    listed = _paged(http, f"{FC}/functions", "functions")
    names = sorted(f["functionName"] for f in listed)
    state: dict[str, Any] = {
        "list": listed,
        "asyncConfigs": _paged(http, f"{FC}/async-invoke-configs", "configs"),
        "concurrency": _paged(http, f"{FC}/concurrency-configs", "configs"),
        "functions": {},
    }
    for name in names:
        tasks = http.request("GET", f"{FC}/functions/{_q(name)}/async-tasks?limit=100"
                                    "&includePayload=true")
        config = http.request("GET", f"{FC}/functions/{_q(name)}/async-invoke-config")
        status, listed_tasks = _answer(tasks)
        state["functions"][name] = {
            "function": http.json("GET", f"{FC}/functions/{_q(name)}"),
            "asyncConfig": _answer(config),
            "tasks": (status, _without_durations(listed_tasks)),
            "script": http.json("GET", f"/_fcemu/functions/{_q(name)}/script"),
        }
    return state


def smq_state(http: Http) -> dict[str, Any]:
    """Queues (attributes, every live message) and topics (attributes, subscriptions)."""
    state: dict[str, Any] = {"queues": {}, "topics": {}}
    status, listed = _mns(http, "/queues", **{"x-mns-ret-number": "1000"})
    assert status == 200, listed
    for name in _names(listed, "Queue", "QueueURL"):
        status, attributes = _mns(http, f"/queues/{_q(name)}")
        messages = http.json("GET", f"/_fcemu/queues/{_q(name)}/messages")["messages"]
        state["queues"][name] = {"attributes": (status, attributes), "messages": messages}
    status, listed = _mns(http, "/topics", **{"x-mns-ret-number": "1000"})
    assert status == 200, listed
    for name in _names(listed, "Topic", "TopicURL"):
        topic: dict[str, Any] = {"attributes": _mns(http, f"/topics/{_q(name)}")}
        status, subs = _mns(http, f"/topics/{_q(name)}/subscriptions",
                            **{"x-mns-ret-number": "1000"})
        topic["subscriptions"] = {
            sub: _mns(http, f"/topics/{_q(name)}/subscriptions/{_q(sub)}")
            for sub in _names(subs, "Subscription", "SubscriptionURL")
        }
        state["topics"][name] = topic
    return state


def snapshot(http: Http) -> dict[str, Any]:
    """Everything observable through the FC, SMQ and control APIs (see the module doc)."""
    return {
        "clock": http.json("GET", "/_fcemu/clock"),
        "fc": functions_state(http),
        "smq": smq_state(http),
        "faults": http.json("GET", "/_fcemu/destinations/faults"),
    }


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Where two snapshots differ, as ``path: before != after`` lines (short values)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            out += differences(before.get(key, "<absent>"), after.get(key, "<absent>"),
                               f"{path}/{key}")
        return out
    if isinstance(before, (list, tuple)) and isinstance(after, (list, tuple)) \
            and len(before) == len(after):
        return [d for i, (b, a) in enumerate(zip(before, after, strict=True))
                for d in differences(b, a, f"{path}[{i}]")]
    if before != after:
        return [f"{path}: {str(before)[:200]} != {str(after)[:200]}"]
    return []
