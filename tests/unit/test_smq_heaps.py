"""fcemu.smq.queues' heaps against a plain model that scans every message: random sends
(delays, priorities), receives, peeks, deletes, visibility changes, retention, clock
moves and reloads from the queue's state give the same messages, order, handles and
counts."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from fcemu.clock import ManualClock
from fcemu.errors import MessageNotExist
from fcemu.ids import IdGenerator
from fcemu.scheduler import Scheduler
from fcemu.smq import Queue, Smq
from tests.constants import ACCOUNT, SECOND_MS, T0


@dataclass
class Model:
    """One message as the scanning model sees it."""

    body: str
    priority: int
    seq: int
    visible_at: int
    expires_at: int
    received: int = 0


class Scan:
    """The reference: scan and sort everything on every operation."""

    def __init__(self, visibility_s: int, retention_s: int) -> None:
        self.messages: list[Model] = []
        self.visibility_ms, self.retention_ms = visibility_s * 1000, retention_s * 1000
        self.seq = 0

    def live(self, now: int) -> list[Model]:
        self.messages = [m for m in self.messages if now < m.expires_at]
        return self.messages

    def ready(self, now: int) -> list[Model]:
        return sorted((m for m in self.live(now) if m.visible_at <= now),
                      key=lambda m: (m.priority, m.seq))

    def send(self, now: int, body: str, delay_s: int, priority: int) -> None:
        self.seq += 1
        self.messages.append(Model(body, priority, self.seq, now + delay_s * 1000,
                                   now + self.retention_ms))

    def receive(self, now: int, count: int) -> list[Model]:
        taken = self.ready(now)[:count]
        for m in taken:
            m.received += 1
            m.visible_at = now + self.visibility_ms
        return taken

    def counts(self, now: int) -> dict[str, int]:
        live = self.live(now)
        active = sum(m.visible_at <= now for m in live)
        delayed = sum(m.visible_at > now and not m.received for m in live)
        return {"ActiveMessages": active, "InactiveMessages": len(live) - active - delayed,
                "DelayMessages": delayed}


ops = st.lists(st.one_of(
    st.tuples(st.just("send"), st.integers(0, 3), st.integers(1, 3)),
    st.tuples(st.just("receive"), st.integers(1, 4), st.just(0)),
    st.tuples(st.just("peek"), st.integers(1, 4), st.just(0)),
    st.tuples(st.just("delete"), st.integers(0, 20), st.just(0)),
    st.tuples(st.just("hide"), st.integers(0, 20), st.integers(0, 4)),
    st.tuples(st.just("wait"), st.integers(0, 5), st.just(0)),
    st.tuples(st.just("reload"), st.just(0), st.just(0)),
), max_size=80)


@settings(max_examples=300, deadline=None)
@given(ops=ops, visibility=st.integers(1, 4), retention=st.integers(60, 70))
def test_heaps_agree_with_a_scan(ops: list[tuple[str, int, int]], visibility: int,
                                 retention: int) -> None:
    clock = ManualClock(T0)
    smq = Smq(clock, Scheduler(clock), IdGenerator(3), region="cn-hangzhou", account_id=ACCOUNT)
    queue, _ = smq.create_queue("q", VisibilityTimeout=visibility,
                                MessageRetentionPeriod=retention)
    model = Scan(visibility, retention)
    handles: list[tuple[str, Model]] = []  # handles from receives, oldest first
    n = 0
    for op, a, b in ops:
        now = clock.now_ms()
        if op == "send":
            n += 1
            queue.send(f"m{n}", delay_seconds=a, priority=b)
            model.send(now, f"m{n}", a, b)
        elif op == "receive":
            got = queue.receive(a)
            want = model.receive(now, a)
            assert [m.body for m in got] == [m.body for m in want]
            handles += [(m.receipt_handle or "", w) for m, w in zip(got, want, strict=True)]
        elif op == "peek":
            assert [m.body for m in queue.peek(a)] == [m.body for m in model.ready(now)[:a]]
        elif op in ("delete", "hide") and handles:
            handle, m = handles[a % len(handles)]
            current = m in model.live(now) and m.visible_at > now and handle == handles[
                max(i for i, (_, w) in enumerate(handles) if w is m)][0]
            try:
                if op == "delete":
                    queue.delete(handle)
                else:
                    fresh = queue.change_visibility(handle, b).receipt_handle or ""
            except MessageNotExist:
                assert not current
                continue
            assert current
            if op == "delete":
                model.messages.remove(m)
            else:
                m.visible_at = now + b * 1000
                handles.append((fresh, m))
        elif op == "wait":
            clock.move_to(now + a * SECOND_MS)
        elif op == "reload":  # a restore's load (each heap made at once) changes nothing
            again = Smq(clock, Scheduler(clock), smq.ids, region="cn-hangzhou",
                        account_id=ACCOUNT)
            again.load_state(smq.to_state())
            smq, queue = again, again.get_queue("q")
        assert queue.counts() == model.counts(clock.now_ms())
    assert [m.body for m in queue.messages()] == [
        m.body for m in sorted(model.live(clock.now_ms()), key=lambda m: (m.priority, m.seq))]


def test_heaps_stay_proportional_to_live_messages() -> None:
    """Receive+delete churn leaves stale heap entries; they are compacted away."""
    clock = ManualClock(T0)
    queue = Queue("q", {"VisibilityTimeout": 30, "DelaySeconds": 0, "MaximumMessageSize": 65536,
                        "MessageRetentionPeriod": 345600, "PollingWaitSeconds": 0,
                        "LoggingEnabled": False},
                  clock=clock, scheduler=Scheduler(clock), ids=IdGenerator(1))
    for i in range(5000):
        queue.send(f"m{i}")
        (message,) = queue.receive()
        queue.delete(message.receipt_handle or "")
    sizes = (len(queue._hidden), len(queue._visible), len(queue._expiry))
    assert max(sizes) <= 2 * 0 + 65, sizes
    assert queue.counts() == {"ActiveMessages": 0, "InactiveMessages": 0, "DelayMessages": 0}


def test_a_reloaded_queue_delivers_in_the_same_order() -> None:
    """A queue loaded from its state (a restore) makes each heap at once: visible, hidden
    and retention entries still come out in their order."""
    clock = ManualClock(T0)
    smq = Smq(clock, Scheduler(clock), IdGenerator(3), region="cn-hangzhou", account_id=ACCOUNT)
    queue, _ = smq.create_queue("q", VisibilityTimeout=5, MessageRetentionPeriod=60)
    for i, (priority, delay) in enumerate([(3, 0), (2, 4), (1, 0), (3, 2), (1, 3), (2, 0),
                                           (1, 1), (3, 0)]):
        queue.send(f"m{i}", delay_seconds=delay, priority=priority)
        clock.move_to(clock.now_ms() + 100)
    later = ManualClock(clock.now_ms())
    again = Smq(later, Scheduler(later), smq.ids, region="cn-hangzhou", account_id=ACCOUNT)
    again.load_state(smq.to_state())
    seen = []
    for at, loaded in ((clock, smq), (later, again)):
        queue = loaded.get_queue("q")
        order = [m.body for m in queue.receive(16)]
        for ms in (3_000, 4_800):  # delayed ones turn visible by due time; received hidden
            at.move_to(T0 + ms)
            order += [m.body for m in queue.receive(16)]
        counts = queue.counts()
        at.move_to(T0 + 61_000)  # past the retention of the first ones only
        seen.append((order, counts, queue.counts(), [m.body for m in queue.messages()]))
    assert seen[0][0] == ["m2", "m5", "m0", "m7", "m6", "m3", "m4", "m1"]
    assert seen[1] == seen[0]
