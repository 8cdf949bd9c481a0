"""The Python worker's per-request steps, each the same as the general code it stands for.

A warm worker builds its result frame by hand (``handler_api.result_frame``: the bytes
``protocol.encode_frame`` makes of the array), decodes a request frame with the JSON
decoder's scanner (what ``JSONDecoder.decode`` gives, whitespace and errors included),
reads the environment through ``os.environ``'s own dictionary
(``handler_api.request_environment``: what ``os.environ`` reads, or the mapping a handler
put in its place) and builds contexts with a ``ContextMaker`` per function (what
``make_context`` builds).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import threading
from types import ModuleType
from typing import Any

import pytest

from fcemu.runtime import handler_api
from fcemu.runtime.handler_api import ContextMaker, make_context, request_environment
from fcemu.runtime.protocol import encode_frame
from fcemu.runtime.worker import _MAIN


def _worker_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fcemu_test_worker_main", _MAIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("fields", [
    ("r-1", "ok", b"", "", 0, False),
    ("1-abc-\u00e9\u4e2d\"\\\n", "error", b'{"errorMessage":"x"}', "UnhandledInvocationError",
     123456789012, True),
    ("r-2", "ok", bytes(range(256)) * 3, "", 15864, False),
])
def test_a_result_frame_is_the_encoded_array(fields: tuple[Any, ...]) -> None:
    request_id, kind, body, error_type, kb, children = fields
    expected = encode_frame(["result", request_id, kind, base64.b64encode(body).decode(),
                             error_type, kb, children])
    assert handler_api.result_frame(*fields) == expected


@pytest.mark.parametrize("text", [
    '{"type":"invoke","request_id":"r-1","credentials":{"a":"b"},"payload":"YQ=="}',
    ' {"type": "invoke"} \n', '{"type":"x"}  ', '["result", 1]', '"text"', "12",
])
def test_a_request_frame_decodes_as_json_decode_would(text: str) -> None:
    worker = _worker_module()
    read, write = os.pipe()
    data = text.encode()
    os.write(write, len(data).to_bytes(4, "big") + data)
    os.close(write)
    with os.fdopen(read, "rb") as reader:
        channel = worker._Channel(reader, -1)
        assert channel.read() == json.loads(text)
        assert channel.read() is None  # end of the pipe


@pytest.mark.parametrize("text", ['{"type":"x"} y', '{"type":', "", " ", '{"a":1}{"b":2}'])
def test_a_bad_request_frame_fails_as_json_decode_would(text: str) -> None:
    worker = _worker_module()
    read, write = os.pipe()
    data = text.encode()
    os.write(write, len(data).to_bytes(4, "big") + data)
    os.close(write)
    with os.fdopen(read, "rb") as reader:
        with pytest.raises(json.JSONDecodeError) as caught:
            worker._Channel(reader, -1).read()
    with pytest.raises(json.JSONDecodeError) as expected:
        json.JSONDecoder().decode(text)
    assert str(caught.value) == str(expected.value)


NAMES = {"access_key_id": "ALIBABA_CLOUD_ACCESS_KEY_ID",
         "access_key_secret": "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
         "security_token": "ALIBABA_CLOUD_SECURITY_TOKEN"}
CREDENTIALS = {"access_key_id": "STS.id", "access_key_secret": "s\u00e9cret",
               "security_token": "token"}


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("FC_REGION", "cn-hangzhou")
    monkeypatch.setenv("FC_ACCOUNT_ID", "1234")
    for name in NAMES.values():
        monkeypatch.setenv(name, "old")
    return monkeypatch


def test_the_environment_gets_the_requests_credentials(environment: Any) -> None:
    assert request_environment(CREDENTIALS) == ("cn-hangzhou", "1234")
    assert {name: os.environ[name] for name in NAMES.values()} == {
        NAMES[key]: value for key, value in CREDENTIALS.items()}
    os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"] = "changed by the handler"
    del os.environ["ALIBABA_CLOUD_SECURITY_TOKEN"]
    os.environ["FC_REGION"] = "cn-shanghai"  # as today: the context says what the handler left
    assert request_environment(CREDENTIALS) == ("cn-shanghai", "1234")
    assert os.environ["ALIBABA_CLOUD_ACCESS_KEY_ID"] == "STS.id"
    assert os.environ["ALIBABA_CLOUD_SECURITY_TOKEN"] == "token"
    del os.environ["FC_ACCOUNT_ID"]
    with pytest.raises(KeyError) as caught:
        request_environment(CREDENTIALS)
    assert caught.value.args == ("FC_ACCOUNT_ID",)


def test_an_environment_the_handler_replaced_is_read_as_a_mapping(environment: Any) -> None:
    replaced = {"FC_REGION": "cn-beijing", "FC_ACCOUNT_ID": "99",
                "ALIBABA_CLOUD_ACCESS_KEY_ID": "STS.id"}
    environment.setattr(os, "environ", replaced)
    assert request_environment(CREDENTIALS) == ("cn-beijing", "99")
    assert replaced["ALIBABA_CLOUD_SECURITY_TOKEN"] == "token"
    assert replaced["ALIBABA_CLOUD_ACCESS_KEY_SECRET"] == "s\u00e9cret"


def _shape(value: Any) -> Any:
    if hasattr(value, "__dict__") and not isinstance(value, (threading.Event, type)):
        return {key: _shape(item) for key, item in vars(value).items() if key != "getLogger"}
    return value


@pytest.mark.parametrize("runtime", ["python3.10", "python3.12", "python3.9"])
@pytest.mark.parametrize("qualifier", [None, "", "prod"])
def test_a_context_maker_makes_what_make_context_makes(runtime: str, qualifier: Any) -> None:
    function = {"name": "f", "handler": "index.handler", "memory": 512, "timeout": 3,
                "runtime": runtime, "qualifier": qualifier, "version_id": "2",
                "log_project": "p", "log_store": "s"}
    stop = threading.Event()
    maker = ContextMaker(function)
    made = maker.make("r-1", qualifier, "2", "cn-hangzhou", "1", CREDENTIALS, stop)
    again = maker.make("r-1", qualifier, "2", "cn-hangzhou", "1", CREDENTIALS, stop)
    expected = make_context("r-1", function, "cn-hangzhou", "1", CREDENTIALS, stop)
    assert _shape(made) == _shape(expected) == _shape(again)
    assert list(vars(made)) == list(vars(expected))
    assert made.function is not again.function  # each request gets objects of its own
    assert made.function.name == "f" and made.request_id == "r-1"
