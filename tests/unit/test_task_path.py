"""The shared task path's shortcuts (issue 13) change nothing anyone sees: the same
scenario of async tasks, run with no event listener (the life cycle tells the metrics of
each status change by its fields, with no ``TaskEvent``), with a listener (one is made for
each change, in order), and behind an observer that takes only ``TaskEvent`` objects (as
the durable mode's wrapper), gives the same events, records, result messages and metrics;
so does a task listener (the metrics count a task's end alone while there is none).
"""

from __future__ import annotations

import asyncio
import json

from fcemu.clock import ManualClock, new_event_loop
from fcemu.engine import Engine
from fcemu.ids import IdGenerator
from fcemu.models import TaskStatus
from fcemu.settings import Settings
from fcemu.specs import AsyncConfigSpec, FunctionSpec
from tests.constants import T0, queue_arn

S = TaskStatus
ARN = queue_arn("dest")


class _EventsOnly:
    """An observer with no ``changed``: the life cycle makes a ``TaskEvent`` for it."""

    def __init__(self, inner):
        self.inner = inner
        self.seen = 0

    def event(self, task, event, previous):
        self.seen += 1
        self.inner.event(task, event, previous)

    def enqueued(self, task):
        self.inner.enqueued(task)

    def throttled(self, function_name, qualifier):
        self.inner.throttled(function_name, qualifier)


def _handler(event, context):
    doc = json.loads(event)
    if doc.get("fail"):
        raise ValueError("boom")
    if doc.get("print"):
        print("hello from", context.request_id)
    return event


async def _scenario(engine: Engine, how: str):
    heard: list[tuple[str, int, str, int, str]] = []
    if how == "listener":
        engine.add_event_listener(lambda task, event: heard.append(
            ("reset",) if task is None else
            (task.task_id, event.event_id, event.status.value, event.timestamp, event.detail)))
    ended: list[str] = []
    if how == "task-listener":  # the life cycle then calls the engine's, not the metrics'
        engine.add_task_listener(lambda task: ended.append(task.task_id))
        engine.add_task_listener(ignored := lambda task: ended.append("never"))
        engine.remove_task_listener(ignored)
    wrapper = None
    if how == "events-only":
        wrapper = engine.tasks.observer = _EventsOnly(engine.tasks.observer)
    for name, retries in (("f", 2), ("g", 0)):
        engine.create_function(FunctionSpec(name=name, runtime="python3.10",
                                            handler="index.handler", timeout=3),
                               handler=_handler)
        engine.put_async_invoke_config(name, None, AsyncConfigSpec(
            async_task=True, max_async_retry_attempts=retries,
            max_async_event_age_in_seconds=30, on_success=ARN, on_failure=ARN))
    engine.put_script("g", [{"outcome": "throttle", "times": 2}, "run",
                            {"outcome": "error", "message": "scripted"}, "timeout"])
    tasks = []
    for n in range(12):
        doc = {"fail": n % 4 == 1, "print": n % 3 == 0}
        tasks.append(await engine.invoke_function(
            "f" if n % 2 else "g", json.dumps(doc).encode(), asynchronous=True,
            task_id=f"t{n}", delay_s=n % 3))
    late = await engine.invoke_function("f", b"{}", asynchronous=True, task_id="late",
                                        delay_s=60)  # past its max age: Expired
    stopped = await engine.invoke_function("g", b"{}", asynchronous=True, task_id="stop",
                                           delay_s=5)
    engine.stop_async_task("g", "stop")
    await engine.advance_clock(1000)
    await engine.scheduler.drain()
    every = [r.task for r in (*tasks, late, stopped)]
    assert {t.status for t in every} == {S.SUCCEEDED, S.FAILED, S.EXPIRED, S.STOPPED}
    records = [(t.task_id, t.status, [(e.event_id, e.status, e.timestamp, e.detail)
                                      for e in t.events],
                [(a.number, a.started_ms, a.outcome, a.error_type, t.attempt_log(a),
                  a.scripted) for a in t.attempts],  # (durations: real time)
                t.return_payload, t.error_type, t.condition, t.end_ms, t.destination_status)
               for t in every]
    queue = engine.smq.get_queue("dest")
    bodies = sorted(m.body for m in queue.messages())
    metrics = engine.metrics()
    if how == "listener":  # every event, in order, each once
        told = sorted(heard, key=lambda h: (h[0], h[1]))
        assert told == sorted((t.task_id, e.event_id, e.status.value, e.timestamp, e.detail)
                              for t in every for e in t.events)
        for task in every:
            assert [h[1] for h in heard if h[0] == task.task_id] == list(
                range(1, len(task.events) + 1))
    if how == "task-listener":  # each ended task once, and the metrics as without it
        assert sorted(ended) == sorted(t.task_id for t in every)
    if wrapper is not None:
        assert wrapper.seen == sum(len(t.events) - 1 for t in every)
    return records, bodies, metrics


