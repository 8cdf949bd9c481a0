"""The fcemu pytest plugin (``pytest11`` entry point): options, marker, fixtures, hook wiring.

Everything it hands out is fcemu's public Python API (:class:`fcemu.Emulator`);
this module only builds settings, picks the session's emulator and wires the
hooks of :mod:`pytest_fcemu.hooks`. One emulator per clock mode runs per
session (per xdist worker, on a free port unless ``--fcemu-port``), started on first use; the
``fcemu`` fixture resets it before each test, so a test pays a reset, not a
server start. A test whose marker asks for another clock mode gets that
mode's emulator (changing a running emulator's clock mode is not possible).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from fcemu.settings import Settings
from pytest_fcemu.options import OPTIONS, SERVER_FIELDS, configured, marker_options
from pytest_fcemu.sessions import Running, Servers

if TYPE_CHECKING:
    from fcemu import Emulator, EmulatorClock
    from fcemu.models import Function

#: Credentials the fixtures' clients sign with (fcemu accepts any unless verify mode is on).
ACCESS_KEY_ID = "AKIDFCEMULOCAL"
ACCESS_KEY_SECRET = "fcemu-local-secret"


def _credentials(emulator: Emulator) -> tuple[str, str]:
    """The first configured AccessKey pair in verify mode, else the local defaults."""
    keys = emulator.settings.access_keys
    return keys[0] if keys else (ACCESS_KEY_ID, ACCESS_KEY_SECRET)


#: sdk-notes §1.2: the FC SDK sends even 127.0.0.1 traffic through these; NO_PROXY is ignored.
PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy")
_SDK_HINT = "pip install fcemu[sdk]"
_MARKER = ("fcemu(clock=..., start=..., seed=..., config=..., expect_errors=False, "
           "snapshot=None, **settings): configure the test's emulator (not its host, port, "
           "data_dir, durability); snapshot='name' "
           "restores the state the pytest_fcemu_snapshot hook built once per settings "
           "(pytest_fcemu)")
_SERVERS = pytest.StashKey["Servers"]()
_RUNNING = pytest.StashKey["Running"]()
#: The marker's snapshots per emulator (by id()): (name, settings built with) -> snapshot ID.
_BUILT = pytest.StashKey[dict[int, dict[tuple[str, Settings], str]]]()


class FunctionFactory(Protocol):
    """The ``fcemu_function`` fixture's callable."""

    def __call__(self, name: str, handler: Callable[..., Any] | str | None = None, *,
                 code: str | os.PathLike[str] | None = None,
                 async_config: Mapping[str, Any] | None = None, on_success: str | None = None,
                 on_failure: str | None = None, **function_config: Any) -> Function: ...


@pytest.hookimpl
def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_fcemu import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fcemu", "fcemu: Function Compute emulator")
    for name, help_text in OPTIONS.items():
        flag = "--fcemu-" + name.replace("_", "-")
        if name == "config":
            group.addoption(flag, dest="fcemu_config", action="append", help=help_text)
            parser.addini("fcemu_config", help_text, type="paths")
        elif name == "pass_env":
            group.addoption(flag, dest="fcemu_pass_env", action="append", help=help_text)
            parser.addini("fcemu_pass_env", help_text, type="args")
        else:
            group.addoption(flag, dest=f"fcemu_{name}", help=help_text)
            parser.addini(f"fcemu_{name}", help_text)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER)
    config.stash[_SERVERS] = Servers(configured(config).get("port", 0))


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Safety net: no emulator outlives the session, whatever happened to the fixtures.
    servers = session.config.stash.get(_SERVERS, None)
    if servers is not None:
        servers.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    # Check for server-side errors in the call phase, so they fail the test itself.
    __tracebackhide__ = True
    running = item.stash.get(_RUNNING, None)
    try:
        yield
    except BaseException:
        if running is not None:
            running.finish(item, failed=True)
        raise
    if running is not None:
        running.finish(item, failed=False)


