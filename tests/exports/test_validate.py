"""The check of a merged export (etl.exports.validate): the Arrow engine and the GX reference."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

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


LISTS = pa.list_(pa.int64())
AGREEMENT_CASES = [
    pytest.param(
        pa.table({"email": ["a@x.io", "b@x.io"], "list_ids": pa.array([[2], []], LISTS)}),
        {"total_records": 2},
        id="good",
    ),
    pytest.param(
        pa.table(
            {
                "email": ["c", "a@x.io", "b", "a@x.io", None, "b", None],
                "list_ids": pa.array([[2], [None], [3], None, [], [1], [None]], LISTS),
            }
        ),
        {"total_records": 2},
        id="every-failure",
    ),
    pytest.param(pa.table({"email": pa.array([], pa.string())}), {"total_records": 0}, id="empty"),
    pytest.param(pa.table({"email": ["", "", "x"]}), {}, id="blank-repeated"),
    pytest.param(
        pa.table({"EMAIL": ["a", "b"], "_listIds": pa.array(["[2|x]", None])}),
        {"identifier": "EMAIL", "total_records": 5, "filtered": True},
        id="untyped-list-ids-brevo-case",
    ),
    pytest.param(
        pa.table({"other": [1, 2]}),
        {"total_records": 1, "exports_merged": 2},
        id="no-identifier-too-many-rows",
    ),
    pytest.param(
        pa.table(
            {
                "email": ["a@x.io", "b@x.io", "c@x.io"],
                "_sources": pa.array([["list:1"], ["list:2"], ["list:1"]], pa.list_(pa.string())),
            }
        ),
        {"total_records": 2},
        id="merged-exports-over-total",
    ),
]


@pytest.mark.parametrize(("table", "kwargs"), AGREEMENT_CASES)
def test_the_arrow_engine_agrees_with_the_gx_reference(table, kwargs, tmp_path: Path):
    fast = validate_merged(table, engine="arrow", **kwargs)
    reference = validate_merged(table, engine="gx", **kwargs)
    assert fast == reference  # same pass/fail, same failures in the same order, same notes
    # The same over the written Parquet, as the flow validates it.
    path = tmp_path / "part-0.parquet"
    pq.write_table(table, path)
    assert validate_merged(path, engine="arrow", **kwargs) == fast
    assert validate_merged(path, engine="gx", **kwargs) == reference


def test_every_failure_is_reported_by_both_engines():
    bad = AGREEMENT_CASES[1].values[0]
    for engine in ("arrow", "gx"):
        report = validate_merged(bad, total_records=2, engine=engine)
        assert report.failures == (
            "email: 2 row(s) without an identifier",
            "email: 4 row(s) share an identifier, e.g. 'a@x.io'",
            "list_ids: 2 row(s) with list ids that are not integers",
            "row count 7 != Brevo total_records 2",
        )


def test_an_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="unknown validation engine"):
        validate_merged(pa.table({"email": ["a"]}), engine="pandas")  # type: ignore[arg-type]
