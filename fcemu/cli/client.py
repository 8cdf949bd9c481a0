"""The inspection commands of the ``fcemu`` CLI: an HTTP client of a running emulator.

Everything goes over the emulator's public HTTP APIs, with the standard
library only: the FC API under ``/2023-03-30`` (plain JSON), the control API
under ``/_fcemu`` and the SMQ (MNS) API for ``fcemu queue --receive/--purge``.
With ``--access-key ID:SECRET`` (or ``FCEMU_ACCESS_KEY``) FC and control API
requests are signed with ACS3-HMAC-SHA256 and SMQ requests with the MNS
signature (:mod:`fcemu.signing`), as an emulator in verify mode requires
(each signature with a fresh date and nonce). Each ``run_<command>`` function takes
the parsed arguments, prints a human-readable view (or JSON with
``--json``), and returns an exit code; :mod:`fcemu.console_format` draws the
tables.

Exit codes: 0 ok; 1 the emulator answered with an error (an FC or SMQ error,
or a function error on a synchronous invoke); 2 usage (bad arguments or
deployment files); 3 no emulator listening at the endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any
from xml.etree import ElementTree

from fcemu import console_format as fmt
from fcemu import signing

__all__ = [
    "COMMANDS",
    "DEFAULT_ENDPOINT",
    "EXIT_API",
    "EXIT_NO_EMULATOR",
    "EXIT_OK",
    "EXIT_USAGE",
    "ApiError",
    "CliError",
    "Client",
    "UsageError",
    "parse_access_key",
    "run",
]

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_NO_EMULATOR = 0, 1, 2, 3
DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
FC = "/2023-03-30"
TERMINAL = frozenset({"Succeeded", "Failed", "Stopped", "Expired", "Invalid"})
#: Real seconds a single request may take: clock moves run handlers in real time.
REQUEST_TIMEOUT = 900.0
#: What verify mode answers to a missing or wrong signature (FC and SMQ codes).
_AUTH_ERRORS = frozenset({"MissingRequiredHeader", "SignatureNotMatch", "InvalidAccessKeyID",
                          "AccessDenied", "MissingAuthorizationHeader",
                          "InvalidAuthorizationHeader", "MissingDateHeader",
                          "SignatureDoesNotMatch", "InvalidAccessKeyId"})
#: What verify mode answers to a request date too far from the emulator machine's clock.
_DATE_ERRORS = frozenset({"InvalidTimeStamp.Expired", "InvalidTimeStamp.Format", "TimeExpired",
                          "InvalidDateHeader"})


class CliError(Exception):
    """A failure the CLI reports in one line, with its exit code."""

    exit_code = EXIT_API


class ApiError(CliError):
    """The emulator answered with an FC or SMQ error."""

    def __init__(self, status: int, code: str, message: str, request_id: str = "") -> None:
        self.status, self.code, self.message, self.request_id = status, code, message, request_id
        super().__init__(f"{code} ({status}): {message}")


class UsageError(CliError):
    """A command line that cannot be run as given."""

    exit_code = EXIT_USAGE


class NoEmulator(CliError):
    """Nothing answers at the endpoint."""

    exit_code = EXIT_NO_EMULATOR


@dataclass(frozen=True)
class Response:
    """An HTTP answer: status, headers with lower-case names, body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body.strip() else {}


