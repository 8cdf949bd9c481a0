"""The HTTP load generator: ``count`` requests over ``connections`` keep-alive connections
to 127.0.0.1, with per-request latency. Each request is made by a callable so that a cell
can vary it (unique task IDs, a receive followed by a delete)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

#: Makes request ``i`` on a session; returns nothing, raises on a wrong answer.
Request = Callable[[aiohttp.ClientSession, int], Awaitable[None]]


@dataclass(frozen=True)
class Result:
    rate: float  # requests (or request groups) per second
    p50_ms: float
    p999_ms: float


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def run(request: Request, count: int, connections: int) -> Result:
    """Make ``count`` requests, ``connections`` at a time."""
    latencies: list[float] = []
    next_i = iter(range(count))
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def worker() -> None:
            for i in next_i:
                t0 = time.perf_counter()
                await request(session, i)
                latencies.append(time.perf_counter() - t0)

        warm = [request(session, -1 - k) for k in range(connections)]  # open the connections
        await asyncio.gather(*warm)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return Result(count / elapsed, percentile(latencies, 0.5) * 1000,
                  percentile(latencies, 0.999) * 1000)


def expect(status: int, wanted: int, what: str, body: bytes = b"") -> None:
    if status != wanted:
        raise RuntimeError(f"{what}: HTTP {status}, wanted {wanted}: {body[:300]!r}")
