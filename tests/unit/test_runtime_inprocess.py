"""The in-process runtime: Python callables run on a thread pool or on the loop."""

from __future__ import annotations

import asyncio
import json
import re
import threading

import pytest

from fcemu.ids import IdGenerator
from fcemu.models import Function
from fcemu.runtime import UNHANDLED, Credentials, Invocation, Outcome, Runtimes
from tests.constants import ACCOUNT
from tests.constants import RUNTIME_REGION as REGION

STOPPED = re.compile(r"Process exited unexpectedly before completing request "
                     r"\(duration: \d+ms, maxMemoryUsage: [1-9]\d*MB\)")


def function(handler, *, name: str = "fn", timeout: int = 3, **fields) -> Function:
    return Function(name=name, runtime=fields.pop("runtime", "python3.10"),
                    handler="index.handler", arn=f"acs:fc:{REGION}:{ACCOUNT}:functions/{name}",
                    function_id="fid", created_ms=0, modified_ms=0, timeout=timeout,
                    inprocess_handler=handler, **fields)


def call(fn: Function, payload: bytes = b"", request_id: str = "r-1") -> Invocation:
    return Invocation(request_id, fn, payload, "LATEST", REGION, ACCOUNT,
                      Credentials("AK", "SK", "TOKEN"))


def run(body):
    """Run ``body(runtimes)`` on a fresh event loop; the runtimes are always closed."""
    async def main():
        runtimes = Runtimes(IdGenerator(7))
        try:
            return await body(runtimes)
        finally:
            await runtimes.close()

    return asyncio.run(main())


def invoke_once(handler, payload: bytes = b"", **fields) -> Outcome:
    return run(lambda rt: rt.invoke(call(function(handler, **fields), payload)))


def error(outcome: Outcome) -> dict:
    return json.loads(outcome.body)


# -- results ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "body"), [
    (b"\x00raw\xff", b"\x00raw\xff"),
    ("h\u00e9llo", "h\u00e9llo".encode()),
    (None, b""),
    ({"a": 1, "b": [True, None]}, b'{"a":1,"b":[true,null]}'),
    ([1, "two", 3.5], b'[1,"two",3.5]'),
    (42, b"42"),
    (1.5, b"1.5"),
    (False, b"false"),
])
def test_return_value_becomes_the_body(value, body):
    outcome = invoke_once(lambda event, context: value)
    assert (outcome.kind, outcome.body, outcome.error_type) == ("ok", body, "")
    assert outcome.max_memory_mb > 0


def test_async_handler_runs_on_the_loop():
    async def handler(event, context):
        await asyncio.sleep(0)
        return event.upper()

    assert invoke_once(handler, b"abc").body == b"ABC"


@pytest.mark.parametrize(("value", "message"), [
    ({1, 2}, "handler returned a set"),
    ({"when": object()}, "Object of type object is not JSON serializable"),
])
def test_unsupported_return_value_is_a_type_error(value, message):
    outcome = invoke_once(lambda event, context: value)
    assert (outcome.kind, outcome.error_type) == ("error", UNHANDLED)
    assert error(outcome)["errorType"] == "TypeError"
    assert message in error(outcome)["errorMessage"]


# -- errors --------------------------------------------------------------------------------


def failing_handler(event, context):
    return _check(event.decode())


def _check(message):
    raise ValueError(message)


async def failing_async_handler(event, context):
    await asyncio.sleep(0)
    raise KeyError("missing")


def test_exception_gives_the_fc_error_body_with_user_frames_only():
    outcome = invoke_once(failing_handler, b"something is wrong")
    assert (outcome.kind, outcome.error_type) == ("error", UNHANDLED)
    body = error(outcome)
    assert (body["errorMessage"], body["errorType"]) == ("something is wrong", "ValueError")
    assert [frame[1:] for frame in body["stackTrace"]] == [
        [f"line {failing_handler.__code__.co_firstlineno + 1}", "in failing_handler",
         "return _check(event.decode())"],
        [f"line {_check.__code__.co_firstlineno + 1}", "in _check", "raise ValueError(message)"],
    ]
    assert {frame[0] for frame in body["stackTrace"]} == {f'File "{__file__}"'}


def test_async_exception_keeps_only_user_frames():
    body = error(invoke_once(failing_async_handler))
    assert (body["errorMessage"], body["errorType"]) == ("'missing'", "KeyError")
    assert [frame[2] for frame in body["stackTrace"]] == ["in failing_async_handler"]


# -- timeouts and stops ------------------------------------------------------------------------


