"""Issue 9, point 8: nothing leaks.

Every crashed or timed-out instance used to stay referenced from the pool's
per-function line of waiting requests (``InstancePool._by_key``: a served
request kept its instance, and that instance its logs). A long run of
crashes now holds flat: the number of instance objects still referenced
(counted with ``gc``, not timed) is the same after a short and a long run.
"""

from __future__ import annotations

import asyncio
import gc

from fcemu.ids import IdGenerator
from fcemu.runtime import Runtimes
from fcemu.runtime.instance import Instance
from fcemu.runtime.pool import InstancePool
from tests.hardening.processes import linux_only
from tests.unit.test_runtime_pool import FakeInstance
from tests.unit.test_runtime_pool import function as pool_function
from tests.unit.test_runtime_worker import call, function


def live_instances(function_name: str) -> int:
    """Instance objects of ``function_name`` still referenced (other emulators of this
    process, e.g. the pytest plugin's, have instances of their own)."""
    gc.collect()
    return sum(1 for o in gc.get_objects()
               if isinstance(o, Instance) and o.function_name == function_name)


def test_a_long_run_of_crashed_instances_holds_flat_in_the_pool():
    async def crash(pool: InstancePool, count: int) -> tuple[int, int]:
        fn = pool_function("leak-fake")
        for number in range(count):
            instance = await pool.acquire(
                fn, "k", lambda n=number: FakeInstance(fn, "k", n))  # type: ignore[misc]
            assert instance is not None
            instance.healthy = False  # it crashed (or timed out): never reused
            pool.release(instance)
            del instance
        while pool.live:  # the reapers run (fake kills finish at once)
            await asyncio.sleep(0)
        return sum(len(line) for line in pool._by_key.values()), live_instances(fn.name)

    async def main() -> list[tuple[int, int]]:
        pool = InstancePool(max_instances=4)
        try:
            return [await crash(pool, 50), await crash(pool, 2000)]
        finally:
            await pool.close()

    short, long = asyncio.run(main())
    assert short == long == (0, 0)


@linux_only
def test_crashing_worker_invocations_leave_nothing_referenced():
    crasher = function("crasher", "index.os_exit", name="leak-crasher")

    async def main() -> list[int]:
        runtimes = Runtimes(IdGenerator(7), max_instances=2)
        counts = []
        try:
            for total in (5, 20):
                while len(counts) < total:
                    outcome = await runtimes.invoke(call(crasher, request_id=f"r-{len(counts)}"))
                    assert outcome.kind == "crash"
                    counts.append(live_instances(crasher.name))
                assert not runtimes.pool._by_key and not runtimes.pool.instances()
        finally:
            await runtimes.close()
        return counts

    counts = asyncio.run(main())
    assert counts[4] == counts[-1] <= 1  # flat: at most the one being reaped
