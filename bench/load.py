"""The HTTP load generator: ``count`` requests over ``connections`` keep-alive HTTP/1.1
connections to 127.0.0.1, with per-request latency. Each request is made by a callable so
that a cell can vary it (unique task IDs, a receive followed by a delete).

The client is an asyncio protocol that writes each request's bytes itself and reads the
answer's status line, headers and body (``Content-Length`` or chunked). aiohttp's client
spent about as much CPU per request as the floor server does (160-190 µs on this 2-core
machine, against about 60 µs for this one), so on its one core the load side, not the
server, capped the floor's rate and added its own pauses to every latency. The load is
measured against the server it drives, never the other way round.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[ \t]*chunked", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)


@dataclass(frozen=True)
class Answer:
    status: int
    head: bytes  # the status line and the headers, without the blank line
    body: bytes


class Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time (no pipelining)."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._buffer = bytearray()
        self._waiter: asyncio.Future[Answer] | None = None
        self._transport: asyncio.Transport | None = None
        self._closed: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is not None:
            try:
                answer = self._answer()
            except Exception as exc:  # a malformed answer fails its request
                waiter, self._waiter = self._waiter, None
                waiter.set_exception(exc)
                return
            if answer is not None:
                waiter, self._waiter = self._waiter, None
                waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = exc or ConnectionError("the server closed the connection")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._closed)

    def _answer(self) -> Answer | None:
        """The whole answer at the buffer's start (taken out of it), or None for more."""
        buffer = self._buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buffer[:end])
        status = int(head[9:12])
        start = end + 4
        if _CLOSE.search(head):
            raise ConnectionError(f"the server closes the connection: {head[:200]!r}")
        length = _LENGTH.search(head)
        if length is not None:
            stop = start + int(length.group(1))
            if len(buffer) < stop:
                return None
            body = bytes(buffer[start:stop])
        elif _CHUNKED.search(head):
            chunks = _chunks(buffer, start)
            if chunks is None:
                return None
            body, stop = chunks
        elif status in (204, 304) or 100 <= status < 200:
            body, stop = b"", start
        else:
            raise ValueError(f"an answer with no length: {head[:200]!r}")
        del buffer[:stop]
        return Answer(status, head, body)

    def call(self, method: str, target: str, headers: Iterable[tuple[str, str]] = (),
             body: bytes = b"") -> Awaitable[Answer]:
        """Send one request; its answer."""
        if self._closed is not None or self._transport is None:
            raise ConnectionError("the connection is closed")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}",
                 f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers]
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body)
        return waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _chunks(buffer: bytearray, at: int) -> tuple[bytes, int] | None:
    """A chunked body from ``at``: (body, where it ends), or None when incomplete."""
    parts: list[bytes] = []
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(bytes(buffer[at:line_end]).split(b";")[0], 16)
        start = line_end + 2
        if size == 0:
            trailer = buffer.find(b"\r\n\r\n", line_end)
            return (b"".join(parts), trailer + 4) if trailer >= 0 else None
        if len(buffer) < start + size + 2:
            return None
        parts.append(bytes(buffer[start:start + size]))
        at = start + size + 2


#: Makes request ``i`` on a connection; returns nothing, raises on a wrong answer.
Request = Callable[[Connection, int], Awaitable[None]]


@dataclass(frozen=True)
class Result:
    rate: float  # requests (or request groups) per second
    p50_ms: float
    p999_ms: float


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def run(base: str, request: Request, count: int, connections: int) -> Result:
    """Make ``count`` requests to ``base`` (``http://127.0.0.1:PORT``), ``connections``
    at a time."""
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    loop = asyncio.get_running_loop()
    opened: list[Connection] = []
    try:
        for _ in range(connections):
            _, conn = await loop.create_connection(lambda: Connection(url.netloc), host, port)
            opened.append(conn)
        latencies: list[float] = []
        next_i = iter(range(count))

        async def worker(conn: Connection) -> None:
            for i in next_i:
                t0 = time.perf_counter()
                await request(conn, i)
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(request(c, -1 - k) for k, c in enumerate(opened)))  # warm
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in opened))
        elapsed = time.perf_counter() - started
    finally:
        for conn in opened:
            conn.close()
    latencies.sort()
    return Result(count / elapsed, percentile(latencies, 0.5) * 1000,
                  percentile(latencies, 0.999) * 1000)


def expect(answer: Answer, wanted: int, what: str) -> None:
    if answer.status != wanted:
        raise RuntimeError(f"{what}: HTTP {answer.status}, wanted {wanted}: "
                           f"{answer.body[:300]!r}")