def _run(how: str, scenario=_scenario, seed: int = 11):
    """``scenario(engine, how)`` on a fresh engine (manual clock, IDs seeded ``seed``)."""
    async def main():
        engine = Engine(Settings(clock="manual"), ManualClock(T0), IdGenerator(seed))
        try:
            return await scenario(engine, how)
        finally:
            await engine.close()

    loop = new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def test_listeners_and_observers_do_not_change_what_a_task_path_records():
    plain = _run("plain")
    assert _run("listener") == plain
    assert _run("events-only") == plain
    assert _run("task-listener") == plain
    records, bodies, metrics = plain
    [f, g] = metrics["functions"]
    assert f["byStatus"]["Failed"] >= 1 and g["throttles"] == 2
    assert f["byStatus"]["Expired"] == 1 and g["byStatus"]["Stopped"] == 1
    assert sum(f["destinations"].values()) + sum(g["destinations"].values()) == len(records)
    assert f["backlog"] == g["backlog"] == f["inProcess"] == g["inProcess"] == 0
    assert any('"ScriptedThrottles"' in d for r in records for _, _, _, d in r[2])
    assert len(bodies) == len(records)


def test_a_listener_sees_the_status_its_event_names():
    """A listener is told of each change right after it, the task's status that event's
    (Processed, then Running: two calls, not one)."""
    async def scenario(engine: Engine, how: str):
        seen = []
        engine.add_event_listener(lambda task, event: seen.append(
            None if task is None else (event.status, task.status, len(task.events))))
        engine.create_function(FunctionSpec(name="f", runtime="python3.10",
                                            handler="index.handler"), handler=_handler)
        engine.put_async_invoke_config("f", None, AsyncConfigSpec(async_task=True))
        await engine.invoke_function("f", b"{}", asynchronous=True, task_id="a")
        await engine.scheduler.settle()
        await asyncio.sleep(0)
        return seen

    seen = _run("", scenario, seed=3)
    assert seen == [(s, s, n) for n, s in enumerate(
        (S.ENQUEUED, S.PROCESSED, S.RUNNING, S.SUCCEEDED), 1)]


def test_an_attempts_invocation_is_the_one_its_constructor_makes():
    """AsyncTasks._attempt fills an Invocation's fields directly (issue 13): equal to,
    shown and replaced like one made by its frozen dataclass's own __init__."""
    import dataclasses

    from fcemu.runtime import Invocation, Outcome
    from fcemu.runtime.invocation import LOCAL_CREDENTIALS

    seen = []

    class Runtime:
        async def invoke(self, invocation):
            seen.append(invocation)
            return Outcome("ok", b"1")

        async def stop(self, request_id):
            return False

        async def discard(self, function_name):
            return None

        async def retire_version(self, function_name, version_id):
            return None

        async def close(self):
            return None

        def busy(self):
            return []

    async def main():
        engine = Engine(Settings(clock="manual"), ManualClock(T0), IdGenerator(5),
                        runtimes=lambda settings, ids: Runtime())
        try:
            engine.create_function(FunctionSpec(name="f", runtime="python3.10",
                                                handler="index.handler"), handler=_handler)
            engine.put_async_invoke_config("f", None, AsyncConfigSpec(async_task=True))
            result = await engine.invoke_function("f", b"{}", asynchronous=True)
            await engine.scheduler.settle()
            return engine, result.task
        finally:
            await engine.close()

    loop = new_event_loop()
    try:
        engine, task = loop.run_until_complete(main())
    finally:
        loop.close()
    [made] = seen
    settings = engine.settings
    expected = Invocation(task.request_id, made.function, b"{}", "LATEST", settings.region,
                          settings.account_id)
    assert made == expected
    assert made.credentials is LOCAL_CREDENTIALS and made.http_call is None
    assert dataclasses.replace(made, qualifier="1") == dataclasses.replace(expected,
                                                                           qualifier="1")
    assert repr(made) == repr(expected)
    try:
        made.qualifier = "x"
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("an attempt's Invocation is not frozen")


