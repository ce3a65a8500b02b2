"""The Great Expectations check of a merged export (etl.exports.validate)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from etl.exports.validate import validate_merged


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
