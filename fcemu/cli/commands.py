"""The inspection commands of the ``fcemu`` CLI, each a request or two to a running emulator.

Each ``run_<command>`` function takes a :class:`~fcemu.cli.client.Client`, the
parsed arguments and an :class:`~fcemu.cli.format.Output`, prints a
human-readable view (or JSON with ``--json``) and returns an exit code;
:func:`run` picks the endpoint and the access key, and turns a
:class:`~fcemu.cli.client.CliError` into its one-line message and exit code
(with a hint when verify mode refused the request).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from fcemu.cli import format as fmt
from fcemu.cli.client import (
    DEFAULT_ENDPOINT,
    EXIT_API,
    EXIT_OK,
    EXIT_USAGE,
    FC,
    ApiError,
    Client,
    CliError,
    Interrupted,
    UsageError,
    parse_access_key,
    parse_endpoint,
    quote,
)
from fcemu.cli.snapshots import run_snapshot
from fcemu.cli.triggers import run_triggers

__all__ = ["COMMANDS", "TERMINAL", "get_task", "run", "task_mode_off", "wait_for_task"]

#: The statuses a task ends in.
TERMINAL = frozenset({"Succeeded", "Failed", "Stopped", "Expired", "Invalid"})
#: What verify mode answers to a missing or wrong signature (FC and SMQ codes).
AUTH_ERRORS = frozenset({"MissingRequiredHeader", "SignatureNotMatch", "InvalidAccessKeyID",
                         "AccessDenied", "MissingAuthorizationHeader",
                         "InvalidAuthorizationHeader", "MissingDateHeader",
                         "SignatureDoesNotMatch", "InvalidAccessKeyId"})
#: What verify mode answers to a request date too far from the emulator machine's clock.
DATE_ERRORS = frozenset({"InvalidTimeStamp.Expired", "InvalidTimeStamp.Format", "TimeExpired",
                         "InvalidDateHeader"})


def run_functions(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    functions = client.pages("/functions", "functions", "ListFunctions",
                             {"prefix": args.prefix})
    configs = {c.get("functionArn", ""): c
               for c in client.pages("/async-invoke-configs", "configs",
                                     "ListAsyncInvokeConfigs")}
    for function in functions:
        function["asyncConfig"] = configs.get(function.get("functionArn", ""))
        name = quote(function.get("functionName", ""))
        function["versions"] = client.pages(f"/functions/{name}/versions", "versions",
                                            "ListFunctionVersions", {"direction": "FORWARD"})
        function["aliases"] = client.pages(f"/functions/{name}/aliases", "aliases",
                                           "ListAliases")
    out.emit({"functions": functions}, lambda: fmt.functions_table(functions))
    return EXIT_OK


def run_tasks(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    query = {"status": args.status, "prefix": args.prefix, "qualifier": args.qualifier,
             "sortOrderByTime": "asc" if args.asc else None,
             "includePayload": "true" if args.payload else None}
    limit = None if args.all else args.limit
    if args.function is None:  # every function's tasks, through the control API
        if args.qualifier is not None:
            raise UsageError("--qualifier needs a FUNCTION: fcemu tasks FUNCTION --qualifier Q")
        tasks = client.pages("/tasks", "tasks", "FcemuControl", query, limit, control=True)
    else:
        try:
            tasks = client.pages(f"/functions/{quote(args.function)}/async-tasks", "tasks",
                                 "ListAsyncTasks", query, limit)
        except ApiError as exc:
            if not task_mode_off(exc):
                raise
            tasks = _tasks_without_task_mode(client, args.function, query, limit)
    out.emit({"tasks": tasks}, lambda: fmt.tasks_table(tasks, args.function))
    return EXIT_OK


def task_mode_off(exc: ApiError) -> bool:
    """The FC task APIs refused: the function (qualifier) has no ``asyncTask: true``."""
    return exc.code == "InvalidArgument" and "async task mode is off" in exc.message


def _tasks_without_task_mode(client: Client, function: str, query: dict[str, Any],
                             limit: int | None) -> list[dict[str, Any]]:
    """A function's tasks through the control API, which keeps them with task mode off too
    (as ``fcemu tasks`` lists them): every qualifier's, or ``query``'s qualifier's."""
    qualifier = query.get("qualifier")
    wanted = {**query, "qualifier": None, "function": function}
    tasks = client.pages("/tasks", "tasks", "FcemuControl", wanted,
                         None if qualifier else limit, control=True)
    if qualifier:
        tasks = [t for t in tasks if t.get("qualifier") == qualifier][:limit]
    return tasks