class Client:
    """Talks to one emulator. Proxies are bypassed: an emulator is a local service.

    :param endpoint: ``http://host:port`` of ``fcemu serve``.
    :param access_key: ``(AccessKeyId, AccessKeySecret)`` to sign FC and SMQ requests with
        (an emulator in verify mode checks them); None sends them unsigned.
    """

    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, timeout: float = REQUEST_TIMEOUT,
                 access_key: tuple[str, str] | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self.access_key = access_key
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None,
                body: bytes | None = None, json_body: Any = None,
                headers: dict[str, str] | None = None, action: str = "") -> Response:
        """One request; an error status raises :class:`ApiError`, no listener
        :class:`NoEmulator`. ``action`` names the FC operation (``x-acs-action``)."""
        target = path
        if query:
            target += "?" + urllib.parse.urlencode({k: v for k, v in query.items()
                                                    if v is not None})
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("content-type", "application/json")
        if body is None and method in ("POST", "PUT"):
            body = b""
        headers = self._sign(method, target, headers, body, action)
        request = urllib.request.Request(self.endpoint + target, data=body, headers=headers,
                                         method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                return Response(answer.status, _lower(answer.headers), answer.read())
        except urllib.error.HTTPError as exc:
            raise _api_error(exc.code, _lower(exc.headers), exc.read()) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise NoEmulator(f"no emulator is listening at {self.endpoint} ({reason}); start "
                             "one with `fcemu serve`, or point --endpoint / FCEMU_ENDPOINT at "
                             "it") from None

    def _sign(self, method: str, target: str, headers: dict[str, str], body: bytes | None,
              action: str) -> dict[str, str]:
        """With an access key: the headers of a signed FC, control or SMQ request (else as
        given)."""
        if self.access_key is None:
            return headers
        key_id, secret = self.access_key
        if target.startswith(("/queues", "/topics")):
            if body is not None:
                headers.setdefault("content-type", "text/xml;charset=UTF-8")
            return signing.sign_mns(method, target, headers, body or b"", key_id, secret)
        # the FC API and the control API (/_fcemu): ACS3, as verify mode checks both
        if body is not None:  # else urllib adds its own, unsigned, content-type
            headers.setdefault("content-type", "application/octet-stream")
        return signing.sign_acs3(method, target, headers, body or b"", key_id, secret,
                                 host=urllib.parse.urlsplit(self.endpoint).netloc,
                                 action=action or "Unknown")

    def fc(self, method: str, path: str, action: str, **kwargs: Any) -> Any:
        """An FC API call answering JSON; ``action`` is the operation's name."""
        return self.request(method, FC + path, action=action, **kwargs).json()

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """A control API call (``/_fcemu``), signed as ``x-acs-action: FcemuControl``."""
        return self.request(method, "/_fcemu" + path, json_body=body,
                            action="FcemuControl").json()

    def pages(self, path: str, key: str, action: str, query: dict[str, Any] | None = None,
              limit: int | None = None) -> list[dict[str, Any]]:
        """Every item of a paginated FC List operation (or the first ``limit``)."""
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            page = self.fc("GET", path, action, query={**(query or {}), "limit": 100,
                                                       "nextToken": token or None})
            items += page.get(key) or []
            token = page.get("nextToken") or ""
            if not token or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items

    def receive(self, queue: str, count: int, wait: int | None = None) -> list[dict[str, str]]:
        """BatchReceiveMessage; an empty list when nothing is visible."""
        try:
            answer = self.request("GET", f"/queues/{_q(queue)}/messages", headers=_MNS,
                                  query={"numOfMessages": count, "waitseconds": wait})
        except ApiError as exc:
            if exc.code == "MessageNotExist":
                return []
            raise
        root = ElementTree.fromstring(answer.body)
        return [{_local(e.tag): e.text or "" for e in m} for m in root.iter()
                if _local(m.tag) == "Message"]

    def delete_message(self, queue: str, receipt_handle: str) -> None:
        self.request("DELETE", f"/queues/{_q(queue)}/messages",
                     query={"ReceiptHandle": receipt_handle}, headers=_MNS)


_MNS = {"x-mns-version": "2015-06-06"}


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()} if headers else {}


def _api_error(status: int, headers: dict[str, str], body: bytes) -> ApiError:
    """An FC error JSON or an MNS error XML as an ApiError."""
    try:
        doc = json.loads(body)
        return ApiError(status, doc.get("Code", "Error"), doc.get("Message", ""),
                        doc.get("RequestId", ""))
    except (ValueError, AttributeError):
        pass
    try:
        root = ElementTree.fromstring(body)
        fields = {_local(e.tag): e.text or "" for e in root}
        return ApiError(status, fields.get("Code", "Error"), fields.get("Message", ""),
                        fields.get("RequestId", ""))
    except ElementTree.ParseError:
        return ApiError(status, "HTTPError", body.decode("utf-8", "replace")[:200]
                        or f"HTTP {status}", headers.get("x-fc-request-id", ""))


# -- output ---------------------------------------------------------------------------------

