"""Function logs: the FC markers around each request, and cutting a process's output.

FC frames what a request logs with ``FC Invoke Start RequestId: <id>`` and
``FC Invoke End RequestId: <id>`` lines, and what an initializer logs with
``FC Initialize Start RequestId: <id>`` / ``FC Initialize End RequestId:
<id>`` (spec §12.2; FC's lifecycle-hook samples). Every runtime returns a
request's log in that shape as :attr:`fcemu.runtime.Outcome.logs`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

#: A process that prints without end keeps only the newest part of its output.
LOG_LIMIT = 4 * 1024 * 1024
LOG_KEEP = 1024 * 1024
#: What an instance's own log (output no request owns) keeps: its newest bytes.
INSTANCE_LOG_KEEP = 64 * 1024


def start_marker(request_id: str, phase: str = "Invoke") -> bytes:
    """``FC Invoke Start RequestId: <id>`` (or ``Initialize``), with its newline."""
    return f"FC {phase} Start RequestId: {request_id}\n".encode()


def end_marker(request_id: str, phase: str = "Invoke") -> bytes:
    """``FC Invoke End RequestId: <id>`` (or ``Initialize``), with its newline."""
    return f"FC {phase} End RequestId: {request_id}\n".encode()


def framed(request_id: str, text: str, phase: str = "Invoke") -> str:
    """``text`` between the request's Start and End lines (a newline added if missing)."""
    if text and not text.endswith("\n"):
        text += "\n"
    # the markers' text, built as text (no encode and decode of each: issue 13)
    return (f"FC {phase} Start RequestId: {request_id}\n{text}"
            f"FC {phase} End RequestId: {request_id}\n")


def own_line(text: str, end: str) -> str:
    """``text`` (a request's log, ending with its End line ``end``) with that line on a line of
    its own: a process that writes the End line itself cannot know whether what was written
    before it at the file-descriptor level ended with a newline."""
    cut = len(text) - len(end)
    if cut > 0 and text[cut - 1] != "\n" and text.endswith(end):
        return f"{text[:cut]}\n{end}"
    return text


def strip_markers(request_id: str, text: str, phase: str = "Invoke") -> str:
    """``text`` without the request's own Start/End lines (a server may print them)."""
    drop = {start_marker(request_id, phase).decode(), end_marker(request_id, phase).decode()}
    return "".join(line for line in text.splitlines(keepends=True)
                   if line not in drop and line + "\n" not in drop)


