"""The SMQ send hook of queue triggers (fcemu.engine.triggers._hook_sends): a send calls the
engine only while an enabled queue trigger exists, and every change of the triggers (create,
disable, enable, delete, a snapshot's restore, a reset) keeps the hook and the triggers in
step: a message sent to a watched queue is always consumed, one to an unwatched one never."""

from __future__ import annotations

import json

from fcemu.clock import ManualClock, new_event_loop
from fcemu.engine import Engine
from fcemu.ids import IdGenerator
from fcemu.settings import Settings
from fcemu.specs import AsyncConfigSpec, FunctionSpec
from fcemu.triggers.model import TriggerSpec
from tests.constants import T0


def run(scenario):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        engine = Engine(Settings(clock="manual"), ManualClock(T0), IdGenerator(7))
        try:
            return await scenario(engine)
        finally:
            await engine.close()

    loop = new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def _config(enable: bool) -> str:
    return json.dumps({"triggerEnable": enable, "eventSourceConfig": {
        "eventSourceType": "MNS", "eventSourceParameters": {
            "sourceMNSParameters": {"QueueName": "jobs", "IsBase64Decode": False}}}})


def test_sends_are_hooked_only_while_an_enabled_queue_trigger_exists() -> None:
    async def scenario(engine: Engine) -> None:
        seen: list[str] = []

        def handler(event: bytes, context: object) -> bytes:
            seen.append(json.loads(event)[0]["data"]["messageBody"])
            return b"ok"

        engine.create_function(FunctionSpec(name="f", runtime="python3.10",
                                            handler="index.handler"), handler=handler)
        engine.put_async_invoke_config("f", None, AsyncConfigSpec(async_task=True))
        smq = engine.smq
        smq.create_queue("jobs")
        smq.create_queue("other")
        assert smq.on_send is None  # no trigger: a send calls nothing
        timer = json.dumps({"cronExpression": "@every 1h", "enable": True})
        engine.create_trigger("f", TriggerSpec("t", "timer", timer))
        assert smq.on_send is None  # a timer trigger watches no queue
        engine.create_trigger("f", TriggerSpec("q", "eventbridge", _config(True)))
        assert smq.on_send is not None
        smq.send_message("jobs", "one")
        smq.send_message("other", "unwatched")
        await engine.drain()
        assert seen == ["one"]
        engine.update_trigger("f", "q", TriggerSpec(trigger_config=_config(False)))
        assert smq.on_send is None
        smq.send_message("jobs", "two")
        await engine.drain()
        assert seen == ["one"]  # disabled: the message waits
        engine.update_trigger("f", "q", TriggerSpec(trigger_config=_config(True)))
        assert smq.on_send is not None
        await engine.drain()
        assert seen == ["one", "two"]  # enabled again: what waited is consumed
        engine.snapshot("watched")
        engine.delete_trigger("f", "q")
        assert smq.on_send is None
        await engine.restore_snapshot("watched")
        smq = engine.smq
        assert smq.on_send is not None  # the restored trigger watches again
        smq.send_message("jobs", "three")
        await engine.drain()
        assert seen == ["one", "two", "three"]
        await engine.reset()
        assert engine.smq.on_send is None

    run(scenario)


def test_a_trigger_stored_with_text_flags_by_an_older_fcemu_still_restores() -> None:
    """CreateTrigger refuses ``"false"`` as a flag (FC reads typed fields); state an older
    fcemu kept with such text loads, each flag read as its text says (not by ``bool()``)."""
    import pytest

    from fcemu.errors import InvalidArgument
    from fcemu.triggers.model import QueueConfig, TriggerConfigError, parse_stored_config

    legacy = json.dumps({"triggerEnable": "false", "eventSourceConfig": {
        "eventSourceType": "MNS", "eventSourceParameters": {
            "sourceMNSParameters": {"QueueName": "jobs", "IsBase64Decode": "True"}}}})
    assert parse_stored_config("eventbridge", legacy) == QueueConfig("jobs", True, False)
    with pytest.raises(TriggerConfigError, match="JSON boolean"):  # not text of a boolean
        parse_stored_config("eventbridge", legacy.replace('"false"', '"no"'))
    with pytest.raises(TriggerConfigError):  # not JSON: the first error stands
        parse_stored_config("eventbridge", "{")

    async def scenario(engine: Engine) -> None:
        engine.create_function(FunctionSpec(name="f", runtime="python3.10",
                                            handler="index.handler"),
                               handler=lambda event, context: b"ok")
        engine.smq.create_queue("jobs")
        with pytest.raises((InvalidArgument, TriggerConfigError), match="JSON boolean"):
            engine.create_trigger("f", TriggerSpec("q", "eventbridge", legacy))
        engine.create_trigger("f", TriggerSpec("q", "eventbridge", _config(True)))
        engine.snapshot("old")
        stored = engine._snapshots["old"]  # as an older fcemu would have kept it
        for trigger in stored.state["triggers"]:
            trigger.trigger_config = legacy
        await engine.restore_snapshot("old")
        assert engine.smq.on_send is None  # "false": the restored trigger is disabled
        assert engine.get_trigger("f", "q").trigger_config == legacy

    run(scenario)
