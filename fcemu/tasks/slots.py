"""The one count of running executions per function and for the account.

A sync invocation and an async attempt each hold a slot of :class:`Slots` while they run;
reserved concurrency and the account's instance quota read it (issue: throttling).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fcemu.models import ConcurrencyConfig


class Slots:
    """Running executions per function, against their reserved concurrency.

    The one count of running executions: a sync invocation and an async attempt each
    hold a slot while they run. ``configs`` are the functions' concurrency configs by
    function name, read at each :meth:`acquire` (the engine's own dict, kept up to date by
    Put/DeleteConcurrencyConfig: no config, no limit); ``account_limit`` the account's,
    over every function (the region's instance quota, ``--account-concurrency``; None: no
    limit). Both are read directly, not through a callback each (issue 13: two Python
    calls per attempt): the engine changes ``configs`` in place and never rebinds it.
    """

    def __init__(self, configs: Mapping[str, ConcurrencyConfig],
                 account_limit: int | None = None) -> None:
        self._configs = configs
        self._account_limit = account_limit
        self._running: dict[str, int] = {}
        self._total = 0

    def acquire(self, name: str) -> bool:
        """Take one execution slot of a function; False when its or the account's limit
        is reached."""
        running = self._running.get(name, 0)
        config = self._configs.get(name)
        if config is not None and running >= config.reserved_concurrency:
            return False
        account = self._account_limit  # account_full's, inline
        if account is not None and self._total >= account:
            return False
        self._running[name] = running + 1
        self._total += 1
        return True

    def account_full(self) -> bool:
        """Whether the account's limit is reached (every function's executions count)."""
        account = self._account_limit
        return account is not None and self._total >= account

    def release(self, name: str) -> None:
        if name in self._running:
            self._total -= 1
        left = self._running.get(name, 0) - 1
        if left > 0:
            self._running[name] = left
        else:
            self._running.pop(name, None)

    def running(self, name: str) -> int:
        """Executions of the function running now."""
        return self._running.get(name, 0)
