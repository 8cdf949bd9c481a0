"""Hook specifications of the fcemu pytest plugin (hookspecs only).

Implement any of them in a ``conftest.py`` or a plugin, by name, without a
decorator. pytest_fcemu calls them only on the test thread, never on the
emulator's loop thread, and always with keyword arguments; an implementation
may take any subset of the documented arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from fcemu import Emulator, Settings


@pytest.hookspec(firstresult=True)
def pytest_fcemu_settings(config: pytest.Config, settings: Settings) -> Settings | None:
    """Adjust the session's emulator settings before the first emulator starts.

    Called once per session (per xdist worker) by the ``fcemu_settings``
    fixture, after ``--fcemu-*`` options, ``FCEMU_*`` environment variables and
    ``fcemu_*`` ini keys were applied.

    :param config: the pytest config.
    :param settings: the settings built so far (a frozen :class:`fcemu.Settings`).
    :return: new settings (e.g. ``settings.replace(region="cn-shanghai")``), or
        None to leave them as they are. The first non-None result wins
        (``firstresult``): later implementations are not called.

    .. versionadded:: 0.1
    """


@pytest.hookspec
def pytest_fcemu_setup(emulator: Emulator, request: pytest.FixtureRequest) -> None:
    """Deploy what every test needs, after each reset.

    Called by the ``fcemu`` fixture once the emulator was reset and the test's
    ``fcemu`` marker applied, before the test runs. Every implementation is
    called.

    :param emulator: the test's :class:`fcemu.Emulator`, reset and ready; e.g.
        ``emulator.register_function(...)``, ``emulator.put_async_invoke_config(...)``.
    :param request: the ``fcemu`` fixture's request (``request.node`` is the test).

    .. versionadded:: 0.1
    """


@pytest.hookspec
def pytest_fcemu_task_finished(task: dict[str, Any], emulator: Emulator) -> None:
    """An async task reached a terminal status.

    Delivered on the test thread when ``settle()``, ``drain()`` or a clock move
    returns (and at the end of the test, which settles), in the order the tasks
    finished. Every implementation is called. When one raises, the other tasks of the
    same delivery are still delivered; the first error is raised after them.

    :param task: the task as GetAsyncTask answers it (camelCase ``AsyncTask``
        wire dict: ``taskId``, ``status``, ``events``, ``returnPayload``, ...) plus
        ``functionName``.
    :param emulator: the :class:`fcemu.Emulator` the task ran on.

    .. versionadded:: 0.1
    """


@pytest.hookspec(firstresult=True)
def pytest_fcemu_snapshot(name: str, emulator: Emulator) -> bool | None:
    """Build the state of snapshot ``name``, for tests marked
    ``@pytest.mark.fcemu(snapshot=name)``.

    Called once per emulator (per clock mode, per xdist worker) and per test settings the
    first time a test asks for ``name``, on the freshly reset emulator; the plugin then
    takes the snapshot and restores it before that test and every later one with the same
    settings that asks for it (a restore of 1000 tasks takes milliseconds). Build any
    state: functions, configs, tasks in any status (move the clock, ``drain()``), queues
    and messages.

    :param name: the snapshot the marker names.
    :param emulator: the :class:`fcemu.Emulator` to build it on.
    :return: True when this implementation built ``name``; None (or False) for a name it
        does not know. The first True wins (``firstresult``); none: the test errors.

    .. versionadded:: 0.2
    """
