"""The ``fcemu`` argument parser: every command's options, their checks and the exit codes.

:func:`build_parser` builds the parser of ``fcemu`` and of each of its commands (their
pages' descriptions come from :mod:`fcemu.cli.help`); the ``_``-prefixed argparse types
check option values (several as :class:`fcemu.settings.Settings` does), so that a bad
value is a usage error (exit code 2) with argparse's message. :data:`EXIT_CODES` is the
exit-code table of every command, shown by ``fcemu --help``. Running the commands is
:mod:`fcemu.cli.main`'s part.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fcemu
from fcemu.cli.client import DEFAULT_ENDPOINT, parse_access_key, parse_endpoint
from fcemu.cli.help import DESCRIPTIONS

__all__ = ["EXIT_CODES", "build_parser"]

#: The exit codes of every command (``fcemu --help`` shows them).
EXIT_CODES = """\
exit codes:
  0    ok; serve: stopped by Ctrl-C or SIGTERM
  1    the command did not succeed: the emulator refused the request (an FC or SMQ
       error, e.g. an unknown function), a synchronous invoke's function failed,
       --wait ended before the task did, or a clock move met a real clock;
       serve: cannot listen (port in use, no such address), or another fcemu
       serves its --data-dir
  2    usage: bad arguments; serve and check: a bad deployment file; serve: a
       --data-dir it cannot read or write
  3    no emulator listening at --endpoint (the commands that talk to one)
  70   an fcemu bug: one line, and run with --debug for the traceback
  130  interrupted (Ctrl-C); a task being waited for goes on
  141  standard output closed early, as in `fcemu tasks --json | head`
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``fcemu`` parser: serve, the inspection commands, check and config-schema."""
    parser = argparse.ArgumentParser(
        prog="fcemu", description="Local emulator of Alibaba Cloud Function Compute 3.0 "
        "asynchronous invocation and async\ntasks, with SMQ (MNS) destinations. Start one "
        "with `fcemu serve`; the other commands\ntalk to it (`fcemu COMMAND --help` for a "
        "command's page).",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {fcemu.__version__}")
    _client_options(parser, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     help="one of:")
    _serve_parser(commands)
    _inspection_parsers(commands)
    check = commands.add_parser("check", help="validate deployment files without serving")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE",
                       help="an s.yaml or fcemu.yaml (several: later ones override earlier "
                            "ones, as with serve --config)")
    check.add_argument("--json", action="store_true", help="print the deployment as JSON")
    _layer_option(check)
    commands.add_parser("config-schema", help="print the JSON Schema of fcemu.yaml")
    _debug_option(parser, False)
    for name, subparser in commands.choices.items():
        _debug_option(subparser, argparse.SUPPRESS)
        subparser.description = DESCRIPTIONS[name]
    return parser


def _debug_option(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--debug", action="store_true", default=default,
                        help="show the Python traceback of an unexpected error")


def _serve_parser(commands: Any) -> None:
    # Settings options default to None so that only explicit ones override --config files.
    serve = commands.add_parser("serve", help="run the emulator until SIGINT/SIGTERM")
    serve.add_argument("--host", default=None, help="interface (default 127.0.0.1)")
    serve.add_argument("--port", type=_setting("port", int), default=None,
                       help="port (default 9000; 0 = free)")
    serve.add_argument("--clock", choices=("real", "manual"), default=None,
                       help="real wall time (default), or a manual clock moved through "
                            "/_fcemu/clock")
    serve.add_argument("--start-time", type=_start_time, default=None, metavar="TIME",
                       help="manual clock start: ISO 8601 or epoch ms (default 2024-05-01Z)")
    serve.add_argument("--region", type=_setting("region"), default=None,
                       help="region (default cn-hangzhou)")
    serve.add_argument("--account-id", type=_setting("accountId"), default=None,
                       help="account ID (default 1234567890123456)")
    serve.add_argument("--seed", type=int, default=None, help="seed for every generated ID")
    serve.add_argument("--destination-encoding", choices=("raw", "base64"), default=None,
                       help="SMQ destination message bodies: raw JSON (default) or Base64")
    serve.add_argument("--strict-destinations", action="store_true", default=None,
                       help="fail deliveries to queues/topics that do not exist")
    serve.add_argument("--retry-base-ms", type=_setting("retryBaseMs", int), default=None,
                       help="first async retry backoff in ms (default 500; doubles per retry)")
    serve.add_argument("--max-instances", type=_setting("maxInstances", int), default=None,
                       help="cap on concurrently running handler processes (default 16)")
    serve.add_argument("--account-concurrency", type=_whole(0), default=None, metavar="N",
                       help="the account's concurrency limit: executions at once over every "
                            "function; more are throttled as FC does (429 sync, async "
                            "retried; default: no limit)")
    serve.add_argument("--instance-idle-seconds", type=_seconds, default=None, metavar="N",
                       help="real seconds an idle instance stays warm before it is stopped "
                            "(default 300)")
    serve.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                       help="durable mode: commit every change to DIR/fcemu.db (SQLite) before "
                            "answering; a restart with the same DIR resumes (default: state "
                            "in memory only)")
    serve.add_argument("--durability", choices=("strict", "relaxed"), default=None,
                       help="with --data-dir: strict (default) syncs each commit to disk; "
                            "relaxed survives a killed process but not a power loss")
    serve.add_argument("--access-key", action="append", type=_access_key, default=None,
                       dest="access_keys", metavar="ID:SECRET",
                       help="verify mode: check FC (ACS3-HMAC-SHA256) and SMQ (MNS) request "
                            "signatures against this AccessKey pair (repeatable; default: "
                            "signatures are not checked)")
    serve.add_argument("--allow-host", action="append", type=_setting("allowHosts"),
                       default=None, dest="allow_hosts",
                       metavar="NAME",
                       help="also answer requests for this Host name (repeatable; '*' for any; "
                            "default: loopback names and addresses and --host only)")
    serve.add_argument("--allow-origin", action="append", type=_origin, default=None,
                       dest="allow_origins", metavar="ORIGIN",
                       help="answer web pages from this origin, e.g. http://localhost:3000, "
                            "with CORS headers (repeatable; '*' for any; default: none)")
    serve.add_argument("--pass-env", action="append", type=_variable_name, default=None,
                       dest="pass_env", metavar="NAME",
                       help="give handlers this variable of the server's environment too "
                            "(repeatable; by default they see only FC's variables, the "
                            "function's environmentVariables and PATH, HOME, LANG, TZ...)")
    serve.add_argument("--node", type=_setting("node"), default=None, metavar="PATH",
                       help="the Node.js interpreter of nodejs* functions (default: "
                            "$FCEMU_NODE, else node on PATH)")
    _layer_option(serve)
    serve.add_argument("--config", action="append", type=Path, default=[], metavar="FILE",
                       help="deploy an s.yaml or fcemu.yaml at start and after every reset "
                            "(repeatable; later files override earlier ones)")
    serve.add_argument("--watch", action="store_true",
                       help="redeploy --config files and code when they change")
    serve.add_argument("--log-level", default="WARNING", type=str.upper,
                       choices=("DEBUG", "INFO", "WARNING", "ERROR"), metavar="LEVEL",
                       help="what the emulator logs on stderr: DEBUG, INFO, WARNING "
                            "(default: problems and deployment warnings) or ERROR")


def _setting(key: str, convert: Callable[[str], Any] = str) -> Callable[[str], Any]:
    """An argparse type for the option of the fcemu.yaml setting ``key``: the text converted
    (``int``...), then checked by the file's own schema, so that a bad option is the usage
    error (exit 2) that a bad setting in the file is."""
    def parse(text: str) -> Any:
        from fcemu.config import ConfigError
        from fcemu.config.check import validate
        from fcemu.config.marked import Where
        from fcemu.config.schema import SCHEMA

        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        schema = SCHEMA["properties"]["settings"]["properties"][key]
        try:
            validate(value, schema.get("items", schema), Where(Path("-"), 0), "")
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None
        return value
    return parse


def _start_time(text: str) -> int:
    """``--start-time``: ISO 8601 or epoch milliseconds, as the ``start`` setting."""
    from fcemu.clock import to_epoch_ms

    try:
        return to_epoch_ms(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _layer_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--layer", action="append", type=_layer, default=None,
                        dest="layers", metavar="ARN=PATH",
                        help="a function's layer ARN is this local folder or .zip file (for "
                             "public, official or other accounts' layers, which fcemu cannot "
                             "download; repeatable; over the files' settings.layers)")


def _layer(text: str) -> tuple[str, Path]:
    """``--layer ARN=PATH`` → ``(ARN, PATH)``, checked as Settings.layer_map is."""
    from fcemu.settings import check_layer_map

    arn, sep, path = text.rpartition("=")
    if not sep or not arn or not path:
        raise argparse.ArgumentTypeError(f"expected ARN=PATH, got {text!r}")
    if not Path(path).exists():
        raise argparse.ArgumentTypeError(f"{path} does not exist (expected the layer's folder "
                                         "or .zip file)")
    try:
        return check_layer_map([(arn, path)])[0]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("layer_map: ")) from None


def _endpoint(text: str) -> str:
    """``--endpoint``: ``http[s]://HOST:PORT`` or ``HOST:PORT``, as a URL."""
    try:
        return parse_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _access_key(text: str) -> tuple[str, str]:
    """``--access-key ID:SECRET`` → ``(ID, SECRET)`` (the secret may contain ``:``)."""
    try:
        return parse_access_key(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _variable_name(text: str) -> str:
    """``--pass-env NAME``: an environment variable name, as Settings checks it."""
    from fcemu.settings import Settings

    try:
        return Settings(pass_env=(text,)).pass_env[0]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("pass_env: ")) from None


