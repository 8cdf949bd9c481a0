"""Seeded IDs: same seed, same IDs; streams independent; reset restores."""

from __future__ import annotations

import re

from fcemu.ids import IdGenerator
from fcemu.specs import TASK_ID
from tests.constants import T0


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
