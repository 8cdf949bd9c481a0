"""The ``fcemu`` command: parse its arguments, run the command, and guard them all.

:func:`main` parses with :func:`fcemu.cli.parser.build_parser` and dispatches:
``fcemu serve`` runs an emulator (:mod:`fcemu.cli.serve`); ``fcemu check`` and
``fcemu config-schema`` read deployment files without serving (here); the other commands
talk to a running emulator over HTTP (:mod:`fcemu.cli.commands`,
:mod:`fcemu.cli.client`). :func:`main` guards them all: no traceback for what a user does,
and the exit codes of :data:`~fcemu.cli.parser.EXIT_CODES` (re-exported here, with
:func:`~fcemu.cli.parser.build_parser`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from fcemu.cli.client import (
    EXIT_BUG,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_USAGE,
)
from fcemu.cli.parser import EXIT_CODES, build_parser

__all__ = ["EXIT_CODES", "build_parser", "check", "main"]


def check(files: list[Path], as_json: bool,
          layers: Sequence[tuple[str, Path]] = ()) -> int:
    """``fcemu check``: load deployment files as ``serve`` would, without serving."""
    from fcemu.config import Reporter, load, load_settings
    from fcemu.settings import Settings

    settings = load_settings(files, Settings())
    if layers:
        settings = settings.replace(layer_map=(*settings.layer_map, *layers))
    reporter = Reporter()
    deployment = load(files, settings, reporter)
    reporter.report_ignored(deployment)
    if as_json:
        doc = {"settings": deployment.settings, "queues": deployment.queues,
               "topics": {n: {"attributes": a, "subscriptions": s}
                          for n, (a, s) in deployment.topics.items()},
               "functions": {n: {"function": {**f.doc, "code": {"zipFile": "..."}},
                                 "asyncInvokeConfig": f.async_config,
                                 "reservedConcurrency": f.reserved_concurrency,
                                 "triggers": f.triggers}
                             for n, f in deployment.functions.items()}}
        print(json.dumps(doc, indent=2))
    else:
        names = ", ".join(deployment.functions) or "none"
        triggers = ", ".join(f"{n}/{t['triggerName']} ({t['triggerType']})"
                             for n, f in deployment.functions.items() for t in f.triggers)
        print(f"ok: functions {names}; queues {', '.join(deployment.queues) or 'none'}"
              + (f"; triggers {triggers}" if triggers else ""))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The ``fcemu`` command; returns its exit code. Never a traceback for what a user does:
    Ctrl-C ends with a line and 130, a closed standard output (``| head``) quietly with 141,
    an unexpected error with one line and 70 (``--debug`` shows its traceback)."""
    args = build_parser().parse_args(argv)
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at interpreter exit
        return code
    except KeyboardInterrupt as exc:
        _note("fcemu: interrupted" + (f"; {exc}" if str(exc) else ""))
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_PIPE
    except Exception as exc:  # a bug: one line, and the traceback only on request
        if getattr(args, "debug", False):
            raise
        _note(f"fcemu: unexpected error: {type(exc).__name__}: {exc} (run with --debug for "
              "the traceback, and please report it)")
        return EXIT_BUG


def _dispatch(args: argparse.Namespace) -> int:
    if args.command not in ("serve", "check", "config-schema"):
        from fcemu.cli.commands import run

        return run(args)
    from fcemu.config import SCHEMA, ConfigError

    logging.basicConfig(level=getattr(args, "log_level", "WARNING").upper(),
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "serve":
            from fcemu.cli.serve import serve_command

            return serve_command(args)
        if args.command == "check":
            return check(args.files, args.json, args.layers or ())
    except ConfigError as exc:
        print(f"fcemu: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(SCHEMA, indent=2))  # config-schema
    return EXIT_OK


def _note(text: str) -> None:
    """A line on stderr, if stderr is still there."""
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass


def _silence_stdout() -> None:
    """After a reader closed standard output: point it at /dev/null, so that the interpreter's
    last flush does not fail again (the recipe of the ``signal`` module's documentation)."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (captured in tests)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
