"""Contract tests: the official SDKs against a real fcemu server on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import zipfile
from collections.abc import Iterator

import pytest

import fcemu

pytest.importorskip("alibabacloud_fc20230330", reason="pip install fcemu[sdk]")

from alibabacloud_fc20230330 import models as fc
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi.models import Config

T0 = 1_714_521_600_000  # 2024-05-01T00:00:00Z


@pytest.fixture(scope="session")
def server() -> Iterator[fcemu.Emulator]:
    with fcemu.Emulator(clock="manual", start=T0, seed=7) as emu:
        yield emu


@pytest.fixture
def emu(server: fcemu.Emulator) -> Iterator[fcemu.Emulator]:
    server.reset()
    yield server
    server.check()


@pytest.fixture
def client(emu: fcemu.Emulator) -> Client:
    return Client(Config(access_key_id="AKIDTEST", access_key_secret="SECRET",
                         endpoint=emu.host_port, protocol="http", read_timeout=60_000))


def zip_code(source: str, filename: str = "index.py") -> str:
    """A base64 zip holding one handler file, as code.zipFile wants it."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(filename, source)
    return base64.b64encode(buf.getvalue()).decode()


def create_function(client: Client, name: str, source: str, **fields: object) -> fc.Function:
    runtime = str(fields.pop("runtime", "python3.10"))
    body = fc.CreateFunctionInput(function_name=name, runtime=runtime, handler="index.handler",
                                  code=fc.InputCodeLocation(zip_file=zip_code(source)), **fields)
    return client.create_function(fc.CreateFunctionRequest(body=body)).body
