"""Issue 10, points 1-3: the engine has one front door, its collaborators are handed in,
and it speaks Python.

- Outer layers (HTTP API, Python API, CLI, config deployment, the pytest plugin) call
  the engine's public methods only; the MNS routes alone use ``engine.smq`` (the
  documented SMQ operations). Checked on the source, like a linter.
- :mod:`fcemu.tasks` and the other collaborators never import the engine.
- One reset path: ``POST /_fcemu/reset``, ``POST /_fcemu/seed`` and ``Emulator.reset()``
  give the same state, and the engine's task listeners survive every one of them.
- ``Engine(runtimes=...)`` is kept across a reset (a fresh runner each time), and one
  count of running executions serves sync invocations and async attempts alike.
- The test thread gets copies, never live models.
- The engine takes typed specs; the API and the Python API build the same ones, with
  the same messages for the same bad values.
"""

from __future__ import annotations

import ast
import asyncio
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import fcemu
import pytest_fcemu
from fcemu.clock import ManualClock, new_event_loop
from fcemu.engine import Engine
from fcemu.errors import InvalidArgument
from fcemu.ids import IdGenerator
from fcemu.runtime import Outcome, PoolUsage
from fcemu.settings import Settings
from fcemu.specs import FunctionSpec
from tests.api.conftest import zip_b64
from tests.constants import FC, SEED, T0
from tests.hardening.state import Http

pytestmark = pytest.mark.fcemu(clock="manual")

JSON = {"content-type": "application/json"}
PACKAGE = Path(fcemu.__file__).parent
#: The engine's parts: nothing outside the engine may reach them.
PARTS = ("scheduler", "tasks", "runtimes", "faults", "ids", "clock", "functions",
         "async_configs", "concurrency", "code", "delivery", "slots", "failures",
         "eventbus_log", "smq")
#: The one documented exception: the MNS answers use the SMQ operations (``engine.smq``).
SMQ_USERS = ("api/smq/", "api/front_door.py")
REACH = re.compile(r"(?:\bengine|\[ENGINE\])\.(" + "|".join(PARTS) + r")\b")


@pytest.fixture
def http(fcemu: fcemu.Emulator) -> Iterator[Http]:
    client = Http("127.0.0.1", fcemu.port)
    yield client
    client.close()


def outer_modules() -> list[Path]:
    """Every module above the engine: the API, the Python API, the CLI, config, the plugin."""
    files = [*PACKAGE.glob("api/**/*.py"), *PACKAGE.glob("cli/**/*.py"),
             *PACKAGE.glob("config/**/*.py"),
             *PACKAGE.glob("server/**/*.py"),
             *Path(pytest_fcemu.__file__).parent.glob("*.py")]
    return sorted(f for f in files if f.is_file())


def test_outer_layers_call_only_the_engine_front_door() -> None:
    offenders = []
    for path in outer_modules():
        where = path.relative_to(PACKAGE).as_posix() if path.is_relative_to(PACKAGE) else path.name
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in REACH.finditer(line):
                if match[1] == "smq" and where.startswith(SMQ_USERS):
                    continue
                offenders.append(f"{where}:{number}: {line.strip()}")
    assert len(outer_modules()) > 20  # the scan sees the layers it guards
    assert offenders == []


@pytest.mark.parametrize("module", ["tasks", "destinations", "faults", "follow", "specs",
                                    "models", "engine/functions", "engine/control"])
def test_collaborators_never_import_the_engine_module(module: str) -> None:
    package = PACKAGE / module  # a package: every module of it
    paths = sorted(package.glob("*.py")) if package.is_dir() else [PACKAGE / f"{module}.py"]
    assert paths and all(path.is_file() for path in paths)
    imported: set[str | None] = set()
    for path in paths:
        tree = ast.parse(path.read_text())
        imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for a in node.names}
    # also under TYPE_CHECKING: no cycle at all
    assert not imported & {"fcemu.engine", "fcemu.engine.core"}


# -- one reset path ------------------------------------------------------------------------


