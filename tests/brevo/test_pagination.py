"""Offset pagination: stops on count and on short pages, and refuses to loop."""

from __future__ import annotations

import pytest

from etl.brevo import Page, PaginationLoopError, iter_offset_pages


def server(items: list[int], *, report_count: bool = True):
    calls: list[tuple[int, int]] = []

    def fetch(limit: int, offset: int) -> Page[int]:
        calls.append((limit, offset))
        return Page(items[offset : offset + limit], len(items) if report_count else None)

    return fetch, calls


@pytest.mark.parametrize("total", [0, 1, 9, 10, 11, 30, 31])
@pytest.mark.parametrize("report_count", [True, False])
def test_yields_every_item_once(total, report_count):
    items = list(range(total))
    fetch, calls = server(items, report_count=report_count)
    pages = list(iter_offset_pages(fetch, limit=10))
    assert [x for page in pages for x in page] == items
    assert all(len(p) <= 10 for p in pages)
    assert [offset for _, offset in calls][: len(pages)] == [10 * i for i in range(len(pages))]


def test_stops_at_count_without_an_extra_request():
    fetch, calls = server(list(range(20)))
    list(iter_offset_pages(fetch, limit=10))
    assert calls == [(10, 0), (10, 10)]


def test_refuses_an_endpoint_that_ignores_offset():
    def fetch(limit: int, offset: int) -> Page[int]:
        return Page(list(range(limit)), None)  # same page forever

    with pytest.raises(PaginationLoopError, match="same 5 items"):
        list(iter_offset_pages(fetch, limit=5))


def test_refuses_more_pages_than_allowed():
    counter = iter(range(10**6))

    def fetch(limit: int, offset: int) -> Page[int]:
        return Page([next(counter) for _ in range(limit)], None)  # never ends, never repeats

    with pytest.raises(PaginationLoopError, match="stopped after 7 pages"):
        list(iter_offset_pages(fetch, limit=3, max_pages=7))


def test_growing_collection_is_read_to_its_end():
    items = list(range(25))

    def fetch(limit: int, offset: int) -> Page[int]:
        if offset == 10:
            items.extend(range(25, 30))  # contacts arrive while we read
        return Page(items[offset : offset + limit], len(items))

    assert [x for p in iter_offset_pages(fetch, limit=10) for x in p] == list(range(30))


def test_limit_must_be_positive():
    fetch, _ = server([1])
    with pytest.raises(ValueError, match="limit"):
        list(iter_offset_pages(fetch, limit=0))
