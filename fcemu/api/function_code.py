"""Routes: GetFunctionCode (``GET /2023-03-30/functions/{functionName}/code`` →
``{"checksum", "url"}``), and the download its URL points at, served by the emulator:
``GET /_fcemu/code/{functionName}.zip?qualifier=&Signature=``, the package as it was sent
in ``code.zipFile``. Like FC's OSS URL, the download needs no request signature: its own
``Signature`` (fcemu's, over the function, qualifier and code checksum) is the credential,
and it stops working when the code changes (docs/fidelity.md)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from aiohttp import web

from fcemu.api import wire
from fcemu.api.keys import ENGINE

routes = web.RouteTableDef()
#: On the root application, before the control sub-app's ``/_fcemu`` prefix.
download_routes = web.RouteTableDef()

DOWNLOAD = "/_fcemu/code/{functionName}.zip"


@routes.get("/functions/{functionName}/code")
async def get_function_code(request: web.Request) -> web.Response:
    """GetFunctionCode → ``OutputFuncCode``: ``checksum`` and a URL to the package."""
    code = request.app[ENGINE].get_function_code(wire.function_name(request),
                                                 wire.qualifier(request))
    query = urlencode({"qualifier": code.qualifier, "Signature": code.signature})
    url = (f"{request.scheme}://{request.host}/_fcemu/code/"
           f"{quote(code.function_name, safe='')}.zip?{query}")
    return wire.json_response({"checksum": code.checksum, "url": url})


@download_routes.get(DOWNLOAD)
async def download_function_code(request: web.Request) -> web.StreamResponse:
    """The package a GetFunctionCode URL names; 403 ``AccessDenied`` once it is stale."""
    path = request.app[ENGINE].function_code_file(
        wire.function_name(request), request.query.get("qualifier") or None,
        request.query.get("Signature", ""))
    return web.FileResponse(path, headers={"Content-Type": "application/zip"})
