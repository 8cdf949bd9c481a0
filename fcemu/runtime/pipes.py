"""An instance's output pipes, read in their data callbacks: the subprocess protocol and sinks.

:class:`ProcessProtocol` is asyncio's subprocess stream protocol (``proc.stdout``
and ``proc.stderr`` are ``StreamReader`` objects, as usual) that also tells
when the process has exited, and gives an output pipe that has a
:class:`PipeSink` to it instead, chunk by chunk, in the pipe's own callback.
A sink needs no reader task: a worker's reply frame settles the request's
future as soon as its bytes are read, in the read's own callback (:class:`FrameSink`),
and its log goes straight into the instance's log. Nothing is paused for a sink: it keeps
what it is given (a frame until it is whole, a log bounded by its own limit).
:class:`PipeDrain` gives a sink what its pipe holds at a given moment, without waiting for
the loop to read it (a worker's log, cut at the moments a request is sent and answered).
"""

from __future__ import annotations

import asyncio
import json
import os
import select
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from fcemu.runtime.protocol import FRAME_HEADER, MAX_FRAME

#: The ``StreamReader`` limit of a pipe without a sink (its reader pauses the pipe above it).
STREAM_LIMIT = 2 ** 16
#: The most an output pipe reads at once. asyncio reads 256 KiB: a buffer that size is above
#: malloc's mmap threshold, so each read of a few hundred bytes mapped, remapped and unmapped
#: it (three system calls and a page fault more per read).
READ_SIZE = 2 ** 16
#: The most :class:`PipeDrain` reads at once: a writer that never stops cannot hold it.
_DRAIN_READS = 16
#: A frame's JSON, from its UTF-8 text (``json.loads`` of the bytes first guesses their
#: encoding and goes through two more calls: twice the time of a reply's decoding).
_decode = json.JSONDecoder().decode
#: The decoder's own scanner, as ``decode`` calls it (through ``raw_decode``) for a document
#: that starts at once: a frame's text is one, so :class:`FrameSink` calls it directly (half
#: the instructions of ``decode``, which also matches whitespace before and after it), and
#: ``decode`` only for a text it does not read whole (which ``decode`` reads, or refuses).
_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


class PipeSink(Protocol):
    """Takes one output pipe's bytes: ``feed`` for each chunk read, ``end`` once it closes."""

    def feed(self, data: bytes) -> None:
        """Bytes read from the pipe; must not raise (the loop would close the pipe)."""
        ...

    def end(self) -> None:
        """The pipe has closed (end of file, or a read error)."""
        ...


class ProcessProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The asyncio stream protocol, plus an event set as soon as the process has exited;
    output pipes with a sink go to it, not to their ``StreamReader`` (which sees only
    their end)."""

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop,
                 sinks: Mapping[int, PipeSink] | None = None) -> None:
        super().__init__(limit, loop)
        self.exited = asyncio.Event()
        #: Whether the process has exited (``exited`` set), read as a plain attribute: the
        #: pool asks it several times per request.
        self.gone = False
        self._sinks = dict(sinks or {})

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if isinstance(transport, asyncio.SubprocessTransport):
            for fd in (1, 2):
                pipe = transport.get_pipe_transport(fd)
                if pipe is not None and getattr(pipe, "max_size", 0) > READ_SIZE:
                    setattr(pipe, "max_size", READ_SIZE)  # noqa: B010  (asyncio's, not typed)
                sink = self._sinks.get(fd)
                if pipe is not None and sink is not None:
                    pipe.set_protocol(_Direct(sink, pipe.get_protocol()))

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        sink = self._sinks.get(fd)
        if sink is None:
            super().pipe_data_received(fd, data)
        else:
            sink.feed(data)  # type: ignore[arg-type]  # a pipe transport reads bytes

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        super().pipe_connection_lost(fd, exc)
        sink = self._sinks.pop(fd, None)
        if sink is not None:
            sink.end()

    def process_exited(self) -> None:
        super().process_exited()
        self.gone = True
        self.exited.set()


class _Direct(asyncio.Protocol):
    """An output pipe's own protocol when it has a sink: each chunk goes to the sink as it is
    read. (asyncio's pipe protocol hands it to the subprocess transport, which passes it on
    with one more loop callback: a second loop turn, and a handle, per chunk.) The pipe's
    end still goes the usual way, after every chunk; chunks queued before the process
    protocol was connected still reach the sink through :meth:`pipe_data_received`, first."""

    def __init__(self, sink: PipeSink, inner: asyncio.BaseProtocol) -> None:
        self._sink = sink
        self._inner = inner
        self.data_received = sink.feed  # type: ignore[method-assign]  # one call less a chunk

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._sink.feed(data)

    def eof_received(self) -> bool | None:
        return None  # close the pipe, as asyncio's own pipe protocol does

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)


class FrameSink:
    """Length-prefixed JSON frames (:data:`fcemu.runtime.protocol.FRAME_HEADER`), each
    given to ``on_frame`` as soon as it is whole; ``on_end`` once, when the pipe ends or
    carries something that is not a frame (a frame over ``MAX_FRAME``, bad JSON, a frame
    ``on_frame`` cannot read: its ``LookupError``/``TypeError``/``AttributeError``/
    ``ValueError``): nothing more is read then. :attr:`ended` is set with it."""

    def __init__(self, on_frame: Callable[[Any], None], on_end: Callable[[], None]) -> None:
        self._on_frame = on_frame
        self._on_end = on_end
        self._buffer = bytearray()
        self.ended = asyncio.Event()
        self._ended = False  # ended.is_set(), read as a plain attribute for each chunk

    def feed(self, data: bytes) -> None:
        if self._ended:
            return
        buffer = self._buffer
        if buffer:
            buffer += data
            view: bytes | bytearray = buffer
        else:  # usually whole frames in one chunk: read them from it, keep only a rest
            view = data
        header, at, size = FRAME_HEADER.size, 0, len(view)
        try:
            while size - at >= header:
                (length,) = FRAME_HEADER.unpack_from(view, at)
                if length > MAX_FRAME:
                    raise ValueError(f"frame of {length} bytes")
                stop = at + header + length
                if stop > size:
                    break
                text = view[at + header:stop].decode()
                try:
                    frame, end = _scan(text, 0)
                except StopIteration:  # not a JSON value at its start: decode says why
                    end = -1
                if end != len(text):
                    frame = _decode(text)
                at = stop
                self._on_frame(frame)
        except (ValueError, LookupError, TypeError, AttributeError):
            self._buffer = bytearray()
            self.end()
            return
        if view is buffer:
            del buffer[:at]
        elif at < size:
            buffer += data[at:]

    def end(self) -> None:
        if not self._ended:
            self._ended = True
            self.ended.set()
            self._on_end()

    async def wait_end(self) -> None:
        """Until the pipe has ended (or stopped being read)."""
        await self.ended.wait()


class PipeDrain:
    """What an output pipe holds now, read at once into its sink (:meth:`take_held`), not
    when the loop next polls the pipe: output written before some moment then comes before
    what the reader adds at that moment. The pipe's transport stays its reader, and its own
    next read finds the pipe empty (a non-blocking read's ``EAGAIN``), or at its end, which
    this leaves to the transport; a pipe that is closing is not read (its descriptor may be
    closed already). Whether the pipe holds anything is asked first (a ``poll`` of its
    descriptor alone, without waiting: a quarter of the time of a read that raises
    ``BlockingIOError``, and about half that of asking ``FIONREAD`` through ``fcntl.ioctl``):
    usually nothing, and nothing is read then."""

    __slots__ = ("_fd", "_poll", "_sink", "_transport")

    def __init__(self, transport: asyncio.ReadTransport, sink: PipeSink) -> None:
        self._transport = transport
        self._fd: int = transport.get_extra_info("pipe").fileno()
        self._sink = sink
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)

    def take_held(self) -> None:
        """Read what the pipe holds now into the sink (twice per request of a worker: a
        method, not ``__call__``, which costs a slot lookup more)."""
        if self._transport.is_closing():
            return
        # readable (or at its end, or failed: a read then says which): usually not, and one
        # system call is all this costs
        if self._poll.poll(0):
            self._read()

    def _read(self) -> None:
        transport = self._transport
        for _ in range(_DRAIN_READS):
            try:
                data = os.read(self._fd, READ_SIZE)
            except OSError:  # an error the transport's own read reports
                return
            if not data:  # at its end: the transport sees that on its next read
                return
            self._sink.feed(data)
            if len(data) < READ_SIZE or transport.is_closing() or not self._poll.poll(0):
                return
