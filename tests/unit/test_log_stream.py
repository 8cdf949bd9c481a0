"""``LogStream.has`` and ``LogStream.take`` against the plain searches they stand for.

``has`` asks ``endswith`` before ``find`` (``marker in data`` made and dropped a
TypeError first) and ``take`` asks ``startswith`` before ``find`` for the Start line:
random buffers of markers, other requests' markers, marker look-alikes and output must
give what ``in`` and the plain ``find``-based cut gave (the text, what stays buffered
and what goes to the instance log).
"""

from __future__ import annotations

import random

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


PIECES = [
    start_marker("r-1"), end_marker("r-1"), start_marker("r-2"), end_marker("r-2"),
    start_marker("r-1")[:-1], end_marker("r-1")[:10], b"out\n", b"no newline", b"\xff\xfe",
    b"FC Invoke End RequestId: r-1", b"",
]


@pytest.mark.parametrize("seed", range(300))
def test_has_and_take_match_the_plain_searches(seed: int) -> None:
    rng = random.Random(seed)
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