@pytest.fixture(scope="session")
def fcemu_settings(pytestconfig: pytest.Config) -> Settings:
    """The session's :class:`fcemu.Settings`: ``--fcemu-*`` options, then ``FCEMU_*``
    environment variables, then ``fcemu_*`` ini keys, then the ``settings`` of the
    deployment files they name, then the plugin's defaults (manual clock, seed 0), passed
    through the ``pytest_fcemu_settings`` hook. Loopback, on a free port unless
    ``--fcemu-port`` (``FCEMU_PORT``, ``fcemu_port``) names one.

    Override this fixture in a ``conftest.py`` to build them yourself: from this one
    (``def fcemu_settings(fcemu_settings): return fcemu_settings.replace(...)``) to keep
    the plugin's defaults, or from ``fcemu.Settings(...)``, whose defaults are a real
    clock and no seed. The port is the plugin's either way.
    """
    given = configured(pytestconfig)
    settings = Settings(port=0, clock="manual", seed=0).replace(**given)
    if settings.config:  # the files' own settings, under explicit options; never their port
        from fcemu.config import load_settings

        settings = load_settings(settings.config, settings).replace(
            **given, host=settings.host, port=given.get("port", 0))
    adjusted = pytestconfig.hook.pytest_fcemu_settings(config=pytestconfig, settings=settings)
    return adjusted if adjusted is not None else settings


@pytest.fixture(scope="session")
def fcemu_server(pytestconfig: pytest.Config, fcemu_settings: Settings) -> Iterator[Emulator]:
    """The session's running :class:`fcemu.Emulator` (one per xdist worker, on a free port).

    Prefer ``fcemu``, which resets it for each test; this one is not reset.
    """
    servers = pytestconfig.stash[_SERVERS]
    yield servers.get(fcemu_settings)
    servers.stop_all()


@pytest.fixture
def fcemu(request: pytest.FixtureRequest, fcemu_server: Emulator,
          fcemu_settings: Settings) -> Iterator[Emulator]:
    """The emulator for this test: reset, configured by the test's ``fcemu`` marker, set
    up by ``pytest_fcemu_setup`` hooks; a :class:`fcemu.Emulator`.

    After the test, it settles briefly and re-raises any server-side error with the
    server's traceback (:class:`fcemu.ServerSideError`), failing the test, unless the
    marker says ``expect_errors=True``.
    """
    options = marker_options(request)
    expect_errors = bool(options.pop("expect_errors", False))
    snapshot = options.pop("snapshot", None)
    wanted = fcemu_settings.replace(**options)
    emu = fcemu_server
    if wanted.clock != emu.settings.clock:
        emu = request.config.stash[_SERVERS].get(wanted)
    if not emu.running:
        emu.start()
    emu.reset(**{f.name: getattr(wanted, f.name) for f in fields(Settings)
                 if f.name not in SERVER_FIELDS})
    hook = request.config.hook
    built = request.config.stash.setdefault(_BUILT, {}).setdefault(id(emu), {})
    _forget_test_snapshots(emu, built)  # and those a test deleted: built again when asked for
    if snapshot is not None:
        _restore_snapshot(emu, str(snapshot), request, built)
    emu.set_following(True)

    def task_finished(task: dict[str, Any]) -> None:
        hook.pytest_fcemu_task_finished(task=task, emulator=emu)

    running = request.node.stash[_RUNNING] = Running(emu, expect_errors)
    emu.task_listeners.append(task_finished)
    try:
        hook.pytest_fcemu_setup(emulator=emu, request=request)
        yield emu
    finally:
        del request.node.stash[_RUNNING]
        try:
            running.finish(request.node, failed=False, teardown=True)
        finally:
            emu.task_listeners.remove(task_finished)


@pytest.fixture
def fcemu_clock(fcemu: Emulator) -> EmulatorClock:
    """The test emulator's clock: ``now()``, ``advance(seconds | timedelta)``,
    ``set(datetime | ISO 8601 | epoch ms)``."""
    return fcemu.clock


