"""fcemu.tasks.Slots reads the engine's concurrency configs and the account's limit
directly (issue 13: no callback per attempt): a config put or deleted after the slots were
made counts at the next acquire, and an engine reset with other settings takes their
account limit."""

from __future__ import annotations

from fcemu.clock import ManualClock, new_event_loop
from fcemu.engine import Engine
from fcemu.ids import IdGenerator
from fcemu.models import ConcurrencyConfig
from fcemu.settings import Settings
from fcemu.specs import FunctionSpec
from fcemu.tasks import Slots
from tests.constants import T0


def test_configs_are_read_at_each_acquire() -> None:
    configs: dict[str, ConcurrencyConfig] = {}
    slots = Slots(configs)
    assert all(slots.acquire("f") for _ in range(3))
    configs["f"] = ConcurrencyConfig("f", "arn:f", 4)
    assert slots.acquire("f") and not slots.acquire("f") and slots.running("f") == 4
    assert slots.acquire("g")  # another function's config is its own
    configs["f"] = ConcurrencyConfig("f", "arn:f", 0)
    slots.release("f")
    assert not slots.acquire("f")
    del configs["f"]
    assert slots.acquire("f") and slots.running("f") == 4


def test_the_account_limit_counts_every_function() -> None:
    slots = Slots({}, 2)
    assert slots.acquire("f") and slots.acquire("g") and slots.account_full()
    assert not slots.acquire("h")
    slots.release("f")
    assert not slots.account_full() and slots.acquire("h")


def test_the_engine_slots_follow_its_configs_and_settings() -> None:
    async def scenario() -> list[bool]:
        engine = Engine(Settings(clock="manual"), ManualClock(T0), IdGenerator(7))
        try:
            engine.create_function(FunctionSpec(name="f", runtime="python3.10",
                                                handler="index.handler"),
                                   handler=lambda event, context: b"")
            seen = [engine.slots.acquire("f")]
            engine.put_concurrency_config("f", 1)
            seen.append(engine.slots.acquire("f"))
            engine.delete_concurrency_config("f")
            seen.append(engine.slots.acquire("f"))
            await engine.reset(settings=Settings(clock="manual", account_concurrency=1))
            seen += [engine.slots.acquire("f"), engine.slots.acquire("g")]
            return seen
        finally:
            await engine.close()

    loop = new_event_loop()
    try:
        assert loop.run_until_complete(scenario()) == [True, False, True, True, False]
    finally:
        loop.close()
