"""The worker runtime: Python handlers from fixtures/functions in worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest

import fcemu
from fcemu.ids import IdGenerator
from fcemu.models import Function
from fcemu.runtime import UNHANDLED, Credentials, Invocation, Outcome, PoolUsage, Runtimes
from fcemu.runtime.contain import containment
from tests.constants import ACCOUNT
from tests.constants import RUNTIME_REGION as REGION
from tests.fifos import read_fifo

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "functions"
CRASH = re.compile(r"Process exited unexpectedly before completing request "
                   r"\(duration: \d+ms, maxMemoryUsage: [1-9]\d*MB\)")


def function(code: str, handler: str = "index.handler", *, name: str | None = None,
             timeout: int = 3, **fields) -> Function:
    return Function(name=name or code, runtime=fields.pop("runtime", "python3.10"),
                    handler=handler, arn=f"acs:fc:{REGION}:{ACCOUNT}:functions/{name or code}",
                    function_id="fid", created_ms=0, modified_ms=fields.pop("modified_ms", 0),
                    timeout=timeout, code_dir=fields.pop("code_dir", FIXTURES / code), **fields)


def seen_code(directory: Path) -> Path:
    """Where a handler sees its code: ``/code`` in a bwrap sandbox, else the directory."""
    return Path("/code") if containment().sandboxed else directory


def call(fn: Function, payload: bytes = b"", request_id: str = "r-1",
         credentials: Credentials | None = None) -> Invocation:
    extra = {"credentials": credentials} if credentials else {}
    return Invocation(request_id, fn, payload, "LATEST", REGION, ACCOUNT, **extra)


def run(body, **settings):
    """Run ``body(runtimes)`` on a fresh event loop; the runtimes are always closed."""
    _run_started[0] = boot_ticks()

    async def main():
        runtimes = Runtimes(IdGenerator(7), **settings)
        try:
            return await body(runtimes)
        finally:
            await runtimes.close()

    return asyncio.run(main())


def error(outcome: Outcome) -> dict:
    return json.loads(outcome.body)


def alive(pid: int) -> bool:
    """Running: a zombie (dead, waiting for whoever inherited it to reap it) is not."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: When the last run() began, in clock ticks since boot.
_run_started = [0]


def boot_ticks() -> int:
    """Now, in clock ticks since boot (the unit of a process's start time in /proc)."""
    with open("/proc/uptime") as uptime:
        return int(float(uptime.read().split()[0]) * _CLOCK_TICKS)


def instance_processes(instance_id: str, since: int | None = None) -> list[int]:
    """Running processes of an instance: below this test process, started since ``since``
    (clock ticks since boot; default: when the last :func:`run` began), with
    ``FC_INSTANCE_ID=<instance_id>`` in their environment (the launcher's, the handler's
    and its children's).

    Handlers may run in a PID namespace of their own, so a pid a handler reports is not
    the server's; this finds an instance's processes whatever the containment. Instance
    IDs are seeded: another emulator of this process (a warm instance of an earlier test)
    or of another one (xdist) may have the same, hence the other two conditions.
    """
    marker = f"FC_INSTANCE_ID={instance_id}".encode()
    since = _run_started[0] if since is None else since
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if marker not in environ.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[19]) >= since and _descends_from_us(int(entry)):
            found.append(int(entry))
    return found


def _descends_from_us(pid: int) -> bool:
    for _ in range(64):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                pid = int(stat.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if pid == os.getpid():
            return True
        if pid <= 1:
            return False
    return False


def logged_pid(outcome: Outcome) -> int:
    match = re.search(r"^pid=(\d+)$", outcome.logs, re.M)
    assert match, outcome.logs
    return int(match.group(1))


# -- results ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "body"), [
    ("bytes", b"\x00raw\xff"),
    ("str", "h\u00e9llo".encode()),
    ("none", b""),
    ("dict", b'{"a":1,"b":[true,null]}'),
    ("list", b'[1,"two",3.5]'),
    ("int", b"42"),
    ("float", b"1.5"),
    ("bool", b"true"),
])
def test_return_value_becomes_the_body(kind, body):
    outcome = run(lambda rt: rt.invoke(call(function("echo", "index.returns"), kind.encode())))
    assert (outcome.kind, outcome.body, outcome.error_type) == ("ok", body, "")
    assert outcome.max_memory_mb > 0
    assert re.fullmatch(r"c-[0-9a-f]{8}-[0-9a-f]{12}", outcome.instance_id)