def _origin(text: str) -> str:
    """``--allow-origin ORIGIN``: ``scheme://host[:port]``, ``null`` or ``*``, as Settings
    normalizes it."""
    from fcemu.settings import Settings

    try:
        return Settings(allow_origins=(text,)).allow_origins[0]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("allow_origins: ")) from None


def _seconds(text: str) -> float:
    """A number of seconds, 0 or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 <= value < math.inf:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text!r}")
    return value


#: ``--qualifier``'s help.
QUALIFIER = "version or alias (default LATEST)"


def _whole(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number, ``minimum`` or more."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {text!r}")
        return value
    return parse


def _client_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--endpoint", type=_endpoint, default=default, metavar="URL",
                        help="emulator URL, http://HOST:PORT (or HOST:PORT; default "
                             f"$FCEMU_ENDPOINT or {DEFAULT_ENDPOINT})")
    parser.add_argument("--json", action="store_true", default=default,
                        help="print JSON instead of tables")
    parser.add_argument("--access-key", type=_access_key, default=default, metavar="ID:SECRET",
                        help="sign FC and SMQ requests with this AccessKey pair, for an "
                             "emulator in verify mode (default $FCEMU_ACCESS_KEY; unsigned "
                             "when neither is set)")


def _inspection_parsers(commands: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    _client_options(common, argparse.SUPPRESS)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=help_text,
                                                              parents=[common])
        return parser

    functions = add("functions", "list functions with their async invoke configs")
    functions.add_argument("--prefix", default=None,
                           help="only functions whose name starts with PREFIX")
    tasks = add("tasks", "list async tasks: a function's, or every function's")
    tasks.add_argument("function", nargs="?", default=None,
                       help="the function whose tasks to list (default: every function's, "
                            "with a FUNCTION column, task mode on or off)")
    tasks.add_argument("--status", default=None,
                       help="Enqueued, Processed, Running, Retrying, Stopping, Succeeded, "
                            "Failed, Stopped, Expired or Invalid")
    tasks.add_argument("--prefix", default=None, help="task ID prefix")
    tasks.add_argument("--limit", type=_whole(1), default=20, metavar="N",
                       help="at most N tasks, newest first (default 20; --all for every one)")
    tasks.add_argument("--all", action="store_true", help="every task, page after page")
    tasks.add_argument("--asc", action="store_true", help="oldest first")
    tasks.add_argument("--payload", action="store_true", help="include task payloads (JSON)")
    tasks.add_argument("--qualifier", default=None, help=QUALIFIER)
    for name, help_text in (("task", "show a task record and its event timeline"),
                            ("stop", "stop an async task (StopAsyncTask)")):
        parser = add(name, help_text)
        parser.add_argument("function", help="the function the task was submitted to")
        parser.add_argument("task_id", metavar="task-id",
                            help="the task ID (x-fc-async-task-id; `fcemu tasks` lists them)")
        parser.add_argument("--qualifier", default=None, help=QUALIFIER)
    invoke = add("invoke", "invoke a function, synchronously or with --async")
    invoke.add_argument("function", help="the function to invoke")
    invoke.add_argument("--async", dest="asynchronous", action="store_true",
                        help="asynchronous invocation (202 and a task)")
    invoke.add_argument("--payload", default=None,
                        help="event payload: text, @file or - for standard input")
    invoke.add_argument("--task-id", default=None, help="x-fc-async-task-id")
    invoke.add_argument("--delay", type=int, default=None, help="x-fc-async-delay, seconds")
    invoke.add_argument("--qualifier", default=None, help=QUALIFIER)
    invoke.add_argument("--wait", type=_seconds, nargs="?", const=600.0, default=None,
                        metavar="SECONDS",
                        help="with --async: follow the task to its end, for at most SECONDS "
                             "real seconds (default 600); on a manual clock, until the "
                             "emulator settles (a task waiting for the clock fails at once, "
                             "saying how to move it)")
    queue = add("queue", "show a queue's messages (peek), or --receive / --purge them")
    queue.add_argument("name", help="the queue's name")
    mode = queue.add_mutually_exclusive_group()
    mode.add_argument("--receive", action="store_true",
                      help="receive and delete visible messages (SMQ API)")
    mode.add_argument("--purge", action="store_true", help="delete every visible message")
    queue.add_argument("--count", type=int, default=16, help="--receive: at most N (1-16)")
    queue.add_argument("--wait", type=int, default=None, help="--receive: long poll seconds")
    add("queues", "list queues with message counts")
    clock = add("clock", "show the emulator clock, or move a manual one")
    clock.add_argument("action", nargs="?", choices=("advance", "set"),
                       help="advance: move a manual clock forward by VALUE; set: move it to "
                            "VALUE (default: show the clock)")
    clock.add_argument("value", nargs="?", help="advance: seconds (90, 1.5, 5m, 2h, 1d); "
                                                "set: ISO 8601 or epoch ms")
    add("settle", "wait until nothing is runnable at the current time")
    drain = add("drain", "manual clock: run every task to its end")
    drain.add_argument("--until", default=None, metavar="TIME",
                       help="first run everything due up to TIME (ISO 8601 or epoch ms), "
                            "periodic trigger fires included")
    triggers = add("triggers", "list triggers: each timer's next fire, each HTTP URL")
    triggers.add_argument("function", nargs="?", default=None,
                          help="only this function's triggers")
    add("reset", "all state gone (--config files are deployed again)")
    snapshot = add("snapshot", "save, restore, list or delete snapshots of the whole state")
    snapshot.add_argument("action", choices=("save", "restore", "list", "delete"),
                          help="save: snapshot now; restore: put one back; list; delete")
    snapshot.add_argument("name", nargs="?", default=None,
                          help="the snapshot's name (save: default snap-N)")
    snapshot.add_argument("--file", default=None, metavar="PATH",
                          help="save: also write the snapshot to PATH; restore: restore the "
                               "snapshot file at PATH")
