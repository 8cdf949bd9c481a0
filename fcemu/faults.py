"""Scripted outcomes (fault injection): what a function's next attempts do.

A script is a list of steps per function, consumed in order, one count per
attempt (sync or async), whatever started the attempt:

``{"outcome": "error", "message": "boom", "errorType": "ValueError", "times": 2}``
    a function error (``UnhandledInvocationError``) with that error JSON;
``{"outcome": "timeout"}``
    the function's timeout error, as if it ran ``timeout`` seconds;
``{"outcome": "crash"}``
    "Process exited unexpectedly before completing request …";
``{"outcome": "throttle"}``
    the attempt is throttled exactly as by a concurrency limit: a sync invoke
    answers 429 ``ResourceThrottled``, an async one is not counted and retries
    with the decided backoff until its max age;
``{"outcome": "internal-error"}``
    an internal error of Function Compute: a sync invoke answers 500
    ``InternalServerError``; an async task fails at once, not retried (condition
    ``InternalServerError``, as FC's error-handling doc says);
``{"outcome": "insufficient-resources"}``
    "Function Compute resources are insufficient": a sync invoke answers 503
    ``ResourceThrottled``; an async task fails at once, not retried (condition
    ``ResourceThrottled``);
``{"outcome": "ok", "value": "done"}``
    success with that return value (a string, or JSON);
``{"outcome": "run"}``
    the real handler.

``times`` (default 1) repeats a step. Once the script is used up the real
handler runs again. Scripted attempts do not start the handler; their log is
one line saying what was scripted, and the task's events name the step
(``eventDetail`` ``{"Scripted": "error", …}``).

Scripts live in the engine (:class:`Faults`), so a reset clears them. Destination
faults (the next N deliveries to a queue, topic, function or event bus fail,
``destinationStatus`` ``Failed``) belong to the delivery that they break:
:class:`fcemu.destinations.Delivery`.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from fcemu.retry_policy import INSUFFICIENT_RESOURCES, INTERNAL_ERROR
from fcemu.runtime import UNHANDLED, Invocation, Outcome, crash_outcome, timeout_outcome
from fcemu.runtime.handler_api import encode_result
from fcemu.runtime.logs import framed
from fcemu.runtime.protocol import error_body

#: The outcomes a step can script.
OUTCOMES = ("error", "timeout", "crash", "throttle", "internal-error", "insufficient-resources",
            "ok", "run")
#: The system failures a step can script, as an attempt's error type (fcemu.retry_policy).
SYSTEM_FAILURES = {"internal-error": INTERNAL_ERROR,
                   "insufficient-resources": INSUFFICIENT_RESOURCES}
_FIELDS = {"outcome", "times", "message", "errorType", "error_type", "value"}


@dataclass
class Step:
    """One scripted step: an outcome, repeated ``times`` times."""

    outcome: str
    times: int = 1
    message: str = "scripted error"
    error_type: str = "Exception"
    value: Any = None
    #: Counts of this step not yet consumed.
    remaining: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown scripted outcome {self.outcome!r}: use one of "
                             f"{', '.join(OUTCOMES)}")
        if isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1:
            raise ValueError(f"times must be a whole number of at least 1, got {self.times!r}")
        if self.outcome == "ok":
            encode_result(self.value)  # TypeError for a value a handler could not return
        self.remaining = self.times

    @classmethod
    def parse(cls, doc: str | dict[str, Any]) -> Step:
        """A step from ``"timeout"`` or ``{"outcome": "error", "message": "boom", ...}``."""
        if isinstance(doc, str):
            return cls(doc)
        if not isinstance(doc, dict):
            raise ValueError(f"a step is an outcome name or an object, got {doc!r}")
        unknown = sorted(set(doc) - _FIELDS)
        if unknown:
            raise ValueError(f"unknown step field(s) {', '.join(unknown)}: use "
                             "outcome, times, message, errorType, value")
        if "outcome" not in doc:
            raise ValueError(f"a step needs an outcome ({', '.join(OUTCOMES)}), got {doc!r}")
        for key in ("message", "errorType", "error_type"):
            if key in doc and not isinstance(doc[key], str):
                raise ValueError(f"{key} must be a string, got {doc[key]!r}")
        try:
            return cls(doc["outcome"], doc.get("times", 1), doc.get("message", "scripted error"),
                       doc.get("errorType", doc.get("error_type", "Exception")),
                       doc.get("value"))
        except TypeError as exc:
            raise ValueError(f"value: {exc}") from None

    def to_doc(self) -> dict[str, Any]:
        """The step as the control API shows it."""
        doc: dict[str, Any] = {"outcome": self.outcome, "times": self.times,
                               "remaining": self.remaining}
        if self.outcome == "error":
            doc.update(message=self.message, errorType=self.error_type)
        if self.outcome == "ok":
            value = self.value
            doc["value"] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        return doc

    def outcome_for(self, invocation: Invocation) -> Outcome:
        """The outcome this step gives (not for ``run``/``throttle``, which the engine handles)."""
        timeout = invocation.function.timeout
        note = framed(invocation.request_id, f"[fcemu] scripted outcome: {self.outcome}\n")
        if self.outcome == "error":
            body = error_body(self.message, self.error_type, [])
            return Outcome("error", body, UNHANDLED, logs=note)
        if self.outcome == "timeout":
            return timeout_outcome(timeout, timeout * 1000, 0, logs=note)
        if self.outcome == "crash":
            return crash_outcome(0, 0, logs=note)
        if self.outcome in SYSTEM_FAILURES:
            body = error_body(f"scripted {self.outcome}", SYSTEM_FAILURES[self.outcome], [])
            return Outcome("error", body, SYSTEM_FAILURES[self.outcome], logs=note)
        assert self.outcome == "ok", self.outcome
        return Outcome("ok", encode_result(self.value), logs=note)


def parse_steps(steps: Any) -> list[Step]:
    """Read a script; ValueError naming the bad step."""
    if not isinstance(steps, list):
        raise ValueError(f"a script is a list of steps, got {steps!r}")
    parsed = []
    for index, doc in enumerate(steps):
        try:
            parsed.append(doc if isinstance(doc, Step) else Step.parse(doc))
        except ValueError as exc:
            raise ValueError(f"step {index}: {exc}") from None
    return parsed


class Faults:
    """Every script of scripted outcomes of one engine."""

    def __init__(self) -> None:
        #: Function name -> what is left of its script; only functions with steps left are
        #: keys, so an empty dict means nothing is scripted (the task path reads it before
        #: calling :meth:`take_throttle` and :meth:`take`: issue 13). Changed only here, and in
        #: place, never rebound: the task path keeps a reference to it.
        self.scripts: dict[str, deque[Step]] = {}

    # -- scripts ------------------------------------------------------------------------

    def set_script(self, function_name: str, steps: list[Step]) -> None:
        """Replace the function's script (an empty list clears it)."""
        if steps:
            self.scripts[function_name] = deque(steps)
        else:
            self.scripts.pop(function_name, None)

    def clear_script(self, function_name: str | None = None) -> None:
        """Forget one function's script, or every script."""
        if function_name is None:
            self.scripts.clear()
        else:
            self.scripts.pop(function_name, None)

    def script(self, function_name: str) -> list[Step]:
        """What is left of the function's script."""
        return list(self.scripts.get(function_name, ()))

    def take_throttle(self, function_name: str) -> bool:
        """Consume one count of a leading ``throttle`` step; False when the next is another."""
        script = self.scripts.get(function_name)
        if not script or script[0].outcome != "throttle":
            return False
        self._consume(function_name, script)
        return True

    def take(self, function_name: str) -> Step | None:
        """Consume one count of the next step for an attempt that runs; None: no script."""
        script = self.scripts.get(function_name)
        if not script:
            return None
        step = script[0]
        self._consume(function_name, script)
        return step

    def _consume(self, function_name: str, script: deque[Step]) -> None:
        script[0].remaining -= 1
        if script[0].remaining <= 0:
            script.popleft()
        if not script:
            del self.scripts[function_name]

    def drop_function(self, function_name: str) -> None:
        """DeleteFunction: its script goes with it."""
        self.scripts.pop(function_name, None)

    def describe(self) -> dict[str, list[dict[str, Any]]]:
        """Every script, by function name, as the control API shows it."""
        return {name: [s.to_doc() for s in steps] for name, steps in sorted(self.scripts.items())}


def scripted_detail(step: Step | None, detail: str = "") -> str:
    """An event detail with ``"Scripted": <outcome>`` added (decisions.md event details)."""
    if step is None:
        return detail
    doc = json.loads(detail) if detail else {}
    doc["Scripted"] = step.outcome
    return json.dumps(doc, separators=(",", ":"))
