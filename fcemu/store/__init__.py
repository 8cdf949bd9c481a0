"""Emulator state kept outside the process: the plain-data codec of snapshot files
(:mod:`fcemu.store.codec`) and the SQLite database of durable mode
(:mod:`fcemu.store.sqlite`).

The parts of the emulator each turn their state into plain data and back
(``to_state``/``load_state`` next to each part: :mod:`fcemu.taskstate`,
:class:`fcemu.tasks.AsyncTasks`, :class:`fcemu.smq.Smq`, :class:`fcemu.ids.IdGenerator`);
:mod:`fcemu.engine.state` gathers them into one state and restores it. This package
writes such a state to bytes and reads it back, never executing anything it reads.
"""

from __future__ import annotations

from fcemu.store.codec import NotPortable, StateFileError, decode_state, encode_state
from fcemu.store.sqlite import StoreError

__all__ = ["NotPortable", "StateFileError", "StoreError", "decode_state", "encode_state"]