class Output:
    """Where a command prints: human text or JSON on stdout, notes on stderr."""

    def __init__(self, as_json: bool, out: IO[str] | None = None,
                 err: IO[str] | None = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def emit(self, doc: Any, text: str | Callable[[], str]) -> None:
        """JSON ``doc`` with ``--json``, else the human ``text``."""
        if self.as_json:
            print(json.dumps(doc, indent=2, ensure_ascii=False), file=self.out)
        else:
            print(text() if callable(text) else text, file=self.out)

    def note(self, text: str) -> None:
        print(text, file=self.err)


@contextmanager
def progress(out: Output, what: str, after: float = 1.0) -> Iterator[None]:
    """While a long call runs, show ``what… 3s`` on a terminal's stderr (nothing otherwise)."""
    if not out.err.isatty():
        yield
        return
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not done.wait(0.5 if time.monotonic() - started > after else after):
            out.err.write(f"\r{what}... {time.monotonic() - started:.0f}s")
            out.err.flush()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        if time.monotonic() - started > after:
            out.err.write("\r\033[K")
            out.err.flush()


# -- commands -------------------------------------------------------------------------------

def run_functions(client: Client, args: argparse.Namespace, out: Output) -> int:
    functions = client.pages("/functions", "functions", "ListFunctions",
                             {"prefix": args.prefix})
    configs = {c.get("functionArn", ""): c
               for c in client.pages("/async-invoke-configs", "configs",
                                     "ListAsyncInvokeConfigs")}
    for function in functions:
        function["asyncConfig"] = configs.get(function.get("functionArn", ""))
    out.emit({"functions": functions}, lambda: fmt.functions_table(functions))
    return EXIT_OK


def run_tasks(client: Client, args: argparse.Namespace, out: Output) -> int:
    query = {"status": args.status, "prefix": args.prefix, "qualifier": args.qualifier,
             "sortOrderByTime": "asc" if args.asc else None,
             "includePayload": "true" if args.payload else None}
    tasks = client.pages(f"/functions/{_q(args.function)}/async-tasks", "tasks",
                         "ListAsyncTasks", query, None if args.all else args.limit)
    out.emit({"tasks": tasks}, lambda: fmt.tasks_table(tasks, args.function))
    return EXIT_OK


def run_task(client: Client, args: argparse.Namespace, out: Output) -> int:
    task = client.fc("GET", f"/functions/{_q(args.function)}/async-tasks/{_q(args.task_id)}",
                     "GetAsyncTask", query={"qualifier": args.qualifier})
    out.emit(task, lambda: fmt.task_view(task, args.function))
    return EXIT_OK


def run_stop(client: Client, args: argparse.Namespace, out: Output) -> int:
    path = f"/functions/{_q(args.function)}/async-tasks/{_q(args.task_id)}"
    client.request("PUT", f"{FC}{path}/stop", query={"qualifier": args.qualifier},
                   action="StopAsyncTask")
    task = client.fc("GET", path, "GetAsyncTask", query={"qualifier": args.qualifier})
    out.emit(task, f"stop requested: task {args.task_id} is {task.get('status')}")
    return EXIT_OK


def run_invoke(client: Client, args: argparse.Namespace, out: Output) -> int:
    headers = {"x-fc-invocation-type": "Async" if args.asynchronous else "Sync",
               "content-type": "application/octet-stream"}
    if args.task_id:
        headers["x-fc-async-task-id"] = args.task_id
    if args.delay is not None:
        headers["x-fc-async-delay"] = str(args.delay)
    path = f"{FC}/functions/{_q(args.function)}/invocations"
    with progress(out, f"invoking {args.function}"):
        answer = client.request("POST", path, body=_payload(args.payload), headers=headers,
                                query={"qualifier": args.qualifier}, action="InvokeFunction")
    request_id = answer.headers.get("x-fc-request-id", "")
    if args.asynchronous:
        task_id = answer.headers.get("x-fc-async-task-id", "")
        doc = {"status": answer.status, "requestId": request_id, "taskId": task_id}
        if args.wait:
            doc["task"] = wait_for_task(client, args.function, task_id, args.wait, out)
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
                  out: Output) -> dict[str, Any]:
    """Poll GetAsyncTask until the task ends, noting each status change on stderr."""
    path = f"/functions/{_q(function)}/async-tasks/{_q(task_id)}"
    deadline, seen, hinted = time.monotonic() + timeout, "", False
    manual = client.control("GET", "/clock").get("mode") == "manual"
    while True:
        task: dict[str, Any] = client.fc("GET", path, "GetAsyncTask")
        status = task.get("status", "")
        if status != seen:
            out.note(f"task {task_id}: {status}")
            seen, changed = status, time.monotonic()
        if status in TERMINAL:
            return task
        if manual and not hinted and time.monotonic() - changed > 2:
            out.note("the clock is manual: move it (fcemu clock advance N, fcemu drain) "
                     "for retries and delays to happen")
            hinted = True
        if time.monotonic() > deadline:
            raise CliError(f"task {task_id} still {status} after {timeout:g}s")
        time.sleep(0.2)  # the CLI polls a server it does not control


