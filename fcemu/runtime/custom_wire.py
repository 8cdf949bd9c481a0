"""The custom-runtime contract on the wire (spec §12.2; FC's web functions).

What fcemu sends a custom runtime's server and how an answer becomes an
:class:`~fcemu.runtime.invocation.Outcome`: ``POST /initialize`` and ``POST /invoke``
with FC's ``x-fc-*`` request headers (an API call: the event is the body; HTTP 200 with
no ``x-fc-status``, or ``x-fc-status: 200``, is success), or an HTTP trigger's request
passed through as it came ("HTTP calls": the answer goes back to the client as it is,
and ``x-fc-status`` only reports the outcome). Only the given headers go out (no client
defaults such as User-Agent) and an answer is never decompressed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from fcemu.runtime.instance import Initializer
from fcemu.runtime.invocation import Outcome
from fcemu.runtime.protocol import UNHANDLED, error_body

if TYPE_CHECKING:
    from fcemu.runtime.invocation import Invocation

#: Headers aiohttp's client adds of itself; a request sends them only when given.
_CLIENT_DEFAULTS = ("accept", "accept-encoding", "user-agent", "content-type")

Headers = list[tuple[str, str]]


def request_headers(invocation: Invocation, init: Initializer | None) -> dict[str, str]:
    """The request headers FC sends to a custom runtime (spec §12.2 table)."""
    function, credentials = invocation.function, invocation.credentials
    headers = {
        "content-type": "application/octet-stream",
        "x-fc-request-id": invocation.request_id,
        "x-fc-access-key-id": credentials.access_key_id,
        "x-fc-access-key-secret": credentials.access_key_secret,
        "x-fc-security-token": credentials.security_token,
        "x-fc-function-name": function.name,
        "x-fc-function-handler": function.handler,
        "x-fc-function-memory": str(function.memory_size),
        "x-fc-function-timeout": str(function.timeout),
        "x-fc-region": invocation.region,
        "x-fc-account-id": invocation.account_id,
        "x-fc-qualifier": invocation.qualifier,
    }
    if function.version_id:  # a published version's invocation (FC 2.0's header list)
        headers["x-fc-version-id"] = function.version_id
    lifecycle = function.instance_lifecycle_config or {}
    init = init or Initializer.of(function)
    if init is not None:
        headers["x-fc-function-initializer"] = init.handler
        headers["x-fc-initialization-timeout"] = str(init.timeout)
    pre_stop = lifecycle.get("preStop")
    if isinstance(pre_stop, dict) and pre_stop.get("handler"):
        headers["x-fc-instance-lifecycle-pre-stop-handler"] = str(pre_stop["handler"])
    return headers


#: Request headers a passed-through HTTP call does not carry on: hop-by-hop and framing.
_NOT_PASSED = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "te",
                         "upgrade", "trailer", "proxy-connection"})
#: A web function's response headers FC does not pass on to the client (HTTP triggers,
#: "HTTP response limits": ``x-fc-*``, connection, content-length, date, keep-alive,
#: server, upgrade); the answering server sets its own framing.
_NOT_ANSWERED = frozenset({"connection", "content-length", "date", "keep-alive", "server",
                           "upgrade", "transfer-encoding"})


def call_headers(invocation: Invocation, client: Iterable[tuple[str, str]]
                 ) -> list[tuple[str, str]]:
    """The headers of a passed-through HTTP call (FC's "HTTP calls" of a web function):
    the client's as sent (less hop-by-hop ones and the ``x-fc-*`` headers FC itself
    reads), then FC's common ``x-fc-*`` request headers."""
    pairs = [(name, value) for name, value in client
             if name.lower() not in _NOT_PASSED and not name.lower().startswith("x-fc-")]
    common = request_headers(invocation, None)
    del common["content-type"]  # the client's own content type stands
    pairs.extend(common.items())
    return pairs


def answer_headers(headers: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """The response headers of a web function that reach the client."""
    return tuple((name, value) for name, value in headers
                 if name.lower() not in _NOT_ANSWERED and not name.lower().startswith("x-fc-"))


def request_of(invocation: Invocation) -> tuple[str, str, bytes, Headers]:
    """An invocation's request: ``(method, target, body, headers)``."""
    call = invocation.http_call
    if call is None:
        return ("POST", "/invoke", invocation.payload,
                list(request_headers(invocation, None).items()))
    return call[0], call[1], call[3], call_headers(invocation, call[2])


async def send(session: aiohttp.ClientSession, origin: str, method: str, target: str,
               body: bytes, headers: Headers) -> tuple[int, bytes, Headers]:
    """One request to the server at ``origin`` (``http://host:port``): its status, body
    (as sent) and headers."""
    url = URL(f"{origin}{target}", encoded=True)
    sent = {name.lower() for name, _ in headers}
    async with session.request(method, url, data=body, headers=CIMultiDict(headers),
                               skip_auto_headers=[h for h in _CLIENT_DEFAULTS if h not in sent],
                               auto_decompress=False) as response:
        return response.status, await response.read(), list(response.headers.items())


def outcome_of(invocation: Invocation, status: int, body: bytes, headers: Headers, *,
               duration_ms: int, memory_mb: int, instance_id: str, logs: str) -> Outcome:
    """What the server's answer to ``invocation`` means (see the module docstring)."""
    fc_status = next((v for k, v in headers if k.lower() == "x-fc-status"), None)
    if invocation.http_call is not None:  # a web function's answer goes to the client as is
        ok = fc_status in (None, "200")  # x-fc-status only reports the outcome to FC
        return Outcome("ok" if ok else "error", body, "" if ok else UNHANDLED, duration_ms,
                       memory_mb, instance_id, logs, http_answer=(status, answer_headers(headers)))
    if status == 200 and fc_status in (None, "200"):
        return Outcome("ok", body, "", duration_ms, memory_mb, instance_id, logs)
    if not body:
        body = error_body(f"the custom runtime answered HTTP {status}"
                          + (f" with x-fc-status {fc_status}" if fc_status else ""))
    return Outcome("error", body, UNHANDLED, duration_ms, memory_mb, instance_id, logs)