def scenario(emu: fcemu.Emulator) -> tuple[str, str, str, int]:
    """Deploy, invoke asynchronously, settle: the generated IDs and the clock."""
    function = emu.register_function("f", lambda event, context: b"ok")
    emu.put_async_invoke_config("f", asyncTask=True)
    task_id = emu.invoke("f", b"x", asynchronous=True)
    emu.settle()
    return function.function_id, task_id, emu.task("f", task_id)["requestId"], emu.clock.now()


def test_every_reset_is_the_same_reset(fcemu: fcemu.Emulator, http: Http) -> None:
    finished: list[str] = []
    fcemu.task_listeners.append(lambda task: finished.append(task["taskId"]))
    fcemu.clock.advance(90)
    assert http.request("POST", "/_fcemu/seed", JSON, json.dumps({"seed": 5}).encode()
                        ).status == 200
    seeded_over_http = scenario(fcemu)
    fcemu.reset(seed=5)
    seeded_in_python = scenario(fcemu)
    assert http.request("POST", "/_fcemu/reset").status == 200
    reset_over_http = scenario(fcemu)  # the seed given last stays
    fcemu.reset()
    reset_in_python = scenario(fcemu)
    assert seeded_over_http == seeded_in_python == reset_over_http == reset_in_python
    assert seeded_over_http[3] == T0
    # the listeners (the engine's, and the Emulator's) outlived four resets
    assert finished == [seeded_over_http[1]] * 4


def test_the_test_thread_gets_copies(fcemu: fcemu.Emulator, http: Http) -> None:
    function = fcemu.register_function("f", lambda event, context: event, timeout=5,
                                       environmentVariables={"A": "1"})
    function.timeout = 99
    function.environment_variables["A"] = "changed"
    function.tags.append({"Key": "k", "Value": "v"})
    served = http.json("GET", f"{FC}/functions/f")
    assert (served["timeout"], served["environmentVariables"], served["tags"]) == (
        5, {"A": "1"}, [])


# -- collaborators handed in ----------------------------------------------------------------


