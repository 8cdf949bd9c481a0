"""Issue 9, property test: no request to any route gets a 5xx, and a 4xx changes nothing.

Hypothesis generates requests to every route of the app's router (FC, control and MNS
routes; :mod:`tests.hardening.probes` says how: a valid request plus up to two faults).
Each example starts from the same baseline state (functions, async and concurrency
configs, tasks, a script, a destination fault, queues with messages, a topic with a
subscription) on a manual clock, sends its request over real HTTP to 127.0.0.1, and
checks that the answer is below 500, that the state still reads back through the API
(:func:`tests.hardening.state.snapshot`) without a 5xx, and that after a 4xx it equals
the baseline's.

Bounded and deterministic: ``derandomize=True``, a fixed example count per route, no
example database.
No request can block: a ReceiveMessage never gets a ``waitseconds`` of 1–30.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.constants import SEED
from tests.hardening.probes import GOOD_CODE, NS, Probe, app_routes, probes
from tests.hardening.state import FC, MNS_HEADERS, Http, Reply, differences, snapshot

#: Examples per route (about 60 routes, 25 ms an example); FCEMU_PROPERTY_EXAMPLES=40 for a
#: deeper run by hand.
EXAMPLES_PER_ROUTE = int(os.environ.get("FCEMU_PROPERTY_EXAMPLES", "8"))
ROUTES = app_routes()


# -- the baseline every example starts from --------------------------------------------


def echo(event: bytes, context: Any) -> bytes:
    """The baseline's in-process handler."""
    return b"ok:" + event


def mns_xml(root: str, **children: str) -> bytes:
    inner = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in children.items())
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{NS}">{inner}</{root}>'.encode()


def build_baseline(emu: Any, http: Http) -> str:
    """Reset, then build the state every example starts from; returns the current receipt
    handle of the received (hidden) message "a" of queue q2. The seed is given again:
    ``POST /_fcemu/seed`` changes the one a plain reset returns to."""
    emu.reset(seed=SEED)
    emu.register_function("f1", echo)
    emu.register_function("f2", echo)
    emu.put_async_invoke_config("f1", asyncTask=True, on_success="q1", maxAsyncRetryAttempts=1)
    emu.invoke("f1", b"one", asynchronous=True, task_id="task-1")
    emu.drain()
    emu.invoke("f1", b"two", asynchronous=True, task_id="task-2", delay=600)
    emu.script("f2", [{"outcome": "error", "times": 2}])
    emu.fail_destination("q9", times=2)
    steps = [
        ("POST", f"{FC}/functions", {"Content-Type": "application/json"}, json.dumps({
            "functionName": "f3", "runtime": "python3.10", "handler": "index.handler",
            "description": "zip", "code": GOOD_CODE}).encode(), 200),
        ("PUT", f"{FC}/functions/f2/concurrency", {"Content-Type": "application/json"},
         b'{"reservedConcurrency": 3}', 200),
        ("PUT", "/queues/q2", MNS_HEADERS, mns_xml("Queue", VisibilityTimeout="60"), 201),
        ("POST", "/queues/q2/messages", MNS_HEADERS, mns_xml("Message", MessageBody="a"), 201),
        ("POST", "/queues/q2/messages", MNS_HEADERS, mns_xml("Message", MessageBody="b"), 201),
        ("GET", "/queues/q2/messages?waitseconds=0", MNS_HEADERS, b"", 200),
        ("PUT", "/topics/t1", MNS_HEADERS, b"", 201),
        ("PUT", "/topics/t1/subscriptions/s1", MNS_HEADERS, mns_xml(
            "Subscription", Endpoint=f"acs:mns:{emu.region}:{emu.account_id}:queues/q2"), 201),
    ]
    replies = []
    for method, target, headers, body, status in steps:
        replies.append(reply := http.request(method, target, headers, body))
        assert reply.status == status, (method, target, reply)
    handle = re.search(rb"<ReceiptHandle>([^<]+)<", replies[5].body)
    assert handle, replies[5]
    return handle[1].decode()


# -- the property -----------------------------------------------------------------------


def exempt_paths(probe: Probe, reply: Reply) -> tuple[str, ...]:
    """Documented partial success: a BatchSend/BatchDelete answers the first item error's
    4xx while the other items took effect (spec §13.3); that queue may change."""
    match = re.match(r"/queues/([^/?]+)/messages", probe.target)
    if match and probe.method in ("POST", "DELETE") and (
            b"<Messages" in reply.body or b"<Errors" in reply.body):
        return (f"/smq/queues/{match[1]}/",)
    return ()


def check(http: Http, baseline: dict[str, Any], probe: Probe) -> str | None:
    """``None`` when the probe held the property, else what went wrong. The state is read
    back after every request: whatever a 2xx stored must still read back without a 5xx."""
    reply = http.request(probe.method, probe.target, probe.headers, probe.body)
    if reply.status >= 500:
        return f"{reply.status} for {probe!r}: {reply.body[:400]!r}"
    try:
        after = snapshot(http)
    except (AssertionError, ValueError) as exc:
        return f"{reply.status}, then reading the state failed, for {probe!r}: {exc}"
    if 400 <= reply.status < 500:
        skip = exempt_paths(probe, reply)
        changed = [d for d in differences(baseline, after)
                   if not d.startswith(skip or ("\0",))]
        if changed:
            return f"{reply.status} changed state for {probe!r}: {changed[:5]}"
    return None


class World:
    """The emulator, a raw client, and the baseline's receipt handle and snapshot (not a
    dataclass: Hypothesis would print every field of a failing example's world)."""

    def __init__(self, emu: Any, http: Http, handle: str, baseline: dict[str, Any]) -> None:
        self.emu, self.http, self.handle, self.baseline = emu, http, handle, baseline

    def __repr__(self) -> str:
        return f"World({self.emu!r})"


@pytest.fixture
def world(fcemu: Any) -> Iterator[World]:
    http = Http("127.0.0.1", fcemu.port)
    handle = build_baseline(fcemu, http)
    baseline = snapshot(http)
    assert build_baseline(fcemu, http) == handle and snapshot(http) == baseline  # repeatable
    yield World(fcemu, http, handle, baseline)
    http.close()


def test_every_route_is_probed(fcemu):
    assert app_routes(fcemu.engine) == ROUTES
    paths = {r.path for r in ROUTES}
    assert {f"{FC}/functions/{{functionName}}/invocations", "/_fcemu/clock/advance",
            "/queues/{queue}/messages", "/topics/{topic}/subscriptions/{sub}"} <= paths
    assert len(ROUTES) >= 50


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{r.method} {r.path}")
@settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, derandomize=True, database=None,
          phases=(Phase.explicit, Phase.generate, Phase.shrink),
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_5xx_and_a_4xx_changes_nothing(world, route, data):
    probe = data.draw(probes(route, world.handle), label="probe")
    build_baseline(world.emu, world.http)
    problem = check(world.http, world.baseline, probe)
    assert problem is None, problem
