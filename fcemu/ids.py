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
    """Deterministic IDs from ``seed``; a random seed is drawn when none is given."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        self._rng = random.Random(self.seed)

    def reset(self, seed: int | None = None) -> None:
        """Restart the sequence (from ``seed`` when given, else the current seed)."""
        if seed is not None:
            self.seed = seed
        self._rng = random.Random(self.seed)

    def hex(self, n: int) -> str:
        """``n`` lower-case hex digits."""
        return "".join(self._rng.choice("0123456789abcdef") for _ in range(n))

    def alnum(self, n: int) -> str:
        """``n`` letters and digits."""
        return "".join(self._rng.choice(_ALNUM) for _ in range(n))

    def request_id(self, now_ms: int) -> str:
        """FC 3.0 form ``1-<8 hex seconds>-<24 hex>`` (spec §1.2)."""
        return f"1-{(now_ms // 1000) & 0xFFFFFFFF:08x}-{self.hex(24)}"

    def task_id(self) -> str:
        """A UUID-shaped ID that also matches the task-ID rule (starts with a letter)."""
        first = self._rng.choice("abcdef") + self.hex(7)
        return f"{first}-{self.hex(4)}-4{self.hex(3)}-{self.hex(4)}-{self.hex(12)}"

    def function_id(self) -> str:
        """The globally unique system ID of a function (``Function.functionId``)."""
        return f"{self.hex(8)}-{self.hex(4)}-{self.hex(4)}-{self.hex(4)}-{self.hex(12)}"

    def instance_id(self) -> str:
        """An instance ID like ``c-66a1b2c3-0f1e2d3c4b5a``."""
        return f"c-{self.hex(8)}-{self.hex(12)}"

    def message_id(self) -> str:
        """An SMQ message ID shaped like ``5F290C926D472878-2-14D9529A8FA-20000xxxx``."""
        return f"{self.hex(16).upper()}-1-{self.hex(11).upper()}-{self.hex(9).upper()}"

    def receipt_handle(self) -> str:
        """A one-time SMQ receipt handle: letters, digits and ``-`` only (spec §13.3)."""
        return f"1-{self.alnum(40)}"

    def token(self, n: int = 16) -> str:
        """An opaque token of letters and digits."""
        return self.alnum(n)
