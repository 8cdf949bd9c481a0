"""The server's request frames to a worker process (the protocol: :mod:`fcemu.runtime.protocol`).

An ``invoke`` frame is built from a head that the requests of one function version
share (encoded once) and the request's own ID and payload, not by encoding a new
dictionary per request: the same JSON document, a quarter of the CPU.
:class:`FrameWriter` puts frames into the process's stdin pipe, each whole and in order.
"""

from __future__ import annotations

import asyncio
import functools
import os
from binascii import b2a_base64
from dataclasses import asdict
from json.encoder import encode_basestring_ascii

from fcemu.runtime.invocation import Credentials, Invocation
from fcemu.runtime.protocol import FRAME_HEADER, encode_frame


@functools.lru_cache(maxsize=64)
def credentials_doc(credentials: Credentials) -> dict[str, str]:
    """The request frame's ``credentials`` (read-only, shared by the frames that send it)."""
    return asdict(credentials)


@functools.lru_cache(maxsize=256)
def _invoke_head(qualifier: str, version_id: str, credentials: Credentials) -> bytes:
    """An invoke frame's JSON up to its ``request_id`` value: what the requests of one
    function version with the same credentials share, encoded once."""
    doc = encode_frame({"type": "invoke", "qualifier": qualifier, "version_id": version_id,
                        "credentials": credentials_doc(credentials)})
    return doc[FRAME_HEADER.size:-1] + b',"request_id":'


#: The last head :func:`invoke_frame` used, with what it was made of: the requests of a
#: drain mostly share one (with one :class:`Credentials` object), and comparing is cheaper
#: than the cache's key (a ``Credentials`` hash is a Python call).
_last: tuple[Credentials | None, str, str, bytes] = (None, "", "", b"")


def invoke_frame(invocation: Invocation, markers: bool = False) -> bytes:
    """The ``invoke`` frame of ``invocation``: the same JSON document as
    :func:`~fcemu.runtime.protocol.encode_frame` of the request would be, the part its
    function version shares built once (:func:`_invoke_head`). ``markers``: with
    ``"markers": true``, the worker writes the request's ``FC Invoke`` lines itself
    (one request at a time, the server usually does: :mod:`fcemu.runtime.worker_logs`)."""
    global _last
    credentials, qualifier = invocation.credentials, invocation.qualifier
    version_id = invocation.function.version_id
    last = _last
    if credentials is last[0] and qualifier == last[1] and version_id == last[2]:
        head = last[3]
    else:
        head = _invoke_head(qualifier, version_id, credentials)
        _last = (credentials, qualifier, version_id, head)
    data = b"".join((
        head, encode_basestring_ascii(invocation.request_id).encode(), b',"payload":"',
        b2a_base64(invocation.payload, newline=False),  # base64.b64encode, without its wrapper
        b'","markers":true}' if markers else b'"}'))
    return FRAME_HEADER.pack(len(data)) + data


class FrameWriter:
    """A worker process's stdin pipe, which takes its request frames, each whole and in order.

    A frame goes straight into the pipe (what asyncio's ``write`` does when nothing is
    buffered, without its two calls) unless something of an earlier one is queued in the
    pipe's transport; what the pipe cannot take goes to the transport, which keeps it and
    writes it, in order, as the pipe drains. :attr:`queued`: a frame went to the transport
    since its buffer was last seen empty (:meth:`free`). :attr:`lock` is held by a writer
    that waits for the pipe to drain.
    """

    __slots__ = ("_fd", "_pipe", "lock", "queued", "stdin")

    def __init__(self, stdin: asyncio.StreamWriter) -> None:
        self.stdin = stdin
        pipe = stdin.transport
        assert isinstance(pipe, asyncio.WriteTransport)
        self._pipe = pipe
        self._fd: int = pipe.get_extra_info("pipe").fileno()
        self.lock = asyncio.Lock()
        self.queued = False

    def free(self) -> bool:
        """Nothing is waiting to write, and nothing of an earlier frame is still queued for
        the pipe (asked only while :attr:`queued`)."""
        if self.lock.locked() or self._pipe.get_write_buffer_size() > 0:
            return False
        self.queued = False
        return True

    def write(self, frame: bytes) -> None:
        """Write ``frame`` whole: into the pipe, what it cannot take through the transport."""
        pipe = self._pipe
        if not self.queued and not pipe.is_closing():  # closing: the descriptor may be gone
            try:
                written = os.write(self._fd, frame)
            except OSError:  # a full pipe; or an error the transport meets again and reports
                written = 0
            if written == len(frame):
                return
            frame = frame[written:]
        self.queued = True
        pipe.write(frame)
