"""Replay protection of verify mode: the request-date window and the nonce memory.

A signature proves who made a request, not when. Like the Alibaba Cloud API
gateway, verify mode also refuses (after the signature checked out):

- an FC request (ACS3) whose ``x-acs-date`` is more than 15 minutes from now:
  400 ``InvalidTimeStamp.Expired``; one that is not ``yyyy-MM-ddTHH:mm:ssZ``:
  400 ``InvalidTimeStamp.Format``;
- an FC request whose ``x-acs-signature-nonce`` was already used: 400
  ``SignatureNonceUsed``. A nonce is remembered only while a request carrying
  it could still pass the date check (its date + 15 minutes), so the memory
  holds at most about 30 minutes of requests;
- an SMQ (MNS) request whose ``Date`` is more than 15 minutes from now: 408
  ``TimeExpired``; one that is not an RFC 1123 date: 400 ``InvalidDateHeader``.
  MNS requests carry no nonce.

"Now" is the machine's real clock (``time.time()``), never the emulator
clock: clients sign with their own wall clock, and a manual emulator clock at
2024-05-01, or one moved days ahead, must not make every signature stale. A
test process that freezes or shifts time (freezegun, time-machine) shifts it
for the in-process emulator too, so both sides still agree.
"""

from __future__ import annotations

import email.utils
import heapq
import time
from collections.abc import Callable
from datetime import datetime, timezone

from fcemu.errors import FcError, MissingRequiredHeader, SmqError

__all__ = ["SKEW_S", "InvalidDateHeader", "InvalidTimeStampExpired", "InvalidTimeStampFormat",
           "Nonces", "SignatureNonceUsed", "TimeExpired", "acs_date_seconds", "check_mns_date"]

#: How far a request's date may be from now, either way (15 minutes, as the gateway allows).
SKEW_S = 15 * 60
_ACS_DATE_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ")


class InvalidTimeStampExpired(FcError):
    """400: ``x-acs-date`` is more than 15 minutes from the server's time."""

    status = 400
    code = "InvalidTimeStamp.Expired"
    default_message = "Specified time stamp or date value is expired."


class InvalidTimeStampFormat(FcError):
    """400: ``x-acs-date`` is not an ISO 8601 UTC time (``yyyy-MM-ddTHH:mm:ssZ``)."""

    status = 400
    code = "InvalidTimeStamp.Format"
    default_message = "Specified time stamp or date value is not well formatted."


class SignatureNonceUsed(FcError):
    """400: an ``x-acs-signature-nonce`` seen before (a replayed or re-sent request)."""

    status = 400
    code = "SignatureNonceUsed"
    default_message = "Specified signature nonce was used already."


class TimeExpired(SmqError):
    """408: an MNS request whose ``Date`` is more than 15 minutes from the server's time."""

    status = 408
    code = "TimeExpired"
    default_message = "The HTTP request you sent has expired."


class InvalidDateHeader(SmqError):
    status = 400
    code = "InvalidDateHeader"
    default_message = "The Date header format is invalid."


def _now() -> float:
    return time.time()  # looked up at each call: time-freezing libraries patch it


def acs_date_seconds(value: str) -> float:
    """Epoch seconds of an ``x-acs-date`` value.

    :raises InvalidTimeStampFormat: not ``yyyy-MM-ddTHH:mm:ssZ`` (fractions allowed).
    """
    for layout in _ACS_DATE_FORMATS:
        try:
            parsed = datetime.strptime(value.strip(), layout)
        except ValueError:
            continue
        return parsed.replace(tzinfo=timezone.utc).timestamp()
    raise InvalidTimeStampFormat()


def check_mns_date(value: str, now: float | None = None) -> None:
    """Refuse an MNS ``Date`` header that cannot be read or is more than 15 minutes off.

    :raises InvalidDateHeader: not an RFC 1123 date.
    :raises TimeExpired: more than :data:`SKEW_S` seconds from ``now`` (real time when None).
    """
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        raise InvalidDateHeader() from None
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=timezone.utc)
    if abs(when.timestamp() - (_now() if now is None else now)) > SKEW_S:
        raise TimeExpired()


class Nonces:
    """The ``x-acs-signature-nonce`` values of accepted FC requests, while they matter.

    :param clock: epoch seconds; the real clock when None (see the module docstring).
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def now(self) -> float:
        return self._clock() if self._clock is not None else _now()

    def check(self, date: str | None, nonce: str | None) -> None:
        """Accept a signed FC request's date and nonce, and remember the nonce.

        :raises MissingRequiredHeader: no ``x-acs-date`` or no ``x-acs-signature-nonce``.
        :raises InvalidTimeStampFormat: an unreadable ``x-acs-date``.
        :raises InvalidTimeStampExpired: ``x-acs-date`` more than 15 minutes from now.
        :raises SignatureNonceUsed: the nonce was used by an earlier accepted request.
        """
        if date is None:
            raise MissingRequiredHeader("x-acs-date")
        if nonce is None or not nonce.strip():
            raise MissingRequiredHeader("x-acs-signature-nonce")
        signed_at = acs_date_seconds(date)
        now = self.now()
        if abs(signed_at - now) > SKEW_S:
            raise InvalidTimeStampExpired()
        self._forget_before(now)
        key = nonce.strip()
        if key in self._expiry:
            raise SignatureNonceUsed()
        expires = signed_at + SKEW_S  # after this the date check refuses the request anyway
        self._expiry[key] = expires
        heapq.heappush(self._heap, (expires, key))

    def _forget_before(self, now: float) -> None:
        while self._heap and self._heap[0][0] < now:
            _, key = heapq.heappop(self._heap)
            self._expiry.pop(key, None)

    def __len__(self) -> int:
        return len(self._expiry)
