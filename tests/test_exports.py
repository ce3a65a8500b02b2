"""Typed parsing of Brevo export CSVs, merging every file of a run, and the GX check."""

from __future__ import annotations

import csv
import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import etl.exports.merge
from etl.brevo.models import Attribute, EnumValue
from etl.errors import InputError
from etl.exports.merge import (
    ExportFile,
    ExportFormatError,
    MergeResult,
    export_schema,
    iter_typed_batches,
    merge_exports,
    snake_name,
)
from etl.exports.parquet import WrittenPartition, write_partition
from etl.exports.validate import validate_merged

ATTRIBUTES = [
    Attribute("FIRSTNAME", "normal", "text"),
    Attribute("BIRTHDAY", "normal", "date"),
    Attribute("SCORE", "normal", "float"),
    Attribute("OPT_IN", "normal", "boolean"),
    Attribute("GENDER", "category", None, (EnumValue(1, "Mr"), EnumValue(2, "Ms"))),
    Attribute("INTERESTS", "normal", "multiple-choice", (), ("sport", "music", "travel")),
    Attribute("EXT_ID", "normal", "text"),
    Attribute("SMS", "normal", "text"),
]
HEADER = [
    "EMAIL",
    "ADDED_TIME",
    "MODIFIED_TIME",
    "FIRSTNAME",
    "BIRTHDAY",
    "SCORE",
    "OPT_IN",
    "GENDER",
    "INTERESTS",
    "_listIds",
    "_SUBSCRIBED",
    "_BLOCKLISTED",
]


def write_export(
    path: Path, header: list[str], rows: list[list[str]], *, bom: bool = False
) -> Path:
    """An export file as Brevo writes it: UTF-8, ';', header row, quotes when needed."""
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _rows(path: Path, **kwargs: object) -> list[dict[str, object]]:
    batches = list(iter_typed_batches(path, ATTRIBUTES, source="list:2", **kwargs))  # type: ignore[arg-type]
    if not batches:
        return []
    return pa.Table.from_batches(batches).to_pylist()


def test_snake_names() -> None:
    assert snake_name("_listIds") == "list_ids"
    assert snake_name("ADDED_TIME") == "added_time"
    assert snake_name("_ADDED_TIME") == "added_time"
    assert snake_name("Prénom de l'élève") == "prenom_de_l_eleve"
    assert snake_name("2FA") == "col_2fa"
    assert snake_name("???") == "column"


def test_schema_types_and_names() -> None:
    columns = [*HEADER, "_ADDED_TIME", "UNKNOWN THING", "EXT_ID"]
    schema = export_schema(ATTRIBUTES, columns)
    assert {f.name: str(f.type) for f in schema} == {
        "email": "string",
        "added_time": "timestamp[us, tz=UTC]",
        "modified_time": "timestamp[us, tz=UTC]",
        "firstname": "string",
        "birthday": "date32[day]",
        "score": "double",
        "opt_in": "bool",
        "gender": "string",
        "gender_value": "int64",
        "interests": "list<item: string>",
        "list_ids": "list<item: int64>",
        "subscribed": "list<item: string>",
        "blocklisted": "list<item: string>",
        "added_time_2": "timestamp[us, tz=UTC]",
        "unknown_thing": "string",
        "ext_id": "string",
        "_sources": "list<item: string>",
    }
    assert schema.field("added_time_2").metadata[b"brevo_name"] == b"_ADDED_TIME"
    brevo = export_schema(ATTRIBUTES, columns, column_case="brevo")
    assert brevo.names[:3] == ["EMAIL", "ADDED_TIME", "MODIFIED_TIME"]
    assert "GENDER_value" in brevo.names
    assert "_listIds" in brevo.names


