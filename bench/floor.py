"""The floor: a bare aiohttp server, in the style of fcemu's app (one process, one loop,
``web.RouteTableDef``), that reads the request body and answers as the measured fcemu
route would, doing nothing else. Run: ``python -m bench.floor`` (prints its port)."""

from __future__ import annotations

import asyncio
import socket
import sys

from aiohttp import web

routes = web.RouteTableDef()


@routes.post("/post")
async def post(request: web.Request) -> web.Response:
    """Like an async InvokeFunction: read the body, 202 with two headers."""
    await request.read()
    return web.Response(status=202, headers={"x-fc-request-id": "1-00000000-0",
                                             "x-fc-async-task-id": "t"})


@routes.post("/echo")
async def echo(request: web.Request) -> web.Response:
    """Like a sync InvokeFunction of an echo handler: 200 with the body."""
    return web.Response(body=await request.read())


async def main() -> None:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    site = web.SockSite(runner, sock)
    await site.start()
    print(sock.getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
