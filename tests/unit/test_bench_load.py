"""The bench's load generator reads HTTP/1.1 answers whole: a Content-Length body, a
chunked one, none (204), several on one keep-alive connection, and fails loudly on an
answer it cannot read or a wrong status."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aiohttp import web

from bench.load import Connection, expect, run


async def _serve(handler_routes: web.RouteTableDef) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.add_routes(handler_routes)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    return runner, f"http://127.0.0.1:{sock.getsockname()[1]}"


routes = web.RouteTableDef()
seen: list[tuple[str, str, bytes, str]] = []


@routes.post("/echo")
async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    seen.append((request.method, request.path_qs, body, request.headers.get("x-n", "")))
    return web.Response(status=202, body=body)


@routes.get("/chunked")
async def chunked(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    for part in (b"one,", b"two,", b"three"):
        await response.write(part)
    await response.write_eof()
    return response


@routes.delete("/gone")
async def gone(request: web.Request) -> web.Response:
    return web.Response(status=204)


@routes.get("/close")
async def close(request: web.Request) -> web.Response:
    return web.Response(text="bye", headers={"Connection": "close"})


def test_answers_of_every_length_kind_on_keep_alive_connections() -> None:
    async def go() -> None:
        runner, base = await _serve(routes)
        answers: list[tuple[int, bytes]] = []

        async def request(conn: Connection, i: int) -> None:
            posted = await conn.call("POST", f"/echo?i={i}", [("x-n", str(i))], b"b%d" % i)
            expect(posted, 202, "echo")
            got = await conn.call("GET", "/chunked")
            deleted = await conn.call("DELETE", "/gone")
            answers.append((posted.status, posted.body))
            answers.append((got.status, got.body))
            answers.append((deleted.status, deleted.body))

        try:
            result = await run(base, request, 20, 4)
        finally:
            await runner.cleanup()
        assert result.rate > 0 and result.p999_ms >= result.p50_ms > 0
        assert len(answers) == 3 * (20 + 4)  # 4 warm-up requests, one per connection
        assert (200, b"one,two,three") in answers and (204, b"") in answers
        bodies = sorted(body for status, body in answers if status == 202)
        assert bodies == sorted(b"b%d" % i for i in [*range(20), -1, -2, -3, -4])
        assert sorted(int(n) for _, _, _, n in seen[-24:]) == sorted([*range(20), -1, -2, -3, -4])

    seen.clear()
    asyncio.run(go())


def test_a_wrong_status_or_a_closing_server_fails_the_run() -> None:
    async def go(path: str, method: str = "GET") -> None:
        runner, base = await _serve(routes)

        async def request(conn: Connection, i: int) -> None:
            expect(await conn.call(method, path), 200, path)

        try:
            await run(base, request, 2, 1)
        finally:
            await runner.cleanup()

    with pytest.raises(RuntimeError, match="HTTP 204, wanted 200"):
        asyncio.run(go("/gone", "DELETE"))
    with pytest.raises(ConnectionError, match="closes the connection"):
        asyncio.run(go("/close"))



def test_bench_instructions_reads_callgrinds_totals_and_needs_valgrind(
        tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import bench.bench_instructions as counting

    out = tmp_path / "callgrind.out"
    out.write_text("version: 1\nevents: Ir\nsummary: 0\nfn=x\n1 5\ntotals: 122297617\n")
    (tmp_path / "callgrind.out.2").write_text("events: Ir\nsummary: 1000\n")
    (tmp_path / "other.out").write_text("totals: 5\n")
    assert counting._count(out) == 122297617 + 1000
    monkeypatch.setattr(counting.shutil, "which", lambda name: None)
    monkeypatch.setattr("sys.argv", ["bench_instructions", "submit"])
    with pytest.raises(SystemExit, match="needs valgrind"):
        counting.main()
    monkeypatch.setattr("sys.argv", ["bench_instructions"])
    with pytest.raises(SystemExit):
        counting.main()
    assert "say what to count" in capsys.readouterr().err


def test_bench_instructions_engine_counts_the_submits_after_the_warm_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.bench_instructions as counting
    from fcemu.engine import Engine

    toggles: list[tuple[str, int]] = []
    submitted: list[int] = []
    invoke = Engine.invoke_async

    def counted(self: Engine, *args: object, **kwargs: object) -> object:
        submitted.append(1)
        return invoke(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "invoke_async", counted)
    monkeypatch.setattr(counting, "_instrument",
                        lambda pid, state: toggles.append((state, len(submitted))))
    counting._child("engine", 7)
    assert toggles == [("on", 1000), ("off", 1007)]


@pytest.mark.parametrize("kind, connections", [
    ("submit", 16), ("floor", 16), ("sync", 1), ("floor-echo", 1)])
def test_bench_instructions_http_counts_its_rows_requests_after_the_warm_up(
        tmp_path, monkeypatch: pytest.MonkeyPatch, kind: str, connections: int) -> None:
    """Each HTTP count makes its row's requests (the load checks every answer's status)
    against a real server, counting only after 1,000 warm-up requests; callgrind is left
    out here (the server runs plainly), its count stubbed."""
    import sys

    import bench.bench_instructions as counting

    made: list[int] = []
    load_run = counting.run

    async def run(base: str, request: Any, count: int, conns: int) -> Any:
        made.append(count)
        assert conns == connections
        return await load_run(base, request, count, conns)

    toggles: list[tuple[str, list[int]]] = []
    monkeypatch.setattr(counting, "run", run)
    monkeypatch.setattr(counting, "_callgrind",
                        lambda out, *args, counting: [sys.executable, *args])
    monkeypatch.setattr(counting, "_instrument",
                        lambda pid, state: toggles.append((state, list(made))))
    monkeypatch.setattr(counting, "_count", lambda out: 7 * (5 + connections))
    assert counting.http(kind, 5, tmp_path / "callgrind.out") == 7
    assert toggles == [("on", [1000]), ("off", [1000, 5])]
