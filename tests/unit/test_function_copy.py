"""fcemu.models.Function's deep copy, made field by field (issue 13: copy's default read the
live function's ``__dict__``): the same copy as before, mappings not shared, a memo
honoured (a snapshot keeps a Python handler as is), one copy per function object."""

from __future__ import annotations

import copy
from pathlib import Path

from fcemu.models import Function, Restriction


def _function() -> Function:
    return Function(name="f", runtime="python3.10", handler="index.handler", arn="arn:f",
                    function_id="id-1", created_ms=1, modified_ms=2,
                    environment_variables={"A": "1"},
                    instance_lifecycle_config={"initializer": {"handler": "index.init"}},
                    code_dir=Path("/tmp/code"), layer_sizes={"arn:l": 3},
                    inprocess_handler=lambda event, context: event, extra={"vpcConfig": {}},
                    tags=[{"key": "k", "value": "v"}],
                    invocation_restriction=Restriction(True, "why", 5))


def test_a_deep_copy_is_equal_and_shares_nothing_mutable() -> None:
    live = _function()
    copied = copy.deepcopy(live)
    assert copied == live and copied is not live and type(copied) is Function
    assert vars(copied) == vars(live) and list(vars(copied)) == list(vars(live))
    for name in ("environment_variables", "instance_lifecycle_config", "layer_sizes", "extra",
                 "tags", "invocation_restriction"):
        assert getattr(copied, name) is not getattr(live, name)
    copied.environment_variables["B"] = "2"
    assert live.environment_variables == {"A": "1"}


def test_a_memo_is_honoured() -> None:
    live = _function()
    handler = live.inprocess_handler
    memo = {id(handler): handler}
    first, second = copy.deepcopy([live, live], memo)
    assert first is second and first.inprocess_handler is handler
