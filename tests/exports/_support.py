"""Shared helpers of the export tests: attributes, export files as Brevo writes them."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa

from etl.brevo.models import Attribute, EnumValue
from etl.exports.merge import merge_exports
from etl.exports.parquet import WrittenPartition, write_partition
from etl.exports.read import ExportFile, iter_typed_batches
from etl.exports.result import MergeResult

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


def typed_rows(path: Path, **kwargs: object) -> list[dict[str, object]]:
    batches = list(iter_typed_batches(path, ATTRIBUTES, source="list:2", **kwargs))  # type: ignore[arg-type]
    if not batches:
        return []
    return pa.Table.from_batches(batches).to_pylist()


def contact(email: str, lists: str, **values: str) -> list[str]:
    row = dict.fromkeys(HEADER, "")
    row.update({"EMAIL": email, "ADDED_TIME": "01-02-2026 10:00:00", "_listIds": lists})
    row.update({"MODIFIED_TIME": "02-02-2026 10:00:00"})
    row.update(values)
    return [row[c] for c in HEADER]


def merged_rows(result_files: list[ExportFile], tmp_path: Path, **kwargs: object) -> list[dict]:
    result = merge_exports(result_files, ATTRIBUTES, work_dir=tmp_path / "work", **kwargs)  # type: ignore[arg-type]
    table = pa.Table.from_batches(list(result.batches), schema=result.schema)
    return sorted(table.to_pylist(), key=lambda r: str(r.get("email") or r.get("sms")))


def publish(result: MergeResult, tmp_path: Path) -> WrittenPartition:
    return write_partition(
        result,
        result.schema,
        out=str(tmp_path / "out"),
        export_date=date(2026, 11, 23),
        metadata={},
        run_id="r1",
    )


NEW_YORK = "America/New_York"


def ny_midnight(year: int, month: int, day: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, tzinfo=ZoneInfo(NEW_YORK)).astimezone(UTC)
