"""One seeded generator for every ID the emulator hands out.

Request IDs, task IDs, instance IDs, function IDs, SMQ message IDs and
receipt handles all come from :class:`IdGenerator`, so that a scenario run
with the same seed produces the same records and messages, and
:meth:`IdGenerator.reset` restores the generator to its first state (moto's
``MotoRandom`` plays the same part).

The sequence contract: each character is ``random.Random(f"{seed}/{stream}").choice(
alphabet)``, in order, per stream. :class:`_Stream` produces exactly that sequence
several times faster (issue 13: a task ID cost 31 ``choice`` calls, 8 µs): ``choice``
over n symbols takes the top ``n.bit_length()`` bits of one 32-bit Mersenne Twister
output and draws again when they are >= n. A stream draws those outputs in blocks
(``getrandbits(32 * k)`` yields the same outputs, least significant first), keeps each
output's top byte, and turns a run of top bytes into characters with one regular
expression (how many bytes k accepted characters use) and one ``bytes.translate``
(byte to character, rejected bytes deleted), both in C.
"""

from __future__ import annotations

import functools
import os
import random
import re
import string
from typing import Any

_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
#: ``choice`` picks an index, so these give ``_HEX``'s characters upper-cased (message IDs).
_HEX_UPPER = "0123456789ABCDEF"
_BLOCK_WORDS = 256  # 32-bit outputs per block (the unit of a stream's position)
#: Blocks a one-alphabet stream draws at once (a refill's Python steps, made 4 times less).
_REFILL_BLOCKS = 4
#: Characters a one-alphabet stream hands out before it drops their top bytes (_Stream._sync).
_SYNC_CHARS = 1024


class _Alphabet:
    """How ``random.choice(symbols)`` reads the top byte of one 32-bit output."""

    def __init__(self, symbols: str) -> None:
        n = len(symbols)
        shift = 8 - n.bit_length()  # choice keeps the top n.bit_length() bits
        accepted = n << shift  # top bytes below this are kept, the rest drawn again
        self.table = bytes(ord(symbols[b >> shift]) if b < accepted else 0 for b in range(256))
        self.rejected = bytes(range(accepted, 256))
        self._span = rb"(?:[\x%02x-\xff]*[\x00-\x%02x])" % (accepted, accepted - 1)
        self._runs: dict[int, re.Pattern[bytes]] = {}

    def run(self, k: int) -> re.Pattern[bytes]:
        """Matches the top bytes that ``k`` characters consume."""
        found = self._runs.get(k)
        if found is None:
            found = self._runs[k] = re.compile(self._span + b"{%d}" % k)
        return found


#: The one reading of each set of symbols (made on first use).
_alphabet = functools.cache(_Alphabet)


def _cut(marks: bytes, n: int) -> int:
    """The index after the ``n``-th accepted byte of ``marks`` (top bytes translated by an
    alphabet's table: rejected bytes 0), which has that many; found with a few counts:
    the prefix grows by what it lacks, never past the shortest one."""
    end = n
    found = n - marks.count(0, 0, n)
    while found != n:
        step = n - found
        found += step - marks.count(0, end, end + step)
        end += step
    return end


def _tail(alphabet: _Alphabet, tops: bytes, left: int) -> int:
    """How many of ``tops``' last bytes the last ``left`` characters of their translation
    use, with the rejected bytes before them: the bytes after the one before those
    characters (``tops`` translates to more than ``left`` characters)."""
    marks = tops[-4 * left - 64:].translate(alphabet.table)  # about 2 bytes a character
    if len(marks) - marks.count(0) <= left:  # rarely: not enough, so all of them
        marks = tops.translate(alphabet.table)
    return _cut(marks[::-1], left + 1) - 1  # through the character before them, backwards