def test_sync_timeout_returns_at_once_and_flags_the_handler():
    ended = threading.Event()

    def handler(event, context):
        while not context.stop_requested.wait(0.01):
            pass
        ended.set()

    outcome = invoke_once(handler, timeout=1)
    assert (outcome.kind, outcome.error_type) == ("timeout", UNHANDLED)
    assert outcome.max_memory_mb > 0
    assert error(outcome) == {"errorMessage": "Function timed out after 1 seconds "
                                              f"(maxMemoryUsage: {outcome.max_memory_mb}MB)"}
    assert 1000 <= outcome.duration_ms < 10_000
    assert ended.wait(5)


def test_async_timeout_cancels_the_handler():
    async def body(rt):
        cancelled = asyncio.Event()

        async def handler(event, context):
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        outcome = await rt.invoke(call(function(handler, timeout=1)))
        await asyncio.wait_for(cancelled.wait(), 5)
        return outcome

    outcome = run(body)
    assert outcome.kind == "timeout"
    assert error(outcome)["errorMessage"].startswith("Function timed out after 1 seconds ")


def test_stop_ends_one_execution_while_another_goes_on():
    started, ended = threading.Event(), threading.Event()

    def blocking(event, context):
        started.set()
        context.stop_requested.wait(30)
        ended.set()

    async def body(rt):
        quick_started = asyncio.Event()

        async def quick(event, context):
            quick_started.set()
            await asyncio.sleep(0.2)
            return "done"

        stopping = asyncio.create_task(rt.invoke(call(function(blocking, timeout=60), b"", "r-a")))
        other = asyncio.create_task(rt.invoke(call(function(quick, name="other"), b"", "r-b")))
        await asyncio.to_thread(started.wait, 5)
        await asyncio.wait_for(quick_started.wait(), 5)
        busy = [task.done() for task in (stopping, other)]  # both handlers are running
        stopped, unknown = await rt.stop("r-a"), await rt.stop("r-x")
        return busy, stopped, unknown, await stopping, await other

    busy, stopped, unknown, outcome, other = run(body)
    assert busy == [False, False]
    assert (stopped, unknown) == (True, False)
    assert (outcome.kind, outcome.error_type) == ("stopped", UNHANDLED)
    assert STOPPED.fullmatch(error(outcome)["errorMessage"])
    assert ended.wait(5)
    assert (other.kind, other.body) == ("ok", b"done")


def test_stop_cancels_an_async_handler():
    async def body(rt):
        running, cancelled = asyncio.Event(), asyncio.Event()

        async def handler(event, context):
            running.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise

        task = asyncio.create_task(rt.invoke(call(function(handler))))
        await running.wait()
        await rt.stop("r-1")
        outcome = await task
        await asyncio.wait_for(cancelled.wait(), 5)
        return outcome

    assert run(body).kind == "stopped"


def test_close_stops_running_executions():
    async def body(rt):
        running = asyncio.Event()

        async def handler(event, context):
            running.set()
            await asyncio.sleep(30)

        task = asyncio.create_task(rt.invoke(call(function(handler))))
        await running.wait()
        await rt.close()
        return await task, await rt.invoke(call(function(handler), request_id="r-2"))

    outcome, late = run(body)
    assert outcome.kind == "stopped"
    assert error(late)["errorType"] == "RuntimeClosed"


# -- instances and context ----------------------------------------------------------------------


def test_instance_id_is_stable_per_function_until_discard():
    async def body(rt):
        one, two = function(lambda e, c: None), function(lambda e, c: None, name="two")
        ids = [(await rt.invoke(call(fn))).instance_id for fn in (one, one, two)]
        await rt.discard("fn")
        return ids, (await rt.invoke(call(one))).instance_id

    (first, again, other), after_discard = run(body)
    assert re.fullmatch(r"c-[0-9a-f]{8}-[0-9a-f]{12}", first)
    assert first == again
    assert len({first, other, after_discard}) == 3


def describe(event, context):
    credentials = getattr(context, "credentials", None)
    return {"request_id": context.request_id, "function": vars(context.function),
            "region": context.region, "account_id": context.account_id,
            "credentials": vars(credentials) if credentials else None,
            "stop_requested": context.stop_requested.is_set(), "event": type(event).__name__}


def test_context_fields():
    outcome = invoke_once(describe, timeout=9, memory_size=512)
    assert json.loads(outcome.body) == {
        "request_id": "r-1",
        "function": {"name": "fn", "handler": "index.handler", "memory": 512, "timeout": 9},
        "region": REGION, "account_id": ACCOUNT,
        "credentials": {"access_key_id": "AK", "access_key_secret": "SK",
                        "security_token": "TOKEN"},
        "stop_requested": False, "event": "bytes",
    }


def test_python312_context_has_no_credentials():
    outcome = invoke_once(describe, runtime="python3.12")
    assert json.loads(outcome.body)["credentials"] is None


# -- logs ----------------------------------------------------------------------------------------


