"""An :class:`fcemu.Emulator` used before ``start()`` refuses with one RuntimeError, and
leaves no coroutine behind to warn "was never awaited" (audit 20, point 8)."""

from __future__ import annotations

import gc
import warnings

import pytest

import fcemu


def test_a_call_before_start_is_one_runtime_error_and_no_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(RuntimeError, match=r"not running; call start\(\)"):
            fcemu.Emulator().invoke("x", b"")
        gc.collect()
    assert [str(w.message) for w in caught] == []