class _Stream:
    """One seeded stream of characters, the same as ``random.Random(seed).choice`` gives.

    A stream drawn with one set of symbols only (a request ID's hex digits; most streams)
    keeps its top bytes' characters too, translated as each block is drawn: a draw is a
    slice of them (issue 13: the regular expression was most of a request ID's 28k
    instructions). The top bytes those characters used are dropped now and then
    (:meth:`_sync`), and before the state is read. A stream drawn with two sets (task
    IDs) reads its top bytes each time, as all streams did before.
    """

    __slots__ = ("_alpha", "_chars", "_mixed", "_origin", "_refills", "_rng", "_symbols",
                 "_tops", "_used")

    def __init__(self, seed: str) -> None:
        self._rng = random.Random(seed)
        self._tops = b""  # top bytes of outputs drawn but not used yet
        self._origin: object = None  # the generator state loaded (None: from the seed)
        self._refills = 0  # blocks drawn since then
        self._loaded()

    def _loaded(self) -> None:
        self._alpha: _Alphabet | None = None  # the one set of symbols drawn so far
        #: The string of _alpha's symbols last drawn with (a draw with this very object
        #: skips the alphabet's lookup); None while there is none or the stream is mixed.
        self._symbols: str | None = None
        self._chars = ""  # _tops translated for _alpha: its characters, in order
        self._used = 0  # characters of _chars handed out (their top bytes still in _tops)
        self._mixed = False  # drawn with two sets of symbols: no _chars kept

    def choose(self, symbols: str, k: int) -> str:
        """``k`` characters, each ``choice(symbols)``."""
        if symbols is not self._symbols:
            return self._choose_other(symbols, k)
        used = self._used
        end = used + k
        if end > len(self._chars):
            if used >= _SYNC_CHARS:
                self._sync()
                used, end = 0, k
            while end > len(self._chars):
                self._refill()
        self._used = end
        return self._chars[used:end]

    def _choose_other(self, symbols: str, k: int) -> str:
        """:meth:`choose` with symbols other than the last draw's string."""
        alphabet = _alphabet(symbols)
        if alphabet is not self._alpha:
            if self._alpha is not None or self._mixed:  # a second set: read the tops
                self._sync()
                self._alpha, self._symbols, self._chars, self._mixed = None, None, "", True
                return self._choose_mixed(alphabet, k)
            self._alpha = alphabet
            self._chars = self._tops.translate(alphabet.table, alphabet.rejected).decode()
        self._symbols = symbols
        return self.choose(symbols, k)

    def _sync(self) -> None:
        """Drop from _tops the top bytes of the characters handed out: up to their last
        accepted byte (the rejected bytes after it stay unused). Found from the end when
        fewer characters are left than were handed out (the sync before a refill: issue
        13), else from the front, so a sync reads about as many bytes as characters were
        handed out or are left (durable mode reads the position at every commit: issue 17)."""
        used, alphabet = self._used, self._alpha
        if not used or alphabet is None:
            return
        tops, left = self._tops, len(self._chars) - used
        if left < used:
            end = len(tops) - _tail(alphabet, tops, left)
        else:
            end = _cut(tops.translate(alphabet.table), used)
        self._tops, self._chars, self._used = tops[end:], self._chars[used:], 0

    def _choose_mixed(self, alphabet: _Alphabet, k: int) -> str:
        run = alphabet.run(k)
        if len(self._tops) < 4 * k + 16:  # a failed match is the slow path: rarely try one
            self._refill()
        match = run.match(self._tops)
        while match is None:
            self._refill()
            match = run.match(self._tops)
        used, self._tops = self._tops[:match.end()], self._tops[match.end():]
        return used.translate(alphabet.table, alphabet.rejected).decode("ascii")

    def to_state(self) -> tuple[object, bytes]:
        """Plain data: the generator's state and the top bytes drawn but not used yet."""
        self._sync()
        return self._rng.getstate(), self._tops

    @classmethod
    def from_state(cls, state: Any) -> _Stream:
        rng_state, tops = state
        stream = cls.__new__(cls)
        version, internal, gauss = rng_state  # tuple() of a tuple is the tuple: no copy
        stream._rng = random.Random()
        stream._rng.setstate((version, tuple(internal), gauss))
        stream._tops = bytes(tops)
        stream._origin, stream._refills = rng_state, 0
        stream._loaded()
        return stream

    def position(self) -> tuple[object, int, bytes]:
        """Where the stream stands, small while it runs from its seed: its origin (None,
        or the generator state it was loaded from), the blocks drawn since, the top bytes
        not used yet. :meth:`at` draws those blocks again."""
        self._sync()
        return self._origin, self._refills, self._tops

    @classmethod
    def at(cls, seed: str, position: Any) -> _Stream:
        """The stream of ``seed`` at a :meth:`position`."""
        origin, refills, tops = position
        stream = cls(seed) if origin is None else cls.from_state((origin, b""))
        left = int(refills)
        while left:  # getrandbits(32 * k * n) draws the outputs of n blocks of k, in order
            n = min(left, 4096)
            stream._rng.getrandbits(32 * _BLOCK_WORDS * n)
            left -= n
        stream._refills, stream._tops = int(refills), bytes(tops)
        return stream

    def _refill(self) -> None:
        """Draw the next blocks: one while the stream is mixed (a task ID's), else
        _REFILL_BLOCKS (fewer draws: issue 13), the same outputs in the same order."""
        blocks = 1 if self._alpha is None else _REFILL_BLOCKS
        words = _BLOCK_WORDS * blocks
        # the outputs' top bytes, first drawn first: big-endian bytes read from the end
        # (int.to_bytes writes them about 15 % faster than little-endian ones: issue 13)
        tops = self._rng.getrandbits(32 * words).to_bytes(4 * words, "big")[-4::-4]
        self._tops += tops
        if self._alpha is not None:
            self._chars += tops.translate(self._alpha.table, self._alpha.rejected).decode()
        self._refills += blocks


