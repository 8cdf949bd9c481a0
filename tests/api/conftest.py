"""API tests: aiohttp's TestServer/TestClient against ``make_app(engine)``, no SDK.

No pytest-aiohttp and no aiohttp.pytest_plugin (STYLE.md, aiohttp 7): the
``pytest_pyfunc_call`` hook below runs each ``async def`` test on a fresh
emulator loop (:func:`fcemu.clock.new_event_loop`), and starts every
:class:`Api` fixture value inside that loop before the test, closing it after.
The engine is built there too, on a manual clock at ``T0`` with seed 7, so
records, IDs and messages are the same on every run. No test sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import io
import json
import os
import zipfile
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDictProxy

from fcemu.api import make_app
from fcemu.clock import ManualClock, RealClock, new_event_loop
from fcemu.engine import Engine
from fcemu.ids import IdGenerator
from fcemu.models import Function
from fcemu.settings import Settings
from fcemu.specs import FunctionSpec
from tests.constants import FC, SEED, T0, function_arn

ARN_F = function_arn("f")
GOLDEN = Path(__file__).resolve().parent.parent / "golden"
#: Set to rewrite tests/golden/*.json from the current output (then review the diff).
UPDATE_GOLDEN = os.environ.get("FCEMU_UPDATE_GOLDEN") == "1"


#: A CreateFunctionInput as the SDK sends it (sdk-notes §1.4), without code.
CREATE = {"functionName": "f", "runtime": "python3.10", "handler": "index.handler",
          "timeout": 60, "memorySize": 512, "environmentVariables": {"A": "b"}, "tags": [],
          "vpcConfig": {"vpcId": "vpc-1"}}


def zip_b64(source: str = "def handler(event, context):\n    return event\n") -> str:
    """``code.zipFile``: a base64 zip holding ``index.py``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return base64.b64encode(buffer.getvalue()).decode()


def echo(event: bytes, context: Any) -> bytes:
    """An in-process handler: ``ok:`` + the event."""
    return b"ok:" + event


def boom(event: bytes, context: Any) -> bytes:
    """An in-process handler that always raises."""
    raise ValueError("boom: " + event.decode())


class Reply:
    """One HTTP response, read in full."""

    def __init__(self, status: int, headers: CIMultiDictProxy[str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-fc-request-id")

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:200]!r})"


