"""What the server and the worker process agree on: error JSON, error types, framing.

The Python worker runs ``_worker_main.py`` by path and never imports fcemu.
This module is where both sides take their shared vocabulary from, so it
imports only the standard library and nothing of fcemu: the server imports
it as ``fcemu.runtime.protocol``, the worker loads the file into a private
package of its own (``_worker_main._shared``).

* the Python runtime's error JSON (spec §6.2), :func:`error_body`, the one
  builder of it, and the ``x-fc-error-type`` values the runtimes report;
* the worker protocol: length-prefixed JSON frames (:func:`encode_frame`), the
  fields of a ``result`` frame (``RESULT_*``) and the private ``FCEMU_*`` settings a
  worker reads from its environment.

The launcher's command line (``_contain_main.py``) is in :mod:`fcemu.runtime.launcher`,
which imports nothing, so that starting an instance stays cheap.
"""

from __future__ import annotations

import json
import struct
from typing import Any

#: ``x-fc-error-type`` of an error the handler did not catch (and of timeouts, crashes).
UNHANDLED = "UnhandledInvocationError"
#: ``x-fc-error-type`` of a failed or timed-out initializer (FC's Python lifecycle-hook docs).
INITIALIZATION_ERROR = "InitializationError"


def error_body(message: str, error_type: str | None = None,
               stack: list[list[str]] | None = None) -> bytes:
    """The Python runtime's error JSON (spec §6.2), compact:
    ``{"errorMessage": ..., "errorType": ..., "stackTrace": [...]}``, the last two only
    when given."""
    doc: dict[str, object] = {"errorMessage": message}
    if error_type is not None:
        doc["errorType"] = error_type
    if stack is not None:
        doc["stackTrace"] = stack
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


# -- the worker protocol ----------------------------------------------------------------

#: A frame: this 4-byte big-endian length, then that many bytes of UTF-8 JSON.
FRAME_HEADER = struct.Struct(">I")
#: The largest frame the server reads (a result is at most a few MB of Base64).
MAX_FRAME = 1 << 30

#: A ``result`` frame is a JSON array, not an object: ``["result", request_id, kind, body,
#: error_type, maxrss_kb, children]`` (the server reads one per request, and an array's
#: fields cost its JSON decoder a third of an object's). Its fields' positions:
RESULT_REQUEST_ID = 1
RESULT_KIND = 2
#: The handler's return value, or the error JSON, in Base64.
RESULT_BODY = 3
RESULT_ERROR_TYPE = 4
#: The worker process's own peak memory (KiB).
RESULT_MAXRSS_KB = 5
#: Whether the worker process may have child processes now.
RESULT_CHILDREN = 6
#: How many fields a result has (at least: a later worker may add some).
RESULT_FIELDS = 7

#: ``instanceConcurrency``: above 1, the worker runs each request on a thread of its own.
ENV_INSTANCE_CONCURRENCY = "FCEMU_INSTANCE_CONCURRENCY"
#: ``module.function`` of ``instanceLifecycleConfig.initializer``.
ENV_INITIALIZER = "FCEMU_INITIALIZER"
#: ``module.function`` (``file.function``) of ``instanceLifecycleConfig.preStop``.
ENV_PRE_STOP = "FCEMU_PRE_STOP"
#: ``logConfig.project`` and ``logConfig.logstore``, for the handler's context.
ENV_LOG_PROJECT = "FCEMU_LOG_PROJECT"
ENV_LOG_STORE = "FCEMU_LOG_STORE"


#: One encoder for every frame (``json.dumps`` with ``separators`` makes one per call).
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def encode_frame(doc: dict[str, Any] | list[Any]) -> bytes:
    """One frame: the header, then ``doc`` as compact JSON."""
    data = _COMPACT.encode(doc).encode()
    return FRAME_HEADER.pack(len(data)) + data
