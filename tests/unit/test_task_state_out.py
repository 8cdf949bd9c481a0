""":func:`fcemu.taskstate.task_to_state` writes the ``to plain data`` side of its
conversion table out (durable mode's hot path, issue 17): its tuples are the ones the
table gives, field by field, for tasks in every status, with and without attempts,
event details and an HTTP call."""

from __future__ import annotations

import marshal
from typing import Any

from fcemu import taskstate
from fcemu.models import Attempt, Task, TaskStatus
from fcemu.taskstate import TASK_STATE_FIELDS, task_from_state, task_to_state


def _by_the_table(task: Task) -> tuple[Any, ...]:
    convert = taskstate._CONVERT
    return tuple(convert[name][0](getattr(task, name)) if name in convert
                 else getattr(task, name) for name in TASK_STATE_FIELDS)


def _tasks() -> list[Task]:
    tasks = []
    for i, status in enumerate(TaskStatus):
        task = Task(f"t{i}", f"1-00000000-{i:024x}", "f", "acs:fc:cn-hangzhou:1:functions/f",
                    "LATEST", b'{"i": %d}' % i, 1_000 + i, 2_000 + i, 3, 86_400, None,
                    "acs:mns:cn-hangzhou:1:/queues/q/messages" if i % 2 else None)
        task.note_event(TaskStatus.ENQUEUED, 1_000 + i)
        task.status = status
        if i % 3:
            task.attempts = [Attempt(n, 1_500 + n, f"c-{n}", 7, "ok", "", "log", "", 12)
                             for n in range(i % 3)]
            task.add_event(TaskStatus.RUNNING, 1_600 + i, "detail" if i % 2 else "")
        if i % 4 == 1:
            task.http_call = ("POST", "/a?x=1", (("h", "v"),), b"body")
        tasks.append(task)
    return tasks


def test_task_to_state_is_the_conversion_tables_tuple() -> None:
    tasks = _tasks()
    assert any(t.attempts for t in tasks) and any(t.event_details for t in tasks)
    for task in tasks:
        state = task_to_state(task)
        assert state == _by_the_table(task)
        assert type(state[TASK_STATE_FIELDS.index("status")]) is str
        assert marshal.loads(marshal.dumps(state)) == state  # plain data only
        assert task_to_state(task_from_state(state)) == state