def test_event_arrives_as_the_raw_bytes():
    payload = bytes(range(256))
    outcome = run(lambda rt: rt.invoke(call(function("echo"), payload)))
    assert outcome.body == payload


def test_unsupported_return_type_is_a_type_error():
    outcome = run(lambda rt: rt.invoke(call(function("echo", "index.returns"), b"set")))
    assert (outcome.kind, outcome.error_type) == ("error", UNHANDLED)
    assert error(outcome)["errorType"] == "TypeError"
    assert "returned a set" in error(outcome)["errorMessage"]


def test_dotted_module_handler():
    outcome = run(lambda rt: rt.invoke(call(function("echo", "pkg.mod.handler"))))
    assert outcome.body == b"from pkg.mod"


# -- handler errors --------------------------------------------------------------------


def test_exception_gives_the_fc_error_body_with_user_frames():
    outcome = run(lambda rt: rt.invoke(call(function("raiser"), b"something is wrong")))
    assert (outcome.kind, outcome.error_type) == ("error", UNHANDLED)
    source = (FIXTURES / "raiser" / "index.py").read_text().splitlines()
    path = seen_code(FIXTURES / "raiser") / "index.py"
    handler_line = source.index("    return check(event.decode())") + 1
    check_line = source.index("    raise ValueError(message)") + 1
    assert error(outcome) == {
        "errorMessage": "something is wrong",
        "errorType": "ValueError",
        "stackTrace": [
            [f'File "{path}"', f"line {handler_line}", "in handler",
             "return check(event.decode())"],
            [f'File "{path}"', f"line {check_line}", "in check", "raise ValueError(message)"],
        ],
    }
    assert "ValueError: something is wrong" in outcome.logs
    # The logged traceback shows the user's frames only: no frame of the emulator's own code
    # (compared by path, so the clone's folder name does not matter).
    logged_frames = re.findall(r'^\s*File "([^"]+)"', outcome.logs, re.M)
    assert logged_frames == [str(path), str(path)], outcome.logs
    emulator_dir = str(Path(fcemu.__file__).resolve().parent)
    assert emulator_dir not in outcome.logs


def test_import_error_is_an_error_outcome_every_time():
    async def body(rt):
        fn = function("broken")
        return [await rt.invoke(call(fn, request_id=f"r-{i}")) for i in range(2)]

    first, second = run(body)
    for outcome in (first, second):
        assert (outcome.kind, outcome.error_type) == ("error", UNHANDLED)
        assert error(outcome)["errorType"] == "ImportModuleError"
        assert error(outcome)["errorMessage"] == (
            "Unable to import module 'index': No module named 'fcemu_fixture_no_such_module'")
    assert error(first)["stackTrace"][0][0] == f'File "{seen_code(FIXTURES / "broken")}/index.py"'
    assert first.instance_id == second.instance_id  # the instance lives on


@pytest.mark.parametrize(("handler", "message"), [
    ("index.nope", "Handler 'nope' is missing on module 'index'"),
    ("index.VALUES", "Handler 'VALUES' is missing on module 'index'"),
    ("handler", "Invalid handler 'handler': expected <module>.<function>, e.g. index.handler"),
])
def test_missing_handler_is_an_error_outcome(handler, message):
    outcome = run(lambda rt: rt.invoke(call(function("echo", handler))))
    assert outcome.kind == "error"
    assert error(outcome) == {"errorMessage": message, "errorType": "HandlerNotFound",
                              "stackTrace": []}


# -- timeouts and crashes -----------------------------------------------------------------


def test_timeout_kills_the_process_and_reports_peak_memory():
    async def body(rt):
        timed_out = await rt.invoke(call(function("sleeper", timeout=1), b"30"))
        after = await rt.invoke(call(function("sleeper", timeout=1), b"0", "r-2"))
        return timed_out, after

    outcome, after = run(body)
    assert (outcome.kind, outcome.error_type) == ("timeout", UNHANDLED)
    assert outcome.max_memory_mb > 0
    assert error(outcome) == {"errorMessage": "Function timed out after 1 seconds "
                                              f"(maxMemoryUsage: {outcome.max_memory_mb}MB)"}
    assert 1000 <= outcome.duration_ms < 10_000
    assert not instance_processes(outcome.instance_id)
    assert outcome.logs.startswith("FC Invoke Start RequestId: r-1\npid=")
    assert outcome.logs.endswith("FC Invoke End RequestId: r-1\n")
    assert after.kind == "ok"
    assert after.instance_id != outcome.instance_id


