"""Typed batches from one export file: conversions, account date formats, the modified-since filter."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from etl.errors import InputError
from etl.exports.convert import ExportFormatError, ParseSettings
from etl.exports.layout import export_schema
from etl.exports.read import filter_modified_since
from tests.exports._support import (
    HEADER,
    NEW_YORK,
    ny_midnight,
    typed_rows,
    write_export,
)


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
    ann, bob = typed_rows(path)
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
    a, b, c = typed_rows(path)
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
    [row] = typed_rows(path, account_timezone="Europe/Paris", account_date_format="mm-dd-yyyy")
    assert row["added_time"] == datetime(2026, 11, 23, 9, tzinfo=UTC)


def test_category_value_instead_of_label_and_unknown_labels(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_export(
        tmp_path / "export.csv", ["EMAIL", "GENDER"], [["a@x.io", "1"], ["b@x.io", "Dr"]]
    )
    with caplog.at_level(logging.WARNING):
        a, b = typed_rows(path)
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
        typed_rows(path)
    assert f"column {column}" in str(info.value)
    assert what in str(info.value)
    assert repr(value) in str(info.value)


def test_ragged_rows_fail_loudly(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("EMAIL;FIRSTNAME\na@x.io;Ann;extra\n", encoding="utf-8")
    with pytest.raises(ExportFormatError, match=r"bad\.csv"):
        typed_rows(path)


def test_header_only_and_empty_files_yield_nothing(tmp_path: Path) -> None:
    assert typed_rows(write_export(tmp_path / "h.csv", HEADER, [])) == []
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    assert typed_rows(empty) == []


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
    typed = typed_rows(write_export(tmp_path / "big.csv", header, rows))
    expected = [
        (True, [2, 7], ["email_marketing", "sms_marketing"], ["sport", "music"]),
        (None, [], [], None),
        (False, [], ["sms_marketing"], ["travel"]),
        (True, [3, 4], ["email_marketing"], None),
    ]
    for i, row in enumerate(typed):
        got = (row["opt_in"], row["list_ids"], row["subscribed"], row["interests"])
        assert got == expected[i % 4]


def test_mm_dd_yyyy_day_only_dates_in_the_account_timezone(tmp_path: Path) -> None:
    path = write_export(
        tmp_path / "e.csv",
        ["EMAIL", "ADDED_TIME", "MODIFIED_TIME"],
        [["a@x.io", "12-25-2026", "03-04-2026"], ["b@x.io", "01-02-2026", "12-31-2026"]],
    )
    a, b = typed_rows(path, account_timezone=NEW_YORK, account_date_format="mm-dd-yyyy")
    assert a["added_time"] == ny_midnight(2026, 12, 25)  # 25 December, not an error
    assert a["modified_time"] == ny_midnight(2026, 3, 4)  # 4 March, not 3 April
    assert b["added_time"] == ny_midnight(2026, 1, 2)
    assert b["modified_time"] == ny_midnight(2026, 12, 31)
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
    a, b = typed_rows(
        path, account_timezone="UTC", account_date_format="mm-dd-yyyy", account_time_format="12"
    )
    assert a["added_time"] == datetime(2026, 3, 4, 15, 15, tzinfo=UTC)
    assert a["modified_time"] == datetime(2026, 12, 25, 0, 5, tzinfo=UTC)
    assert b["added_time"] == datetime(2026, 3, 4, 11, 59, 59, tzinfo=UTC)
    assert b["modified_time"] == datetime(2026, 3, 4, 20, 15, tzinfo=UTC)
    dotted = write_export(tmp_path / "d.csv", ["EMAIL", "ADDED_TIME"], [["c@x.io", "25.12.2026"]])
    [c] = typed_rows(dotted, account_date_format="dd-mm-yyyy")
    assert c["added_time"] == datetime(2026, 12, 25, tzinfo=UTC)


def test_a_date_not_in_the_account_format_fails_naming_the_format(tmp_path: Path) -> None:
    path = write_export(tmp_path / "e.csv", ["EMAIL", "ADDED_TIME"], [["a@x.io", "25-12-2026"]])
    with pytest.raises(ExportFormatError, match=r"'25-12-2026'.*account format mm-dd-yyyy"):
        typed_rows(path, account_date_format="mm-dd-yyyy")


def test_unknown_account_settings_are_refused() -> None:
    with pytest.raises(InputError, match="time format"):
        ParseSettings("UTC", "dd-mm-yyyy", "36")


def test_filter_modified_since_with_a_day_only_mask() -> None:
    values = pa.array(
        [ny_midnight(2026, 12, 25), ny_midnight(2026, 12, 25), ny_midnight(2026, 12, 24)],
        type=pa.timestamp("us", tz="UTC"),
    )
    batch = pa.record_batch([values], names=["modified_time"])
    since = datetime(2026, 12, 25, 20, tzinfo=UTC)
    settings = ParseSettings(NEW_YORK, "mm-dd-yyyy")
    mask = pa.array([True, False, True])
    kept = filter_modified_since(batch, since, "modified_time", day_only=mask, settings=settings)
    assert kept.num_rows == 1  # day-only 25th kept; a real 00:00 time and the 24th are not
    assert filter_modified_since(batch, since, "modified_time").num_rows == 0
