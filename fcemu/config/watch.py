"""``fcemu serve --watch``: redeploying the deployment files and code when they change.

A :class:`Watcher` runs on the emulator loop and polls every ``interval`` real
seconds (not on the emulator clock: a manual clock must not stop it). The wait
between polls is its ``timer`` (``asyncio.sleep`` unless one is handed in), and
:meth:`Watcher.poll` / :meth:`Watcher.poll_async` do one poll when called, so
tests drive it without waiting on real time.

A reload that worked is an INFO line on the ``fcemu.config.watch`` logger
(``fcemu serve --watch`` shows it); one that failed is an ERROR, and the previous
deployment stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from fcemu.code import code_files
from fcemu.config.deploy import deploy, deploy_async, function_exists
from fcemu.config.deployment import Deployment, Reporter
from fcemu.config.load import load, paths_of
from fcemu.config.marked import ConfigError

if TYPE_CHECKING:
    from fcemu.engine import Engine

__all__ = ["RELOAD_LOGGER", "Timer", "Watcher", "watch"]

log = logging.getLogger("fcemu.config")
#: The logger of the "reloaded" lines (INFO: news, not a warning).
RELOAD_LOGGER = "fcemu.config.watch"
reload_log = logging.getLogger(RELOAD_LOGGER)

#: Waits the given number of seconds (``asyncio.sleep``).
Timer = Callable[[float], Awaitable[object]]
_Stamp = tuple[tuple[str, int, int], ...]


def watch(engine: Engine, paths: Iterable[Path | str], interval: float = 1.0, *,
          reporter: Reporter | None = None, timer: Timer = asyncio.sleep) -> Watcher:
    """Start polling the files (and code) every ``interval`` seconds; call on the loop."""
    return Watcher(engine, paths_of(paths), interval, reporter=reporter, timer=timer)


class Watcher:
    """Polls the deployment files and code; redeploys what changed.

    The files are read and the code unpacked on worker threads. Changed functions
    get UpdateFunction (new code, new config) and PutAsyncInvokeConfig; new ones are
    created; task records are kept. Functions removed from the files stay deployed
    until a restart. A file with an error is reported and the previous deployment
    kept. ``reporter``: share the emulator's, so that warnings are not repeated.
    """

    def __init__(self, engine: Engine, paths: tuple[Path, ...], interval: float = 1.0, *,
                 reporter: Reporter | None = None, timer: Timer = asyncio.sleep) -> None:
        self.engine, self.paths, self.interval = engine, paths, interval
        self.reporter = reporter if reporter is not None else Reporter()
        self.timer = timer
        self.previous = load(paths, engine.settings, self.reporter)
        self.stamp = self._stamp(self.previous)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="fcemu-watch")

    async def _run(self) -> None:
        while True:
            await self.timer(self.interval)
            try:
                await self.poll_async()
            except Exception:  # the watcher must outlive any one bad reload
                log.exception("reloading %s failed", ", ".join(map(str, self.paths)))

    def poll(self) -> bool:
        """Redeploy if anything changed since the last poll; True when it did. Blocking:
        the files are read and the code unpacked on this thread."""
        deployment = self._reload()
        if deployment is None:
            return False
        self._done(deployment, deploy(self.engine, self._changes(deployment), strict=False))
        return True

    async def poll_async(self) -> bool:
        """:meth:`poll`, with the files read and the code unpacked on worker threads."""
        loop = asyncio.get_running_loop()
        deployment = await loop.run_in_executor(None, self._reload)
        if deployment is None:
            return False
        self._done(deployment, await deploy_async(self.engine, self._changes(deployment)))
        return True

    async def stop(self) -> None:
        """Stop polling."""
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    def _reload(self) -> Deployment | None:
        """The deployment files again, if they or the code changed since the last poll."""
        stamp = self._stamp(self.previous)
        if stamp == self.stamp:
            return None
        self.stamp = stamp
        try:
            return load(self.paths, self.engine.settings, self.reporter)
        except ConfigError as exc:
            log.error("not reloaded, the previous deployment stays: %s", exc)
            return None

    def _changes(self, deployment: Deployment) -> Deployment:
        """``deployment`` with only the functions that changed (or are gone from the engine)."""
        self.reporter.report_ignored(deployment)
        changed = {name: entry for name, entry in deployment.functions.items()
                   if not entry.same_as(self.previous.functions.get(name))
                   or not function_exists(self.engine, name)}
        return Deployment(deployment.files, changed, deployment.queues, deployment.topics)

    def _done(self, deployment: Deployment, deployed: list[str]) -> None:
        self.previous = deployment
        self.stamp = self._stamp(deployment)
        reload_log.info("reloaded %s: %s", ", ".join(map(str, self.paths)),
                        ", ".join(deployed) or "no function changed")

    def _stamp(self, deployment: Deployment) -> _Stamp:
        paths = list(self.paths) + [s.code_path for s in deployment.functions.values()
                                    if s.code_path is not None]
        stamp = []
        for path in paths:
            files = code_files(path) if path.is_dir() else [path]
            for file in files:
                try:
                    st = file.stat()
                except OSError:
                    stamp.append((str(file), -1, -1))
                else:
                    stamp.append((str(file), st.st_mtime_ns, st.st_size))
        return tuple(stamp)
