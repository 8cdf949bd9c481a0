"""The Python API's operations on a running emulator: deploy, invoke, inspect, script.

A mixin of :class:`fcemu.server.Emulator` (kept apart so that the server module
stays readable): each method is one call of the engine's front door, marshalled
onto the emulator loop by ``Emulator.call``, and hands the test thread copies
(wire dicts, :class:`~fcemu.server.views.QueueView`, a copied
:class:`~fcemu.models.Function`), never a live model. Keyword fields are read into
typed specs (:mod:`fcemu.specs`) here, on the test thread.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from fcemu.code import zip_code_base64
from fcemu.destinations import destination_arn
from fcemu.engine import Engine
from fcemu.models import Function
from fcemu.server.views import QueueView
from fcemu.specs import AsyncConfigSpec, FunctionSpec

T = TypeVar("T")


class EmulatorOperations:
    """Deploying, invoking, inspecting and scripting (see the module docstring)."""

    @property
    def region(self) -> str:
        raise NotImplementedError

    @property
    def account_id(self) -> str:
        raise NotImplementedError

    def call(self, fn: Callable[[Engine], Awaitable[T]], timeout: float = 600.0) -> T:
        """``await fn(engine)`` on the emulator loop (:meth:`fcemu.server.Emulator.call`)."""
        raise NotImplementedError

    # -- deploying and inspecting -------------------------------------------------------

    def register_function(self, name: str,
                          handler: Callable[..., Any] | str | None = None, *,
                          code: str | os.PathLike[str] | None = None,
                          **function_config: Any) -> Function:
        """Deploy a Python callable ``handler(event, context)`` that runs in-process, or
        ``code``: a directory (zipped for you) or a ``.zip`` file, run in a worker process
        exactly like code created through the API. With ``code``, ``handler`` is optional
        and is CreateFunction's handler name (``"index.handler"``, the default).

        ``function_config`` takes CreateFunction fields in camelCase or snake_case
        (``timeout=1``, ``memory_size=256``, ``environmentVariables={...}``). Returns a
        copy of the deployed function.
        """
        fields: dict[str, Any] = {"runtime": "python3.10", "handler": "index.handler",
                                  **function_config}
        if isinstance(handler, str):
            if code is None:
                raise TypeError(f"register_function(handler={handler!r}) names a handler in "
                                "code: give code=<directory or .zip> too, or pass a callable")
            fields["handler"], handler = handler, None
        elif handler is not None and not callable(handler):
            raise TypeError("register_function() takes a callable handler, or code= with an "
                            f"optional handler name such as 'index.handler', not {handler!r}")
        elif (handler is None) == (code is None):
            raise TypeError("register_function() takes a handler callable (run in-process) "
                            "or code=<directory or .zip> (with an optional handler name such "
                            "as handler='index.handler'), exactly one of them")
        if code is not None:
            path = Path(code)
            if not path.exists():
                raise FileNotFoundError(f"code={str(path)!r} is neither a directory nor a .zip "
                                        "file")
            fields["zip_file"] = zip_code_base64(path)
        spec = FunctionSpec.of(**fields, name=name)

        async def create(engine: Engine) -> Function:
            return copy.deepcopy(await engine.create_function_async(spec, handler=handler))

        return self.call(create)

    def delete_function(self, name: str) -> None:
        """DeleteFunction from Python: the function, its async configs and task records go."""

        async def delete(engine: Engine) -> None:
            engine.delete_function(name)

        self.call(delete)

    def put_async_invoke_config(self, function_name: str, *, qualifier: str | None = None,
                                on_success: str | None = None, on_failure: str | None = None,
                                **config: Any) -> None:
        """PutAsyncInvokeConfig from Python; a bare queue name becomes its SMQ queue ARN.
        ``config`` takes its fields in camelCase or snake_case (``asyncTask=True``,
        ``max_async_retry_attempts=1``)."""
        region, account = self.region, self.account_id
        spec = AsyncConfigSpec.of(
            **config,
            on_success=destination_arn(on_success, region, account) if on_success else None,
            on_failure=destination_arn(on_failure, region, account) if on_failure else None)

        async def put(engine: Engine) -> None:
            engine.put_async_invoke_config(function_name, qualifier, spec)

        self.call(put)

    def invoke(self, function_name: str, payload: bytes | str = b"", *,
               asynchronous: bool = False, task_id: str | None = None, delay: int = 0,
               qualifier: str | None = None) -> str:
        """InvokeFunction from Python, without an SDK.

        Asynchronous: enqueues the task and returns its task ID at once.
        Synchronous: runs the handler and returns its result as text; a function
        error raises ``RuntimeError`` carrying the error type and JSON. API errors
        (unknown function, bad task ID...) raise their :class:`~fcemu.FcError`.
        """
        data = payload.encode() if isinstance(payload, str) else payload

        async def run(engine: Engine) -> str:
            result = await engine.invoke_function(
                function_name, data, qualifier=qualifier, asynchronous=asynchronous,
                task_id=task_id, delay_s=delay)
            if result.task is not None:
                return result.task.task_id
            assert result.outcome is not None
            body = result.outcome.body.decode("utf-8", "replace")
            if not result.outcome.ok:
                raise RuntimeError(f"{result.outcome.error_type}: {body}")
            return body

        return self.call(run)

    def queue(self, name: str) -> QueueView:
        """Inspect an SMQ queue (e.g. a destination) without consuming its messages."""
        return QueueView(self.call, name)

    def eventbus(self, bus: str | None = None, function: str | None = None
                 ) -> list[dict[str, Any]]:
        """What EventBridge bus destinations received (``GET /_fcemu/eventbus``), in
        delivery order: each entry's ``eventBus``, ``destination``, ``timestamp``,
        ``functionName``, ``qualifier``, ``taskId``, ``expireTime`` and the result message
        (``data``); only bus ``bus``'s and function ``function``'s, when given."""

        async def get(engine: Engine) -> list[dict[str, Any]]:
            return engine.eventbus_events(bus, function)

        return self.call(get)

    def task(self, function_name: str, task_id: str) -> dict[str, Any]:
        """A task record as GetAsyncTask would answer it (whether or not task mode is on)."""
        from fcemu.api.wire import async_task

        async def get(engine: Engine) -> dict[str, Any]:
            return async_task(engine.task_record(function_name, task_id), include_payload=True)

        return self.call(get)

    def tasks(self, function_name: str) -> list[dict[str, Any]]:
        """Every retained task record of a function, in submission order."""
        from fcemu.api.wire import async_task

        async def get(engine: Engine) -> list[dict[str, Any]]:
            return [async_task(t, include_payload=True)
                    for t in engine.task_records(function_name)]

        return self.call(get)

    def task_logs(self, function_name: str, task_id: str) -> str:
        """What a task's handler printed and logged, every attempt in order, each framed by
        ``FC Invoke Start/End RequestId: <id>`` (as ``x-fc-log-result`` carries it)."""

        async def get(engine: Engine) -> str:
            return engine.task_logs(function_name, task_id).text

        return self.call(get)

    # -- scripted outcomes and instances (fcemu's own) ----------------------------------

    def script(self, function_name: str, steps: list[str | dict[str, Any]]) -> None:
        """Script the outcomes of a function's next attempts, consumed in order (replacing
        any script it had): ``emu.script("f", ["throttle", {"outcome": "error",
        "message": "boom", "times": 2}, "run"])``. Outcomes: ``error`` (``message``,
        ``errorType``), ``timeout``, ``crash``, ``throttle``, ``ok`` (``value``) and ``run``
        (the real handler); see :mod:`fcemu.faults`. An empty list clears the script."""

        async def put(engine: Engine) -> None:
            engine.put_script(function_name, steps)

        self.call(put)

    def clear_script(self, function_name: str | None = None) -> None:
        """Forget a function's script, or every function's."""

        async def clear(engine: Engine) -> None:
            if function_name is None:
                engine.clear_scripts()
            else:
                engine.delete_script(function_name)

        self.call(clear)

    def fail_destination(self, destination: str, times: int = 1) -> None:
        """Make the next ``times`` deliveries to a destination fail (``destinationStatus``
        ``Failed``): a queue name, or any destination ARN (queue, topic, function, bus)."""

        async def fail(engine: Engine) -> None:
            engine.fail_destination(destination, times)

        self.call(fail)

    def instances(self) -> list[dict[str, Any]]:
        """The handler processes alive now: ``instanceId``, ``functionName``, ``pid``,
        ``active`` requests, ``capacity`` (instanceConcurrency), ``port`` (custom runtimes),
        ``log`` (the newest 64 KB of output that belongs to no request)."""

        async def get(engine: Engine) -> list[dict[str, Any]]:
            return engine.instances()

        return self.call(get)

    def metrics(self) -> dict[str, Any]:
        """FC's async metrics on emulator time, as ``GET /_fcemu/metrics`` serves them:
        ``functions`` (per function and qualifier: ``enqueued``, ``dequeued``, ``byStatus``,
        ``throttles``, ``backlog``, ``inProcess``, ``destinations``, ``latencyMs`` p50/p99),
        ``series`` (the last hour, a point a minute), ``instances`` and ``queues``
        (docs/console.md)."""

        async def get(engine: Engine) -> dict[str, Any]:
            return engine.metrics()

        return self.call(get)

    def function_names(self) -> list[str]:
        """The names of the deployed functions, in the order they were created."""

        async def get(engine: Engine) -> list[str]:
            return engine.function_names()

        return self.call(get)

    def queue_names(self) -> list[str]:
        """The names of the SMQ queues, sorted."""

        async def get(engine: Engine) -> list[str]:
            return list(engine.queue_counts())

        return self.call(get)
