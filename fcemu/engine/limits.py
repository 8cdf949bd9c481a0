"""The engine's answers to a synchronous invocation that FC refuses or fails for a
reason other than the function itself: throttling (a function's ``reservedConcurrency``
or the account's concurrency, ``--account-concurrency``: 429) and the system failures
that a scripted step injects (an internal error: 500; insufficient Function Compute
resources: 503). Async tasks get the same causes through :mod:`fcemu.tasks` and
:mod:`fcemu.retry_policy` (throttles retried for up to 5 hours; system failures not
retried).

A mixin of :class:`fcemu.engine.Engine`; the engine owns the state declared below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fcemu.errors import InsufficientResources, InternalServerError, ResourceThrottled
from fcemu.retry_policy import INSUFFICIENT_RESOURCES, INTERNAL_ERROR

if TYPE_CHECKING:
    from fcemu.models import ConcurrencyConfig
    from fcemu.runtime import Outcome
    from fcemu.settings import Settings
    from fcemu.tasks import Slots


class LimitOperations:
    """Throttling and system-failure errors of sync invocations (see the module docstring)."""

    settings: Settings
    concurrency: dict[str, ConcurrencyConfig]
    slots: Slots

    def _throttled(self, name: str) -> ResourceThrottled:
        """The 429 of a sync invocation that found no free execution slot, naming the limit
        that was reached."""
        if self.slots.account_full():
            return ResourceThrottled(
                f"the account is at its concurrency limit ({self.settings.account_concurrency}"
                " executions at once over all functions: --account-concurrency); retry later")
        config = self.concurrency.get(name)
        limit = config.reserved_concurrency if config is not None else "?"
        return ResourceThrottled(f"function '{name}' is at its concurrency limit "
                                 f"(reservedConcurrency {limit}); retry later")

    def _check_system_failure(self, name: str, outcome: Outcome) -> None:
        """Raise the FC error of a scripted system failure (sync invocations answer it
        instead of the function's result)."""
        if outcome.error_type == INTERNAL_ERROR:
            raise InternalServerError(
                f"an internal error has occurred. Please retry. (function '{name}': a "
                "scripted 'internal-error' step of its fcemu script)")
        if outcome.error_type == INSUFFICIENT_RESOURCES:
            raise InsufficientResources(
                f"Function Compute resources are insufficient. Please retry later. (function "
                f"'{name}': a scripted 'insufficient-resources' step of its fcemu script)")
