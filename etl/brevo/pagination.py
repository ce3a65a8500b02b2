"""Offset pagination over Brevo's ``limit``/``offset``/``count`` endpoints, with a loop guard."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from etl.brevo.errors import PaginationLoopError

T = TypeVar("T")

# Beyond the pages ``count`` announces, tolerate this many more (the collection may grow while
# we read it) before calling it a loop.
_SLACK_PAGES = 1000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page: its items and the total ``count`` the endpoint reported (None if absent)."""

    items: list[T]
    count: int | None = None


def iter_offset_pages(
    fetch: Callable[[int, int], Page[T]], *, limit: int, max_pages: int | None = None
) -> Iterator[list[T]]:
    """Yield pages until ``offset >= count`` or a short page; refuse to loop.

    Args:
        fetch: ``fetch(limit, offset)`` returns one page.
        limit: page size to ask for (already within the endpoint's maximum).
        max_pages: hard ceiling on pages fetched; by default derived from the first ``count``.

    Yields:
        Non-empty lists of items, in server order.

    Raises:
        PaginationLoopError: the server served the same full page twice in a row, or more pages
            than the ceiling allows.
    """
    if limit < 1:
        raise ValueError("limit must be >= 1")
    offset = 0
    previous: list[T] | None = None
    fetched = 0
    ceiling = max_pages
    while True:
        if ceiling is not None and fetched >= ceiling:
            raise PaginationLoopError(
                f"stopped after {fetched} pages of {limit}: more pages than the count allows"
            )
        page = fetch(limit, offset)
        fetched += 1
        if ceiling is None and page.count is not None:
            ceiling = math.ceil(page.count / limit) + _SLACK_PAGES
        items = page.items
        if not items:
            return
        if previous is not None and items == previous:
            raise PaginationLoopError(
                f"offset {offset} returned the same {len(items)} items as the page before; "
                "the endpoint ignores offset"
            )
        yield items
        offset += len(items)
        if len(items) < limit:
            return
        if page.count is not None and offset >= page.count:
            return
        previous = items
