"""Killing an instance that is still starting kills what its launcher started too.

In ``bwrap`` mode the launcher's outermost process (bwrap) makes the sandbox's namespace
and its first process, which waits until bwrap releases it: bwrap killed in between
left that process waiting for ever, outside every instance (an orphan seen after the
crash tests on a loaded machine). Here a shell stands in for bwrap: it starts a child
and waits, so the child is found as the launcher inside while no handler exists yet.
"""

from __future__ import annotations

import asyncio
import os
import select
import signal
import subprocess
import sys

import pytest

from fcemu.runtime.contain import Containment
from fcemu.runtime.contained import Contained
from fcemu.runtime.pipes import ProcessProtocol

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pidfd, /proc")

WAIT_S = 60.0


@pytest.mark.parametrize("mode", ["bwrap", "pidns"])
def test_an_instance_killed_while_starting_leaves_no_process(mode: str) -> None:
    async def main() -> int:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.subprocess_exec(
            lambda: ProcessProtocol(2**16, loop, None), "sh", "-c", "sleep 600 & echo $!; wait",
            stdin=None, stdout=subprocess.PIPE, stderr=None, start_new_session=True)
        tree = Contained(Containment(mode), transport, protocol)  # type: ignore[arg-type]
        assert tree.proc.stdout is not None
        child = int(await asyncio.wait_for(tree.proc.stdout.readline(), WAIT_S))
        ended = os.pidfd_open(child)
        try:
            assert tree.handler_pid() is None  # still starting: no handler yet
            await tree.kill()
            tree.close()
            # the stand-in's child ends too (its pidfd turns readable when it has)
            assert select.select([ended], [], [], WAIT_S)[0] == [ended]
        finally:
            if not select.select([ended], [], [], 0)[0]:  # this test leaves nothing behind
                os.kill(child, signal.SIGKILL)
            os.close(ended)
        return child

    asyncio.run(main())
