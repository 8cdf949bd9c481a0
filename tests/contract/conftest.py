"""Contract tests: the official FC and MNS SDKs against a running fcemu on 127.0.0.1.

They use the pytest plugin's own fixtures, as a user's tests do: ``fcemu`` (the
session's emulator, reset before each test and checked for server-side errors
after it), ``fc_client`` (an ``alibabacloud_fc20230330`` client) and
``mns_account`` (an ``mns`` Account), all from :mod:`pytest_fcemu.plugin`. A
module or test that needs other settings asks with ``@pytest.mark.fcemu(...)``.

``@pytest.mark.fc_verified`` is put on each TEST (never on a module) that could
run as written against the real Function Compute and SMQ: it uses nothing but the
official SDKs (FC and MNS) over HTTP against an endpoint, and no emulator-only
control: not the Python API's ``drain``, ``settle``, ``clock``, ``queue``,
``register_function``, ``reset`` or ``task_listeners``, not the ``/_fcemu``
routes, scripted outcomes or destination faults, not in-process handlers or
hand-made HTTP requests. Nor does it assert what only the emulator's set-up makes
true (the manual clock's start time, seeded IDs, made-up credentials it was told
to accept). ``pytest -m fc_verified`` selects them.

This module keeps the SDK-side helpers the contract modules share.
"""

from __future__ import annotations

import base64
import io
import zipfile

import pytest

pytest.importorskip("alibabacloud_fc20230330", reason="pip install -e '.[test]'")

from alibabacloud_fc20230330 import models as fc
from alibabacloud_fc20230330.client import Client


def zip_code(source: str, filename: str = "index.py") -> str:
    """A base64 zip holding one handler file, as code.zipFile wants it: the same bytes for
    the same source at any moment (a fixed timestamp; ``writestr`` with a name would stamp
    the current second)."""
    buf = io.BytesIO()
    entry = zipfile.ZipInfo(filename, date_time=(2024, 5, 1, 0, 0, 0))
    entry.external_attr = 0o600 << 16  # what writestr gives a file named by a string
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(entry, source)
    return base64.b64encode(buf.getvalue()).decode()


def create_function(client: Client, name: str, source: str, **fields: object) -> fc.Function:
    runtime = str(fields.pop("runtime", "python3.10"))
    body = fc.CreateFunctionInput(function_name=name, runtime=runtime, handler="index.handler",
                                  code=fc.InputCodeLocation(zip_file=zip_code(source)), **fields)
    return client.create_function(fc.CreateFunctionRequest(body=body)).body