def test_typed_values_in_the_account_format(tmp_path: Path) -> None:
    path = write_export(
        tmp_path / "export.csv",
        HEADER,
        [
            [
                "ann@example.com",
                "23-11-2026 10:00:00",
                "24-11-2026 08:30:05",
                'Ann; "the" first\nof her name',
                "1990-02-28",
                "12.5",
                "true",
                "Ms",
                "sport,music",
                "[2|7]",
                "email_marketing|sms_marketing",
                "",
            ],
            [
                "bob@example.com",
                "01-01-2026",
                "",
                "",
                "",
                "",
                "false",
                "",
                "",
                "[]",
                "",
                "sms_marketing",
            ],
        ],
        bom=True,
    )
    ann, bob = _rows(path)
    assert ann == {
        "email": "ann@example.com",
        "added_time": datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        "modified_time": datetime(2026, 11, 24, 8, 30, 5, tzinfo=UTC),
        "firstname": 'Ann; "the" first\nof her name',
        "birthday": date(1990, 2, 28),
        "score": 12.5,
        "opt_in": True,
        "gender": "Ms",
        "gender_value": 2,
        "interests": ["sport", "music"],
        "list_ids": [2, 7],
        "subscribed": ["email_marketing", "sms_marketing"],
        "blocklisted": [],
        "_sources": ["list:2"],
    }
    assert bob["added_time"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert bob["modified_time"] is None
    assert bob["opt_in"] is False
    assert bob["list_ids"] == []
    assert bob["interests"] is None
    assert bob["gender"] is None
    assert bob["gender_value"] is None
    assert bob["blocklisted"] == ["sms_marketing"]


def test_iso_utc_dates_and_tolerated_variants(tmp_path: Path) -> None:
    header = ["EMAIL", "ADDED_TIME", "MODIFIED_TIME", "OPT_IN", "BIRTHDAY", "SCORE", "_listIds"]
    path = write_export(
        tmp_path / "export.csv",
        header,
        [
            [
                "a@x.io",
                "2026-11-23T10:00:00.000Z",
                "2026-11-23 11:00:00",
                "True",
                "1990-01-02",
                "1",
                "[3]",
            ],
            [
                "b@x.io",
                "2026-11-23T10:00:00+02:00",
                "2026-11-23",
                "Yes",
                "02-01-1990",
                "2,5",
                "[ 4 , 5 ]",
            ],
            [
                "c@x.io",
                "23-11-2026 10:00:00",
                "2026-11-23T09:00:00Z",
                "no",
                "1990-01-02 00:00:00",
                " 3 ",
                "4|6",
            ],
        ],
    )
    a, b, c = _rows(path)
    assert a["added_time"] == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert a["modified_time"] == datetime(2026, 11, 23, 11, tzinfo=UTC)
    assert b["added_time"] == datetime(2026, 11, 23, 8, tzinfo=UTC)
    assert b["modified_time"] == datetime(2026, 11, 23, tzinfo=UTC)
    assert c["added_time"] == datetime(2026, 11, 23, 10, tzinfo=UTC)
    assert c["modified_time"] == datetime(2026, 11, 23, 9, tzinfo=UTC)
    assert [r["opt_in"] for r in (a, b, c)] == [True, True, False]
    assert [r["birthday"] for r in (a, b, c)] == [date(1990, 1, 2)] * 3
    assert [r["score"] for r in (a, b, c)] == [1.0, 2.5, 3.0]
    assert [r["list_ids"] for r in (a, b, c)] == [[3], [4, 5], [4, 6]]


def test_account_timezone_and_date_order(tmp_path: Path) -> None:
    path = write_export(
        tmp_path / "export.csv", ["EMAIL", "ADDED_TIME"], [["a@x.io", "11-23-2026 10:00:00"]]
    )
    [row] = _rows(path, account_timezone="Europe/Paris", account_date_format="mm-dd-yyyy")
    assert row["added_time"] == datetime(2026, 11, 23, 9, tzinfo=UTC)


def test_category_value_instead_of_label_and_unknown_labels(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_export(
        tmp_path / "export.csv", ["EMAIL", "GENDER"], [["a@x.io", "1"], ["b@x.io", "Dr"]]
    )
    with caplog.at_level(logging.WARNING):
        a, b = _rows(path)
    assert (a["gender"], a["gender_value"]) == ("Mr", 1)
    assert (b["gender"], b["gender_value"]) == ("Dr", None)
    assert "not in the category's enumeration" in caplog.text


@pytest.mark.parametrize(
    ("column", "value", "what"),
    [
        ("ADDED_TIME", "yesterday", "a date-time"),
        ("BIRTHDAY", "31-31-1990", "a date"),
        ("SCORE", "twelve", "a number"),
        ("OPT_IN", "perhaps", "a boolean"),
        ("_listIds", "[2|x]", "a list id"),
    ],
)
def test_values_that_are_not_in_the_format_fail_loudly(
    tmp_path: Path, column: str, value: str, what: str
) -> None:
    path = write_export(tmp_path / "export.csv", ["EMAIL", column], [["a@x.io", value]])
    with pytest.raises(ExportFormatError) as info:
        _rows(path)
    assert f"column {column}" in str(info.value)
    assert what in str(info.value)
    assert repr(value) in str(info.value)


def test_ragged_rows_fail_loudly(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("EMAIL;FIRSTNAME\na@x.io;Ann;extra\n", encoding="utf-8")
    with pytest.raises(ExportFormatError, match=r"bad\.csv"):
        _rows(path)


def test_header_only_and_empty_files_yield_nothing(tmp_path: Path) -> None:
    assert _rows(write_export(tmp_path / "h.csv", HEADER, [])) == []
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    assert _rows(empty) == []


def _contact(email: str, lists: str, **values: str) -> list[str]:
    row = dict.fromkeys(HEADER, "")
    row.update({"EMAIL": email, "ADDED_TIME": "01-02-2026 10:00:00", "_listIds": lists})
    row.update({"MODIFIED_TIME": "02-02-2026 10:00:00"})
    row.update(values)
    return [row[c] for c in HEADER]


def _merged_rows(result_files: list[ExportFile], tmp_path: Path, **kwargs: object) -> list[dict]:
    result = merge_exports(result_files, ATTRIBUTES, work_dir=tmp_path / "work", **kwargs)  # type: ignore[arg-type]
    table = pa.Table.from_batches(list(result.batches), schema=result.schema)
    return sorted(table.to_pylist(), key=lambda r: str(r.get("email") or r.get("sms")))


def test_parts_of_one_export_equal_one_file(tmp_path: Path) -> None:
    rows = [_contact(f"c{i}@x.io", f"[{2 + i % 3}]", FIRSTNAME=f"N{i}") for i in range(30)]
    whole = write_export(tmp_path / "whole.csv", HEADER, rows)
    parts = [
        write_export(tmp_path / f"part-{k}.csv", HEADER, rows[k * 10 : (k + 1) * 10])
        for k in range(3)
    ]
    one = _merged_rows([ExportFile(whole, "list:2", 1)], tmp_path)
    split = _merged_rows([ExportFile(p, "list:2", 1) for p in parts], tmp_path)
    assert one == split
    assert len(one) == 30


def test_duplicates_across_exports_fold_with_unions(tmp_path: Path) -> None:
    first = write_export(
        tmp_path / "list2.csv",
        HEADER,
        [
            _contact("Ann@X.io", "[2]", FIRSTNAME="Ann"),
            _contact("bob@x.io", "[2|5]"),
        ],
    )
    header2 = ["EMAIL", "_listIds", "SCORE", "FIRSTNAME"]
    second = write_export(
        tmp_path / "list7.csv",
        header2,
        [["ann@x.io", "[7|2]", "4.5", "Other"], ["cid@x.io", "[7]", "", ""]],
    )
    result = merge_exports(
        [ExportFile(first, "list:2", 10), ExportFile(second, "list:7", 11)],
        ATTRIBUTES,
        work_dir=tmp_path / "work",
    )
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
    assert not list((tmp_path / "work").glob("*.duckdb"))


def test_contacts_without_email_fold_by_their_other_identifier(tmp_path: Path) -> None:
    header = ["EMAIL", "SMS", "_listIds"]
    a = write_export(tmp_path / "a.csv", header, [["", "33600000001", "[2]"], ["", "", "[2]"]])
    b = write_export(tmp_path / "b.csv", header, [["", "33600000001", "[3]"], ["", "", "[3]"]])
    rows = _merged_rows([ExportFile(a, "list:2"), ExportFile(b, "list:3")], tmp_path)
    with_sms = [r for r in rows if r["sms"]]
    assert len(with_sms) == 1
    assert with_sms[0]["list_ids"] == [2, 3]
    assert len(rows) == 3  # contacts with no identifier at all are never folded


def _publish(result: MergeResult, tmp_path: Path) -> WrittenPartition:
    return write_partition(
        result,
        result.schema,
        out=str(tmp_path / "out"),
        export_date=date(2026, 11, 23),
        metadata={},
        run_id="r1",
    )


def test_single_source_that_repeats_a_contact_is_regrouped_on_write(tmp_path: Path) -> None:
    rows = [_contact("a@x.io", "[2]"), _contact("b@x.io", "[2]"), _contact("A@x.io", "[9]")]
    path = write_export(tmp_path / "dup.csv", HEADER, rows)
    result = merge_exports([ExportFile(path, "list:2", 1)], ATTRIBUTES, work_dir=tmp_path / "w")
    assert result.strategy == "stream"
    written = _publish(result, tmp_path)
    assert written.rows == 2
    table = pa.dataset.dataset(written.path, format="parquet").to_table()  # type: ignore[attr-defined]
    by_email = {r["email"].lower(): r["list_ids"] for r in table.to_pylist()}
    assert by_email == {"a@x.io": [2, 9], "b@x.io": [2]}


def test_modified_since_and_high_water_mark(tmp_path: Path) -> None:
    rows = [
        _contact("old@x.io", "[2]", MODIFIED_TIME="01-01-2026 00:00:00"),
        _contact("new@x.io", "[2]", MODIFIED_TIME="05-01-2026 12:00:00"),
        _contact("edge@x.io", "[2]", MODIFIED_TIME="03-01-2026 00:00:00"),
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


def test_validation_suite(tmp_path: Path) -> None:
    good = pa.table(
        {"email": ["a@x.io", "b@x.io"], "list_ids": pa.array([[2], []], pa.list_(pa.int64()))}
    )
    report = validate_merged(good, total_records=2)
    assert report.passed, report.failures
    assert report.rows == 2

    bad = pa.table(
        {
            "email": ["a@x.io", "a@x.io", None],
            "list_ids": pa.array([[2], [None], [3]], pa.list_(pa.int64())),
        }
    )
    report = validate_merged(bad, total_records=2)
    assert not report.passed
    text = " | ".join(report.failures)
    assert "1 row(s) without an identifier" in text
    assert "share an identifier" in text
    assert "not integers" in text
    assert "row count 3 != Brevo total_records 2" in text

    merged = validate_merged(good, total_records=5, exports_merged=2)
    assert merged.passed
    assert "rows <= 5" in merged.notes[0]
    assert not validate_merged(good, total_records=1, exports_merged=2).passed
    two_exports = good.append_column(
        "_sources", pa.array([["list:2"], ["list:2", "list:7"]], pa.list_(pa.string()))
    )
    inferred = validate_merged(two_exports, total_records=3)
    assert inferred.passed, inferred.failures
    assert inferred.notes[0].startswith("2 exports were merged")
    assert not validate_merged(two_exports, total_records=3, exports_merged=1).passed
    filtered = validate_merged(good, total_records=9, filtered=True)
    assert filtered.passed
    assert "rows were filtered" in filtered.notes[0]
    missing = validate_merged(good.drop_columns(["email"]))
    assert missing.failures == ("identifier column 'email' is missing",)


def test_repetitive_columns_convert_the_same_through_their_dictionary(tmp_path: Path) -> None:
    """Above 1024 rows, few distinct cells are converted once each; results must not change."""
    cells = [
        ("true", "[2|7]", "email_marketing|sms_marketing", "sport,music"),
        ("", "", "", ""),
        ("False", "[]", "sms_marketing", "travel"),
        ("yes", "[ 3 , 4 ]", "email_marketing", ""),
    ]
    header = ["EMAIL", "OPT_IN", "_listIds", "_SUBSCRIBED", "INTERESTS"]
    rows = [[f"c{i}@x.io", *cells[i % 4]] for i in range(2000)]
    typed = _rows(write_export(tmp_path / "big.csv", header, rows))
    expected = [
        (True, [2, 7], ["email_marketing", "sms_marketing"], ["sport", "music"]),
        (None, [], [], None),
        (False, [], ["sms_marketing"], ["travel"]),
        (True, [3, 4], ["email_marketing"], None),
    ]
    for i, row in enumerate(typed):
        got = (row["opt_in"], row["list_ids"], row["subscribed"], row["interests"])
        assert got == expected[i % 4]


def test_folding_many_overlapping_contacts_across_batches(tmp_path: Path) -> None:
    """Groups that straddle DuckDB's batches must still fold into exactly one row each."""
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


def _no_regroup(self: MergeResult) -> MergeResult:
    raise AssertionError("regrouped although no contact repeats")


def test_colliding_fingerprints_are_confirmed_on_the_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every key gets the same fingerprint: the exact count on the keys finds no repeat, so the
    # stream is neither regrouped nor annotated.
    monkeypatch.setattr(etl.exports.merge, "QUICK_CHECK_MIN_KEYS", 1)
    monkeypatch.setattr(
        etl.exports.merge._KeyLog,
        "_fingerprints",
        lambda self, keys: np.zeros(len(keys), np.uint64),
    )
    monkeypatch.setattr(MergeResult, "regroup", _no_regroup)
    rows = [_contact("a@x.io", "[2]"), _contact("b@x.io", "[3]"), _contact("c@x.io", "[4]")]
    path = write_export(tmp_path / "e.csv", HEADER, rows)
    result = merge_exports([ExportFile(path, "list:2", 1)], ATTRIBUTES, work_dir=tmp_path / "w")
    written = _publish(result, tmp_path)
    assert written.rows == 3
    manifest = json.loads(Path(written.manifest_path).read_text())
    assert manifest["merged_rows"] == 3
    assert not any("repeated" in note for note in manifest["notes"])


def test_real_quick_hash_collision_is_not_a_repeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB's hash() gives these two addresses one value (found in a benchmark's data).
    pair = ["inès.b800000.3271@mail.example.net", "inès.b600000.3871@mail.example.net"]
    monkeypatch.setattr(etl.exports.merge, "QUICK_CHECK_MIN_KEYS", 1)  # the fingerprint path
    monkeypatch.setattr(MergeResult, "regroup", _no_regroup)
    path = write_export(tmp_path / "e.csv", HEADER, [_contact(e, "[2]") for e in pair])
    result = merge_exports([ExportFile(path, "list:2", 1)], ATTRIBUTES, work_dir=tmp_path / "w")
    emails = sorted(b["email"] for batch in result.batches for b in batch.to_pylist())
    assert emails == sorted(pair)
    assert result.merged_rows == 2


@pytest.mark.parametrize("min_keys", [1, 10**9], ids=["fingerprints", "exact-small"])
def test_single_source_repeat_found_on_either_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, min_keys: int
) -> None:
    monkeypatch.setattr(etl.exports.merge, "QUICK_CHECK_MIN_KEYS", min_keys)
    rows = [_contact(f"u{i}@x.io", "[2]") for i in range(50)] + [_contact("U7@x.io", "[3]")]
    path = write_export(tmp_path / "e.csv", HEADER, rows)
    result = merge_exports([ExportFile(path, "list:2", 1)], ATTRIBUTES, work_dir=tmp_path / "w")
    for stream in result.streams:
        for _ in stream():
            pass
    with pytest.raises(etl.exports.merge.DuplicateIdentifiers, match="1 contact"):
        result.finish()


# --------------------------------------------------------------------------- account date settings
# Real Brevo writes export dates in the account's dateTimePreferences, often day-only
# (FACTS.md F1, F1b).

NEW_YORK = "America/New_York"


def _ny_midnight(year: int, month: int, day: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, tzinfo=ZoneInfo(NEW_YORK)).astimezone(UTC)


def test_mm_dd_yyyy_day_only_dates_in_the_account_timezone(tmp_path: Path) -> None:
    path = write_export(
        tmp_path / "e.csv",
        ["EMAIL", "ADDED_TIME", "MODIFIED_TIME"],
        [["a@x.io", "12-25-2026", "03-04-2026"], ["b@x.io", "01-02-2026", "12-31-2026"]],
    )
    a, b = _rows(path, account_timezone=NEW_YORK, account_date_format="mm-dd-yyyy")
    assert a["added_time"] == _ny_midnight(2026, 12, 25)  # 25 December, not an error
    assert a["modified_time"] == _ny_midnight(2026, 3, 4)  # 4 March, not 3 April
    assert b["added_time"] == _ny_midnight(2026, 1, 2)
    assert b["modified_time"] == _ny_midnight(2026, 12, 31)
    schema = export_schema([], ["EMAIL", "ADDED_TIME", "MODIFIED_TIME"])
    assert schema.field("added_time").type == pa.timestamp("us", tz="UTC")  # the type is kept


def test_12_hour_clock_and_other_separators(tmp_path: Path) -> None:
    path = write_export(
        tmp_path / "e.csv",
        ["EMAIL", "ADDED_TIME", "MODIFIED_TIME"],
        [
            ["a@x.io", "03-04-2026 03:15:00 PM", "12-25-2026 12:05 AM"],
            ["b@x.io", "03/04/2026 11:59:59 am", "2026-03-04T20:15:00.000Z"],
        ],
    )
    a, b = _rows(
        path, account_timezone="UTC", account_date_format="mm-dd-yyyy", account_time_format="12"
    )
    assert a["added_time"] == datetime(2026, 3, 4, 15, 15, tzinfo=UTC)
    assert a["modified_time"] == datetime(2026, 12, 25, 0, 5, tzinfo=UTC)
    assert b["added_time"] == datetime(2026, 3, 4, 11, 59, 59, tzinfo=UTC)
    assert b["modified_time"] == datetime(2026, 3, 4, 20, 15, tzinfo=UTC)
    dotted = write_export(tmp_path / "d.csv", ["EMAIL", "ADDED_TIME"], [["c@x.io", "25.12.2026"]])
    [c] = _rows(dotted, account_date_format="dd-mm-yyyy")
    assert c["added_time"] == datetime(2026, 12, 25, tzinfo=UTC)


def test_a_date_not_in_the_account_format_fails_naming_the_format(tmp_path: Path) -> None:
    path = write_export(tmp_path / "e.csv", ["EMAIL", "ADDED_TIME"], [["a@x.io", "25-12-2026"]])
    with pytest.raises(ExportFormatError, match=r"'25-12-2026'.*account format mm-dd-yyyy"):
        _rows(path, account_date_format="mm-dd-yyyy")


def test_unknown_account_settings_are_refused() -> None:
    with pytest.raises(InputError, match="time format"):
        etl.exports.merge.ParseSettings("UTC", "dd-mm-yyyy", "36")


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
    kept = _merged_rows(
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


def test_filter_modified_since_with_a_day_only_mask() -> None:
    from etl.exports.merge import ParseSettings, filter_modified_since

    values = pa.array(
        [_ny_midnight(2026, 12, 25), _ny_midnight(2026, 12, 25), _ny_midnight(2026, 12, 24)],
        type=pa.timestamp("us", tz="UTC"),
    )
    batch = pa.record_batch([values], names=["modified_time"])
    since = datetime(2026, 12, 25, 20, tzinfo=UTC)
    settings = ParseSettings(NEW_YORK, "mm-dd-yyyy")
    mask = pa.array([True, False, True])
    kept = filter_modified_since(batch, since, "modified_time", day_only=mask, settings=settings)
    assert kept.num_rows == 1  # day-only 25th kept; a real 00:00 time and the 24th are not
    assert filter_modified_since(batch, since, "modified_time").num_rows == 0