def get_task(client: Client, function: str, task_id: str,
             qualifier: str | None = None) -> dict[str, Any]:
    """GetAsyncTask; for a function without task mode, the task's record through the control
    API (which keeps every task, and adds its attempts)."""
    path = f"/functions/{quote(function)}/async-tasks/{quote(task_id)}"
    try:
        task: dict[str, Any] = client.fc("GET", path, "GetAsyncTask",
                                         query={"qualifier": qualifier})
    except ApiError as exc:
        if not task_mode_off(exc):
            raise
        task = client.control("GET", path)
    return task


def run_task(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    task = get_task(client, args.function, args.task_id, args.qualifier)
    out.emit(task, lambda: fmt.task_view(task, args.function))
    return EXIT_OK


def run_stop(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    path = f"/functions/{quote(args.function)}/async-tasks/{quote(args.task_id)}"
    client.request("PUT", f"{FC}{path}/stop", query={"qualifier": args.qualifier},
                   action="StopAsyncTask")
    task = client.fc("GET", path, "GetAsyncTask", query={"qualifier": args.qualifier})
    out.emit(task, f"stop requested: task {args.task_id} is {task.get('status')}")
    return EXIT_OK


def run_invoke(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    if args.wait is not None and not args.asynchronous:
        raise UsageError("--wait follows an async task: add --async")
    headers = {"x-fc-invocation-type": "Async" if args.asynchronous else "Sync",
               "content-type": "application/octet-stream"}
    if args.task_id:
        headers["x-fc-async-task-id"] = args.task_id
    if args.delay is not None:
        headers["x-fc-async-delay"] = str(args.delay)
    path = f"{FC}/functions/{quote(args.function)}/invocations"
    with fmt.progress(out, f"invoking {args.function}"):
        answer = client.request("POST", path, body=_payload(args.payload), headers=headers,
                                query={"qualifier": args.qualifier}, action="InvokeFunction")
    request_id = answer.headers.get("x-fc-request-id", "")
    if args.asynchronous:
        task_id = answer.headers.get("x-fc-async-task-id", "")
        doc = {"status": answer.status, "requestId": request_id, "taskId": task_id}
        if args.wait is not None:
            try:
                doc["task"] = wait_for_task(client, args.function, task_id, args.wait, out,
                                            args.qualifier)
            except KeyboardInterrupt:
                raise Interrupted(f"task {task_id} goes on: `fcemu task {args.function} "
                                  f"{task_id}` shows it") from None
            except CliError:  # accepted all the same: say so, with the task's ID
                out.emit(doc, lambda: fmt.accepted(doc))
                raise
        out.emit(doc, lambda: fmt.accepted(doc))
        return EXIT_OK
    error_type = answer.headers.get("x-fc-error-type", "")
    text = answer.body.decode("utf-8", "replace")
    out.emit({"status": answer.status, "requestId": request_id, "errorType": error_type,
              "body": text}, text)
    if error_type:
        out.note(f"fcemu: function error {error_type} (request {request_id})")
        return EXIT_API
    return EXIT_OK


def _payload(value: str | None) -> bytes:
    """``--payload``: text, ``@file`` (its bytes) or ``-`` (standard input)."""
    if value is None:
        return b""
    if value == "-":
        return sys.stdin.buffer.read()
    if value.startswith("@"):
        try:
            with open(value[1:], "rb") as file:
                return file.read()
        except OSError as exc:
            raise UsageError(f"--payload {value}: {exc.strerror}") from None
    return value.encode()


def wait_for_task(client: Client, function: str, task_id: str, timeout: float,
                  out: fmt.Output, qualifier: str | None = None) -> dict[str, Any]:
    """Follow a task to its end, noting its status changes on stderr.

    On a real clock: poll GetAsyncTask until the task ends, for at most ``timeout`` real
    seconds. A manual clock moves only when told, so a task waiting for it (a delay, a
    retry's backoff) would never end: wait until the emulator settles at the current time
    (at most ``timeout`` seconds), then fail at once, saying how to move the clock, unless
    the task has ended. A :class:`CliError` (exit 1) when it has not ended. A function
    without task mode has its tasks read through the control API (:func:`get_task`).
    """
    def read() -> dict[str, Any]:
        return get_task(client, function, task_id, qualifier)

    if client.control("GET", "/clock").get("mode") == "manual":
        return _settle_for(client, read, function, task_id, timeout, out)
    deadline, seen = time.monotonic() + timeout, ""
    while True:
        task = read()
        status = task.get("status", "")
        if status != seen:
            out.note(f"task {task_id}: {status}")
            seen = status
        if status in TERMINAL:
            return task
        if time.monotonic() > deadline:
            raise CliError(f"task {task_id} still {status} after {timeout:g}s; follow it with "
                           f"`fcemu task {function} {task_id}`")
        time.sleep(0.2)  # the CLI polls a server it does not control


def _settle_for(client: Client, read: Callable[[], dict[str, Any]], function: str,
                task_id: str, timeout: float, out: fmt.Output) -> dict[str, Any]:
    """``--wait`` on a manual clock: settle, then the task has ended or waits for the clock."""
    settled = True
    try:
        client.control("POST", "/settle", {"timeout": timeout})
    except ApiError as exc:
        if exc.code != "SettleTimeout":
            raise
        settled = False
    task = read()
    status = task.get("status", "")
    out.note(f"task {task_id}: {status}")
    if status in TERMINAL:
        return task
    if not settled:
        raise CliError(f"task {task_id} still {status} after {timeout:g}s; follow it with "
                       f"`fcemu task {function} {task_id}`")
    raise CliError(f"task {task_id} is {status}, waiting for the emulator's manual clock, "
                   "which moves only when told: run `fcemu clock advance 1m` (or `fcemu "
                   f"drain`), then `fcemu task {function} {task_id}`")


def run_queue(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    if args.purge:
        purged = 0
        while batch := client.receive(args.name, 16):
            for message in batch:
                client.delete_message(args.name, message["ReceiptHandle"])
            purged += len(batch)
        left = client.control("GET", f"/queues/{quote(args.name)}/messages")["messages"]
        doc = {"queue": args.name, "purged": purged, "remaining": len(left)}
        out.emit(doc, fmt.purged(doc))
        return EXIT_OK
    if args.receive:
        if not 1 <= args.count <= 16:
            raise UsageError(f"--count must be between 1 and 16, got {args.count}")
        received = client.receive(args.name, args.count, args.wait)
        for message in received:
            client.delete_message(args.name, message["ReceiptHandle"])
        messages = [fmt.from_mns(m) for m in received]
        verb = "received and deleted"
    else:
        messages = client.control("GET", f"/queues/{quote(args.name)}/messages")["messages"]
        verb = "peeked"
    for message in messages:
        message["bodyJson"] = fmt.parse_body(message.get("body", ""))
    out.emit({"queue": args.name, "messages": messages},
             lambda: fmt.messages_view(args.name, messages, verb))
    return EXIT_OK


def run_queues(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    queues = client.control("GET", "/queues")["queues"]
    out.emit({"queues": queues}, lambda: fmt.table(
        ["QUEUE", "MESSAGES"], [[q["name"], str(q["messageCount"])] for q in queues]))
    return EXIT_OK


def _manual_clock(client: Client, command: str) -> None:
    """Moving time needs a manual clock: say how to start one, before asking the emulator
    (its own message speaks to Python API users)."""
    if client.control("GET", "/clock").get("mode") != "manual":
        raise CliError(f"the emulator runs on a real clock (wall time), which `fcemu {command}` "
                       "cannot move: start it with `fcemu serve --clock manual` to move time "
                       "by hand")


def run_clock(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    if args.action == "advance":
        if args.value is None:
            raise UsageError("usage: fcemu clock advance SECONDS (e.g. 90, 1.5, 5m, 2h, 1d)")
        seconds = fmt.parse_duration(args.value)
        _manual_clock(client, "clock advance")
        with fmt.progress(out, f"advancing the clock {args.value}"):
            doc = client.control("POST", "/clock/advance", {"seconds": seconds})
    elif args.action == "set":
        if args.value is None:
            raise UsageError("usage: fcemu clock set TIME (ISO 8601 or epoch milliseconds)")
        now: Any = int(args.value) if args.value.isdigit() else args.value
        _manual_clock(client, "clock set")
        with fmt.progress(out, f"setting the clock to {args.value}"):
            doc = client.control("POST", "/clock/set", {"now": now})
    else:
        doc = client.control("GET", "/clock")
    out.emit(doc, fmt.clock_line(doc))
    return EXIT_OK


def run_settle(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    verb = "drain" if args.command == "drain" else "settle"
    if verb == "drain":
        _manual_clock(client, "drain")
    until = getattr(args, "until", None)
    with fmt.progress(out, "waiting for the emulator to " + verb):
        doc = client.control("POST", "/" + verb, {"until": until} if until else None)
    out.emit(doc, f"{'drained' if verb == 'drain' else 'settled'} at {fmt.iso(doc.get('now'))}")
    return EXIT_OK


def run_reset(client: Client, args: argparse.Namespace, out: fmt.Output) -> int:
    doc = client.control("POST", "/reset")
    out.emit(doc, "reset: " + fmt.clock_line(doc))
    return EXIT_OK


COMMANDS: dict[str, Callable[[Client, argparse.Namespace, fmt.Output], int]] = {
    "functions": run_functions, "tasks": run_tasks, "task": run_task, "stop": run_stop,
    "invoke": run_invoke, "queue": run_queue, "queues": run_queues, "clock": run_clock,
    "settle": run_settle, "drain": run_settle, "reset": run_reset, "triggers": run_triggers,
    "snapshot": run_snapshot,
}



def run(args: argparse.Namespace, out: fmt.Output | None = None) -> int:
    """Run one inspection command against ``--endpoint`` / ``FCEMU_ENDPOINT``, signing its
    FC, control and SMQ requests with ``--access-key`` / ``FCEMU_ACCESS_KEY`` when given."""
    out = out or fmt.Output(bool(getattr(args, "json", False)))
    endpoint = getattr(args, "endpoint", None) or DEFAULT_ENDPOINT
    if getattr(args, "endpoint", None) is None and os.environ.get("FCEMU_ENDPOINT"):
        try:
            endpoint = parse_endpoint(os.environ["FCEMU_ENDPOINT"])
        except ValueError as exc:
            out.note(f"fcemu: FCEMU_ENDPOINT: {exc}")
            return EXIT_USAGE
    access_key: tuple[str, str] | None = getattr(args, "access_key", None)
    if access_key is None and os.environ.get("FCEMU_ACCESS_KEY"):
        try:
            access_key = parse_access_key(os.environ["FCEMU_ACCESS_KEY"])
        except ValueError as exc:
            out.note(f"fcemu: FCEMU_ACCESS_KEY: {exc}")
            return EXIT_USAGE
    try:
        return COMMANDS[args.command](Client(endpoint, access_key=access_key), args, out)
    except ApiError as exc:
        out.note(f"fcemu: {exc}")
        if exc.code in AUTH_ERRORS:
            out.note("fcemu: the emulator checks request signatures (verify mode): " + (
                "check that --access-key / FCEMU_ACCESS_KEY is one of its AccessKey pairs"
                if access_key else "pass --access-key ID:SECRET (or set FCEMU_ACCESS_KEY) "
                "with one of the pairs given to `fcemu serve --access-key`"))
        elif exc.code in DATE_ERRORS:
            out.note("fcemu: the emulator checks request dates (verify mode): this machine's "
                     "clock and the emulator machine's clock differ by more than 15 minutes")
        return exc.exit_code
    except CliError as exc:
        out.note(f"fcemu: {exc}")
        return exc.exit_code
    except ValueError as exc:  # a bad argument value found late (durations)
        out.note(f"fcemu: {exc}")
        return EXIT_USAGE
