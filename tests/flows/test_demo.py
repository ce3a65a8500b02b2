"""The main job (`make demo` / `contacts-etl demo`) end to end, on the committed samples."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from etl.cli.demo import run_demo

EXPECTED = json.loads(Path("data/samples/expected.json").read_text(encoding="utf-8"))["run"]


def test_demo_imports_the_samples_and_exports_them_to_parquet(prefect_harness, tmp_path):
    result = run_demo(out=str(tmp_path / "exports"), state_dir=str(tmp_path / "state"))
    report, summary = result.import_report, result.export_summary
    assert report["rows_read"] == EXPECTED["rows_read"]
    assert report["rows_sent"] == EXPECTED["rows_sent"]
    assert report["rows_rejected"] == EXPECTED["rows_rejected"] + EXPECTED["duplicates"]
    assert summary["merged_rows"] == EXPECTED["rows_sent"]
    partition = summary["partition"]
    rows = duckdb.sql(
        f"SELECT count(*), count(DISTINCT email) FROM read_parquet('{partition}/*.parquet')"
    ).fetchall()
    assert rows == [(EXPECTED["rows_sent"], EXPECTED["rows_sent"] - _sms_only(partition))]
    assert "email" in result.preview
    assert "gender" in result.preview


def _sms_only(partition: str) -> int:
    return duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{partition}/*.parquet') WHERE email IS NULL OR email = ''"
    ).fetchall()[0][0]
