"""The ``fcemu serve`` command: options → Settings → a running Emulator, until a signal.

:func:`settings_from` builds the :class:`~fcemu.settings.Settings` (defaults,
then what the ``--config`` files set, then the explicit options);
:class:`Service` starts an :class:`~fcemu.server.Emulator` from them, prints
the ready line (the first stdout line, with the URL) and what was deployed,
and starts ``--watch``; :func:`serve` runs one until SIGINT or SIGTERM, then says
``fcemu stopped`` (on stdout, like the ready line). The
CLI reaches the emulator only through the Emulator's public methods.
"""

from __future__ import annotations

import argparse
import errno
import logging
import signal
import socket
import sys
import threading
from typing import IO

from fcemu.cli.client import EXIT_API, EXIT_OK, EXIT_USAGE
from fcemu.clock import to_epoch_ms
from fcemu.runtime.contain import containment
from fcemu.settings import Settings

__all__ = ["WATCH_INTERVAL", "Service", "listen_hint", "serve", "serve_command",
           "settings_from"]

#: Real seconds between two looks at the ``--watch``-ed files.
WATCH_INTERVAL = 1.0

#: ``fcemu serve`` options that set a Settings field, and that field.
_SERVE_SETTINGS = {"host": "host", "port": "port", "clock": "clock", "region": "region",
                   "account_id": "account_id", "seed": "seed",
                   "destination_encoding": "destination_encoding",
                   "strict_destinations": "strict_destinations",
                   "retry_base_ms": "retry_base_ms", "max_instances": "max_instances",
                   "account_concurrency": "account_concurrency",
                   "instance_idle_seconds": "instance_idle_seconds", "node": "node",
                   "data_dir": "data_dir", "durability": "durability"}


def settings_from(args: argparse.Namespace) -> Settings:
    """Defaults, then what the --config files set, then the explicit options."""
    from fcemu.config import load_settings

    base = Settings()
    if args.config:
        base = load_settings(args.config, base).replace(config=tuple(args.config))
    changes = {field: getattr(args, option) for option, field in _SERVE_SETTINGS.items()
               if getattr(args, option) is not None}
    if args.access_keys is not None:
        changes["access_keys"] = tuple(args.access_keys)
    for option in ("allow_hosts", "allow_origins"):
        if getattr(args, option) is not None:
            changes[option] = tuple(getattr(args, option))
    if args.pass_env is not None:
        changes["pass_env"] = tuple(args.pass_env)
    if args.layers:
        changes["layer_map"] = (*base.layer_map, *args.layers)
    if args.start_time is not None:
        try:
            changes["start_ms"] = to_epoch_ms(args.start_time)
        except ValueError as exc:
            raise SystemExit(f"fcemu: --start-time: {exc}") from None
    return base.replace(**changes)


def serve_command(args: argparse.Namespace) -> int:
    """``fcemu serve``: check the options and the deployment files, then :func:`serve`.

    :raises fcemu.config.ConfigError: a deployment file is wrong (before the port is bound:
        the emulator deploys the files first, and warns about them once).
    """
    if args.watch and not args.config:
        print("fcemu: --watch needs --config FILE (what to watch)", file=sys.stderr)
        return EXIT_USAGE
    if args.durability is not None and args.data_dir is None:
        settings = settings_from(args)
        if settings.data_dir is None:  # (not set by a --config file either)
            print("fcemu: --durability needs --data-dir DIR (without one the state is in "
                  "memory only: nothing is written to disk)", file=sys.stderr)
            return EXIT_USAGE
    if args.watch and logging.getLogger().getEffectiveLevel() <= logging.WARNING:
        # each successful reload is an INFO line: shown unless --log-level hides warnings too
        logging.getLogger("fcemu.config.watch").setLevel(logging.INFO)
    if logging.getLogger().getEffectiveLevel() <= logging.WARNING:
        # which containment (sandbox) is in force is one INFO line at start-up (a fallback's,
        # saying what differs from FC, is a warning): shown unless --log-level hides warnings
        logging.getLogger("fcemu.runtime").setLevel(logging.INFO)
    return serve(settings_from(args), watch=args.watch)


