"""Seeded IDs: same seed, same IDs; streams independent; reset restores."""

from __future__ import annotations

import marshal
import random
import re
import string

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fcemu.ids import IdGenerator, _alphabet, _tail
from fcemu.specs import TASK_ID
from tests.constants import T0

#: Drawn by the ``random.choice``-per-character generator before issue 13 made it faster.
PINNED_7 = ["1-66318600-e1f00861493b106f979f0541", "fcaa397e-9a10-4bbc-a540-c803860b7c2f",
            "c-96b80b5e-b49e09836346", "E51746C0DAB4286D-1-9AE07488067-F1A8165C4",
            "1-JKvqmNmzWB7tIJ0pLoWRziI2kWAsbCyKCRDBdIpA", "c596ce79-4061-3837-33cd-67ad59c32736",
            "1-66318600-479fa9b33a9c47c9b8b267cf"]


def sample(ids: IdGenerator) -> list[str]:
    return [ids.request_id(T0), ids.task_id(), ids.instance_id(), ids.message_id(),
            ids.receipt_handle(), ids.function_id(), ids.response_id(T0)]


def test_same_seed_same_ids_and_reset_restores_them():
    first = sample(IdGenerator(7))
    again = IdGenerator(7)
    assert sample(again) == first
    again.reset()
    assert sample(again) == first
    assert sample(IdGenerator(8)) != first


def test_one_kind_of_id_does_not_shift_another():
    quiet, busy = IdGenerator(7), IdGenerator(7)
    for _ in range(5):
        busy.response_id(T0)  # e.g. extra GetAsyncTask calls
    assert [quiet.task_id() for _ in range(3)] == [busy.task_id() for _ in range(3)]


def test_shapes():
    ids = IdGenerator(1)
    assert re.fullmatch(r"1-66318600-[0-9a-f]{24}", ids.request_id(T0))
    assert TASK_ID.match(ids.task_id())
    assert re.fullmatch(r"1-[A-Za-z0-9]{40}", ids.receipt_handle())
    assert re.fullmatch(r"[0-9A-F]{16}-1-[0-9A-F]{11}-[0-9A-F]{9}", ids.message_id())


def test_request_and_response_ids_name_the_second_of_their_time() -> None:
    """Their head (``1-<8 hex seconds>-``) is kept for a second: it follows the time
    forwards, backwards and past 2**32 seconds, for both kinds, and the hex after it is
    each kind's own stream."""
    ids, rng = IdGenerator(3), random.Random("3/request")
    responses = random.Random("3/response")
    for ms in (0, 999, 1000, 5_500, 1_000, 1_000, T0, T0 + 999, (2**32 + 7) * 1000):
        head = f"1-{(ms // 1000) & 0xFFFFFFFF:08x}-"
        assert ids.request_id(ms) == head + _choices(rng, "0123456789abcdef", 24)
        assert ids.response_id(ms) == head + _choices(responses, "0123456789abcdef", 24)


def _choices(rng: random.Random, symbols: str, n: int) -> str:
    return "".join(rng.choice(symbols) for _ in range(n))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), calls=st.lists(st.sampled_from(
    ["hex1", "hex24", "alnum40", "task", "mixed"]), min_size=1, max_size=40))
def test_the_fast_streams_give_the_sequence_of_random_choice(seed: int, calls: list[str]) -> None:
    """The sequence contract (fcemu.ids): each character is ``choice`` of a
    ``random.Random(f"{seed}/{stream}")``, in order, whatever the mix of lengths and
    alphabets drawn from one stream."""
    ids, rng = IdGenerator(seed), random.Random(f"{seed}/misc")
    task_rng = random.Random(f"{seed}/task")
    hexdigits = "0123456789abcdef"
    for call in calls:
        if call == "hex1":
            assert ids.hex(1) == _choices(rng, hexdigits, 1)
        elif call == "hex24":
            assert ids.hex(24) == _choices(rng, hexdigits, 24)
        elif call == "alnum40":
            assert ids.alnum(40) == _choices(rng, string.ascii_letters + string.digits, 40)
        elif call == "mixed":
            assert ids.alnum(3) + ids.hex(5) == _choices(
                rng, string.ascii_letters + string.digits, 3) + _choices(rng, hexdigits, 5)
        else:
            first = task_rng.choice("abcdef") + _choices(task_rng, hexdigits, 7)
            rest = [_choices(task_rng, hexdigits, n) for n in (4, 3, 4, 12)]
            assert ids.task_id() == f"{first}-{rest[0]}-4{rest[1]}-{rest[2]}-{rest[3]}"


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), draws=st.lists(st.tuples(
    st.integers(0, 700), st.sampled_from(["draw", "position", "state"])), max_size=12))
