"""Phase-1 shim of issue 10, removed once ``fcemu.config`` builds typed specs.

The input rules moved: values to :mod:`fcemu.specs`, wire documents to
:mod:`fcemu.api.inputs`. Only ``fcemu/config/build.py`` still imports this name.
"""

from __future__ import annotations

from typing import Any

from fcemu.specs import ECHOED_FIELDS, FunctionSpec, check_function_name

__all__ = ["ECHOED_FIELDS", "check_function_name", "function_fields"]


def function_fields(doc: Any, *, create: bool) -> FunctionSpec:
    """Check a CreateFunction / UpdateFunction document (:func:`fcemu.api.inputs.function_spec`)."""
    from fcemu.api.inputs import function_spec

    return function_spec(doc, create=create)
