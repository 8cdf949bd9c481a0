"""Routes: the URLs of HTTP triggers, ``/http-triggers/{fn}/{trigger}[/path]`` on the root.

FC gives an HTTP trigger a URL (``https://<id>.<region>.fcapp.run/<path>``); fcemu
serves it at ``http://127.0.0.1:PORT/http-triggers/<function>/<trigger>/<path>`` (the
trigger's ``httpTrigger.urlInternet``), and at ``/http-triggers-vpc/...`` (its
``urlIntranet``, FC's VPC address, still open when ``disableURLInternet`` turns the
public one off: 403). A request becomes FC 3.0's HTTP-trigger event
(:func:`fcemu.triggers.events.http_event`; ``rawPath`` is the part after the trigger's
prefix), the handler's answer is mapped back (:func:`fcemu.triggers.events.http_reply`).
``X-Fc-Invocation-Type: Async`` answers 202 with ``x-fc-async-task-id`` instead, with
InvokeFunction's task ID, delay and deduplication headers. A trigger with ``authType:
function`` checks the request's ACS3 signature in verify mode (as the FC API does).
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web

from fcemu import signing
from fcemu.api import wire
from fcemu.api.auth import secrets_of
from fcemu.api.invocations import accepted, invoke_headers
from fcemu.api.keys import ENGINE, NONCES
from fcemu.api.triggers import HTTP_TRIGGER_PREFIX, HTTP_TRIGGER_VPC_PREFIX
from fcemu.errors import AccessDenied, InvalidArgument
from fcemu.runtime import UNHANDLED
from fcemu.triggers import HttpRequestParts
from fcemu.triggers.events import http_reply

__all__ = ["routes"]

routes = web.RouteTableDef()

#: Hop-by-hop and framing headers aiohttp sets itself.
_OWN_HEADERS = {"content-length", "transfer-encoding", "connection"}
#: The ``x-fc-`` request headers FC reads; a request may not set others (spec §6.5).
_FC_REQUEST_HEADERS = {wire.INVOCATION_TYPE, wire.LOG_TYPE, wire.ASYNC_TASK_ID,
                       wire.ASYNC_DELAY, wire.TRACE_ID}
#: FC's limits on an HTTP-trigger request: all headers, and the path with its query.
MAX_HEADER_BYTES = 8 * 1024
MAX_TARGET_BYTES = 4 * 1024


def check_limits(request: web.Request) -> None:
    """The request limits of FC's HTTP triggers: headers at most 8 KB in all, path and
    query at most 4 KB, no custom ``x-fc-`` header (400 ``InvalidArgument``)."""
    target = len(request.raw_path.encode())
    if target > MAX_TARGET_BYTES:
        raise InvalidArgument(f"the path and query are {target} bytes: an HTTP trigger takes "
                              f"at most {MAX_TARGET_BYTES}")
    size = sum(len(k) + len(v) for k, v in request.raw_headers)
    if size > MAX_HEADER_BYTES:
        raise InvalidArgument(f"the request headers are {size} bytes: an HTTP trigger takes "
                              f"at most {MAX_HEADER_BYTES} in all")
    for name in request.headers:
        if name.lower().startswith("x-fc-") and name.lower() not in _FC_REQUEST_HEADERS:
            raise InvalidArgument(f"header {name}: custom headers must not start with x-fc- "
                                  "(FC reserves them)")


@routes.route("*", HTTP_TRIGGER_PREFIX + "/{functionName}/{triggerName}{tail:(/.*)?}")
async def http_trigger(request: web.Request) -> web.Response:
    """A request to an HTTP trigger's ``urlInternet``: sync → the mapped response; async →
    202; 403 when the trigger has ``disableURLInternet``."""
    return await _serve(request, HTTP_TRIGGER_PREFIX)


@routes.route("*", HTTP_TRIGGER_VPC_PREFIX + "/{functionName}/{triggerName}{tail:(/.*)?}")
async def http_trigger_intranet(request: web.Request) -> web.Response:
    """A request to an HTTP trigger's ``urlIntranet``: open whatever ``disableURLInternet``
    says (FC: it turns off the public URL only)."""
    return await _serve(request, HTTP_TRIGGER_VPC_PREFIX)


async def _serve(request: web.Request, url_prefix: str) -> web.Response:
    engine = request.app[ENGINE]
    name, trigger_name = wire.function_name(request), request.match_info["triggerName"]
    config = engine.http_trigger_config(name, trigger_name)
    if config.disable_url_internet and url_prefix == HTTP_TRIGGER_PREFIX:
        raise AccessDenied("access denied due to function internet URL is disabled "
                           f"(disableURLInternet of HTTP trigger '{trigger_name}'): use its "
                           "urlIntranet")
    body = await wire.read_body(request)
    if config.auth_type == "function":
        secrets = secrets_of(engine)
        if secrets:
            signing.verify_acs3(request.method, request.raw_path, request.headers.items(), body,
                                secrets)
            request.config_dict[NONCES].check(request.headers.get("x-acs-date"),
                                              request.headers.get("x-acs-signature-nonce"))
    check_limits(request)
    headers = invoke_headers(request)
    prefix = f"{url_prefix}/{request.match_info['functionName']}/{trigger_name}"
    raw_path = request.raw_path.split("?", 1)[0][len(prefix):] or "/"
    parts = HttpRequestParts(
        method=request.method, raw_path=raw_path, path=unquote(raw_path),
        headers=list(request.headers.items()), query=list(request.query.items()), body=body,
        source_ip=request.remote or "127.0.0.1", host=request.host,
        raw_query=request.raw_path.partition("?")[2])
    result = await engine.invoke_http_trigger(
        name, trigger_name, parts, asynchronous=headers.asynchronous, task_id=headers.task_id,
        delay_s=headers.delay_s, request_id=headers.request_id)
    if headers.asynchronous:
        return accepted(result)
    outcome = result.outcome
    assert outcome is not None
    if outcome.http_answer is not None:  # a web function's answer, as it is
        status, answer = outcome.http_answer
        response = web.Response(status=status, body=outcome.body)
        for key, value in answer:
            response.headers.add(key, value)
        response.headers[wire.REQUEST_ID] = result.request_id
        return response
    if not outcome.ok:
        return web.Response(status=502, body=outcome.body, content_type=wire.JSON, headers={
            wire.REQUEST_ID: result.request_id,
            wire.ERROR_TYPE: outcome.error_type or UNHANDLED})
    reply = http_reply(outcome.body)
    response = web.Response(status=reply.status, body=reply.body)
    for key, value in reply.headers.items():
        if key.lower() not in _OWN_HEADERS:
            response.headers[key] = value
    response.headers[wire.REQUEST_ID] = result.request_id
    return response
