"""The export step's fast paths agree with the general paths they short-cut (issue 14, item 5).

Read-ahead threads (``etl.exports.prefetch``), exact ``true``/``false`` booleans, category cells
that are all labels, the uniqueness check on quick fingerprints and the list-id check of typed
lists: each gives what the general path gives, and the threads keep order and errors.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import etl.exports.validate as validate_module
from etl.exports.convert import ExportFormatError, Where, _exact_bool, _to_bool, _to_category
from etl.exports.layout import ColumnSpec
from etl.exports.prefetch import prefetch
from etl.exports.validate import _list_ids_are_integers, validate_merged

WHERE = Where(Path("export.csv"), "COLUMN")


# --------------------------------------------------------------------------- prefetch


def test_prefetch_keeps_the_order_and_runs_the_producer_in_another_thread() -> None:
    threads: set[str] = set()

    def make() -> Iterator[int]:
        for i in range(50):
            threads.add(threading.current_thread().name)
            yield i

    assert list(prefetch(make, depth=2, name="ahead")) == list(range(50))
    assert threads == {"ahead"}


def test_prefetch_raises_the_producers_error_after_its_items() -> None:
    def make() -> Iterator[int]:
        yield 1
        yield 2
        raise ExportFormatError("bad row")

    seen: list[int] = []

    def consume() -> None:
        for item in prefetch(make):
            seen.append(item)

    with pytest.raises(ExportFormatError, match="bad row"):
        consume()
    assert seen == [1, 2]


def test_prefetch_stops_and_closes_the_producer_when_the_consumer_stops() -> None:
    closed = threading.Event()
    produced: list[int] = []

    def make() -> Iterator[int]:
        try:
            for i in range(1_000_000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    stream = prefetch(make, depth=2)
    assert next(stream) == 0
    stream.close()  # waits for the producer thread
    assert closed.is_set()
    assert len(produced) < 10


# --------------------------------------------------------------------------- conversions


@pytest.mark.parametrize(
    "cells",
    [
        ["true", "false", None, "true"],
        ["true", "true", None],
        ["false", None],
        [None, None],
        [],
        ["true", "True"],
        ["yes", "no", "false"],
    ],
)
def test_exact_booleans_match_the_general_conversion(cells: list[str | None]) -> None:
    arr = pa.array(cells, pa.string())
    fast = _exact_bool(arr)
    if fast is not None:
        assert fast.equals(_to_bool(arr, WHERE))
    elif cells and any(c not in ("true", "false", None) for c in cells):
        assert fast is None


def test_exact_booleans_leave_other_spellings_and_errors_to_the_general_path() -> None:
    assert _exact_bool(pa.array(["true", "oui"])) is None
    assert _exact_bool(pa.array(["true", "maybe"])) is None


GENDER = ColumnSpec(
    header=("GENDER", ""),
    name="gender",
    kind="category",
    labels=("Mr", "Ms"),
    values=(1, 2),
    value_name="gender_value",
)


@pytest.mark.parametrize(
    "cells",
    [
        ["Mr", "Ms", None, "Ms"],
        ["Mr"] * 5,
        [None, None],
        ["Mr", "2", None],  # a value instead of a label: the general path
        ["Mr", "Mme"],  # unknown: the general path (and its warning)
    ],
)
def test_category_fast_path_matches_the_general_path(cells: list[str | None]) -> None:
    arr = pa.array(cells, pa.string())
    label, value = _to_category(arr, GENDER, WHERE, set())
    ref_label, ref_value = _to_category(arr, GENDER, WHERE, set(), fast=False)
    assert label.equals(ref_label)
    assert value.equals(ref_value)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "cells",
    [
        [[2, 12], [], None, [7]],
        [[1], [2, 3]],
        [[1, None], [2]],
        [],
    ],
)
def test_list_id_check_fast_path_matches_the_per_row_count(cells: list[object]) -> None:
    column = pa.chunked_array([pa.array(cells, pa.list_(pa.int64()))])
    fast = _list_ids_are_integers(column)
    assert fast.equals(_list_ids_are_integers(column, fast=False))


def _emails(n: int, repeat: bool) -> pa.Table:
    values = [f"user{i}@example.com" for i in range(n)]
    if repeat:
        values[n - 1] = values[3]
    values[10] = None  # type: ignore[call-overload]
    return pa.table({"email": pa.array(values, pa.string())})


@pytest.mark.parametrize("repeat", [False, True])
@pytest.mark.parametrize("collide", [False, True])
def test_uniqueness_on_fingerprints_matches_the_exact_count(
    monkeypatch: pytest.MonkeyPatch, repeat: bool, collide: bool
) -> None:
    table = _emails(3_000, repeat)
    exact = validate_merged(table)
    monkeypatch.setattr(validate_module, "FINGERPRINT_MIN_VALUES", 10)
    if collide:  # every fingerprint equal: only the exact count may decide
        monkeypatch.setattr(
            validate_module, "quick_fingerprints", lambda keys: np.zeros(len(keys), np.uint64)
        )
    quick = validate_merged(table)
    assert quick == exact
    shared = ("email: 2 row(s) share an identifier, e.g. 'user3@example.com'",)
    # The null cell (row 10) is not a repeat: nulls are counted apart, as GX does.
    assert quick.failures == ("email: 1 row(s) without an identifier", *(shared if repeat else ()))
