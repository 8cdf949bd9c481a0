"""The one count of running executions per function and for the account.

A sync invocation and an async attempt each hold a slot of :class:`Slots` while they run;
reserved concurrency and the account's instance quota read it (issue: throttling).
"""

from __future__ import annotations

from collections.abc import Callable


class Slots:
    """Running executions per function, against their reserved concurrency.

    The one count of running executions: a sync invocation and an async attempt each
    hold a slot while they run. ``limit`` gives a function's reserved concurrency
    (None: no limit); ``account_limit`` the account's, over every function (the region's
    instance quota, ``--account-concurrency``; None: no limit).
    """

    def __init__(self, limit: Callable[[str], int | None],
                 account_limit: Callable[[], int | None] = lambda: None) -> None:
        self._limit = limit
        self._account_limit = account_limit
        self._running: dict[str, int] = {}
        self._total = 0

    def acquire(self, name: str) -> bool:
        """Take one execution slot of a function; False when its or the account's limit
        is reached."""
        limit, running = self._limit(name), self._running.get(name, 0)
        if limit is not None and running >= limit:
            return False
        account = self._account_limit()  # account_full's, inline
        if account is not None and self._total >= account:
            return False
        self._running[name] = running + 1
        self._total += 1
        return True

    def account_full(self) -> bool:
        """Whether the account's limit is reached (every function's executions count)."""
        account = self._account_limit()
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