class Api:
    """An engine behind aiohttp's TestServer; started by the test hook inside the test's loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._engine: Engine | None = None
        self._client: TestClient[Any, Any] | None = None

    async def start(self) -> Api:
        s = self.settings
        clock = ManualClock(s.start_ms) if s.clock == "manual" else RealClock()
        self._engine = Engine(s, clock, IdGenerator(seed=s.seed))
        self._client = TestClient(TestServer(make_app(self._engine)))
        await self._client.start_server()
        return self

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()

    async def __aenter__(self) -> Api:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def engine(self) -> Engine:
        assert self._engine is not None, "Api not started (only async tests start it)"
        return self._engine

    @property
    def client_app(self) -> web.Application:
        """The root application under test."""
        assert self._client is not None
        app = self._client.server.app
        assert app is not None
        return app

    # -- HTTP -----------------------------------------------------------------------

    async def call(self, method: str, path: str, *, json_body: Any = None,
                   data: bytes | str | None = None, headers: Mapping[str, str] | None = None,
                   params: Mapping[str, str] | None = None) -> Reply:
        """Any request; ``json_body`` is sent compact, as the SDK does."""
        assert self._client is not None
        if json_body is not None:
            data = json.dumps(json_body, separators=(",", ":"))
            headers = {"content-type": "application/json; charset=utf-8", **(headers or {})}
        body: Any = io.BytesIO(data) if isinstance(data, bytes) and len(data) > 2**20 else data
        async with self._client.request(method, path, data=body, headers=headers,
                                        params=params) as response:
            return Reply(response.status, response.headers, await response.read())

    async def fc(self, method: str, path: str, **kw: Any) -> Reply:
        """A request under ``/2023-03-30``."""
        return await self.call(method, FC + path, **kw)

    async def control(self, method: str, path: str, **kw: Any) -> Reply:
        """A request under ``/_fcemu``."""
        return await self.call(method, "/_fcemu" + path, **kw)

    # -- scenario helpers -----------------------------------------------------------

    def deploy(self, name: str = "f", handler: Callable[..., Any] = echo,
               **fields: Any) -> Function:
        """An in-process function (fast: no worker process)."""
        spec = FunctionSpec.of(**{"runtime": "python3.10", "handler": "index.handler",
                                  **fields}, name=name)
        return self.engine.create_function(spec, handler=handler)

    async def put_config(self, name: str = "f", **config: Any) -> Reply:
        """PutAsyncInvokeConfig with ``asyncTask: true`` unless told otherwise."""
        reply = await self.fc("PUT", f"/functions/{name}/async-invoke-config",
                              json_body={"asyncTask": True, **config})
        assert reply.status == 200, reply
        return reply

    async def invoke(self, name: str = "f", payload: bytes = b"{}", *, mode: str = "Async",
                     task_id: str | None = None, delay: int | None = None,
                     headers: Mapping[str, str] | None = None, **kw: Any) -> Reply:
        """InvokeFunction; async unless ``mode="Sync"``."""
        sent = {"x-fc-invocation-type": mode, **(headers or {})}
        if task_id is not None:
            sent["x-fc-async-task-id"] = task_id
        if delay is not None:
            sent["x-fc-async-delay"] = str(delay)
        return await self.fc("POST", f"/functions/{name}/invocations", data=payload,
                             headers=sent, **kw)

    async def task(self, task_id: str, name: str = "f") -> dict[str, Any]:
        """GetAsyncTask, asserted 200."""
        reply = await self.fc("GET", f"/functions/{name}/async-tasks/{task_id}")
        assert reply.status == 200, reply
        result: dict[str, Any] = reply.json()
        return result

    async def advance(self, seconds: float) -> int:
        """``POST /_fcemu/clock/advance``; returns the new time."""
        reply = await self.control("POST", "/clock/advance", json_body={"seconds": seconds})
        assert reply.status == 200, reply
        now: int = reply.json()["now"]
        return now

    async def drain(self) -> int:
        """``POST /_fcemu/drain``: every task to its end."""
        reply = await self.control("POST", "/drain")
        assert reply.status == 200, reply
        now: int = reply.json()["now"]
        return now

    async def settle(self) -> None:
        reply = await self.control("POST", "/settle")
        assert reply.status == 200, reply

    def messages(self, queue: str) -> list[Any]:
        """Every message body on an SMQ queue, parsed (inspected through the engine)."""
        smq = self.engine.smq
        return [m.json() for m in smq.get_queue(queue).messages()] if smq.queue_exists(
            queue) else []


def assert_error(reply: Reply, status: int, code: str, message: str | None = None) -> None:
    """An FC error: status, exactly ``Code``/``Message``/``RequestId``, header = RequestId."""
    assert reply.status == status, reply
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"Code", "Message", "RequestId"}, body
    assert body["Code"] == code, body
    assert body["RequestId"] == reply.request_id
    if message is not None:
        assert body["Message"] == message


def assert_golden(name: str, document: Any) -> None:
    """Compare a whole JSON document, key order included, with ``tests/golden/<name>.json``."""
    path = GOLDEN / f"{name}.json"
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if UPDATE_GOLDEN:
        path.write_text(text)
    assert document == json.loads(path.read_text()), f"differs from {path}"
    assert text == path.read_text(), f"same values, other key order than {path}"


@pytest.fixture
def api_settings() -> Settings:
    """Manual clock at T0, seed 7 (override in a module to change)."""
    return Settings(clock="manual", start_ms=T0, seed=SEED)


@pytest.fixture
def api(api_settings: Settings) -> Api:
    """The emulator under test; usable in ``async def`` tests (started by the hook)."""
    return Api(api_settings)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on a fresh emulator loop, with their Api fixtures started."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    _run(_with_apis(pyfuncitem.obj, kwargs))
    return True


async def _with_apis(test: Callable[..., Coroutine[Any, Any, None]],
                     kwargs: dict[str, Any]) -> None:
    apis = [value for value in kwargs.values() if isinstance(value, Api)]
    for api in apis:
        await api.start()
    try:
        await test(**kwargs)
    finally:
        for api in apis:
            await api.close()


def _run(coro: Coroutine[Any, Any, None]) -> None:
    loop = new_event_loop()
    try:
        loop.run_until_complete(coro)
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