class LogStream:
    """A process's output, as it arrives, cut into per-request logs at the FC markers."""

    def __init__(self) -> None:
        self._data = bytearray()
        #: Set when output comes in while someone waits (:meth:`wait_until`): how many do.
        self._changed = asyncio.Event()
        self._waiting = 0
        self._eof = False
        #: A marker that survives trimming (the Start line of the request running now).
        self.keep = b""
        #: Output no request owns (cut away by :meth:`spill`), newest bytes only.
        self.instance_log = bytearray()
        #: The Start and End lines of a request that printed nothing, kept apart in front of
        #: the buffer (:meth:`end_quiet`) until :meth:`take` takes them whole; any other use
        #: of the buffer puts them back in front first (:meth:`_restore`).
        self._front: tuple[bytes, bytes] | None = None
        #: The length of those two lines (0 while none are kept apart).
        self._aside = 0

    def feed(self, chunk: bytes) -> None:
        data = self._data
        data += chunk
        if len(data) > LOG_LIMIT - self._aside:
            self._restore()
            self._trim()
        if self._waiting:
            self._changed.set()

    def end_quiet(self, start: bytes, end: bytes) -> bool:
        """``end`` after the buffer, if it holds just ``start`` (nothing came since that was
        fed: a request that printed nothing): both lines are then kept apart, in front of
        what comes next, for :meth:`take` to take whole without a search or a copy of the
        buffer (issue 13: a third of a worker request's log handling). False otherwise: the
        caller feeds ``end``."""
        data = self._data
        if self._front is not None or len(data) != len(start) or data != start:
            return False
        data.clear()
        self._front, self._aside = (start, end), len(start) + len(end)
        if self._waiting:
            self._changed.set()
        return True

    def end_line(self, end: bytes, start: bytes | None = None) -> None:
        """``end`` (a request's End line) after the buffer, on a line of its own: a newline
        first if the output before it does not end with one. With ``start`` (its Start
        line): if the buffer holds just that, both lines are kept apart instead
        (:meth:`end_quiet`, inlined: this is once per request)."""
        data = self._data
        if data:
            if (start is not None and self._front is None and len(data) == len(start)
                    and data == start):
                data.clear()
                self._front, self._aside = (start, end), len(start) + len(end)
                if self._waiting:
                    self._changed.set()
                return
            if data[-1] != 10:  # b"\n": output without a newline at its end
                data += b"\n"
        data += end
        if len(data) > LOG_LIMIT - self._aside:
            self._restore()
            self._trim()
        if self._waiting:
            self._changed.set()

    def _restore(self) -> None:
        """The lines :meth:`end_quiet` kept apart, back in front of the buffer."""
        front = self._front
        if front is not None:
            self._front, self._aside = None, 0
            self._data[0:0] = front[0] + front[1]

    def feed_before(self, chunk: bytes, marker: bytes, line: bool = False) -> None:
        """``chunk`` in front of ``marker`` if it is buffered, else after everything;
        ``line``: on a line of its own (a newline first if the output before it has none)."""
        if self._front is not None:
            self._restore()
        data = self._data
        at = data.find(marker)
        if line:
            before = data[at - 1:at] if at >= 0 else data[-1:]
            if before and before[0] != 10:  # b"\n"
                chunk = b"\n" + chunk
        if at < 0:
            self.feed(chunk)
        else:
            self._data[at:at] = chunk
            if self._waiting:
                self._changed.set()

    def close(self) -> None:
        self._eof = True
        self._changed.set()

    def _trim(self) -> None:
        dropped = len(self._data) - LOG_KEEP
        tail = self._data[dropped:]
        head = self.keep if self.keep and self.keep not in tail else b""
        self._data = bytearray(head + f"[fcemu: {dropped} bytes of log dropped]\n".encode())
        self._data += tail

    def has(self, marker: bytes) -> bool:
        front = self._front
        if front is not None:
            if marker is front[1]:  # the End line kept apart (end_quiet): there
                return True
            self._restore()
        data = self._data
        # usually the last line (an End line just written); ``marker in data`` would first
        # try the marker as an int, making and dropping a TypeError: a third of the cost
        return data.endswith(marker) or data.find(marker) >= 0

    async def wait_for(self, marker: bytes, timeout_s: float) -> None:
        """Until ``marker`` has arrived or the stream ended, at most ``timeout_s`` seconds."""
        await self.wait_until(lambda: self.has(marker), timeout_s)

    async def wait_until(self, arrived: Callable[[], bool], timeout_s: float) -> None:
        """Until ``arrived()`` holds (checked whenever output comes in) or the stream ended,
        at most ``timeout_s`` seconds."""

        async def changes() -> None:
            while not arrived() and not self._eof:
                self._changed.clear()
                await self._changed.wait()

        self._waiting += 1
        try:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changes(), timeout_s)
        finally:
            self._waiting -= 1

    def take(self, start: bytes, end: bytes) -> str:
        """From ``start`` to ``end`` (both included), removed from the buffer.

        A missing ``end`` (the process died mid-request) is added; a missing
        ``start`` (trimmed, or never written) is put back in front. Output
        before ``start`` belongs to no request and goes to the instance log.
        """
        front = self._front
        if front is not None:
            if front[0] is start and front[1] is end:  # kept apart whole (end_quiet)
                self._front, self._aside = None, 0
                return (start + end).decode("utf-8", "replace")
            self._restore()
        data = self._data
        # usually the first line: startswith costs half a find (spill() keeps the object)
        begin = 0 if data.startswith(start) else data.find(start)
        if begin > 0:
            self.spill(begin)
            begin = 0
        stop = data.find(end)  # from 0 either way (begin is 0 or -1 here)
        if stop >= 0:
            cut = stop + len(end)
            if cut == len(data) and begin == 0:  # all of it (usually): no copy
                text_all = data.decode("utf-8", "replace")
                data.clear()
                return text_all
            text = bytes(data[:cut])
        else:
            cut = len(data)
            text = bytes(data)
            text += (b"" if text.endswith(b"\n") or not text else b"\n") + end
        if begin < 0:
            text = start + text
        del data[:cut]
        return text.decode("utf-8", "replace")

    def copy(self, start: bytes, end: bytes) -> str:
        """From ``start`` to ``end`` (both included), left in the buffer ("" without ``start``):
        overlapping requests of one instance may each need the same lines."""
        if self._front is not None:
            self._restore()
        begin = self._data.find(start)
        if begin < 0:
            return ""
        stop = self._data.find(end, begin)
        cut = stop + len(end) if stop >= 0 else len(self._data)
        return bytes(self._data[begin:cut]).decode("utf-8", "replace")

    def take_all(self) -> str:
        """Everything buffered, removed."""
        if self._front is not None:
            self._restore()
        text = bytes(self._data).decode("utf-8", "replace")
        self._data.clear()
        return text

    def spill(self, upto: int | None = None) -> None:
        """Move buffered output (the first ``upto`` bytes) to the instance log."""
        if self._front is not None:
            self._restore()
        upto = len(self._data) if upto is None else upto
        self.instance_log += self._data[:upto]
        del self._data[:upto]
        if len(self.instance_log) > INSTANCE_LOG_KEEP:
            del self.instance_log[:len(self.instance_log) - INSTANCE_LOG_KEEP]


async def loop_turns(count: int = 4) -> None:
    """Let the loop run a few times, so pipe data already written reaches its reader."""
    for _ in range(count):
        await asyncio.sleep(0)
