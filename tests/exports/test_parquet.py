"""Typed atomic Parquet partitions: DuckDB reads them, re-runs replace them, failures hide."""

from __future__ import annotations

import csv
import glob
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import etl.exports.output
from etl.brevo.models import Attribute, EnumValue
from etl.errors import InputError
from etl.exports.merge import KeyCheck, merge_exports
from etl.exports.output import read_high_water_mark, write_high_water_mark
from etl.exports.parquet import new_run_id, write_partition
from etl.exports.read import ExportFile, filter_modified_since
from etl.exports.validate import validate_merged

ATTRIBUTES = [
    Attribute("FIRSTNAME", "normal", "text"),
    Attribute("BIRTHDAY", "normal", "date"),
    Attribute("SCORE", "normal", "float"),
    Attribute("OPT_IN", "normal", "boolean"),
    Attribute("GENDER", "category", None, (EnumValue(1, "Mr"), EnumValue(2, "Ms"))),
    Attribute("INTERESTS", "normal", "multiple-choice", (), ("sport", "music")),
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
]
DAY = date(2026, 11, 23)


def write_export(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def contacts(n: int, *, prefix: str = "c") -> list[list[str]]:
    return [
        [
            f"{prefix}{i}@example.com",
            f"2026-11-{1 + i % 20:02d}T10:00:00.000Z",
            f"{1 + i % 20:02d}-11-2026 12:30:00",
            f"Name {i}",
            f"1990-01-{1 + i % 28:02d}",
            f"{i}.25",
            "true" if i % 2 else "false",
            "Mr" if i % 2 else "Ms",
            "sport,music" if i % 3 else "",
            f"[{2 + i % 3}|9]",
            "email_marketing" if i % 4 else "",
        ]
        for i in range(n)
    ]


def merged(
    tmp_path: Path,
    rows: list[list[str]],
    name: str = "export.csv",
    *,
    key_check: KeyCheck | None = None,
):
    path = write_export(tmp_path / name, rows)
    return merge_exports(
        [ExportFile(path, "list:2", 42)],
        ATTRIBUTES,
        work_dir=tmp_path / "work",
        key_check=key_check,
    )


def publish(result, out: Path | str, run_id: str = "run-1"):
    return write_partition(
        result,
        result.schema,
        out=str(out),
        export_date=DAY,
        metadata={"process_ids": "[42]", "filters": '["list:2"]'},
        run_id=run_id,
    )


def test_duckdb_reads_the_types_and_values(tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = publish(merged(tmp_path, contacts(5)), out)
    assert written.rows == 5
    assert written.path == f"{out}/contacts/export_date=2026-11-23/run=run-1"
    assert written.day_path == f"{out}/contacts/export_date=2026-11-23"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    pattern = f"{out}/contacts/export_date=*/run=*/*.parquet"
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM '{pattern}'").fetchall()}
    assert types == {
        "email": "VARCHAR",
        "added_time": "TIMESTAMP WITH TIME ZONE",
        "modified_time": "TIMESTAMP WITH TIME ZONE",
        "firstname": "VARCHAR",
        "birthday": "DATE",
        "score": "DOUBLE",
        "opt_in": "BOOLEAN",
        "gender": "VARCHAR",
        "gender_value": "BIGINT",
        "interests": "VARCHAR[]",
        "list_ids": "BIGINT[]",
        "subscribed": "VARCHAR[]",
        "_sources": "VARCHAR[]",
        "export_date": "DATE",  # DuckDB reads the Hive-style partition keys too
        "run": "VARCHAR",
    }
    row = con.execute(
        f"SELECT email, added_time, modified_time, birthday, score, opt_in, gender, gender_value,"
        f" interests, list_ids, subscribed, _sources, export_date FROM '{pattern}'"
        " WHERE email = 'c1@example.com'"
    ).fetchall()[0]
    assert row == (
        "c1@example.com",
        datetime(2026, 11, 2, 10, 0, tzinfo=row[1].tzinfo),
        datetime(2026, 11, 2, 12, 30, tzinfo=row[2].tzinfo),
        date(1990, 1, 2),
        1.25,
        True,
        "Mr",
        1,
        ["sport", "music"],
        [3, 9],
        ["email_marketing"],
        ["list:2"],
        DAY,
    )
    assert row[1].utcoffset().total_seconds() == 0
    assert con.execute(f"SELECT sum(len(list_ids)) FROM '{pattern}'").fetchall()[0][0] == 10
    report = validate_merged(written.path, total_records=5)
    assert report.passed, report.failures
    assert report.rows == 5
    assert con.execute(f"SELECT sum(score) FROM '{pattern}'").fetchall()[0][0] == pytest.approx(
        float(sum(Decimal(f"{i}.25") for i in range(5)))
    )


def test_metadata_and_manifests(tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = publish(merged(tmp_path, contacts(3)), out)
    meta = pq.read_schema(written.files[0]).metadata
    assert meta[b"schema_version"] == b"1"
    assert meta[b"process_ids"] == b"[42]"
    assert meta[b"filters"] == b'["list:2"]'
    assert meta[b"run_id"] == b"run-1"
    assert meta[b"export_date"] == b"2026-11-23"
    file_meta = pq.ParquetFile(written.files[0]).metadata.metadata
    assert file_meta[b"rows"] == b"3"
    assert file_meta[b"partition_rows"] == b"3"
    assert json.loads(file_meta[b"rows_per_source"]) == {"list:2": 3}
    assert pq.ParquetFile(written.files[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    manifest = json.loads(Path(written.manifest_path).read_text())
    assert written.manifest_path == f"{out}/contacts/_manifests/run-1.json"
    assert manifest["rows"] == 3
    assert manifest["process_ids"] == [42]
    assert manifest["filters"] == ["list:2"]
    assert manifest["files"] == [
        {"path": "contacts/export_date=2026-11-23/run=run-1/part-0000.parquet", "rows": 3}
    ]
    assert {"name": "list_ids", "type": "list<item: int64>"} in manifest["schema"]
    assert manifest["rows_per_source"] == {"list:2": 3}
    current = json.loads(Path(written.current_manifest_path).read_text())
    assert [r["run_id"] for r in current["runs"]] == ["run-1"]
    assert current["files"] == manifest["files"]
    assert current["rows"] == 3


def test_a_second_run_of_the_day_adds_its_own_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    parts = [write_export(tmp_path / f"p{k}.csv", contacts(4, prefix=f"old{k}-")) for k in range(3)]
    first = merge_exports(
        [ExportFile(p, "list:2") for p in parts], ATTRIBUTES, work_dir=tmp_path / "w"
    )
    one = publish(first, out, "run-1")
    # Named by stream: part-0000 for the first file's stream, whichever thread ends first.
    assert [Path(f).name for f in one.files] == [
        "part-0000.parquet",
        "part-0001.parquet",
        "part-0002.parquet",
    ]
    second = publish(merged(tmp_path, contacts(2, prefix="new"), "new.csv"), out, "run-2")
    assert [Path(f).name for f in second.files] == ["part-0000.parquet"]
    day = out / "contacts" / "export_date=2026-11-23"
    assert sorted(p.name for p in day.iterdir()) == ["run=run-1", "run=run-2"]
    assert pq.read_table(one.path).num_rows == 12  # the first run is untouched
    emails = sorted(pq.read_table(second.path).column("email").to_pylist())
    assert emails == ["new0@example.com", "new1@example.com"]
    assert sorted(p.name for p in (out / "contacts").iterdir()) == [
        "_current",
        "_manifests",
        "export_date=2026-11-23",
    ]
    current = json.loads(Path(second.current_manifest_path).read_text())
    assert [r["run_id"] for r in current["runs"]] == ["run-1", "run-2"]
    assert current["rows"] == 14
    assert len(current["files"]) == 4


def test_writing_a_run_id_again_replaces_that_run_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    kept = publish(merged(tmp_path, contacts(2, prefix="k"), "k.csv"), out, "r0")
    publish(merged(tmp_path, contacts(3, prefix="a")), out, "r1")
    monkeypatch.setattr(etl.exports.output, "_rename_exchange", lambda a, b: False)
    again = publish(merged(tmp_path, contacts(1, prefix="b"), "b.csv"), out, "r1")
    assert pq.read_table(again.path).column("email").to_pylist() == ["b0@example.com"]
    assert pq.read_table(kept.path).num_rows == 2
    assert not [p for p in (out / "contacts").iterdir() if p.name.startswith(".")]


def test_new_run_ids_sort_in_run_order() -> None:
    early = new_run_id(datetime(2026, 12, 1, 9, 59, 59, 999999, tzinfo=UTC))
    late = new_run_id(datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC))
    assert early < late
    assert early.startswith("20261201T095959999999Z-")


def test_failure_mid_write_leaves_the_previous_partition(tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = publish(merged(tmp_path, contacts(6)), out)
    before = pq.read_table(first.path).to_pylist()
    result = merged(tmp_path, contacts(5, prefix="x"), "x.csv")

    def exploding() -> Iterator[pa.RecordBatch]:
        yield from result.streams[0]()
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_partition(
            exploding(), result.schema, out=str(out), export_date=DAY, metadata={}, run_id="r2"
        )
    assert glob.glob(f"{out}/contacts/export_date=*/run=*") == [first.path]
    assert pq.read_table(first.path).to_pylist() == before
    assert not [p for p in (out / "contacts").iterdir() if p.name.startswith(".")]
    assert not (out / "contacts/_manifests/r2.json").exists()


def test_namespaced_metadata_keys_reach_the_manifest(tmp_path: Path) -> None:
    result = merged(tmp_path, contacts(1))
    written = write_partition(
        result,
        result.schema,
        out=str(tmp_path / "out"),
        export_date=DAY,
        metadata={"contacts_etl.process_ids": "[7, 8]", "contacts_etl.filters": '["list:2"]'},
        run_id="ns",
    )
    manifest = json.loads(Path(written.manifest_path).read_text())
    assert manifest["process_ids"] == [7, 8]
    assert manifest["filters"] == ["list:2"]
    assert manifest["metadata"]["contacts_etl.process_ids"] == [7, 8]
    file_meta = pq.read_schema(written.files[0]).metadata
    assert file_meta[b"contacts_etl.process_ids"] == b"[7, 8]"


def test_plain_batches_and_empty_days(tmp_path: Path) -> None:
    schema = pa.schema([("email", pa.string()), ("list_ids", pa.list_(pa.int64()))])
    written = write_partition(
        [], schema, out=str(tmp_path / "out"), export_date=DAY, metadata={}, run_id="empty"
    )
    assert written.rows == 0
    table = pq.read_table(written.files[0])
    assert table.num_rows == 0
    assert table.schema.field("list_ids").type == pa.list_(pa.int64())
    with pytest.raises(InputError, match="run id"):
        write_partition([], schema, out=str(tmp_path), export_date=DAY, metadata={}, run_id="../x")


def test_single_source_duplicate_check_spills_to_disk(tmp_path: Path) -> None:
    spill = KeyCheck(memory_bytes=16)
    rows = contacts(4)
    unique = publish(merged(tmp_path, rows, key_check=spill), tmp_path / "u")
    assert unique.rows == 4
    repeated = publish(
        merged(tmp_path, [*rows, rows[0]], "dup.csv", key_check=spill), tmp_path / "d"
    )
    assert repeated.rows == 4
    manifest = json.loads(Path(repeated.manifest_path).read_text())
    assert any("repeated some contacts (1 extra row(s))" in note for note in manifest["notes"])


def test_high_water_mark_round_trip(tmp_path: Path) -> None:
    out = str(tmp_path / "out")
    assert read_high_water_mark(out) is None
    write_high_water_mark(out, datetime(2026, 11, 23, 10, 30, tzinfo=UTC))
    assert read_high_water_mark(out) == datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
    write_high_water_mark(out, datetime(2026, 11, 24, 8, 0))  # naive means UTC
    assert read_high_water_mark(out) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    state = tmp_path / "out/contacts/_state"
    assert [p.name for p in state.iterdir()] == ["high_water_mark.json"]


def test_filter_modified_since_keeps_undated_rows() -> None:
    ts = pa.timestamp("us", tz="UTC")
    batch = pa.record_batch(
        {
            "email": ["a", "b", "c", "d"],
            "modified_time": pa.array(
                [
                    datetime(2026, 1, 1, tzinfo=UTC),
                    datetime(2026, 1, 3, tzinfo=UTC),
                    None,
                    datetime(2026, 1, 2, tzinfo=UTC),
                ],
                ts,
            ),
        }
    )
    kept = filter_modified_since(batch, datetime(2026, 1, 2), "modified_time")
    assert kept.column("email").to_pylist() == ["b", "c", "d"]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"{host}:{port}"
    finally:
        server.stop()


def test_s3_output_via_manifest(tmp_path: Path, s3_endpoint: str) -> None:
    fs = pafs.S3FileSystem(
        endpoint_override=s3_endpoint,
        scheme="http",
        access_key="testing",
        secret_key="testing",
        region="us-east-1",
        allow_bucket_creation=True,
    )
    fs.create_dir("lake")
    one = merged(tmp_path, contacts(3, prefix="one"), "one.csv")
    first = write_partition(
        one.streams[0](),  # plain batches this time
        one.schema,
        out="lake/brevo",
        filesystem=fs,
        export_date=DAY,
        metadata={"process_ids": "[1]"},
        run_id="s3-run-1",
    )
    assert first.rows == 3
    result = merged(tmp_path, contacts(2, prefix="two"), "two.csv")
    second = write_partition(
        result,
        result.schema,
        out="lake/brevo",
        filesystem=fs,
        export_date=DAY,
        metadata={"process_ids": "[2]"},
        run_id="s3-run-2",
    )
    listed = sorted(
        info.path
        for info in fs.get_file_info(pafs.FileSelector("lake/brevo/contacts", recursive=True))
        if info.type == pafs.FileType.File
    )
    assert listed == sorted(
        [
            *first.files,
            *second.files,
            "lake/brevo/contacts/_current/export_date=2026-11-23.json",
            "lake/brevo/contacts/_manifests/s3-run-1.json",
            "lake/brevo/contacts/_manifests/s3-run-2.json",
        ]
    )
    with fs.open_input_stream(second.current_manifest_path) as stream:
        current = json.loads(stream.read())
    assert [r["run_id"] for r in current["runs"]] == ["s3-run-1", "s3-run-2"]
    files = [f"lake/brevo/{entry['path']}" for entry in current["files"]]
    assert files == [*first.files, *second.files]
    emails = sorted(pq.read_table(list(second.files), filesystem=fs).column("email").to_pylist())
    assert emails == ["two0@example.com", "two1@example.com"]
    write_high_water_mark("lake/brevo", datetime(2026, 1, 1, tzinfo=UTC), filesystem=fs)
    assert read_high_water_mark("lake/brevo", filesystem=fs) == datetime(2026, 1, 1, tzinfo=UTC)


def test_s3_uri_with_endpoint_in_the_query(tmp_path: Path, s3_endpoint: str) -> None:
    uri = (
        f"s3://testing:testing@uri-bucket/prefix?endpoint_override={s3_endpoint}"
        "&scheme=http&region=us-east-1&allow_bucket_creation=true"
    )
    fs, _ = pafs.FileSystem.from_uri(uri)
    fs.create_dir("uri-bucket")
    result = merged(tmp_path, contacts(2))
    written = publish(result, uri)
    assert written.path.startswith("s3://uri-bucket/prefix/contacts/export_date=2026-11-23")
    assert written.rows == 2


def test_row_groups_are_whole_whatever_the_batch_sizes(tmp_path: Path) -> None:
    schema = pa.schema([("email", pa.string()), ("n", pa.int64())])
    sizes = [37, 37, 37, 5, 90, 1, 33]  # 240 rows in batches that never line up with 50
    start = 0
    batches = []
    for size in sizes:
        numbers = list(range(start, start + size))
        batches.append(pa.record_batch([[f"u{i}@x.io" for i in numbers], numbers], schema=schema))
        start += size
    written = write_partition(
        batches,
        schema,
        out=str(tmp_path / "out"),
        export_date=DAY,
        metadata={},
        run_id="rg",
        row_group_rows=50,
    )
    meta = pq.ParquetFile(written.files[0]).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [50] * 4 + [40]
    assert pq.read_table(written.files[0]).column("n").to_pylist() == list(range(240))