class FakeRunner:
    """A runner answering every invocation at once, or holding it until released."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.closed = False
        self.hold: asyncio.Event | None = None

    async def invoke(self, invocation: Any) -> Outcome:
        self.calls.append(invocation.request_id)
        if self.hold is not None:
            await self.hold.wait()
        return Outcome("ok", b"fake:" + invocation.payload)

    async def stop(self, request_id: str) -> bool:
        return False

    async def discard(self, function_name: str) -> None:
        return None

    async def retire_version(self, function_name: str, version_id: str) -> None:
        return None

    async def close(self) -> None:
        self.closed = True

    def instances(self) -> list[dict[str, Any]]:
        return []

    def usage(self) -> PoolUsage:
        return PoolUsage(0, 0, 0)


def on_engine(scenario: Callable[[Engine, list[FakeRunner]], Any]) -> tuple[Any, list[FakeRunner]]:
    """Run ``scenario`` on an engine whose runners are :class:`FakeRunner`s, in a loop."""
    made: list[FakeRunner] = []

    def make(settings: Settings, ids: IdGenerator) -> FakeRunner:
        made.append(FakeRunner())
        return made[-1]

    async def main() -> Any:
        engine = Engine(Settings(clock="manual"), ManualClock(T0), IdGenerator(SEED),
                        runtimes=make)
        try:
            return await scenario(engine, made)
        finally:
            await engine.close()

    loop = new_event_loop()
    try:
        return loop.run_until_complete(main()), made
    finally:
        loop.close()


def deploy(engine: Engine) -> None:
    engine.create_function(FunctionSpec(name="f", runtime="python3.10", handler="index.h"),
                           handler=lambda event, context: b"in-process, never run here")


def test_a_handed_in_runtimes_factory_survives_reset() -> None:
    async def scenario(engine: Engine, made: list[FakeRunner]) -> list[bytes]:
        deploy(engine)
        first = (await engine.invoke_function("f", b"1")).outcome
        await engine.reset()
        deploy(engine)
        second = (await engine.invoke_function("f", b"2")).outcome
        assert first is not None and second is not None
        return [first.body, second.body]

    bodies, made = on_engine(scenario)
    assert bodies == [b"fake:1", b"fake:2"]
    assert [len(r.calls) for r in made] == [1, 1]
    assert [r.closed for r in made] == [True, True]  # the reset closed the first one


def test_sync_invocations_and_async_attempts_share_one_count() -> None:
    async def scenario(engine: Engine, made: list[FakeRunner]) -> tuple[Any, ...]:
        deploy(engine)
        engine.put_concurrency_config("f", 1)
        runner = made[0]
        runner.hold = asyncio.Event()
        sync = asyncio.ensure_future(engine.invoke_function("f", b"sync"))
        for _ in range(100):  # bounded: until the sync invocation holds its slot
            if runner.calls:
                break
            await asyncio.sleep(0)
        task = (await engine.invoke_function("f", b"async", asynchronous=True)).task
        assert task is not None
        await engine.settle()
        throttled = (task.status.value, task.throttle_count, engine.slots.running("f"))
        runner.hold.set()
        await sync
        await engine.drain()
        return throttled, task.status.value, engine.slots.running("f")

    (throttled, final, running), _ = on_engine(scenario)
    assert throttled == ("Enqueued", 1, 1)  # the one slot was the sync invocation's
    assert (final, running) == ("Succeeded", 0)


# -- the engine speaks Python ------------------------------------------------------------------

BAD_FUNCTION_FIELDS = [
    {"timeout": 0},
    {"memorySize": 100},
    {"memory_size": 200},
    {"runtime": "java11"},
    {"cpu": 99},
    {"description": "x" * 300},
    {"environmentVariables": {"1A": "x"}},
    {"environmentVariables": {"A": 1}},
    {"customRuntimeConfig": {"port": 0}},
    {"instanceLifecycleConfig": {"initializer": {"timeout": 999}}},
    {"layers": "not-a-list"},
]
BAD_ASYNC_CONFIG_FIELDS = [
    {"maxAsyncRetryAttempts": 9},
    {"max_async_retry_attempts": -1},
    {"maxAsyncEventAgeInSeconds": 0},
    {"asyncTask": "yes"},
]
_WIRE_NAMES = {"memory_size": "memorySize", "max_async_retry_attempts": "maxAsyncRetryAttempts"}


def _wire(fields: dict[str, Any]) -> dict[str, Any]:
    return {_WIRE_NAMES.get(k, k): v for k, v in fields.items()}


@pytest.mark.parametrize("fields", BAD_FUNCTION_FIELDS, ids=lambda f: next(iter(f)))
def test_python_and_wire_build_the_same_function_spec(fcemu: fcemu.Emulator, http: Http,
                                                       fields: dict[str, Any]) -> None:
    doc = {"functionName": "g", "runtime": "python3.10", "handler": "index.handler",
           "code": {"zipFile": zip_b64()}, **_wire(fields)}
    reply = http.request("POST", f"{FC}/functions", JSON, json.dumps(doc).encode())
    assert reply.status == 400, reply
    with pytest.raises(InvalidArgument) as raised:
        fcemu.register_function("g", lambda event, context: event, **fields)
    assert raised.value.message == reply.json()["Message"]
    assert fcemu.function_names() == []


@pytest.mark.parametrize("fields", BAD_ASYNC_CONFIG_FIELDS, ids=lambda f: next(iter(f)))
def test_python_and_wire_build_the_same_async_config_spec(fcemu: fcemu.Emulator, http: Http,
                                                          fields: dict[str, Any]) -> None:
    fcemu.register_function("f", lambda event, context: event)
    reply = http.request("PUT", f"{FC}/functions/f/async-invoke-config", JSON,
                         json.dumps(_wire(fields)).encode())
    assert reply.status == 400, reply
    with pytest.raises(InvalidArgument) as raised:
        fcemu.put_async_invoke_config("f", **fields)
    assert raised.value.message == reply.json()["Message"]


@pytest.mark.parametrize(("call", "unknown"), [
    (lambda emu: emu.register_function("g", lambda e, c: e, timeot=3), "timeot"),
    (lambda emu: emu.put_async_invoke_config("f", asyncTsk=True), "asyncTsk"),
])
def test_the_python_api_names_an_unknown_field(fcemu: fcemu.Emulator,
                                               call: Callable[[fcemu.Emulator], None],
                                               unknown: str) -> None:
    fcemu.register_function("f", lambda event, context: event)
    with pytest.raises(TypeError, match=f"unknown .*'{unknown}'"):
        call(fcemu)
