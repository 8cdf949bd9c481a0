"""The worker runtime's pool key (fcemu.runtime.worker): the same tuple again for the
function object it was made for, and made again after any UpdateFunction, even two
updates in one millisecond of a manual clock (modifiedTime the same), so a warm
instance never serves a function changed since it started."""

from __future__ import annotations

from fcemu.clock import ManualClock, new_event_loop
from fcemu.engine import Engine
from fcemu.ids import IdGenerator
from fcemu.runtime.pool import InstancePool
from fcemu.runtime.worker import WorkerRuntime, _key
from fcemu.settings import Settings
from fcemu.specs import FunctionSpec
from tests.constants import T0


def test_a_key_is_kept_per_function_object_until_an_update() -> None:
    async def scenario() -> None:
        engine = Engine(Settings(clock="manual"), ManualClock(T0), IdGenerator(7))
        runtime = WorkerRuntime(IdGenerator(1), InstancePool(2))
        try:
            for name in ("f", "g"):
                engine.create_function(FunctionSpec(name=name, runtime="python3.10",
                                                    handler="index.handler"),
                                       handler=lambda event, context: b"")
            f, g = engine.functions["f"], engine.functions["g"]
            first = runtime._key(f)
            assert first == _key(f) and runtime._key(f) is first  # kept: the same tuple
            assert runtime._key(g) == _key(g) != first
            assert runtime._key(f) == first  # another object between: made again, equal
            seen = [runtime._key(f)]
            for spec in (FunctionSpec(instance_concurrency=4), FunctionSpec(handler="a.b"),
                         FunctionSpec(instance_lifecycle_config={"initializer": {
                             "handler": "a.init"}}),
                         FunctionSpec(runtime="python3.12")):
                modified = f.modified_ms
                assert engine.update_function("f", spec) is f  # changed in place
                assert f.modified_ms == modified  # the same millisecond
                key = runtime._key(f)
                assert key == _key(f) and key not in seen
                seen.append(key)
            assert runtime._key(g) == _key(g)
        finally:
            await runtime.close()
            await engine.close()

    loop = new_event_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()