def test_status_lists_made_before_the_tasks_run_follow_their_starts():
    """Once a page was read by status, an attempt's start moves its task through the
    status lists (Processed, then Running) as two status changes, listeners or not."""
    from fcemu.tasks import TaskQuery

    async def scenario(engine: Engine, how: str):
        engine.create_function(FunctionSpec(name="f", runtime="python3.10",
                                            handler="index.handler"), handler=_handler)
        engine.put_async_invoke_config("f", None, AsyncConfigSpec(async_task=True))
        for n in range(6):
            await engine.invoke_function("f", b"{}", asynchronous=True, task_id=f"s{n}",
                                         delay_s=1 + n % 2)
        listed = {}
        for status in (S.ENQUEUED, S.RUNNING, S.SUCCEEDED):
            tasks, _ = engine.list_async_tasks("f", TaskQuery(status=status))
            listed[status.value, 0] = sorted(t.task_id for t in tasks)
        await engine.advance_clock(1000)
        for status in (S.ENQUEUED, S.PROCESSED, S.RUNNING, S.SUCCEEDED):
            tasks, _ = engine.list_async_tasks("f", TaskQuery(status=status))
            listed[status.value, 1] = sorted(t.task_id for t in tasks)
        await engine.scheduler.drain()
        tasks, _ = engine.list_async_tasks("f", TaskQuery(status=S.SUCCEEDED))
        listed["Succeeded", 2] = sorted(t.task_id for t in tasks)
        return listed

    listed = _run("", scenario, seed=3)
    every = [f"s{n}" for n in range(6)]
    assert listed == {("Enqueued", 0): every, ("Running", 0): [], ("Succeeded", 0): [],
                      ("Enqueued", 1): ["s1", "s3", "s5"], ("Processed", 1): [],
                      ("Running", 1): [], ("Succeeded", 1): ["s0", "s2", "s4"],
                      ("Succeeded", 2): every}


def test_wake_labels_are_shared_name_their_timers_and_keep_their_reason():
    """A wake-up's label is one bound method per reason (issue 13: no instance
    ``__call__`` per task), whose reason a state capture reads back."""
    from fcemu.models import Task
    from fcemu.tasks.waits import wake_label, wake_reason

    label = wake_label("retry")
    assert wake_label("retry") is label and wake_label("start") is not label
    task = Task("t-1", "r-1", "f", "arn", "LATEST", b"", T0, T0, 3, 60, None, None)
    assert label(task) == "task f/t-1 retry"
    assert wake_reason(label) == "retry" and wake_reason(lambda t: "x") == "wake"


def test_task_listeners_that_change_the_listeners_take_effect_from_the_next_task():
    """The engine calls the listeners registered when a task ends (a tuple kept, no copy
    per task: issue 13): one that removes itself or adds another while called changes who
    is called from the next task on, as the copy per task did."""
    async def scenario(engine: Engine, how: str):
        heard: list[tuple[str, str]] = []

        def once(task):
            heard.append(("once", task.task_id))
            engine.remove_task_listener(once)
            engine.add_task_listener(late)

        def always(task):
            heard.append(("always", task.task_id))

        def late(task):
            heard.append(("late", task.task_id))

        engine.add_task_listener(once)
        engine.add_task_listener(always)
        engine.create_function(FunctionSpec(name="f", runtime="python3.10",
                                            handler="index.handler"), handler=_handler)
        engine.put_async_invoke_config("f", None, AsyncConfigSpec(async_task=True))
        for n in range(2):
            await engine.invoke_function("f", b"{}", asynchronous=True, task_id=f"t{n}")
            await engine.scheduler.drain()
        engine.remove_task_listener(always)
        engine.remove_task_listener(late)
        await engine.invoke_function("f", b"{}", asynchronous=True, task_id="t2")
        await engine.scheduler.drain()
        return heard, engine.metrics()["functions"][0]["byStatus"]["Succeeded"]

    heard, succeeded = _run("plain", scenario)
    assert heard == [("once", "t0"), ("always", "t0"), ("always", "t1"), ("late", "t1")]
    assert succeeded == 3