def test_a_request_after_another_times_out_at_its_own_deadline():
    """An instance's one deadline timer, armed for the first request's deadline, finds the
    second's later when it fires and waits for it: the second gets its whole timeout."""
    async def body(rt):
        fn = function("sleeper", timeout=1)
        first = await rt.invoke(call(fn, b"0.6", "r-1"))
        second = await rt.invoke(call(fn, b"30", "r-2"))
        return first, second

    first, second = run(body)
    assert first.kind == "ok"
    assert (second.kind, second.instance_id) == ("timeout", first.instance_id)
    assert 1000 <= second.duration_ms < 10_000


def test_os_exit_is_a_crash_and_the_next_call_gets_a_fresh_process():
    async def body(rt):
        fn = function("crasher", "index.os_exit")
        return [await rt.invoke(call(fn, request_id=f"r-{i}")) for i in range(2)]

    first, second = run(body)
    for outcome in (first, second):
        assert (outcome.kind, outcome.error_type) == ("crash", UNHANDLED)
        assert CRASH.fullmatch(error(outcome)["errorMessage"])
        assert str(outcome.duration_ms) in error(outcome)["errorMessage"]
    assert first.logs == ("FC Invoke Start RequestId: r-0\nabout to exit\n"
                          "FC Invoke End RequestId: r-0\n")
    assert first.instance_id != second.instance_id


@pytest.mark.parametrize("handler", ["index.sys_exit", "index.sys_exit_with_thread",
                                     "index.segfault"])
def test_process_exit_in_the_handler_is_a_crash(handler):
    outcome = run(lambda rt: rt.invoke(call(function("crasher", handler))))
    assert outcome.kind == "crash"
    assert CRASH.fullmatch(error(outcome)["errorMessage"])


def test_missing_code_directory_is_an_error_outcome(tmp_path):
    fn = function("echo", code_dir=tmp_path / "gone")
    outcome = run(lambda rt: rt.invoke(call(fn)))
    assert outcome.kind == "error"
    assert error(outcome)["errorType"] == "WorkerStartError"
    assert "function 'echo'" in error(outcome)["errorMessage"]


# -- the pool ------------------------------------------------------------------------------


def test_warm_instance_keeps_module_state():
    async def body(rt):
        fn = function("echo", "index.counter")
        return [await rt.invoke(call(fn, request_id=f"r-{i}")) for i in range(2)]

    first, second = run(body)
    assert json.loads(first.body)["calls"] == 1
    assert json.loads(second.body) == {"calls": 2, "pid": json.loads(first.body)["pid"]}
    assert first.instance_id == second.instance_id


def test_updated_function_gets_a_fresh_instance():
    async def body(rt):
        first = await rt.invoke(call(function("echo", "index.counter")))
        updated = function("echo", "index.counter", modified_ms=1)
        return first, await rt.invoke(call(updated, request_id="r-2"))

    first, second = run(body)
    assert json.loads(second.body)["calls"] == 1
    assert first.instance_id != second.instance_id


def test_concurrent_invocations_start_a_second_process():
    async def body(rt):
        fn = function("sleeper")
        both = await asyncio.gather(rt.invoke(call(fn, b"0.3", "r-1")),
                                    rt.invoke(call(fn, b"0.3", "r-2")))
        return both, await rt.invoke(call(fn, b"0", "r-3"))

    (one, two), three = run(body)
    assert one.kind == two.kind == "ok"
    assert one.instance_id != two.instance_id  # two processes (each is PID 2 of its namespace)
    assert three.instance_id in {one.instance_id, two.instance_id}


