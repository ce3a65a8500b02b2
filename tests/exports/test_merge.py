"""Merging every file of a run: streaming one source, grouping several, proving no repeat."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from etl.errors import InputError
from etl.exports.merge import KeyCheck, merge_exports
from etl.exports.merge_duckdb import (
    MEMORY_MERGE_BYTES,
    grouped_in_memory,
    union_per_group,
    union_reference,
)
from etl.exports.read import ExportFile
from etl.exports.result import DuplicateIdentifiers, MergeResult
from tests.exports._support import (
    ATTRIBUTES,
    HEADER,
    NEW_YORK,
    contact,
    merged_rows,
    publish,
    write_export,
)


def test_parts_of_one_export_equal_one_file(tmp_path: Path) -> None:
    rows = [contact(f"c{i}@x.io", f"[{2 + i % 3}]", FIRSTNAME=f"N{i}") for i in range(30)]
    whole = write_export(tmp_path / "whole.csv", HEADER, rows)
    parts = [
        write_export(tmp_path / f"part-{k}.csv", HEADER, rows[k * 10 : (k + 1) * 10])
        for k in range(3)
    ]
    one = merged_rows([ExportFile(whole, "list:2", 1)], tmp_path)
    split = merged_rows([ExportFile(p, "list:2", 1) for p in parts], tmp_path)
    assert one == split
    assert len(one) == 30


# The grouping merge has two engines (in memory under a size, DuckDB past it): every grouping
# test runs on both. 0 bytes sends any export through DuckDB.
ENGINES = pytest.mark.parametrize(
    "memory_merge_bytes", [MEMORY_MERGE_BYTES, 0], ids=["in-memory", "duckdb"]
)


@ENGINES
def test_duplicates_across_exports_fold_with_unions(
    tmp_path: Path, memory_merge_bytes: int
) -> None:
    first = write_export(
        tmp_path / "list2.csv",
        HEADER,
        [
            contact("Ann@X.io", "[2]", FIRSTNAME="Ann"),
            contact("bob@x.io", "[2|5]"),
        ],
    )
    header2 = ["EMAIL", "_listIds", "SCORE", "FIRSTNAME"]
    second = write_export(
        tmp_path / "list7.csv",
        header2,
        [["ann@x.io", "[7|2]", "4.5", "Other"], ["cid@x.io", "[7]", "", ""]],
    )
    files = [ExportFile(first, "list:2", 10), ExportFile(second, "list:7", 11)]
    result = merge_exports(
        files, ATTRIBUTES, work_dir=tmp_path / "work", memory_merge_bytes=memory_merge_bytes
    )
    assert grouped_in_memory(files, memory_merge_bytes) == (memory_merge_bytes > 0)
    assert result.strategy == "duckdb"
    assert result.rows_per_source == {"list:2": 2, "list:7": 2}
    assert result.merged_rows == 3
    rows = {r["email"].lower(): r for r in pa.Table.from_batches(list(result.batches)).to_pylist()}
    assert set(rows) == {"ann@x.io", "bob@x.io", "cid@x.io"}
    ann = rows["ann@x.io"]
    assert ann["list_ids"] == [2, 7]
    assert ann["_sources"] == ["list:2", "list:7"]
    assert ann["firstname"] == "Ann"  # the first non-null value, in file order, wins
    assert ann["score"] == 4.5  # only the second export had it
    assert ann["added_time"] == datetime(2026, 2, 1, 10, tzinfo=UTC)
    assert rows["cid@x.io"]["added_time"] is None  # column missing from that export
    assert rows["bob@x.io"]["_sources"] == ["list:2"]
    result.close()
    assert not list((tmp_path / "work").iterdir())  # no database or staging left


@ENGINES
def test_contacts_without_email_fold_by_their_other_identifier(
    tmp_path: Path, memory_merge_bytes: int
) -> None:
    header = ["EMAIL", "SMS", "_listIds"]
    a = write_export(tmp_path / "a.csv", header, [["", "33600000001", "[2]"], ["", "", "[2]"]])
    b = write_export(tmp_path / "b.csv", header, [["", "33600000001", "[3]"], ["", "", "[3]"]])
    rows = merged_rows(
        [ExportFile(a, "list:2"), ExportFile(b, "list:3")],
        tmp_path,
        memory_merge_bytes=memory_merge_bytes,
    )
    with_sms = [r for r in rows if r["sms"]]
    assert len(with_sms) == 1
    assert with_sms[0]["list_ids"] == [2, 3]
    assert len(rows) == 3  # contacts with no identifier at all are never folded


@ENGINES
def test_single_source_that_repeats_a_contact_is_regrouped_on_write(
    tmp_path: Path, memory_merge_bytes: int
) -> None:
    rows = [contact("a@x.io", "[2]"), contact("b@x.io", "[2]"), contact("A@x.io", "[9]")]
    path = write_export(tmp_path / "dup.csv", HEADER, rows)
    result = merge_exports(
        [ExportFile(path, "list:2", 1)],
        ATTRIBUTES,
        work_dir=tmp_path / "w",
        memory_merge_bytes=memory_merge_bytes,
    )
    assert result.strategy == "stream"
    written = publish(result, tmp_path)
    assert written.rows == 2
    table = pa.dataset.dataset(written.path, format="parquet").to_table()  # type: ignore[attr-defined]
    by_email = {r["email"].lower(): r["list_ids"] for r in table.to_pylist()}
    assert by_email == {"a@x.io": [2, 9], "b@x.io": [2]}


def test_modified_since_and_high_water_mark(tmp_path: Path) -> None:
    rows = [
        contact("old@x.io", "[2]", MODIFIED_TIME="01-01-2026 00:00:00"),
        contact("new@x.io", "[2]", MODIFIED_TIME="05-01-2026 12:00:00"),
        contact("edge@x.io", "[2]", MODIFIED_TIME="03-01-2026 00:00:00"),
    ]
    path = write_export(tmp_path / "e.csv", HEADER, rows)
    files = [ExportFile(path, "list:2", 1)]
    since = datetime(2026, 1, 3, tzinfo=UTC)
    result = merge_exports(files, ATTRIBUTES, work_dir=tmp_path / "w", modified_since=since)
    emails = sorted(b["email"] for batch in result.batches for b in batch.to_pylist())
    assert emails == ["edge@x.io", "new@x.io"]
    assert result.rows_per_source == {"list:2": 3}
    assert result.merged_rows == 2
    assert result.max_modified == datetime(2026, 1, 5, 12, tzinfo=UTC)
    no_time = write_export(tmp_path / "n.csv", ["EMAIL"], [["a@x.io"]])
    with pytest.raises(InputError, match="MODIFIED_TIME"):
        merge_exports(
            [ExportFile(no_time, "x")], ATTRIBUTES, work_dir=tmp_path, modified_since=since
        )


@ENGINES
def test_folding_many_overlapping_contacts_across_batches(
    tmp_path: Path, memory_merge_bytes: int
) -> None:
    """Groups that straddle batches (DuckDB's, or the in-memory fold's slices) must still fold
    into exactly one row each."""
    header = ["EMAIL", "_listIds", "FIRSTNAME"]
    n = 5000
    a = write_export(tmp_path / "a.csv", header, [[f"c{i}@x.io", "[2]", ""] for i in range(n)])
    b = write_export(
        tmp_path / "b.csv", header, [[f"C{i}@x.io", "[3|2]", f"N{i}"] for i in range(0, n, 2)]
    )
    c = write_export(
        tmp_path / "c.csv", header, [[f"c{i}@x.io", "[4]", "Z"] for i in range(0, n, 4)]
    )
    result = merge_exports(
        [ExportFile(a, "list:2"), ExportFile(b, "list:3"), ExportFile(c, "list:4")],
        ATTRIBUTES,
        work_dir=tmp_path / "w",
        batch_rows=1000,
        memory_merge_bytes=memory_merge_bytes,
    )
    assert result.merged_rows == n
    rows = pa.Table.from_batches(list(result.batches)).to_pylist()
    assert len(rows) == n
    by_email = {r["email"].lower(): r for r in rows}
    assert len(by_email) == n
    for i in range(n):
        row = by_email[f"c{i}@x.io"]
        lists = [2] + ([3] if i % 2 == 0 else []) + ([4] if i % 4 == 0 else [])
        assert row["list_ids"] == lists
        assert row["firstname"] == (f"N{i}" if i % 2 == 0 else None)
        sources = (
            ["list:2"] + (["list:3"] if i % 2 == 0 else []) + (["list:4"] if i % 4 == 0 else [])
        )
        assert row["_sources"] == sources
    result.close()


def test_both_grouping_engines_give_the_same_rows(tmp_path: Path) -> None:
    """In memory and through DuckDB: same rows, values, unions and counts, on exports with
    nulls scattered over the columns, contacts without e-mail, contacts with no identifier,
    unsorted list ids and groups cut by small batches."""
    rng = np.random.default_rng(5)
    header = ["EMAIL", "SMS", "FIRSTNAME", "SCORE", "_listIds"]
    files = []
    for k in range(4):
        rows = []
        for i in range(600):
            if rng.random() < 0.45:
                continue
            email = f"P{i}@X.io" if rng.random() < 0.5 else f"p{i}@x.io"
            sms = f"3360000{i:04d}"
            if i % 7 == 0:
                email = ""  # identified by SMS
            if i % 23 == 0:
                email, sms = "", ""  # no identifier: never folded
            first = "" if rng.random() < 0.4 else f"F{k}-{i}"
            score = "" if rng.random() < 0.5 else f"{rng.integers(0, 100)}.5"
            ids = rng.choice([2, 3, 5, 8, 13], size=rng.integers(1, 4), replace=False)
            rows.append([email, sms, first, score, "[" + "|".join(map(str, ids)) + "]"])
        files.append(ExportFile(write_export(tmp_path / f"e{k}.csv", header, rows), f"list:{k}"))

    def merged(memory_merge_bytes: int) -> tuple[list[dict], tuple[int, int, dict[str, int]]]:
        result = merge_exports(
            files,
            ATTRIBUTES,
            work_dir=tmp_path / f"w{memory_merge_bytes}",
            batch_rows=97,
            memory_merge_bytes=memory_merge_bytes,
        )
        try:
            table = pa.Table.from_batches(list(result.batches), schema=result.schema)
        finally:
            result.close()
        rows = sorted(table.to_pylist(), key=lambda r: json.dumps(r, default=str, sort_keys=True))
        return rows, (result.merged_rows, result.folded_rows, result.rows_per_source)

    in_memory, counts = merged(MEMORY_MERGE_BYTES)
    through_duckdb, duckdb_counts = merged(0)
    assert in_memory == through_duckdb
    assert counts == duckdb_counts
    assert counts[0] == len(in_memory)
    assert counts[1] > 0
    assert any(r["email"] is None and r["sms"] is None for r in in_memory)


def _no_regroup(self: MergeResult) -> MergeResult:
    raise AssertionError("regrouped although no contact repeats")


def test_colliding_fingerprints_are_confirmed_on_the_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every key gets the same fingerprint: the exact count on the keys finds no repeat, so the
    # stream is neither regrouped nor annotated.
    monkeypatch.setattr(MergeResult, "regroup", _no_regroup)
    rows = [contact("a@x.io", "[2]"), contact("b@x.io", "[3]"), contact("c@x.io", "[4]")]
    path = write_export(tmp_path / "e.csv", HEADER, rows)
    result = merge_exports(
        [ExportFile(path, "list:2", 1)],
        ATTRIBUTES,
        work_dir=tmp_path / "w",
        key_check=KeyCheck(
            quick_check_min_keys=1, fingerprint=lambda keys: np.zeros(len(keys), np.uint64)
        ),
    )
    written = publish(result, tmp_path)
    assert written.rows == 3
    manifest = json.loads(Path(written.manifest_path).read_text())
    assert manifest["merged_rows"] == 3
    assert not any("repeated" in note for note in manifest["notes"])


def test_real_quick_hash_collision_is_not_a_repeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB's hash() gives these two addresses one value (found in a benchmark's data).
    pair = ["inès.b800000.3271@mail.example.net", "inès.b600000.3871@mail.example.net"]
    monkeypatch.setattr(MergeResult, "regroup", _no_regroup)
    path = write_export(tmp_path / "e.csv", HEADER, [contact(e, "[2]") for e in pair])
    result = merge_exports(
        [ExportFile(path, "list:2", 1)],
        ATTRIBUTES,
        work_dir=tmp_path / "w",
        key_check=KeyCheck(quick_check_min_keys=1),  # the fingerprint path
    )
    emails = sorted(b["email"] for batch in result.batches for b in batch.to_pylist())
    assert emails == sorted(pair)
    assert result.merged_rows == 2


@pytest.mark.parametrize("min_keys", [1, 10**9], ids=["fingerprints", "exact-small"])
def test_single_source_repeat_found_on_either_path(tmp_path: Path, min_keys: int) -> None:
    rows = [contact(f"u{i}@x.io", "[2]") for i in range(50)] + [contact("U7@x.io", "[3]")]
    path = write_export(tmp_path / "e.csv", HEADER, rows)
    result = merge_exports(
        [ExportFile(path, "list:2", 1)],
        ATTRIBUTES,
        work_dir=tmp_path / "w",
        key_check=KeyCheck(quick_check_min_keys=min_keys),
    )
    for stream in result.streams:
        for _ in stream():
            pass
    with pytest.raises(DuplicateIdentifiers, match="1 contact"):
        result.finish()


@pytest.mark.parametrize("strategy", ["stream", "duckdb"])
def test_day_only_modified_time_keeps_the_whole_day_of_the_bound(
    tmp_path: Path, strategy: str
) -> None:
    # The previous run started at 15:00 New York time on 25 December. A contact changed at 18:00
    # that day is exported by Brevo as "12-25-2026" (00:00): it must be kept, not dropped.
    header = ["EMAIL", "ADDED_TIME", "MODIFIED_TIME"]
    rows = [
        ["before@x.io", "01-01-2026", "12-24-2026"],
        ["same-day@x.io", "01-01-2026", "12-25-2026"],
        ["after@x.io", "01-01-2026", "12-26-2026"],
        ["undated@x.io", "01-01-2026", ""],
    ]
    path = write_export(tmp_path / "e.csv", header, rows)
    since = datetime(2026, 12, 25, 20, 0, tzinfo=UTC)  # 15:00 in New York
    result = merge_exports(
        [ExportFile(path, "list:2", 1)],
        ATTRIBUTES,
        work_dir=tmp_path / "w",
        modified_since=since,
        account_timezone=NEW_YORK,
        account_date_format="mm-dd-yyyy",
        strategy=strategy,  # type: ignore[arg-type]
    )
    try:
        emails = sorted(r["email"] for batch in result.batches for r in batch.to_pylist())
    finally:
        result.close()
    assert emails == ["after@x.io", "same-day@x.io", "undated@x.io"]
    assert result.day_only_columns == ["added_time", "modified_time"]
    assert any("without a time of day" in n and NEW_YORK in n for n in result.notes)


def test_day_boundary_is_the_account_timezones(tmp_path: Path) -> None:
    # 02:00 UTC on 26 December is still 25 December in New York: the 25th stays.
    header = ["EMAIL", "MODIFIED_TIME"]
    path = write_export(
        tmp_path / "e.csv", header, [["a@x.io", "12-25-2026"], ["b@x.io", "12-24-2026"]]
    )
    since = datetime(2026, 12, 26, 2, 0, tzinfo=UTC)
    kept = merged_rows(
        [ExportFile(path, "list:2", 1)],
        tmp_path,
        modified_since=since,
        account_timezone=NEW_YORK,
        account_date_format="mm-dd-yyyy",
    )
    assert [r["email"] for r in kept] == ["a@x.io"]


def test_full_times_are_still_compared_to_the_instant(tmp_path: Path) -> None:
    header = ["EMAIL", "MODIFIED_TIME"]
    rows = [["early@x.io", "25-12-2026 09:00:00"], ["late@x.io", "25-12-2026 21:00:00"]]
    path = write_export(tmp_path / "e.csv", header, rows)
    result = merge_exports(
        [ExportFile(path, "list:2", 1)],
        ATTRIBUTES,
        work_dir=tmp_path / "w",
        modified_since=datetime(2026, 12, 25, 20, 0, tzinfo=UTC),
    )
    try:
        emails = [r["email"] for batch in result.batches for r in batch.to_pylist()]
    finally:
        result.close()
    assert emails == ["late@x.io"]
    assert result.day_only_columns == []
    assert not any("time of day" in n for n in result.notes)


@pytest.mark.parametrize("distinct", [3, 63, 64, 300])
@pytest.mark.parametrize("kind", ["int", "text"])
def test_list_union_fast_path_agrees_with_the_reference(distinct: int, kind: str) -> None:
    """The union of list ids / sources per group (bits, or sorted integer pairs) equals the
    reference (Arrow hash grouping + sort), null and empty lists included."""
    rng = np.random.default_rng(distinct)
    value_type = pa.int64() if kind == "int" else pa.string()
    for _ in range(40):
        n = int(rng.integers(1, 80))
        lists: list[list[object] | None] = []
        for _ in range(n):
            roll = rng.random()
            if roll < 0.15:
                lists.append(None)
            elif roll < 0.25:
                lists.append([])
            else:
                picked = rng.integers(0, distinct, int(rng.integers(1, 5))).tolist()
                lists.append(picked if kind == "int" else [f"list:{v}" for v in picked])
        column = pa.array(lists, type=pa.list_(value_type))
        starts = rng.random(n) < 0.3
        starts[0] = True
        group_ids = np.cumsum(starts) - 1
        groups = int(group_ids[-1]) + 1
        fast = union_per_group(column, group_ids, groups)
        assert fast.equals(union_reference(column, group_ids, groups))