@pytest.fixture
def fc_client(fcemu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An official FC 3.0 SDK client (``alibabacloud_fc20230330.client.Client``) pointed at
    the test's emulator; sync and ``*_async`` methods both work. Proxy variables are unset
    for the test (the SDK would send loopback traffic to a proxy). Skips the test when the
    SDK is not installed."""
    try:
        from alibabacloud_fc20230330.client import Client  # type: ignore[import-untyped]
        from alibabacloud_tea_openapi.models import Config  # type: ignore[import-untyped]
    except ImportError:
        pytest.skip(f"fc_client needs the official FC SDK: {_SDK_HINT}")
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    key_id, secret = _credentials(fcemu)
    return Client(Config(access_key_id=key_id, access_key_secret=secret,
                         endpoint=fcemu.host_port, protocol="http", region_id=fcemu.region,
                         read_timeout=60_000))


@pytest.fixture
def mns_account(fcemu: Emulator) -> Iterator[Any]:
    """An ``mns.account.Account`` of the MNS SDK pointed at the test's emulator (SMQ
    queues and topics); its connection is closed at teardown. Skips the test when the SDK
    is not installed."""
    try:
        from mns.account import Account  # type: ignore[import-untyped]
    except ImportError:
        pytest.skip(f"mns_account needs the MNS SDK: {_SDK_HINT}")
    account = Account(fcemu.endpoint, *_credentials(fcemu))
    yield account
    account.get_client().close_connection()


@pytest.fixture
def fcemu_function(request: pytest.FixtureRequest, fcemu: Emulator) -> Iterator[FunctionFactory]:
    """Deploy functions tersely; each is deleted at teardown.

    ``fcemu_function(name, handler)`` deploys a Python callable ``handler(event, context)``
    in-process; ``fcemu_function(name, code="dir/or/file.zip")`` deploys handler code run in
    a worker process (a relative path is relative to the test file's directory); with
    ``code``, ``handler="main.entry"`` names its handler (default ``"index.handler"``).
    ``async_config={...}`` (PutAsyncInvokeConfig fields, camelCase or snake_case),
    ``on_success="queue"`` and ``on_failure="queue"`` set its async config in the same call;
    other keywords are CreateFunction fields (``timeout=1``, ``memory_size=256`` ...).
    Returns a copy of the deployed :class:`fcemu.models.Function`.
    """
    from fcemu.errors import FunctionNotFound

    deployed: list[str] = []

    def deploy(name: str, handler: Callable[..., Any] | str | None = None, *,
               code: str | os.PathLike[str] | None = None,
               async_config: Mapping[str, Any] | None = None, on_success: str | None = None,
               on_failure: str | None = None, **function_config: Any) -> Function:
        path = None if code is None else request.path.parent / code
        function = fcemu.register_function(name, handler, code=path, **function_config)
        deployed.append(name)
        if async_config is not None or on_success or on_failure:
            fcemu.put_async_invoke_config(name, on_success=on_success, on_failure=on_failure,
                                          **dict(async_config or {}))
        return function

    yield deploy
    for name in deployed if fcemu.running else ():
        try:
            for trigger in fcemu.list_triggers(name):  # DeleteFunction refuses while any
                fcemu.delete_trigger(name, trigger["triggerName"])
            fcemu.delete_function(name)
        except FunctionNotFound:
            pass  # the test deleted it itself


@pytest.fixture
def fcemu_mock(fcemu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """Mock mode for this test: FC and MNS SDK clients built for the real Alibaba Cloud
    endpoints are served by the test's emulator (see :mod:`pytest_fcemu.mock`). Yields
    the emulator. Skips the test when ``responses`` is not installed."""
    from pytest_fcemu.mock import mock_endpoints

    if importlib.util.find_spec("responses") is None:
        pytest.skip("fcemu_mock needs responses: pip install responses")
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with mock_endpoints(fcemu):
        yield fcemu


def _forget_test_snapshots(emu: Emulator, built: dict[tuple[str, Settings], str]) -> None:
    """Delete the snapshots a test took itself: only the marker's outlive a reset, so that
    no test depends on what an earlier one left; forget the marker's that a test deleted."""
    kept = set(built.values())
    there = {info.snapshot_id for info in emu.snapshots()}
    for snapshot_id in there - kept:
        emu.delete_snapshot(snapshot_id)
    for key in [key for key, snapshot_id in built.items() if snapshot_id not in there]:
        del built[key]


def _restore_snapshot(emu: Emulator, name: str, request: pytest.FixtureRequest,
                      built: dict[tuple[str, Settings], str]) -> None:
    """Restore snapshot ``name`` as built with the test's settings; the first time on this
    emulator with these settings, build it first: the ``pytest_fcemu_snapshot`` hook that
    answers True builds it on the reset emulator. The first build is kept under ``name``,
    one with other settings under ``name.2``, ``name.3`` ..."""
    key = (name, emu.settings)
    snapshot_id = built.get(key)
    if snapshot_id is None:
        if not request.config.hook.pytest_fcemu_snapshot(name=name, emulator=emu):
            raise pytest.UsageError(
                f"@pytest.mark.fcemu(snapshot={name!r}): no pytest_fcemu_snapshot hook "
                f"builds it; define one in a conftest.py that builds the state when name "
                f"== {name!r} and returns True")
        taken, n = set(built.values()), 1
        snapshot_id = name
        while snapshot_id in taken:
            n += 1
            snapshot_id = f"{name}.{n}"
        built[key] = emu.snapshot(snapshot_id)
    emu.restore(snapshot_id)