def test_invocations_beyond_max_instances_wait_in_fifo_order():
    finished = []

    async def invoke(rt, fn, payload, request_id):
        outcome = await rt.invoke(call(fn, payload, request_id))
        finished.append(request_id)
        return outcome

    async def body(rt):
        sleeper, echo = function("sleeper"), function("echo")
        tasks = [asyncio.create_task(invoke(rt, sleeper, b"0.3", "r-1")),
                 asyncio.create_task(invoke(rt, echo, b"b", "r-2")),
                 asyncio.create_task(invoke(rt, echo, b"c", "r-3"))]
        await asyncio.sleep(0)  # let every task register with the runtime
        # the one instance the cap allows serves r-1; r-2 and r-3 wait without an instance
        counts = [(i["functionName"], i["active"]) for i in rt.instances()], rt.usage()
        return counts, await asyncio.gather(*tasks)

    counts, outcomes = run(body, max_instances=1)
    assert counts == ([("sleeper", 1)], PoolUsage(live=1, peak=1, max_instances=1))
    assert [o.kind for o in outcomes] == ["ok", "ok", "ok"]
    assert [o.body for o in outcomes[1:]] == [b"b", b"c"]
    assert finished == ["r-1", "r-2", "r-3"]
    assert outcomes[1].instance_id == outcomes[2].instance_id  # the echo instance stays warm


def running_sleeper(tmp_path: Path, name: str = "sleeper", **fields) -> tuple[Function, Path]:
    """A sleeper that writes its pid into a FIFO once it is inside the handler."""
    fifo = tmp_path / f"{name}.ready"
    os.mkfifo(fifo)
    return function("sleeper", name=name, environment_variables={"READY_FIFO": str(fifo)},
                    **fields), fifo


async def handler_running(fifo: Path) -> int:
    """Until the handler has written its pid into the FIFO (bounded: tests.fifos)."""
    return int(await read_fifo(fifo))


def test_stop_kills_one_execution_while_another_function_runs_on(tmp_path):
    async def body(rt):
        long, fifo = running_sleeper(tmp_path, timeout=60)
        short = function("sleeper", name="other")
        stopping = asyncio.create_task(rt.invoke(call(long, b"30", "r-long")))
        running = asyncio.create_task(rt.invoke(call(short, b"0.5", "r-short")))
        pid = await handler_running(fifo)
        stopped = await rt.stop("r-long")
        unknown = await rt.stop("r-unknown")
        return pid, stopped, unknown, await stopping, await running

    pid, stopped, unknown, outcome, other = run(body)
    assert (stopped, unknown) == (True, False)
    assert (outcome.kind, outcome.error_type) == ("stopped", UNHANDLED)
    assert CRASH.fullmatch(error(outcome)["errorMessage"])
    assert not instance_processes(outcome.instance_id)
    assert outcome.logs == (f"FC Invoke Start RequestId: r-long\npid={pid}\n"
                            "FC Invoke End RequestId: r-long\n")
    assert (other.kind, json.loads(other.body)["slept"]) == ("ok", 0.5)


def test_stop_while_waiting_for_an_instance():
    async def body(rt):
        sleeper = function("sleeper")
        first = asyncio.create_task(rt.invoke(call(sleeper, b"0.2", "r-1")))
        queued = asyncio.create_task(rt.invoke(call(sleeper, b"0", "r-2")))
        await asyncio.sleep(0)  # let both register; r-2 waits for the only instance
        return await rt.stop("r-2"), await first, await queued

    stopped, first, queued = run(body, max_instances=1)
    assert stopped
    assert (first.kind, queued.kind) == ("ok", "stopped")


def test_discard_kills_the_functions_processes():
    async def body(rt):
        fn = function("echo", "index.counter")
        first = await rt.invoke(call(fn))
        await rt.discard("echo")
        gone = not instance_processes(first.instance_id)
        return first, gone, await rt.invoke(call(fn, request_id="r-2"))

    first, gone, second = run(body)
    assert gone
    assert json.loads(second.body)["calls"] == 1
    assert second.instance_id != first.instance_id


