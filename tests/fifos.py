"""Hand-overs between a test and a handler process through FIFOs, bounded in time.

A handler that tells the test it has reached a point writes into a FIFO; the test
reads it. Read in a thread (``asyncio.to_thread(path.read_text)``), a FIFO whose writer
never comes (the handler crashed, or was killed by its timeout on a loaded machine)
blocks that thread for good, and ``asyncio.run`` then never ends: the test hangs
instead of failing. These helpers open the test's end without blocking and let the
loop watch it, so a missing handler is a failure after :data:`HANDOVER_S` seconds.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

#: The longest a hand-over waits for the handler.
HANDOVER_S = 120.0


async def read_fifo(path: str | os.PathLike[str], timeout: float = HANDOVER_S) -> bytes:
    """What a handler writes into the FIFO at ``path``, up to the writer's close."""
    loop = asyncio.get_running_loop()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    data = bytearray()

    async def until_closed() -> None:
        while True:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _settle, readable)
            try:
                await readable  # data, or the writer's close (never before a writer came)
            finally:
                loop.remove_reader(fd)
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    break  # the writer is still there: wait for more
                if not chunk:
                    return
                data.extend(chunk)

    try:
        await asyncio.wait_for(until_closed(), timeout)
    finally:
        os.close(fd)
    return bytes(data)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def hold_open(path: str | os.PathLike[str], data: bytes) -> int:
    """Put ``data`` into the FIFO at ``path`` for a handler that reads exactly that many
    bytes: the FIFO is held open for reading and writing (neither this open nor the
    handler's waits for the other), so the caller closes the returned descriptor when
    the handler has read."""
    fd = os.open(Path(path), os.O_RDWR | os.O_NONBLOCK)
    os.write(fd, data)
    return fd
