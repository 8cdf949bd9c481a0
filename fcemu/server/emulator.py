"""The Emulator: runs the app on its own loop thread and is the Python API.

``with fcemu.Emulator(clock="manual") as emu:`` starts a server on
127.0.0.1 (a free port unless told), and every method called from the test
thread is marshalled onto the emulator's loop with
``asyncio.run_coroutine_threadsafe`` (DESIGN.md principle 1). The pytest
plugin hands out this same object.

Every method goes through the engine's front door (its public methods, named
after the operations) and hands the test thread copies (wire dicts, views,
copied models), never a live model; the operations themselves (deploy, invoke,
inspect, script) are a mixin in :mod:`fcemu.server.operations`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web

from fcemu.api import make_app
from fcemu.api.protocol import FrontDoorRunner
from fcemu.clock import ManualClock, RealClock, new_event_loop, to_epoch_ms
from fcemu.config import Deployer, Watcher, watch
from fcemu.engine import Engine, ServerFailure
from fcemu.ids import IdGenerator
from fcemu.server.operations import EmulatorOperations
from fcemu.server.snapshots import EmulatorSnapshots
from fcemu.server.triggers import EmulatorTriggers
from fcemu.server.versions import EmulatorVersions
from fcemu.server.views import EmulatorClock, MessageView, QueueView, ServerSideError, TaskEvents
from fcemu.settings import Settings
from fcemu.web import add_console

T = TypeVar("T")

#: How long a call from the test thread waits for the loop before giving up (real seconds).
CALL_TIMEOUT = 600.0
#: Settings a running emulator keeps: ``reset()`` refuses to change them.
FIXED_SETTINGS = ("clock", "host", "port", "data_dir", "durability")

__all__ = ["Emulator", "EmulatorClock", "MessageView", "QueueView", "ServerSideError"]


class Emulator(EmulatorTriggers, EmulatorVersions, EmulatorSnapshots, EmulatorOperations):
    """A running fcemu: the FC 3.0 API, the SMQ API and the control API on one port.

    :param settings: a :class:`~fcemu.Settings`; keyword arguments override its fields.
        ``clock`` is ``"real"``, ``"manual"`` or ``"follow"`` (a manual clock that follows the
        process's, possibly frozen, time: :mod:`fcemu.follow`); ``start`` (ISO 8601, datetime
        or epoch ms) sets the manual clock's start; ``port`` defaults to 0 (a free port).
    """

    def __init__(self, settings: Settings | None = None, *,
                 start: int | str | datetime | None = None, **overrides: Any) -> None:
        base = settings or Settings(port=0)
        if start is not None:
            overrides["start_ms"] = to_epoch_ms(start)
        self.settings = base.replace(**overrides)
        if self.settings.clock not in ("real", "manual", "follow"):
            raise ValueError(f"clock must be 'real', 'manual' or 'follow', "
                             f"got {self.settings.clock!r}")
        self._events = TaskEvents()
        self.clock = EmulatorClock(self.call, self._events, lambda: self.settings.clock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        #: Called on the test thread with each finished task (AsyncTask wire dict plus
        #: ``functionName``) when ``settle()``, ``drain()`` or a clock move returns.
        self.task_listeners: list[Callable[[dict[str, Any]], None]] = self._events.listeners
        #: Deploys ``settings.config`` on the engine at start and after every reset; its
        #: ``reporter`` warns about a file's ignored props and placeholders once.
        self.deployer = Deployer()
        self._watcher: Watcher | None = None

    # -- start and stop -----------------------------------------------------------------

    def start(self) -> str:
        """Start serving; returns the endpoint URL (``http://127.0.0.1:<port>``)."""
        if self._loop is not None:
            return self.endpoint
        self._loop = new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fcemu-loop",
                                        daemon=True)
        self._thread.start()
        try:
            self._port = self._submit(self._astart())
        except BaseException:
            self.stop()
            raise
        return self.endpoint

    async def _astart(self) -> int:
        s = self.settings
        clock = RealClock() if s.clock == "real" else ManualClock(s.start_ms)
        self._engine = Engine(s, clock, IdGenerator(s.seed), on_reset=self.deployer)
        try:
            # durable mode: a data directory's state comes back; else the --config files
            if not await self._engine.load_store():
                self.deployer(self._engine)  # a ConfigError leaves nothing behind
            self._engine.start_store()
            await self._engine.committed()  # durable mode: the state (the IDs' epoch) first
        except BaseException:
            await self._engine.shutdown()
            raise
        self._engine.add_task_listener(self._events.collect)
        app = make_app(self._engine)
        add_console(app)  # the web console at / and /_fcemu/ui/ (fcemu.web)
        # FrontDoorRunner: HTTP-level errors in FC/MNS format, slow request heads time out
        self._runner = FrontDoorRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host=s.host, port=s.port)
        await site.start()
        address = self._runner.addresses[0]
        return int(address[1])

    def stop(self) -> None:
        """Stop serving, kill every handler instance and end the loop thread."""
        loop, thread = self._loop, self._thread
        if loop is None:
            return
        try:
            if self._watcher is not None and loop.is_running():
                self._submit(self._watcher.stop())
            if self._runner is not None and loop.is_running():
                self._submit(self._runner.cleanup())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not None:
                thread.join(timeout=30)
            loop.close()
            self._loop = self._thread = self._runner = self._engine = None
            self._watcher = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where it is ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._loop is not None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not running; call start() or use 'with'")
        return self._port

    @property
    def host_port(self) -> str:
        """``127.0.0.1:<port>``: the FC SDK's ``Config.endpoint`` (with ``protocol='http'``)."""
        return f"{self.settings.host}:{self.port}"

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``: for the MNS SDK's ``Account`` and plain HTTP."""
        return f"http://{self.host_port}"

    @property
    def account_id(self) -> str:
        return self.settings.account_id

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def engine(self) -> Engine:
        """The engine; touch it only on the emulator loop (see :meth:`call`)."""
        if self._engine is None:
            raise RuntimeError("the emulator is not running; call start() or use 'with'")
        return self._engine

    # -- marshalling ----------------------------------------------------------------------

    def call(self, fn: Callable[[Engine], Awaitable[T]], timeout: float = CALL_TIMEOUT) -> T:
        """Run ``await fn(engine)`` on the emulator loop and return its result."""
        return self._submit(self._with_engine(fn), timeout)

    async def _with_engine(self, fn: Callable[[Engine], Awaitable[T]]) -> T:
        await self.engine.follow_time()  # follow mode: timers due by the process's time fire
        result = await fn(self.engine)
        if self.engine.durable:  # the change is stored before the call returns
            self.engine.store_touched()
            await self.engine.committed()
        return result

    def _submit(self, coro: Awaitable[T], timeout: float = CALL_TIMEOUT) -> T:
        loop = self._loop
        refusal = ""
        if loop is None:
            refusal = "the emulator is not running; call start() or use 'with'"
        elif threading.current_thread() is self._thread:
            refusal = ("this Emulator method blocks; it cannot be called from the emulator's "
                       "own loop (e.g. from an async in-process handler)")
        if refusal or loop is None:
            if isinstance(coro, Coroutine):  # never to run: no "never awaited" warning
                coro.close()
            raise RuntimeError(refusal)
        future: concurrent.futures.Future[T] = asyncio.run_coroutine_threadsafe(
            coro, loop)  # type: ignore[arg-type]
        return future.result(timeout)

    # -- time and work --------------------------------------------------------------------

    def settle(self, timeout: float | None = None) -> None:
        """Wait until nothing is runnable at the current time (bounded; names what's busy)."""
        self.call(lambda e: e.settle(timeout))
        self._events.deliver()

    def drain(self, timeout: float | None = None, *,
              until: int | float | str | datetime | timedelta | None = None) -> int:
        """Manual clock: run every task to its end, jumping the clock timer to timer;
        periodic trigger fires after that stay on the clock. ``until`` (epoch ms, ISO 8601,
        datetime, or a timedelta from now): first run everything due up to then, trigger
        fires included ("run the next week": ``drain(until=timedelta(days=7))``)."""
        if isinstance(until, timedelta):
            delta_ms = round(until.total_seconds() * 1000)
            now = self.call(lambda e: e.drain(timeout, until_ms=e.now_ms() + delta_ms))
        else:
            until_ms = None if until is None else to_epoch_ms(until)
            now = self.call(lambda e: e.drain(timeout, until_ms=until_ms))
        self._events.deliver()
        return now

    def reset(self, **changes: Any) -> None:
        """All state gone, clock mode kept; a manual clock returns to its start.

        Keyword arguments change settings from now on, e.g. ``start=`` (ISO 8601, datetime or
        epoch ms), ``seed=``, ``config=``, ``region=``; a running emulator's ``clock`` mode,
        ``host``, ``port``, ``data_dir`` and ``durability`` cannot change (a ValueError:
        give them to another ``Emulator(...)``).
        """
        if "start" in changes:
            changes["start_ms"] = to_epoch_ms(changes.pop("start"))
        settings = self.settings.replace(**changes)
        fixed = [k for k in FIXED_SETTINGS
                 if k in changes and getattr(settings, k) != getattr(self.settings, k)]
        if fixed:
            raise ValueError(f"reset() cannot change {', '.join(fixed)} of a running emulator; "
                             f"start another Emulator({', '.join(f'{k}=...' for k in fixed)})")
        self.settings = settings
        # not call(): follow mode must not fire timers of the state being thrown away
        self._submit(self.engine.reset(changes.get("seed"), settings=settings))
        self._events.clear()

    def set_following(self, enabled: bool) -> None:
        """Follow mode: resume or pause following the process's time (the pytest plugin
        pauses it once a test body is over); nothing in the other clock modes."""

        async def apply(engine: Engine) -> None:
            engine.set_following(enabled)

        self._submit(apply(self.engine))  # not call(): pausing must not sync first

    def check(self) -> None:
        """Raise :class:`ServerSideError` if the emulator hit unexpected errors, and forget them."""
        failures = self.call(_take_failures)
        if failures:
            raise ServerSideError(failures)

    # -- deployment files (fcemu serve --watch) --------------------------------------------

    def watch_config(self, interval: float | None = 1.0) -> None:
        """Redeploy the ``config`` files, and the code they name, when they change (task
        records are kept; a file with an error is logged and the deployment kept). They are
        looked at every ``interval`` real seconds, or, with None, only by :meth:`poll_config`.
        Watching ends with :meth:`stop`."""
        paths = self.settings.config
        if not paths:
            raise ValueError("watch_config() needs settings.config: the files to watch")
        if self._watcher is not None:
            raise RuntimeError("the config files are watched already")

        async def start(engine: Engine) -> Watcher:
            if interval is None:
                return watch(engine, paths, reporter=self.deployer.reporter, timer=_never)
            return watch(engine, paths, interval, reporter=self.deployer.reporter)

        self._watcher = self.call(start)

    def poll_config(self) -> bool:
        """Look at the watched files now; True when something was redeployed."""
        if self._watcher is None:
            raise RuntimeError("the config files are not watched; call watch_config() first")
        return self._submit(self._watcher.poll_async())

    def __repr__(self) -> str:
        where = self.endpoint if self.running else "stopped"
        return f"Emulator({where}, clock={self.settings.clock})"


async def _never(seconds: float) -> None:
    """A watcher timer that never fires: the files are looked at only when asked."""
    await asyncio.get_running_loop().create_future()


async def _take_failures(engine: Engine) -> list[ServerFailure]:
    return engine.take_failures()
