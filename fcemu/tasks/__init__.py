"""Async tasks: every function's task records and the state machine that moves them.

- :mod:`fcemu.tasks.lifecycle`: :class:`AsyncTasks`, submission, queries, stopping, a
  deleted function's tasks (DESIGN.md "The task life cycle").
- :mod:`fcemu.tasks.attempts`: each attempt, from its dispatch to its outcome, then the
  retry or the end (and :data:`Execute`, what runs one).
- :mod:`fcemu.tasks.events`: a status change's event, and the observer told of it.
- :mod:`fcemu.tasks.waits`: when waiting tasks wake up, parking while a function is
  disabled, and the 7 days of retention.
- :mod:`fcemu.tasks.rows`: the records as plain data for snapshots and the durable store,
  and loading them back.
- :mod:`fcemu.tasks.query`: ListAsyncTasks's query and its pages.
- :mod:`fcemu.tasks.records`: a function's records and the wake-ups, in fixed shards.
- :mod:`fcemu.tasks.slots`: :class:`Slots`, the one count of running executions.
"""
from __future__ import annotations

from fcemu.tasks.attempts import Execute
from fcemu.tasks.events import TaskObserver
from fcemu.tasks.lifecycle import AsyncTasks
from fcemu.tasks.query import TaskQuery
from fcemu.tasks.slots import Slots

__all__ = ["AsyncTasks", "Execute", "Slots", "TaskObserver", "TaskQuery"]
