"""A worker process's request logs: the FC markers this side writes (:class:`WorkerLogs`).

With one request at a time, this side writes an Invoke's markers into the instance's log
(:meth:`WorkerLogs._mark_start`, :meth:`WorkerLogs._answered`), and the worker
writes none (an initializer's ``FC Initialize`` markers are still the worker's own):
the Start line as the request's frame is sent, after what the log pipe already holds,
and the End line as its reply is read, after what the log pipe holds then. The worker
writes its output before its reply, so a request's own output is all between them, and
a request costs the server one wake-up (its reply), not one for each of the worker's
marker writes too. A request's log is thus the instance's output from its sending to
its answer: what a handler's background thread or child process writes between
requests stays the instance's log, and what it writes while a request runs (or, at the
very moment, as it is sent) is that request's, as FC attributes logs by time.

With ``instanceConcurrency`` above 1, each request's log comes in the ``log`` frames of
its thread (:meth:`WorkerLogs._add_log`), with its markers, and the process's fd-level
output is all the instance's own log. The requests themselves (frames out, replies back)
are the subclass's: :class:`fcemu.runtime.worker_requests.WorkerRequests`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fcemu.runtime.logs import end_marker, framed, own_line, start_marker
from fcemu.runtime.pool import Instance, Key

if TYPE_CHECKING:
    from fcemu.models import Function
    from fcemu.runtime.contain import Containment
    from fcemu.runtime.pipes import PipeDrain

__all__ = ["WorkerLogs"]

#: A request's log kept from ``log`` frames (threaded workers): its newest characters.
_REQUEST_LOG_LIMIT = 1024 * 1024


class WorkerLogs(Instance):
    """The request logs of one worker process (see the module docstring)."""

    def __init__(self, function: Function, key: Key, instance_id: str,
                 contained: Containment | None = None) -> None:
        super().__init__(function, key, instance_id, contained)
        self.threaded = self.capacity > 1
        # self.log (fd-level output) is cut per request at the markers when requests run
        # one at a time; otherwise all of it is the instance's own log.
        self._request_logs: dict[str, list[str]] = {}
        #: The log pipe, read at once when a request is sent and answered (one request at a
        #: time; set once the process is up).
        self._log_drain: PipeDrain | None = None
        #: One request at a time: the Invokes sent and not answered yet, in order, each with
        #: whether this side writes its markers (see the module docstring).
        self._unanswered: dict[str, bool] = {}
        #: The request whose Start line this side wrote last, with its Start and End lines
        #: (built once: each is needed twice).
        self._markers: tuple[str | None, bytes, bytes] = (None, b"", b"")

    def _mark_start(self, request_id: str) -> bool:
        """One request at a time, the Invoke Start line, into the instance's log after what
        its log pipe holds (see the module docstring); whether the worker must write this
        request's markers itself instead: it is still busy with an earlier request (whose
        caller went away), so only it knows where that one's output ends."""
        if self.threaded:
            return False  # each request's log comes in frames, with its markers
        unanswered = self._unanswered
        if unanswered:
            unanswered[request_id] = False
            return True
        drain = self._log_drain
        if drain is not None:
            drain.take_held()
        start = f"FC Invoke Start RequestId: {request_id}\n".encode()  # start_marker()
        self.log.feed(start)
        unanswered[request_id] = True
        self._markers = (request_id, start, f"FC Invoke End RequestId: {request_id}\n".encode())
        return False

    def _answered(self, request_id: str) -> None:
        """A request's reply is being read: the End line of one whose Start line this side
        wrote, after all the worker wrote before its reply (and before the Start line of a
        request sent behind it, which the worker wrote as it began that one)."""
        if not self._unanswered.pop(request_id, False):
            return
        drain = self._log_drain
        if drain is not None:
            drain.take_held()
        markers = self._markers
        if markers[0] != request_id:
            start, end = None, end_marker(request_id)
        else:
            _, start, end = markers
        if not self._unanswered:
            # on a line of its own; kept apart with the Start line if it printed nothing
            # (taken whole: LogStream.take)
            self.log.end_line(end, start)
        else:
            self.log.feed_before(end, start_marker(next(iter(self._unanswered))), line=True)

    def _take_log(self, request_id: str, phase: str = "Invoke", end: bytes | None = None,
                  start: bytes | None = None) -> str:
        """The request's log (``end``, ``start``: its markers, when the caller has them)."""
        if self.threaded:
            text = "".join(self._request_logs.pop(request_id, []))
            last = end_marker(request_id, phase).decode()
            if not text.endswith(last):  # the process died before the End line
                text += ("" if text.endswith("\n") or not text else "\n") + last
            if not text.startswith("FC "):
                text = framed(request_id, "", phase)[:-len(last)] + text
            return text
        if self._unanswered:  # (usually emptied by the reply: no pop then)
            self._unanswered.pop(request_id, None)
        parts = self._request_logs.pop(request_id, None) if self._request_logs else None
        if start is None:  # not the End line this side wrote at once: the worker's, maybe
            start = f"FC {phase} Start RequestId: {request_id}\n".encode()  # start_marker()
            end = end or end_marker(request_id, phase)
            taken = own_line(self.log.take(start, end), end.decode())
        else:
            taken = self.log.take(start, end or end_marker(request_id, phase))
        return "".join(parts) + taken if parts else taken

    def _add_log(self, request_id: str, data: str) -> None:
        parts = self._request_logs.setdefault(request_id, [])
        parts.append(data.encode("utf-8", "replace").decode())  # no lone surrogates
        if sum(len(p) for p in parts) > _REQUEST_LOG_LIMIT and len(parts) > 1:
            dropped = len(parts[1])
            parts[1] = f"[fcemu: {dropped} characters of log dropped]\n"
