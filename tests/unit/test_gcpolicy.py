"""fcemu.gcpolicy: retained task records are frozen out of the cyclic collector's walks
in steps, and handed back when a new engine state begins."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from fcemu import gcpolicy
from tests.unit.test_engine import deploy, run, submit


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(gcpolicy, "FREEZE_EVERY", 3)
    monkeypatch.setattr(gcpolicy, "FIRST_STEPS", 1)
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


def frozen(obj: object) -> bool:
    """Out of the collector's walks (gc.get_objects lists tracked, unfrozen objects)."""
    return gc.is_tracked(obj) and all(o is not obj for o in gc.get_objects())


def test_the_first_freeze_after_a_release_waits_longer(fresh: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcpolicy, "FIRST_STEPS", 2)
    gcpolicy.release()
    first = [0]
    for _ in range(5):
        gcpolicy.retained()
    assert gc.get_freeze_count() == 0
    gcpolicy.retained()  # the sixth step: 2 x 3
    assert frozen(first)
    later = [1]
    gcpolicy.retained(2)
    assert not frozen(later)
    gcpolicy.retained()  # then every 3 steps
    assert frozen(later)
    gcpolicy.release()
    assert not frozen(first) and not frozen(later)


def test_a_finished_task_is_a_step_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A drain makes long-lived objects (attempts, events, result messages) as a burst of
    submissions does: the steps count tasks that finish, not only tasks submitted."""
    monkeypatch.setattr(gcpolicy, "FREEZE_EVERY", 4)
    monkeypatch.setattr(gcpolicy, "FIRST_STEPS", 1)

    async def scenario(engine, runtime):  # type: ignore[no-untyped-def]
        deploy(engine)
        tasks = [await submit(engine, delay_s=1) for _ in range(2)]  # two steps
        waiting = [frozen(t) for t in tasks]
        await engine.advance_clock(1000)  # both finish: four steps, a freeze
        return waiting, [t.status.value for t in tasks], [frozen(t) for t in tasks]

    try:
        waiting, statuses, done = run(scenario)
    finally:
        gcpolicy.release()
    assert waiting == [False, False]
    assert statuses == ["Succeeded", "Succeeded"]
    assert done == [True, True]



class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _old_garbage() -> weakref.ref[_Cycle]:
    """A reference cycle that reaches the oldest generation, then becomes garbage."""
    cycle = _Cycle()
    ref = weakref.ref(cycle)
    gc.collect(1)
    gc.collect(1)
    del cycle
    return ref


def test_the_process_first_freeze_collects_the_young_then_in_full(
        fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's first freeze collects generations 0 and 1 only (a full collection
    would walk the whole process): old cycle garbage stays until the next release, after
    which first freezes collect in full again."""
    monkeypatch.setattr(gcpolicy, "_young_first", [True])
    old = _old_garbage()
    young = _Cycle()
    young_ref = weakref.ref(young)
    del young
    for _ in range(3):  # the process's first freeze
        gcpolicy.retained()
    assert young_ref() is None
    assert old() is not None  # frozen with the rest
    gcpolicy.release()
    again = _old_garbage()
    for _ in range(3):  # a first freeze after a release: a full collection
        gcpolicy.retained()
    assert old() is None and again() is None


def _generation(obj: object) -> int | None:
    """The generation the collector holds ``obj`` in (None: frozen or untracked)."""
    return next((g for g in range(3) if any(o is obj for o in gc.get_objects(g))), None)


def test_promote_moves_young_objects_to_the_oldest_generation_and_freezes_nothing(
        fresh: None) -> None:
    kept = [[i] for i in range(3)]
    young_garbage = _Cycle()
    ref = weakref.ref(young_garbage)
    del young_garbage
    gcpolicy.promote()
    assert [_generation(k) for k in kept] == [2, 2, 2]
    assert gc.get_freeze_count() == 0
    assert ref() is not None  # promoted, not collected: the next full collection takes it
    gc.collect()
    assert ref() is None


def test_promote_leaves_what_is_frozen_frozen(fresh: None) -> None:
    old = [0]
    for _ in range(3):
        gcpolicy.retained()
    assert frozen(old)
    young = [1]
    gcpolicy.promote()
    assert frozen(old) and _generation(young) in (0, 1)


def test_promote_is_off_with_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcpolicy, "FREEZE_EVERY", 0)
    gc.collect()
    young = [0]
    gcpolicy.promote()
    assert _generation(young) == 0


def test_a_restore_promotes_the_records_it_loads() -> None:
    """A snapshot restore's task records go straight to the oldest generation: no young
    collection walks them (issue 17), and nothing stays frozen after it."""
    async def scenario(engine, runtime):  # type: ignore[no-untyped-def]
        deploy(engine)
        for delay in (0, 30, 60):
            await submit(engine, delay_s=delay)
        await engine.advance_clock(1)
        engine.snapshot("s")
        await engine.restore_snapshot("s")
        tasks = list(engine.tasks.by_function["f"].values())
        return [_generation(t) for t in tasks], gc.get_freeze_count()

    try:
        generations, frozen_count = run(scenario)
    finally:
        gcpolicy.release()
    assert generations == [2, 2, 2]
    assert frozen_count == 0


def test_a_release_raises_the_young_threshold_while_the_policy_is_on(
        fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        gcpolicy.release()
        assert gc.get_threshold() == (gcpolicy.YOUNG_THRESHOLD, 10, 10)
        gc.set_threshold(gcpolicy.YOUNG_THRESHOLD * 2, 5, 7)  # higher: kept
        gcpolicy.release()
        assert gc.get_threshold() == (gcpolicy.YOUNG_THRESHOLD * 2, 5, 7)
        gc.set_threshold(0, 10, 10)  # the collector's own collections off: kept off
        gcpolicy.release()
        assert gc.get_threshold() == (0, 10, 10)
        gc.set_threshold(700, 10, 10)
        monkeypatch.setattr(gcpolicy, "FREEZE_EVERY", 0)  # the policy off: left alone
        gcpolicy.release()
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)
