"""ListAsyncTasks's query and one page of it, read from the ordered indexes.

:class:`TaskQuery` is the index's :class:`~fcemu.taskindex.Filters` with the caller's
``nextToken``; :func:`page` reads one page in O(limit + log n) (fcemu.taskindex) and
turns a bad token into FC's InvalidArgument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fcemu.errors import InvalidArgument
from fcemu.models import Task
from fcemu.taskindex import BadToken, Filters, Partition, make_token, read_token
from fcemu.taskindex import page as index_page


@dataclass(frozen=True)
class TaskQuery(Filters):
    """ListAsyncTasks filters (spec §9.4) and the page to read: the index's
    :class:`~fcemu.taskindex.Filters` with the caller's ``nextToken``."""

    next_token: str = ""


def page(parts: list[Partition], query: TaskQuery, records: Mapping[str, Mapping[str, Task]]
         ) -> tuple[list[Task], str]:
    """A page read from the ordered indexes: O(limit + log n) (fcemu.taskindex)."""
    try:
        cursor = read_token(query.next_token)
    except BadToken:
        raise InvalidArgument(f"invalid nextToken {query.next_token!r}: pass the nextToken "
                              "of the previous page unchanged") from None
    tasks, nxt = index_page(parts, query, cursor, records)
    return tasks, "" if nxt is None else make_token(nxt)
