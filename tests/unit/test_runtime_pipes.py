"""Reading a worker's pipes in their callbacks: FrameSink's framing and the protocol's routing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from fcemu.runtime.pipes import READ_SIZE, STREAM_LIMIT, FrameSink, ProcessProtocol
from fcemu.runtime.protocol import FRAME_HEADER, MAX_FRAME, encode_frame


class _Sink:
    def __init__(self) -> None:
        self.frames: list[Any] = []
        self.ends = 0
        self.sink = FrameSink(self.frames.append, self._end)

    def _end(self) -> None:
        self.ends += 1


FRAMES: list[dict[str, Any]] = [
    {"type": "hello", "maxrss_kb": 1}, {"type": "result", "request_id": "r-1", "x": "é"},
    {"type": "log", "request_id": "r-2", "data": "line\n" * 50}]


def test_frames_come_whole_however_the_bytes_are_cut() -> None:
    data = b"".join(encode_frame(frame) for frame in FRAMES)
    for size in (1, 2, 3, 4, 5, 7, 64, len(data)):
        got = _Sink()
        for at in range(0, len(data), size):
            got.sink.feed(data[at:at + size])
        assert got.frames == FRAMES, size
        assert got.ends == 0 and not got.sink.ended.is_set()
        got.sink.end()
        got.sink.end()
        assert got.ends == 1 and got.sink.ended.is_set()


def test_a_frame_ending_early_is_not_given() -> None:
    got = _Sink()
    frame = encode_frame(FRAMES[1])
    got.sink.feed(encode_frame(FRAMES[0]) + frame[:-1])
    got.sink.end()
    assert got.frames == FRAMES[:1] and got.ends == 1


@pytest.mark.parametrize("bad", [
    FRAME_HEADER.pack(3) + b"{x}",  # not JSON
    FRAME_HEADER.pack(MAX_FRAME + 1),  # larger than any frame
    FRAME_HEADER.pack(4) + b'"\xff"',  # not UTF-8
    FRAME_HEADER.pack(4) + b"{} x",  # more than one JSON value
])
def test_what_is_not_a_frame_ends_the_stream(bad: bytes) -> None:
    got = _Sink()
    got.sink.feed(encode_frame(FRAMES[0]) + bad + encode_frame(FRAMES[1]))
    got.sink.feed(encode_frame(FRAMES[2]))
    assert got.frames == FRAMES[:1]
    assert got.ends == 1 and got.sink.ended.is_set()


def test_a_frame_its_reader_cannot_read_ends_the_stream() -> None:
    asyncio.run(_unreadable())


async def _unreadable() -> None:
    seen: list[Any] = []
    ended = asyncio.Event()
    sink = FrameSink(lambda frame: seen.append(frame["request_id"]), ended.set)
    sink.feed(encode_frame({"request_id": "a"}) + encode_frame({"type": "x"}))
    sink.feed(encode_frame({"request_id": "b"}))
    assert seen == ["a"] and ended.is_set()
    await asyncio.wait_for(sink.wait_end(), 1)


def test_the_protocol_gives_a_piped_fd_with_a_sink_to_it_and_the_others_to_readers() -> None:
    asyncio.run(_routing())


class _Inner(asyncio.Protocol):
    """asyncio's own pipe protocol, as far as a test sees it: what reached it."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    def data_received(self, data: bytes) -> None:
        self.seen.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.seen.append("lost")


class _Pipe:
    max_size = 256 * 1024

    def __init__(self) -> None:
        self.protocol: asyncio.BaseProtocol = _Inner()

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.protocol

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class _Transport(asyncio.SubprocessTransport):
    """A subprocess transport with the given pipes and nothing else."""

    def __init__(self, pipes: dict[int, _Pipe]) -> None:
        super().__init__()
        self.pipes = pipes

    def get_pipe_transport(self, fd: int) -> Any:
        return self.pipes.get(fd)

    def close(self) -> None:
        pass


async def _routing() -> None:
    loop = asyncio.get_running_loop()
    got = _Sink()
    protocol = ProcessProtocol(STREAM_LIMIT, loop, {1: got.sink})
    pipes = {1: _Pipe(), 2: _Pipe()}
    protocol.connection_made(_Transport(pipes))
    protocol.pipe_data_received(1, encode_frame(FRAMES[0]))
    protocol.pipe_data_received(2, b"a log line\n")
    protocol.pipe_connection_lost(1, None)
    protocol.pipe_connection_lost(2, None)
    protocol.process_exited()
    assert got.frames == FRAMES[:1] and got.ends == 1
    assert protocol.stderr is not None and await protocol.stderr.read() == b"a log line\n"
    assert protocol.stdout is not None and await protocol.stdout.read() == b""
    assert protocol.exited.is_set()
    # output pipes read no more than READ_SIZE at once (asyncio: 256 KiB)
    assert pipes[1].max_size == READ_SIZE and pipes[2].max_size == READ_SIZE
    assert json.loads(encode_frame(FRAMES[1])[FRAME_HEADER.size:]) == FRAMES[1]


def test_a_pipe_with_a_sink_hands_each_chunk_to_it_as_it_is_read() -> None:
    """No loop turn between the read and the sink (asyncio passes a chunk on with one more
    callback); the pipe's end still goes to asyncio's pipe protocol, and a pipe without a
    sink keeps it."""
    async def main() -> None:
        loop = asyncio.get_running_loop()
        got = _Sink()
        protocol = ProcessProtocol(STREAM_LIMIT, loop, {1: got.sink})
        pipes = {1: _Pipe(), 2: _Pipe()}
        inner, other = pipes[1].protocol, pipes[2].protocol
        protocol.connection_made(_Transport(pipes))
        assert pipes[2].protocol is other
        direct = pipes[1].protocol
        assert isinstance(direct, asyncio.Protocol) and direct is not inner
        direct.data_received(encode_frame(FRAMES[0]))
        assert got.frames == FRAMES[:1]  # at once, in the read's own callback
        assert direct.eof_received() is None  # the pipe closes on end of file
        direct.connection_lost(None)
        assert isinstance(inner, _Inner) and inner.seen == ["lost"]

    asyncio.run(main())