class Service:
    """One ``fcemu serve``: an Emulator started from ``settings``, its deployment reported.

    :param watch: redeploy the ``config`` files and code when they change.
    :param watch_interval: real seconds between two looks at them; None looks only when
        ``emulator.poll_config()`` is called (tests).
    :param out: where the ready line and the deployment summary go (standard output).
    """

    def __init__(self, settings: Settings, *, watch: bool = False,
                 watch_interval: float | None = WATCH_INTERVAL,
                 out: IO[str] | None = None) -> None:
        from fcemu.server import Emulator

        self.settings = settings
        self.watch, self.watch_interval = watch, watch_interval
        self.out = out or sys.stdout
        self.emulator = Emulator(settings)

    def start(self) -> str:
        """Listen, then :meth:`announce`; returns the URL.

        :raises OSError: the address cannot be listened on.
        :raises fcemu.config.ConfigError: a deployment file is wrong.
        """
        self.emulator.start()
        return self.announce()

    def announce(self) -> str:
        """Print the ready line and what was deployed, and start watching; returns the URL."""
        url, s = self.emulator.endpoint, self.settings
        print(f"fcemu listening on {url} (clock={s.clock}, region={s.region}, "
              f"account={s.account_id})", file=self.out, flush=True)
        if s.config:
            print(self.deployed(), file=self.out, flush=True)
            if self.watch:
                self.emulator.watch_config(self.watch_interval)
        # say now which containment instances get (the probe runs a launcher: off this thread)
        threading.Thread(target=containment, name="fcemu containment probe", daemon=True).start()
        return url

    def deployed(self) -> str:
        """``deployed from FILES: functions ...; queues ...``."""
        files = ", ".join(str(p) for p in self.settings.config)
        functions = ", ".join(self.emulator.function_names()) or "none"
        queues = ", ".join(self.emulator.queue_names()) or "none"
        return f"deployed from {files}: functions {functions}; queues {queues}"

    def close(self) -> None:
        """Stop watching and serving (every handler instance goes)."""
        self.emulator.stop()

    def __enter__(self) -> Service:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve(settings: Settings, watch: bool = False) -> int:
    """Run an emulator until SIGINT/SIGTERM; the first stdout line gives its URL."""
    from fcemu.config import ConfigError
    from fcemu.store import StoreError
    from fcemu.store.lock import DirectoryInUse

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    service = Service(settings, watch=watch)
    try:
        service.emulator.start()
    except OSError as exc:
        print(f"fcemu: cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
              f"{listen_hint(exc)}", file=sys.stderr)
        return EXIT_API
    except DirectoryInUse as exc:  # as a port in use: another server holds it
        print(f"fcemu: {exc}", file=sys.stderr)
        return EXIT_API
    except (ConfigError, StoreError) as exc:
        print(f"fcemu: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        service.announce()
        while not stop.wait(0.5):
            pass
    finally:
        service.close()
    print("fcemu stopped", file=service.out, flush=True)  # after the ready line, on stdout
    return EXIT_OK


def listen_hint(error: OSError) -> str:
    """What to do when the address cannot be listened on (``; ...``), by the OS's reason."""
    errno_value = error.errno
    if errno_value == errno.EADDRINUSE:
        return ("; another program (another fcemu?) listens there: pick another port with "
                "--port N, or --port 0 for a free one (the ready line prints the URL)")
    if errno_value == errno.EACCES:
        return "; ports below 1024 need privileges: use --port 9000, or --port 0 for a free one"
    if errno_value == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
        return ("; --host must be an address of this machine (127.0.0.1 by default, "
                "0.0.0.0 for every interface)")
    return ""