def test_close_leaves_no_process_behind(tmp_path):
    async def body(rt):
        warm = await asyncio.gather(rt.invoke(call(function("echo", "index.counter"))),
                                    rt.invoke(call(function("sleeper"), b"0", "r-2")))
        long, fifo = running_sleeper(tmp_path, name="s2")
        running = asyncio.create_task(rt.invoke(call(long, b"30", "r-3")))
        await handler_running(fifo)
        ids = [o.instance_id for o in warm] + [i["instanceId"] for i in rt.instances()
                                                 if i["functionName"] == "s2"]
        assert all(instance_processes(i) for i in ids)
        await rt.close()
        return ids, await running, await rt.invoke(call(function("echo"), request_id="r-4"))

    ids, interrupted, late = run(body)
    assert len(set(ids)) == 3 and not any(instance_processes(i) for i in ids)
    assert interrupted.kind == "crash"
    assert (late.kind, error(late)["errorType"]) == ("error", "RuntimeClosed")


def test_close_kills_what_the_handler_started_too(tmp_path):
    (tmp_path / "index.py").write_text(
        "import subprocess, sys\n"
        "def handler(event, context):\n"
        "    child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "    return child.pid\n")

    async def body(rt):
        outcome = await rt.invoke(call(function("spawner", code_dir=tmp_path)))
        before = instance_processes(outcome.instance_id)
        await rt.close()
        return outcome, before

    outcome, before = run(body)
    assert len(before) >= 2  # the worker and its child (and the launcher, if there is one)
    assert not instance_processes(outcome.instance_id)


# -- what the handler sees -----------------------------------------------------------------


def test_logs_are_framed_per_request():
    async def body(rt):
        fn = function("printer")
        return [await rt.invoke(call(fn, name.encode(), name)) for name in ("req-a", "req-b")]

    first, second = run(body)
    lines = first.logs.splitlines()
    assert lines[0] == "FC Invoke Start RequestId: req-a"
    assert lines[-1] == "FC Invoke End RequestId: req-a"
    assert lines[1:3] == ["print req-a", "stderr line"]
    assert re.fullmatch(r".* req-a \[INFO\] logging line", lines[3])
    assert lines[4:6] == ["fd1 line", "fd2 line"]
    assert "req-a" not in second.logs
    assert second.logs.startswith("FC Invoke Start RequestId: req-b\nprint req-b\n")


def test_context_and_environment_seen_by_the_handler():
    fn = function("echo", "index.context_info", timeout=7, memory_size=256,
                  environment_variables={"GREETING": "hi", "FC_REGION": "not-this"})
    credentials = Credentials("AK", "SK", "TOKEN")
    outcome = run(lambda rt: rt.invoke(call(fn, request_id="r-ctx", credentials=credentials)))
    seen = json.loads(outcome.body)
    assert seen["event_type"] == "bytes"
    assert (seen["request_id"], seen["region"], seen["account_id"]) == ("r-ctx", REGION, ACCOUNT)
    assert seen["function"] == {"name": "echo", "handler": "index.context_info",
                                "memory": 256, "timeout": 7}
    assert seen["credentials"] == {"access_key_id": "AK", "access_key_secret": "SK",
                                   "security_token": "TOKEN"}
    assert seen["cwd"] == str(seen_code(FIXTURES / "echo"))
    assert seen["env"] == {
        "FC_FUNCTION_NAME": "echo", "FC_FUNCTION_HANDLER": "index.context_info",
        "FC_FUNCTION_MEMORY_SIZE": "256", "FC_TIMEOUT": "7", "FC_REGION": REGION,
        "FC_ACCOUNT_ID": ACCOUNT, "FC_INSTANCE_ID": outcome.instance_id,
        "FC_RUNTIME": "python3.10", "FC_FUNC_CODE_PATH": str(seen_code(FIXTURES / "echo")),
        "GREETING": "hi",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "AK", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "SK",
        "ALIBABA_CLOUD_SECURITY_TOKEN": "TOKEN",
    }


def test_python312_context_has_no_credentials():
    fn = function("echo", "index.context_info", runtime="python3.12")
    seen = json.loads(run(lambda rt: rt.invoke(call(fn))).body)
    assert seen["credentials"] is None
    assert seen["env"]["ALIBABA_CLOUD_ACCESS_KEY_ID"] == Credentials().access_key_id


def test_other_runtimes_are_not_supported():
    outcome = run(lambda rt: rt.invoke(call(function("echo", runtime="java11"))))
    assert (outcome.kind, outcome.error_type) == ("error", UNHANDLED)
    assert error(outcome)["errorType"] == "RuntimeNotSupported"
    assert "java11" in error(outcome)["errorMessage"]
