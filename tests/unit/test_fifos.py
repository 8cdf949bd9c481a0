"""tests.fifos: FIFO hand-overs with a handler fail after their bound instead of hanging."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tests.fifos import hold_open, read_fifo


def test_read_fifo_reads_what_the_writer_wrote_up_to_its_close(tmp_path: Path) -> None:
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)

    async def body() -> bytes:
        reading = asyncio.create_task(read_fifo(fifo))
        await asyncio.sleep(0)  # one loop turn: the reader's end is open
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"12")
        await asyncio.sleep(0)
        os.write(fd, b"34")
        os.close(fd)
        return await reading

    assert asyncio.run(body()) == b"1234"


def test_read_fifo_fails_when_no_writer_comes(tmp_path: Path) -> None:
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(read_fifo(fifo, timeout=0.01))


def test_hold_open_leaves_the_bytes_for_a_reader_that_opens_later(tmp_path: Path) -> None:
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    held = hold_open(fifo, b"go")
    try:
        reader = os.open(fifo, os.O_RDONLY)  # a writer is there: this open does not wait
        try:
            assert os.read(reader, 2) == b"go"
        finally:
            os.close(reader)
    finally:
        os.close(held)
