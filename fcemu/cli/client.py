"""The HTTP client of a running emulator, used by the ``fcemu`` inspection commands.

Everything goes over the emulator's public HTTP APIs, with the standard
library only: the FC API under ``/2023-03-30`` (plain JSON), the control API
under ``/_fcemu`` and the SMQ (MNS) API for ``fcemu queue --receive/--purge``.
With an access key (``--access-key ID:SECRET`` or ``FCEMU_ACCESS_KEY``) FC and
control API requests are signed with ACS3-HMAC-SHA256 and SMQ requests with
the MNS signature (:mod:`fcemu.signing`), as an emulator in verify mode
requires (each signature with a fresh date and nonce). An error answer
becomes an :class:`ApiError`, no listener a :class:`NoEmulator`; each
:class:`CliError` carries the exit code the command ends with.

The exit codes of the commands that talk to an emulator: 0 ok; 1 the command did
not succeed (the emulator answered an FC or SMQ error, a synchronous invoke's
function failed, ``--wait`` ended before the task); 2 usage (bad arguments); 3 no
emulator listening at the endpoint. :data:`fcemu.cli.parser.EXIT_CODES` is the
table of every command (``serve`` included) and of 70, 130 and 141.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

from fcemu import signing

__all__ = [
    "DEFAULT_ENDPOINT",
    "EXIT_API",
    "EXIT_BUG",
    "EXIT_INTERRUPTED",
    "EXIT_NO_EMULATOR",
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_USAGE",
    "FC",
    "ApiError",
    "CliError",
    "Client",
    "Interrupted",
    "NoEmulator",
    "Response",
    "UsageError",
    "parse_access_key",
    "parse_endpoint",
]

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_NO_EMULATOR = 0, 1, 2, 3
#: An fcemu bug (sysexits' EX_SOFTWARE); Ctrl-C (128 + SIGINT); standard output closed by
#: its reader, as in ``fcemu tasks | head`` (128 + SIGPIPE, what a shell reports for tools
#: that SIGPIPE ends).
EXIT_BUG, EXIT_INTERRUPTED, EXIT_PIPE = 70, 130, 141
DEFAULT_ENDPOINT = "http://127.0.0.1:9000"
FC = "/2023-03-30"
#: Real seconds a single request may take: clock moves run handlers in real time.
REQUEST_TIMEOUT = 900.0


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


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the user should know (``fcemu: interrupted; <message>``)."""


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
              limit: int | None = None, *, control: bool = False) -> list[dict[str, Any]]:
        """Every item of a paginated FC List operation, or with ``control`` of a control API
        listing with the same paging (or the first ``limit``)."""
        items: list[dict[str, Any]] = []
        token = ""
        prefix = "/_fcemu" if control else FC
        while True:
            page = self.request("GET", prefix + path, action=action,
                                query={**(query or {}), "limit": 100,
                                       "nextToken": token or None}).json()
            items += page.get(key) or []
            token = page.get("nextToken") or ""
            if not token or (limit is not None and len(items) >= limit):
                return items[:limit] if limit is not None else items

    def receive(self, queue: str, count: int, wait: int | None = None) -> list[dict[str, str]]:
        """BatchReceiveMessage; an empty list when nothing is visible."""
        try:
            answer = self.request("GET", f"/queues/{quote(queue)}/messages", headers=_MNS,
                                  query={"numOfMessages": count, "waitseconds": wait})
        except ApiError as exc:
            if exc.code == "MessageNotExist":
                return []
            raise
        root = ElementTree.fromstring(answer.body)
        return [{_local(e.tag): e.text or "" for e in m} for m in root.iter()
                if _local(m.tag) == "Message"]

    def delete_message(self, queue: str, receipt_handle: str) -> None:
        self.request("DELETE", f"/queues/{quote(queue)}/messages",
                     query={"ReceiptHandle": receipt_handle}, headers=_MNS)


_MNS = {"x-mns-version": "2015-06-06"}


def quote(name: str) -> str:
    """A name as one path segment."""
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


def parse_endpoint(text: str) -> str:
    """``--endpoint`` / ``FCEMU_ENDPOINT``: ``http[s]://host[:port]``, or ``host:port`` (taken
    as ``http://host:port``) → the URL; ValueError, saying what is expected, if neither."""
    url = text.strip().rstrip("/")
    if "://" not in url:
        host, sep, port = url.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected http://HOST:PORT (or HOST:PORT), e.g. "
                             f"{DEFAULT_ENDPOINT}, got {text!r}")
        url = "http://" + url
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname
            or parts.query or parts.fragment):
        raise ValueError(f"expected http://HOST:PORT (or HOST:PORT), e.g. {DEFAULT_ENDPOINT}, "
                         f"got {text!r}")
    return url


def parse_access_key(text: str) -> tuple[str, str]:
    """``ID:SECRET`` → ``(ID, SECRET)`` (the secret may contain ``:``); ValueError if not."""
    key_id, sep, secret = text.partition(":")
    if not sep or not key_id.strip() or not secret:
        raise ValueError("expected ID:SECRET")
    return key_id.strip(), secret

