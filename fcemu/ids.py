"""One seeded generator for every ID the emulator hands out.

Request IDs, task IDs, instance IDs, function IDs, SMQ message IDs and
receipt handles all come from :class:`IdGenerator`, so that a scenario run
with the same seed produces the same records and messages, and
:meth:`IdGenerator.reset` restores the generator to its first state (moto's
``MotoRandom`` plays the same part).
"""

from __future__ import annotations

import os
import random
import string

_ALNUM = string.ascii_letters + string.digits


class IdGenerator:
    """Deterministic IDs from ``seed``; a random seed is drawn when none is given.

    Each kind of ID draws from its own stream (derived from the seed and the
    kind), so that, say, an extra GetAsyncTask call (one more response ID)
    does not shift the task IDs generated after it.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        self._streams: dict[str, random.Random] = {}

    def reset(self, seed: int | None = None) -> None:
        """Restart every stream (from ``seed`` when given, else the current seed)."""
        if seed is not None:
            self.seed = seed
        self._streams.clear()

    def _rng(self, stream: str) -> random.Random:
        rng = self._streams.get(stream)
        if rng is None:
            rng = self._streams[stream] = random.Random(f"{self.seed}/{stream}")
        return rng

    def hex(self, n: int, stream: str = "misc") -> str:
        """``n`` lower-case hex digits."""
        rng = self._rng(stream)
        return "".join(rng.choice("0123456789abcdef") for _ in range(n))

    def alnum(self, n: int, stream: str = "misc") -> str:
        """``n`` letters and digits."""
        rng = self._rng(stream)
        return "".join(rng.choice(_ALNUM) for _ in range(n))

    def request_id(self, now_ms: int) -> str:
        """An invocation's request ID, FC 3.0 form ``1-<8 hex seconds>-<24 hex>`` (spec §1.2)."""
        return f"1-{(now_ms // 1000) & 0xFFFFFFFF:08x}-{self.hex(24, 'request')}"

    def response_id(self, now_ms: int) -> str:
        """The ``x-fc-request-id`` of an API response that runs no handler."""
        return f"1-{(now_ms // 1000) & 0xFFFFFFFF:08x}-{self.hex(24, 'response')}"

    def task_id(self) -> str:
        """A UUID-shaped ID that also matches the task-ID rule (starts with a letter)."""
        first = self._rng("task").choice("abcdef") + self.hex(7, "task")
        rest = [self.hex(n, "task") for n in (4, 3, 4, 12)]
        return f"{first}-{rest[0]}-4{rest[1]}-{rest[2]}-{rest[3]}"

    def function_id(self) -> str:
        """The globally unique system ID of a function (``Function.functionId``)."""
        return "-".join(self.hex(n, "function") for n in (8, 4, 4, 4, 12))

    def instance_id(self) -> str:
        """An instance ID like ``c-66a1b2c3-0f1e2d3c4b5a``."""
        return f"c-{self.hex(8, 'instance')}-{self.hex(12, 'instance')}"

    def message_id(self) -> str:
        """An SMQ message ID shaped like ``5F290C926D472878-2-14D9529A8FA-20000xxxx``."""
        first, second, third = (self.hex(n, "message").upper() for n in (16, 11, 9))
        return f"{first}-1-{second}-{third}"

    def receipt_handle(self) -> str:
        """A one-time SMQ receipt handle: letters, digits and ``-`` only (spec §13.3)."""
        return f"1-{self.alnum(40, 'receipt')}"

    def token(self, n: int = 16) -> str:
        """An opaque token of letters and digits."""
        return self.alnum(n, "token")