def test_a_one_alphabet_stream_keeps_the_sequence_across_its_syncs_and_loads(
        seed: int, draws: list[tuple[int, str]]) -> None:
    """A stream drawn with one set of symbols hands out slices of characters translated
    per block and drops their top bytes now and then (issue 13): the same characters as
    ``choice``, also after its state is read and loaded mid-way."""
    ids, rng = IdGenerator(seed), random.Random(f"{seed}/request")
    hexdigits = "0123456789abcdef"
    for n, then in draws:
        for _ in range(n // 24):  # request IDs: 24 hex digits each
            assert ids.request_id(T0)[-24:] == _choices(rng, hexdigits, 24)
        assert ids.hex(n % 24 + 1000 * (n > 650), "request") == _choices(
            rng, hexdigits, n % 24 + 1000 * (n > 650))
        if then != "draw":
            loaded = IdGenerator(0)
            loaded.load_state(ids.position() if then == "position" else ids.to_state())
            ids = loaded
    assert ids.hex(64, "request") == _choices(rng, hexdigits, 64)


def test_pinned_ids_of_seed_7() -> None:
    """The first IDs of seed 7, as the generator of every earlier release drew them."""
    assert sample(IdGenerator(7)) == PINNED_7


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), before=st.integers(0, 300), after_load=st.integers(0, 300))
def test_a_position_continues_the_streams_as_the_full_state_does(
        seed: int, before: int, after_load: int) -> None:
    """``position()`` (durable mode's small form: blocks drawn since the seed, or since the
    state a stream was loaded from) and ``to_state()`` put back the same generator."""
    ids = IdGenerator(seed)
    for _ in range(before):
        ids.task_id()
        ids.request_id(T0)
    loaded = IdGenerator(0)
    loaded.load_state(ids.to_state())  # a stream from a snapshot: counts from that state
    for _ in range(after_load):
        loaded.task_id()
    loaded.message_id()
    for source in (ids, loaded):
        by_position, by_state = IdGenerator(1), IdGenerator(2)
        by_position.load_state(source.position())
        by_state.load_state(source.to_state())
        assert sample(by_position) == sample(by_state) == sample(source)


def test_a_position_is_small_while_the_streams_run_from_their_seed() -> None:
    ids = IdGenerator(7)
    for _ in range(5000):
        ids.task_id()
        ids.request_id(T0)
    assert len(marshal.dumps(ids.position())) < 1000 < 6000 < len(marshal.dumps(ids.to_state()))


def test_a_position_counts_blocks_of_256_outputs_whatever_a_refill_draws() -> None:
    """A one-alphabet stream draws several blocks at once (issue 13); its position still
    counts blocks of 256 outputs, so a position an earlier release wrote after an odd
    number of blocks (a durable directory) continues the same sequence."""
    seed = 11
    rng = random.Random(f"{seed}/request")
    hexdigits = "0123456789abcdef"
    expected = [_choices(rng, hexdigits, 24) for _ in range(400)]
    # where a stream of one block per refill stood after 6 request IDs: 3 blocks drawn,
    # the top bytes the next characters come from kept
    probe = random.Random(f"{seed}/request")
    tops = probe.getrandbits(32 * 256 * 3).to_bytes(4 * 256 * 3, "little")[3::4]
    accepted = [i for i, b in enumerate(tops) if b < 128]
    left = tops[accepted[6 * 24 - 1] + 1:]
    loaded = IdGenerator(0)
    loaded.load_state({"seed": seed, "positions": {"request": (None, 3, left)}})
    assert [loaded.request_id(T0)[-24:] for _ in range(394)] == expected[6:]
    ids = IdGenerator(seed)
    for got in expected[:100]:
        assert ids.request_id(T0)[-24:] == got
    origin, blocks, _ = ids.position()["positions"]["request"]  # type: ignore[index]
    assert origin is None and blocks % 4 == 0


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(1, 120),
       load=st.sampled_from([None, "position", "state"]))
def test_message_ids_are_the_upper_cased_choices_of_their_stream(
        seed: int, count: int, load: str | None) -> None:
    """A message ID is 36 ``choice``s of hex digits, upper-cased (drawn with the upper-case
    digits, and sliced straight from the stream's characters: issue 13), across refills and
    syncs, and after a load mid-way."""
    ids, rng = IdGenerator(seed), random.Random(f"{seed}/message")
    for i in range(count):
        h = _choices(rng, "0123456789abcdef", 36).upper()
        assert ids.message_id() == f"{h[:16]}-1-{h[16:27]}-{h[27:]}"
        if load is not None and i == count // 2:
            loaded = IdGenerator(0)
            loaded.load_state(ids.position() if load == "position" else ids.to_state())
            ids = loaded
    h = _choices(rng, "0123456789abcdef", 36).upper()
    assert ids.message_id() == f"{h[:16]}-1-{h[16:27]}-{h[27:]}"


@settings(max_examples=200, deadline=None)
@given(tops=st.binary(min_size=1, max_size=400) | st.builds(
    lambda head, n: head + bytes([200]) * n, st.binary(min_size=1, max_size=8),
    st.integers(0, 300)), symbols=st.sampled_from(["0123456789abcdef", string.ascii_letters
                                                    + string.digits, "abcdef"]),
    data=st.data())
def test_a_sync_s_cut_found_from_the_end_is_the_one_found_from_the_front(
        tops: bytes, symbols: str, data: st.DataObject) -> None:
    """``_tail`` (the sync before a refill reads its cut from the end: issue 13) gives the
    bytes after the last character handed out, as counting from the front does, also when
    rejected bytes run longer than the window it translates first."""
    alphabet = _alphabet(symbols)
    accepted = [i for i, b in enumerate(tops) if alphabet.table[b]]
    assume(accepted)
    used = data.draw(st.integers(1, len(accepted)))
    left = len(accepted) - used
    assert _tail(alphabet, tops, left) == len(tops) - accepted[used - 1] - 1