def chatty(event, context):
    import logging
    import sys

    print(f"print {event.decode()}")
    sys.stderr.write("stderr line\n")
    logging.getLogger("user").warning("warning line")
    return "done"


def test_prints_and_logs_are_captured_per_request_and_framed():
    outcome = invoke_once(chatty, b"x")
    lines = outcome.logs.splitlines()
    assert lines[:3] == ["FC Invoke Start RequestId: r-1", "print x", "stderr line"]
    assert re.fullmatch(r".* r-1 \[WARNING\] warning line", lines[3])
    assert lines[4:] == ["FC Invoke End RequestId: r-1"]


def test_concurrent_requests_keep_their_own_logs():
    gate = threading.Barrier(3, timeout=10)

    def sync_handler(event, context):
        print(f"sync {context.request_id} before")
        gate.wait()
        print(f"sync {context.request_id} after")

    async def async_handler(event, context):
        print(f"async {context.request_id}")
        await asyncio.to_thread(gate.wait)
        print(f"async {context.request_id} after")

    async def body(rt):
        return await asyncio.gather(
            rt.invoke(call(function(sync_handler), b"", "r-a")),
            rt.invoke(call(function(sync_handler), b"", "r-b")),
            rt.invoke(call(function(async_handler, name="other"), b"", "r-c")))

    a, b, c = run(body)
    assert a.logs == ("FC Invoke Start RequestId: r-a\nsync r-a before\nsync r-a after\n"
                      "FC Invoke End RequestId: r-a\n")
    assert b.logs == ("FC Invoke Start RequestId: r-b\nsync r-b before\nsync r-b after\n"
                      "FC Invoke End RequestId: r-b\n")
    assert c.logs == ("FC Invoke Start RequestId: r-c\nasync r-c\nasync r-c after\n"
                      "FC Invoke End RequestId: r-c\n")


def test_an_error_is_logged_with_its_traceback():
    outcome = invoke_once(failing_handler, b"bad input")
    assert "Traceback (most recent call last):" in outcome.logs
    assert outcome.logs.endswith("ValueError: bad input\nFC Invoke End RequestId: r-1\n")


def test_output_outside_requests_is_not_captured(capsys):
    invoke_once(chatty, b"x")
    print("after the request")
    assert "after the request" in capsys.readouterr().out


def test_python312_get_logger_logs_at_info_into_the_request_log():
    def handler(event, context):
        context.getLogger().info("hello from %s", context.function.qualifier)
        return context.logger is context.getLogger()

    outcome = invoke_once(handler, runtime="python3.12")
    assert outcome.body == b"true"
    assert re.search(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z r-1 \[INFO\] hello from LATEST$",
                     outcome.logs, re.M)


# -- per-invocation costs (issue 13) -------------------------------------------------------------


def test_a_function_given_another_handler_runs_it_the_new_handler_s_way():
    """Whether a handler is ``async`` is remembered per function while it is the same object."""
    async def body(rt):
        def plain(event, context):
            return threading.current_thread().name

        async def coroutine(event, context):
            return threading.current_thread().name

        first = await rt.invoke(call(function(plain)))
        second = await rt.invoke(call(function(coroutine), request_id="r-2"))
        third = await rt.invoke(call(function(plain), request_id="r-3"))
        return first, second, third, threading.current_thread().name

    first, second, third, loop_thread = run(body)
    assert first.body.startswith(b"fcemu-handler") and third.body.startswith(b"fcemu-handler")
    assert second.body == loop_thread.encode()


def test_time_limits_share_one_timer_wake_only_the_due_and_forget_the_ended():
    from fcemu.runtime.inprocess import _Deadlines, _Execution

    async def body():
        limits = _Deadlines()
        soon, late = _Execution(), _Execution()
        limits.add(late, 30)
        limits.add(soon, 0.01)
        await asyncio.wait_for(asyncio.shield(soon.wake), 5)
        assert not late.wake.done()
        for _ in range(500):  # executions that end before their limit
            quick = _Execution()
            limits.add(quick, 30)
            quick.awake()
            limits.ended()
        held = len(limits._heap)
        limits.close()
        return held

    assert asyncio.run(body()) < 200


def test_results_of_many_plain_handlers_at_once_each_reach_their_own_invocation():
    """The pool threads hand results over in batches (one loop wake-up for many)."""
    async def body(rt):
        fn = function(lambda event, context: event)
        return await asyncio.gather(*(rt.invoke(call(fn, b"%d" % i, request_id=f"r-{i}"))
                                      for i in range(300)))

    outcomes = run(body)
    assert [o.body for o in outcomes] == [b"%d" % i for i in range(300)]
    assert {o.kind for o in outcomes} == {"ok"}
