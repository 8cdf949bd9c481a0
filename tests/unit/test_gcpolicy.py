"""fcemu.gcpolicy: retained task records are frozen out of the cyclic collector's walks
in steps, and handed back when a new engine state begins."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from fcemu import gcpolicy


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(gcpolicy, "FREEZE_EVERY", 3)
    gcpolicy.release()
    yield
    gcpolicy.release()


def test_every_step_of_retained_tasks_freezes_the_survivors(fresh: None) -> None:
    kept = [[i] for i in range(10)]  # lists: tracked by the collector
    gcpolicy.retained()
    gcpolicy.retained()
    assert gc.get_freeze_count() == 0
    assert any(o is kept[0] for o in gc.get_objects())
    gcpolicy.retained()
    assert gc.get_freeze_count() > 0
    assert all(o is not kept[0] for o in gc.get_objects())  # no longer walked
    gcpolicy.release()
    assert gc.get_freeze_count() == 0
    assert any(o is kept[0] for o in gc.get_objects())  # walked again


def test_frozen_objects_are_still_freed_by_reference_counting(fresh: None) -> None:
    class Record:
        pass

    record = Record()
    ref = weakref.ref(record)
    for _ in range(3):
        gcpolicy.retained()
    assert gc.get_freeze_count() > 0
    del record
    assert ref() is None


def test_zero_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcpolicy, "FREEZE_EVERY", 0)
    gcpolicy.release()
    for _ in range(5):
        gcpolicy.retained()
    assert gc.get_freeze_count() == 0
