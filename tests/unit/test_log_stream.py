"""``LogStream.has`` and ``LogStream.take`` against the plain searches they stand for.

``has`` asks ``endswith`` before ``find`` (``marker in data`` made and dropped a
TypeError first) and ``take`` asks ``startswith`` before ``find`` for the Start line:
random buffers of markers, other requests' markers, marker look-alikes and output must
give what ``in`` and the plain ``find``-based cut gave (the text, what stays buffered
and what goes to the instance log).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from fcemu.runtime.logs import LogStream, end_marker, start_marker


def model_take(data: bytearray, instance_log: bytearray, start: bytes, end: bytes) -> str:
    """``LogStream.take`` as it was written before: ``find`` for both lines."""
    begin = data.find(start)
    if begin > 0:
        instance_log += data[:begin]
        del data[:begin]
        begin = 0
    stop = data.find(end, max(begin, 0))
    if stop >= 0:
        cut = stop + len(end)
        text = bytes(data[:cut])
    else:
        cut = len(data)
        text = bytes(data)
        text += (b"" if text.endswith(b"\n") or not text else b"\n") + end
    if begin < 0:
        text = start + text
    del data[:cut]
    return text.decode("utf-8", "replace")


#: Random scenarios each property runs (each its own seeded generator).
SEEDS = 300
PIECES = [
    start_marker("r-1"), end_marker("r-1"), start_marker("r-2"), end_marker("r-2"),
    start_marker("r-1")[:-1], end_marker("r-1")[:10], b"out\n", b"no newline", b"\xff\xfe",
    b"FC Invoke End RequestId: r-1", b"",
]


def each_seed(check: Callable[[random.Random], None]) -> None:
    """``check`` with a generator seeded by each of :data:`SEEDS` (a failure names its seed)."""
    for seed in range(SEEDS):
        try:
            check(random.Random(seed))
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}: {exc}") from exc


def test_has_and_take_match_the_plain_searches() -> None:
    each_seed(has_and_take_match)


def has_and_take_match(rng: random.Random) -> None:
    chunks = [rng.choice(PIECES) for _ in range(rng.randrange(0, 7))]
    if rng.random() < 0.5:  # the usual shape: Start, output, End
        chunks = [start_marker("r-1"), *chunks, end_marker("r-1")]
    log = LogStream()
    for chunk in chunks:
        log.feed(chunk)
    data = bytearray(b"".join(chunks))
    for marker in (start_marker("r-1"), end_marker("r-1"), end_marker("r-2"), b"out\n"):
        assert log.has(marker) is (marker in data)
    instance_log = bytearray()
    expected = model_take(data, instance_log, start_marker("r-1"), end_marker("r-1"))
    assert log.take(start_marker("r-1"), end_marker("r-1")) == expected
    assert log.take_all() == bytes(data).decode("utf-8", "replace")
    assert log.instance_log == instance_log


def _ops(rng: random.Random) -> list[tuple[str, bytes]]:
    return [(rng.choice(["feed", "feed", "has", "take", "take_other", "copy", "feed_before",
                         "spill", "take_all"]), rng.choice(PIECES)) for _ in range(6)]


def test_lines_kept_apart_read_as_if_fed() -> None:
    each_seed(kept_apart_reads_as_fed)


def kept_apart_reads_as_fed(rng: random.Random) -> None:
    """A request that printed nothing: ``end_quiet`` keeps its two lines apart instead of
    feeding its End line; whatever comes next (more output, searches, its own take with the
    same lines, a take or copy of other lines, a spill, everything taken) reads exactly as
    from a stream that was fed the End line."""
    start, end = start_marker("r-1"), end_marker("r-1")
    quiet, fed = LogStream(), LogStream()
    before = rng.choice([b"", b"", b"earlier\n", start_marker("r-0")])
    for log in (quiet, fed):
        log.feed(before)
        log.feed(start)
    kept = quiet.end_quiet(start, end)
    fed.feed(end)
    assert kept is (before == b"")
    if not kept:
        quiet.feed(end)
    for op, piece in _ops(rng):
        for log in (quiet, fed):
            if op == "feed":
                log.feed(piece)
            elif op == "feed_before":
                log.feed_before(piece, start_marker("r-2"))
            elif op == "spill":
                log.spill()
        if op == "has":
            assert quiet.has(piece) == fed.has(piece) and quiet.has(end) == fed.has(end)
        elif op == "take":
            assert quiet.take(start, end) == fed.take(start, end)
        elif op == "take_other":  # lines equal to the kept ones, but other objects
            other = (bytes(bytearray(start)), bytes(bytearray(end)))
            assert quiet.take(*other) == fed.take(*other)
        elif op == "copy":
            assert quiet.copy(start, end) == fed.copy(start, end)
        elif op == "take_all":
            assert quiet.take_all() == fed.take_all()
        assert quiet.instance_log == fed.instance_log
    assert quiet.take_all() == fed.take_all() and quiet.instance_log == fed.instance_log


def test_lines_kept_apart_count_towards_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from fcemu.runtime import logs

    monkeypatch.setattr(logs, "LOG_LIMIT", 200)
    monkeypatch.setattr(logs, "LOG_KEEP", 50)
    start, end = start_marker("r-1"), end_marker("r-1")
    quiet, fed = LogStream(), LogStream()
    for log in (quiet, fed):
        log.feed(start)
    assert quiet.end_quiet(start, end)
    fed.feed(end)
    for _ in range(5):  # 155 bytes: over the limit with the two lines (60), not without
        for log in (quiet, fed):
            log.feed(b"x" * 30 + b"\n")
    assert b"dropped" in fed.copy(b"[fcemu", b"\n").encode()
    assert quiet.take(start, end) == fed.take(start, end)
    assert quiet.take_all() == fed.take_all()


@pytest.mark.parametrize(("output", "logged"), [
    (b"", b""), (b"line\n", b"line\n"), (b"no newline", b"no newline\n")])
def test_end_line_puts_the_end_line_on_a_line_of_its_own(output: bytes, logged: bytes) -> None:
    """``end_line``: the End line after the output, a newline first where it has none; a
    request that printed nothing keeps its two lines apart, as ``end_quiet`` does."""
    start, end = start_marker("r-1"), end_marker("r-1")
    log = LogStream()
    log.feed(start)
    log.feed(output)
    log.end_line(end, start)
    assert log.take(start, end) == (start + logged + end).decode()
    assert log.take_all() == ""


def test_feed_before_a_line_and_own_line_start_a_new_line() -> None:
    from fcemu.runtime.logs import own_line

    log = LogStream()
    log.feed(start_marker("r-1") + b"partial" + start_marker("r-2"))
    log.feed_before(end_marker("r-1"), start_marker("r-2"), line=True)
    assert log.take(start_marker("r-1"), end_marker("r-1")) == (
        start_marker("r-1") + b"partial\n" + end_marker("r-1")).decode()
    assert log.take_all() == start_marker("r-2").decode()
    end = end_marker("r-1").decode()
    assert own_line(f"x\nglued{end}", end) == f"x\nglued\n{end}"
    assert own_line(f"x\n{end}", end) == f"x\n{end}" and own_line(end, end) == end