#: The streams drawn by answers that may change nothing: request IDs (a synchronous
#: invocation's, an HTTP trigger's), response IDs, SMQ request IDs ("misc"), instance
#: IDs and tokens. Durable mode cannot rely on their committed positions after a restart
#: (:meth:`IdGenerator.next_epoch`); task and message IDs, receipt handles and function
#: IDs are drawn only by changes, committed with them.
VOLATILE = frozenset({"request", "response", "misc", "instance", "token"})


class IdGenerator:
    """Deterministic IDs from ``seed``; a random seed is drawn when none is given.

    Each kind of ID draws from its own stream (derived from the seed and the
    kind), so that, say, an extra GetAsyncTask call (one more response ID)
    does not shift the task IDs generated after it.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "big")
        #: Durable mode's starts of one data directory, counted: the :data:`VOLATILE`
        #: streams of epoch n > 0 have seeds of their own (:meth:`next_epoch`).
        self.epoch = 0
        self._streams: dict[str, _Stream] = {}
        self._head_second, self._head = -1, ""  # request and response IDs' head, kept

    def reset(self, seed: int | None = None) -> None:
        """Restart every stream (from ``seed`` when given, else the current seed)."""
        if seed is not None:
            self.seed = seed
        self._streams.clear()

    def to_state(self) -> dict[str, object]:
        """Plain data that :meth:`load_state` puts back: the same IDs are generated next
        (snapshots, :mod:`fcemu.engine.state`)."""
        return {"seed": self.seed, "epoch": self.epoch,
                "streams": {name: s.to_state() for name, s in self._streams.items()}}

    def position(self) -> dict[str, object]:
        """:meth:`to_state` in a small form, each stream as its place since its seed (a
        few bytes: durable mode writes it with every commit, where the generator states
        took 3 KB a stream), which :meth:`load_state` takes too: it draws again what the
        streams had drawn (a stream loaded from a snapshot counts from that state)."""
        return {"seed": self.seed, "epoch": self.epoch, "positions": {
            name: s.position() for name, s in self._streams.items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue exactly where the generator of :meth:`to_state` (or :meth:`position`)
        stood."""
        self.seed = int(state["seed"])
        self.epoch = int(state.get("epoch", 0))
        if "positions" in state:
            self._streams = {name: _Stream.at(self._seed_of(name), p)
                             for name, p in state["positions"].items()}
            return
        self._streams = {name: _Stream.from_state(s) for name, s in state["streams"].items()}

    def next_epoch(self) -> None:
        """Durable mode, at each start of a data directory: the :data:`VOLATILE` streams
        start again from seeds of their own (``SEED/STREAM/EPOCH``). Their draws are not
        committed (an answer that changes nothing commits nothing), so the positions
        stored may be behind what was handed out; a new seed hands out none of those."""
        self.epoch += 1
        for name in VOLATILE:
            self._streams.pop(name, None)

    def _seed_of(self, stream: str) -> str:
        if self.epoch and stream in VOLATILE:
            return f"{self.seed}/{stream}/{self.epoch}"
        return f"{self.seed}/{stream}"

    def _stream(self, stream: str) -> _Stream:
        found = self._streams.get(stream)
        if found is None:
            found = self._streams[stream] = _Stream(self._seed_of(stream))
        return found

    def hex(self, n: int, stream: str = "misc") -> str:
        """``n`` lower-case hex digits."""
        return self._stream(stream).choose(_HEX, n) if n > 0 else ""

    def alnum(self, n: int, stream: str = "misc") -> str:
        """``n`` letters and digits."""
        return self._stream(stream).choose(_ALNUM, n) if n > 0 else ""

    def request_id(self, now_ms: int) -> str:
        """An invocation's request ID, FC 3.0 form ``1-<8 hex seconds>-<24 hex>`` (spec §1.2)."""
        second = (now_ms // 1000) & 0xFFFFFFFF  # _id_head's, inline: one per async submit
        if second != self._head_second:
            self._head_second, self._head = second, f"1-{second:08x}-"
        stream = self._streams.get("request")
        if stream is None:
            stream = self._stream("request")
        used = stream._used  # choose's usual case, inline: a slice of characters kept
        end = used + 24
        if stream._symbols is _HEX and end <= len(stream._chars):
            stream._used = end
            return self._head + stream._chars[used:end]
        return self._head + stream.choose(_HEX, 24)

    def response_id(self, now_ms: int) -> str:
        """The ``x-fc-request-id`` of an API response that runs no handler."""
        return self._id_head(now_ms) + self._stream("response").choose(_HEX, 24)

    def _id_head(self, now_ms: int) -> str:
        """``1-<8 hex seconds>-``, kept for the second (one per request otherwise)."""
        second = (now_ms // 1000) & 0xFFFFFFFF
        if second != self._head_second:
            self._head_second, self._head = second, f"1-{second:08x}-"
        return self._head

    def task_id(self) -> str:
        """A UUID-shaped ID that also matches the task-ID rule (starts with a letter)."""
        stream = self._stream("task")
        h = stream.choose("abcdef", 1) + stream.choose(_HEX, 30)
        return f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{h[15:19]}-{h[19:]}"

    def function_id(self) -> str:
        """The globally unique system ID of a function (``Function.functionId``)."""
        h = self.hex(32, "function")
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def instance_id(self) -> str:
        """An instance ID like ``c-66a1b2c3-0f1e2d3c4b5a``."""
        h = self.hex(20, "instance")
        return f"c-{h[:8]}-{h[8:]}"

    def message_id(self) -> str:
        """An SMQ message ID shaped like SMQ's own (``5F290C926D472878-2-14D9529A8FA-200000001``:
        16, 11 and 9 upper-case hex digits around a digit, which is always ``1`` here)."""
        stream = self._streams.get("message")  # hex() and _stream(), inline (one a task
        if stream is None:  # with a result message: issue 13)
            stream = self._stream("message")
        used = stream._used  # choose's usual case, inline: its three parts sliced from
        end = used + 36  # the characters kept (issue 13)
        if stream._symbols is _HEX_UPPER and end <= len(stream._chars):
            stream._used, chars = end, stream._chars
            return f"{chars[used:used + 16]}-1-{chars[used + 16:end - 9]}-{chars[end - 9:end]}"
        h = stream.choose(_HEX_UPPER, 36)  # choose(_HEX).upper(), without the copy
        return f"{h[:16]}-1-{h[16:27]}-{h[27:]}"

    def receipt_handle(self) -> str:
        """A one-time SMQ receipt handle: letters, digits and ``-`` only (spec §13.3)."""
        return f"1-{self.alnum(40, 'receipt')}"

    def token(self, n: int = 16) -> str:
        """An opaque token of letters and digits."""
        return self.alnum(n, "token")