def run_queue(client: Client, args: argparse.Namespace, out: Output) -> int:
    if args.purge:
        purged = 0
        while batch := client.receive(args.name, 16):
            for message in batch:
                client.delete_message(args.name, message["ReceiptHandle"])
            purged += len(batch)
        left = client.control("GET", f"/queues/{_q(args.name)}/messages")["messages"]
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
        messages = client.control("GET", f"/queues/{_q(args.name)}/messages")["messages"]
        verb = "peeked"
    for message in messages:
        message["bodyJson"] = fmt.parse_body(message.get("body", ""))
    out.emit({"queue": args.name, "messages": messages},
             lambda: fmt.messages_view(args.name, messages, verb))
    return EXIT_OK


def run_queues(client: Client, args: argparse.Namespace, out: Output) -> int:
    queues = client.control("GET", "/queues")["queues"]
    out.emit({"queues": queues}, lambda: fmt.table(
        ["QUEUE", "MESSAGES"], [[q["name"], str(q["messageCount"])] for q in queues]))
    return EXIT_OK


def run_clock(client: Client, args: argparse.Namespace, out: Output) -> int:
    if args.action == "advance":
        if args.value is None:
            raise UsageError("usage: fcemu clock advance SECONDS (e.g. 90, 1.5, 5m, 2h, 1d)")
        seconds = fmt.parse_duration(args.value)
        with progress(out, f"advancing the clock {args.value}"):
            doc = client.control("POST", "/clock/advance", {"seconds": seconds})
    elif args.action == "set":
        if args.value is None:
            raise UsageError("usage: fcemu clock set TIME (ISO 8601 or epoch milliseconds)")
        now: Any = int(args.value) if args.value.isdigit() else args.value
        with progress(out, f"setting the clock to {args.value}"):
            doc = client.control("POST", "/clock/set", {"now": now})
    else:
        doc = client.control("GET", "/clock")
    out.emit(doc, fmt.clock_line(doc))
    return EXIT_OK


def run_settle(client: Client, args: argparse.Namespace, out: Output) -> int:
    verb = "drain" if args.command == "drain" else "settle"
    with progress(out, "waiting for the emulator to " + verb):
        doc = client.control("POST", "/" + verb)
    out.emit(doc, f"{'drained' if verb == 'drain' else 'settled'} at {fmt.iso(doc.get('now'))}")
    return EXIT_OK


def run_reset(client: Client, args: argparse.Namespace, out: Output) -> int:
    doc = client.control("POST", "/reset")
    out.emit(doc, "reset: " + fmt.clock_line(doc))
    return EXIT_OK


COMMANDS: dict[str, Callable[[Client, argparse.Namespace, Output], int]] = {
    "functions": run_functions, "tasks": run_tasks, "task": run_task, "stop": run_stop,
    "invoke": run_invoke, "queue": run_queue, "queues": run_queues, "clock": run_clock,
    "settle": run_settle, "drain": run_settle, "reset": run_reset,
}


def parse_access_key(text: str) -> tuple[str, str]:
    """``ID:SECRET`` → ``(ID, SECRET)`` (the secret may contain ``:``); ValueError if not."""
    key_id, sep, secret = text.partition(":")
    if not sep or not key_id.strip() or not secret:
        raise ValueError("expected ID:SECRET")
    return key_id.strip(), secret


def run(args: argparse.Namespace, out: Output | None = None) -> int:
    """Run one inspection command against ``--endpoint`` / ``FCEMU_ENDPOINT``, signing its
    FC, control and SMQ requests with ``--access-key`` / ``FCEMU_ACCESS_KEY`` when given."""
    out = out or Output(bool(getattr(args, "json", False)))
    endpoint = (getattr(args, "endpoint", None) or os.environ.get("FCEMU_ENDPOINT")
                or DEFAULT_ENDPOINT)
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
        if exc.code in _AUTH_ERRORS:
            out.note("fcemu: the emulator checks request signatures (verify mode): " + (
                "check that --access-key / FCEMU_ACCESS_KEY is one of its AccessKey pairs"
                if access_key else "pass --access-key ID:SECRET (or set FCEMU_ACCESS_KEY) "
                "with one of the pairs given to `fcemu serve --access-key`"))
        elif exc.code in _DATE_ERRORS:
            out.note("fcemu: the emulator checks request dates (verify mode): this machine's "
                     "clock and the emulator machine's clock differ by more than 15 minutes")
        return exc.exit_code
    except CliError as exc:
        out.note(f"fcemu: {exc}")
        return exc.exit_code
    except ValueError as exc:  # a bad argument value found late (durations)
        out.note(f"fcemu: {exc}")
        return EXIT_USAGE
