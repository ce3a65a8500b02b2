"""Write the merged export as Parquet files that a warehouse loads incrementally.

Layout under ``OUT`` (a local path or any pyarrow filesystem URI such as ``s3://bucket/prefix``;
see ``etl.exports.output``)::

    OUT/contacts/export_date=YYYY-MM-DD/run=<run_id>/part-0000.parquet ...   one run's rows (zstd)
    OUT/contacts/_manifests/<run_id>.json                  what a run wrote, for loaders
    OUT/contacts/_current/export_date=YYYY-MM-DD.json      the day's complete runs and their files

Runs only add. Every run writes its own ``run=<run_id>`` directory under the day's partition and
never touches what earlier runs wrote, so two runs on the same day (``--incremental`` ones in
particular) both stay readable. Run ids start with the run's UTC start time
(``20261201T101500123456Z-3f9a1c``), so they sort in run order. A loader rebuilds the current
state of every contact by keeping, per contact, the row with the greatest
``(modified_time, run)`` (docs/exports.md has the contract and a DuckDB query).

Atomicity. A reader must never see half a run:

* Local filesystems: the files are written in a hidden sibling directory
  (``contacts/.tmp-...``, which ``export_date=*`` globs and Hive-style readers ignore) and then
  renamed into place as ``run=<run_id>`` in one ``rename``. A failure before the rename removes
  the temporary directory; earlier runs are never touched.
* Object stores (S3, GCS...), where rename is a copy: the files go straight to the run's
  directory, then the run manifest and ``_current/export_date=...json`` are written last (a
  single PUT is atomic). **Loaders on object stores must read the file lists from the run
  manifests** (or ``_current``), not by listing the prefix, which shows a run being written.

Part files are named after the merge stream that wrote them (``part-<stream>.parquet``, then
``part-<stream>-<n>.parquet`` past ``max_rows_per_file``), so names never depend on which
writer thread finished first.

Each file carries key-value metadata: ``schema_version``, ``run_id``, ``export_date``, the
caller's metadata (process ids, filters...), ``rows`` (this file), ``partition_rows`` (the run's
rows), ``merged_rows`` and ``rows_per_source`` (JSON).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from etl.errors import InputError
from etl.exports.layout import IDENTIFIER_COLUMNS, SCHEMA_VERSION
from etl.exports.output import (
    delete_dir,
    delete_files,
    is_local,
    resolve_output,
    sweep_stale_staging,
    write_bytes_atomic,
)

# A module-level name that write_partition looks up when it runs, so that a fault test can
# pause a run just before the swap (tests/faults/_probe.py).
from etl.exports.output import swap_in_local as _swap_in_local
from etl.exports.prefetch import prefetch
from etl.exports.result import DuplicateIdentifiers, MergeResult

__all__ = [
    "RUN_DIR_PREFIX",
    "WrittenPartition",
    "new_run_id",
    "write_partition",
]

logger = logging.getLogger(__name__)

COMPRESSION = "zstd"
# Level 1: nearly the ratio of the default (3) on contact data, at a fraction of the CPU.
COMPRESSION_LEVEL = 1
ROW_GROUP_ROWS = 100_000
MAX_ROWS_PER_FILE = 10_000_000
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
RUN_DIR_PREFIX = "run="


def new_run_id(now: datetime | None = None) -> str:
    """A run id that sorts in run order: the UTC start time to the microsecond, then 6 hex."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return f"{moment.strftime('%Y%m%dT%H%M%S%fZ')}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class WrittenPartition:
    """What :func:`write_partition` published."""

    path: str  # the run's directory: export_date=YYYY-MM-DD/run=<run_id>
    files: tuple[str, ...]
    rows: int
    manifest_path: str
    export_date: date
    rows_per_file: tuple[int, ...] = ()
    current_manifest_path: str = ""
    day_path: str = ""  # the day's partition: export_date=YYYY-MM-DD
    run_id: str = ""


# --------------------------------------------------------------------------- writing

# Columns that are (nearly) unique per contact: a dictionary costs time and saves nothing.
_NO_DICTIONARY_KINDS = frozenset({"timestamp", "float", "date"})


def _writer_options(schema: pa.Schema) -> dict[str, list[str]]:
    """Dictionary-encode repetitive columns only; statistics for scalar columns only."""
    dictionary: list[str] = []
    statistics: list[str] = []
    for fld in schema:
        meta = {k.decode(): v.decode() for k, v in (fld.metadata or {}).items()}
        is_list = pa.types.is_list(fld.type) or pa.types.is_large_list(fld.type)
        path = f"{fld.name}.list.element" if is_list else fld.name
        unique_ish = meta.get("brevo_type") in _NO_DICTIONARY_KINDS or (
            meta.get("brevo_name", "").upper() in IDENTIFIER_COLUMNS
        )
        if not unique_ish:
            dictionary.append(path)
        if not is_list:
            statistics.append(path)
    return {"use_dictionary": dictionary, "write_statistics": statistics}


class _FileNames:
    """``part-<stream>.parquet``, then ``part-<stream>-0001.parquet``...: one stream's file names.

    Named by stream index, not by a shared counter, so that parallel writer threads cannot race
    for names and a re-run of the same merge gives the same names.
    """

    def __init__(self, directory: str, stream: int) -> None:
        self.directory = directory
        self.stream = stream
        self.next = 0

    def __call__(self) -> str:
        index, self.next = self.next, self.next + 1
        tail = f"-{index:04d}" if index else ""
        return f"{self.directory}/part-{self.stream:04d}{tail}.parquet"


class _StreamWriter:
    """Writes one stream of batches to one or more files, in row groups of ``row_group_rows``."""

    def __init__(
        self,
        *,
        fs: pafs.FileSystem,
        schema: pa.Schema,
        next_path: Callable[[], str],
        row_group_rows: int,
        max_rows_per_file: int,
    ) -> None:
        self.fs = fs
        self.schema = schema
        self.next_path = next_path
        self.row_group_rows = row_group_rows
        self.max_rows_per_file = max_rows_per_file
        self.open: list[tuple[str, pq.ParquetWriter]] = []
        self.rows: list[int] = []
        self._buffer: list[pa.RecordBatch] = []
        self._buffered = 0

    def _writer(self) -> pq.ParquetWriter:
        if not self.open or self.rows[-1] >= self.max_rows_per_file:
            path = self.next_path()
            writer = pq.ParquetWriter(
                path,
                self.schema,
                filesystem=self.fs,
                compression=COMPRESSION,
                compression_level=COMPRESSION_LEVEL,
                **_writer_options(self.schema),
            )
            self.open.append((path, writer))
            self.rows.append(0)
        return self.open[-1][1]

    def _flush(self, *, final: bool) -> None:
        """Write whole row groups; the remainder waits for more rows unless ``final``."""
        if not self._buffered:
            return
        table = pa.Table.from_batches(self._buffer, schema=self.schema)
        keep = 0 if final else table.num_rows % self.row_group_rows
        ready = table.slice(0, table.num_rows - keep)
        self._writer().write_table(ready, row_group_size=self.row_group_rows)
        self.rows[-1] += ready.num_rows
        self._buffer = table.slice(ready.num_rows).to_batches() if keep else []
        self._buffered = keep

    def consume(self, batches: Iterator[pa.RecordBatch]) -> None:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            if batch.schema != self.schema:
                batch = pa.Table.from_batches([batch]).cast(self.schema).combine_chunks()
                batch = batch.to_batches()[0] if batch.num_rows else batch
            self._buffer.append(batch)
            self._buffered += batch.num_rows
            if self._buffered >= self.row_group_rows:
                self._flush(final=False)
        self._flush(final=True)

    def ensure_file(self) -> None:
        """An empty day still gets one (empty) file, so loaders see its schema."""
        if not self.open:
            self._writer()

    def close(self, extra_metadata: Mapping[str, str] | None) -> None:
        for (_, writer), rows in zip(self.open, self.rows, strict=True):
            if extra_metadata is not None:
                writer.add_key_value_metadata({**extra_metadata, "rows": str(rows)})
            writer.close()

    def abort(self) -> None:
        for _, writer in self.open:
            with contextlib.suppress(Exception):
                writer.close()


def _streams_of(
    result_or_batches: MergeResult | Iterable[pa.RecordBatch] | pa.Table,
) -> list[Callable[[], Iterator[pa.RecordBatch]]]:
    if isinstance(result_or_batches, MergeResult):
        return list(result_or_batches.streams)
    if isinstance(result_or_batches, pa.Table):
        table = result_or_batches
        return [lambda: iter(table.to_batches())]
    batches = result_or_batches
    return [lambda: iter(batches)]


def _metadata_value(metadata: Mapping[str, str], name: str) -> object:
    """``name`` or any namespaced ``<prefix>.name`` key of the caller's metadata, decoded."""
    for key, value in metadata.items():
        if key == name or key.endswith(f".{name}"):
            return _json_or_text(value)
    return None


def _json_or_text(value: str) -> object:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value


def write_partition(
    result_or_batches: MergeResult | Iterable[pa.RecordBatch] | pa.Table,
    schema: pa.Schema,
    *,
    out: str,
    export_date: date,
    metadata: Mapping[str, str],
    run_id: str,
    filesystem: pafs.FileSystem | None = None,
    row_group_rows: int = ROW_GROUP_ROWS,
    max_rows_per_file: int = MAX_ROWS_PER_FILE,
    max_workers: int | None = None,
) -> WrittenPartition:
    """Write one run's files atomically under the day's partition; earlier runs stay as they are.

    A :class:`~etl.exports.result.MergeResult`'s streams are written in parallel, one file each. When a
    single-source merge turns out to repeat a contact, the merge is regrouped and the run
    written again (the repeat never becomes visible).

    Args:
        result_or_batches: a merge result, an iterable of record batches, or a table.
        schema: the output schema (``MergeResult.schema``).
        out: local path or filesystem URI (``s3://bucket/prefix``).
        export_date: the partition's date.
        metadata: key-value metadata for every file and the manifest (process ids, filters...);
            values that are JSON text are decoded in the manifest.
        run_id: names the run's directory and manifest (:func:`new_run_id`); letters, digits,
            ``_.-``. Writing a run id again replaces that run whole.
        filesystem: use this filesystem (``out`` is then a path inside it).

    Raises:
        InputError: a bad ``run_id`` or an output that cannot be opened.
    """
    if not _RUN_ID.match(run_id):
        raise InputError(f"run id {run_id!r} must be letters, digits, '_', '.', '-'")
    fs, root, uri_prefix = resolve_output(out, filesystem)
    contacts = f"{root}/contacts"
    part_name = f"export_date={export_date.isoformat()}"
    partition = f"{contacts}/{part_name}"
    run_name = f"{RUN_DIR_PREFIX}{run_id}"
    run_dir = f"{partition}/{run_name}"
    local = is_local(fs)
    token = uuid.uuid4().hex[:10]
    base_meta = {
        **{k: str(v) for k, v in (schema.metadata or {}).items()},
        **{str(k): str(v) for k, v in metadata.items()},
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "export_date": export_date.isoformat(),
    }
    base_meta = {k.decode() if isinstance(k, bytes) else k: v for k, v in base_meta.items()}
    file_schema = schema.with_metadata(base_meta)

    if local:
        sweep_stale_staging(contacts, part_name)
    result = result_or_batches
    for attempt in (1, 2):
        staging = f"{contacts}/.tmp-{part_name}-{run_id}-{token}-{attempt}" if local else run_dir
        fs.create_dir(staging, recursive=True)
        streams = _streams_of(result)
        writers = [
            _StreamWriter(
                fs=fs,
                schema=file_schema,
                next_path=_FileNames(staging, index),
                row_group_rows=row_group_rows,
                max_rows_per_file=max_rows_per_file,
            )
            for index, _ in enumerate(streams)
        ]
        try:
            workers = max_workers or min(len(streams), os.cpu_count() or 1)
            if workers > 1 and len(streams) > 1:
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    futures = [
                        pool.submit(w.consume, s()) for w, s in zip(writers, streams, strict=True)
                    ]
                    for future in futures:
                        future.result()
            else:
                # One stream at a time: read and type it a step ahead of its writer (two cores).
                ahead = (os.cpu_count() or 1) > 1
                for writer, stream in zip(writers, streams, strict=True):
                    writer.consume(prefetch(stream, name="export-read") if ahead else stream())
            if isinstance(result, MergeResult):
                result.finish()
            if not any(w.open for w in writers):
                writers[0].ensure_file()
            rows = [r for w in writers for r in w.rows]
            total = sum(rows)
            extra = {"partition_rows": str(total)}
            if isinstance(result, MergeResult):
                extra["merged_rows"] = str(result.merged_rows)
                extra["rows_per_source"] = json.dumps(result.rows_per_source, sort_keys=True)
            for writer in writers:
                writer.close(extra)
        except DuplicateIdentifiers as exc:
            for writer in writers:
                writer.abort()
            _discard(fs, staging, writers, local=local)
            if attempt == 2 or not isinstance(result, MergeResult):
                raise
            logger.warning("%s; regrouping the merge", exc)
            result = result.regroup()
            continue
        except BaseException:
            for writer in writers:
                writer.abort()
            _discard(fs, staging, writers, local=local)
            if isinstance(result, MergeResult):
                result.close()
            raise
        break

    files = sorted(path for w in writers for path, _ in w.open)
    final_files = [f"{run_dir}/{path.rsplit('/', 1)[1]}" for path in files]
    rows_by_path = {path: r for w in writers for (path, _), r in zip(w.open, w.rows, strict=True)}
    rows_per_file = tuple(rows_by_path[path] for path in files)
    manifest: dict[str, object] = {
        "run_id": run_id,
        "export_date": export_date.isoformat(),
        "schema_version": SCHEMA_VERSION,
        "partition": f"contacts/{part_name}",
        "run_dir": f"contacts/{part_name}/{run_name}",
        "files": [
            {"path": f"contacts/{part_name}/{run_name}/{p.rsplit('/', 1)[1]}", "rows": r}
            for p, r in zip(final_files, rows_per_file, strict=True)
        ],
        "rows": sum(rows_per_file),
        "schema": [{"name": f.name, "type": str(f.type)} for f in schema],
        "metadata": {k: _json_or_text(v) for k, v in metadata.items()},
        "process_ids": _metadata_value(metadata, "process_ids"),
        "filters": _metadata_value(metadata, "filters"),
        "written_at": datetime.now(UTC).isoformat(),
    }
    if isinstance(result, MergeResult):
        manifest["rows_per_source"] = result.rows_per_source
        manifest["merged_rows"] = result.merged_rows
        manifest["notes"] = list(result.notes)
        # Export dates Brevo gave without a time of day (00:00 in the account's timezone).
        manifest["day_only_columns"] = list(result.day_only_columns)
        manifest["account_timezone"] = result.settings.timezone
    data = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()
    manifest_path = f"{contacts}/_manifests/{run_id}.json"
    current_path = f"{contacts}/_current/{part_name}.json"

    if local:
        fs.create_dir(partition, recursive=True)
        _swap_in_local(staging, run_dir)
    write_bytes_atomic(fs, manifest_path, data)  # object stores: the run's commit point
    write_bytes_atomic(fs, current_path, _day_index(fs, contacts, part_name, export_date))
    if isinstance(result, MergeResult):
        result.close()
    return WrittenPartition(
        path=uri_prefix + run_dir,
        files=tuple(uri_prefix + p for p in final_files),
        rows=sum(rows_per_file),
        manifest_path=uri_prefix + manifest_path,
        export_date=export_date,
        rows_per_file=rows_per_file,
        current_manifest_path=uri_prefix + current_path,
        day_path=uri_prefix + partition,
        run_id=run_id,
    )


def _day_index(fs: pafs.FileSystem, contacts: str, part_name: str, export_date: date) -> bytes:
    """``_current/export_date=...json``: every complete run of the day (with a manifest), in order.

    Rebuilt from the runs' directories and manifests rather than updated in place, so a run that
    died before its manifest is left out, and two runs finishing together both end up listed
    by whichever writes last.
    """
    runs: list[dict[str, object]] = []
    selector = pafs.FileSelector(f"{contacts}/{part_name}", allow_not_found=True)
    names = sorted(
        info.base_name
        for info in fs.get_file_info(selector)
        if info.type == pafs.FileType.Directory and info.base_name.startswith(RUN_DIR_PREFIX)
    )
    for name in names:
        run_id = name[len(RUN_DIR_PREFIX) :]
        try:
            with fs.open_input_stream(f"{contacts}/_manifests/{run_id}.json") as stream:
                manifest = json.loads(stream.read().decode())
        except (FileNotFoundError, OSError, ValueError):
            continue  # a run still being written (object stores) or not this layout's
        runs.append(
            {
                "run_id": run_id,
                "manifest": f"contacts/_manifests/{run_id}.json",
                "rows": manifest.get("rows", 0),
                "files": manifest.get("files", []),
            }
        )
    index = {
        "export_date": export_date.isoformat(),
        "schema_version": SCHEMA_VERSION,
        "partition": f"contacts/{part_name}",
        "runs": runs,
        "files": [f for run in runs for f in run["files"]],  # type: ignore[attr-defined]
        "rows": sum(int(run["rows"]) for run in runs),  # type: ignore[call-overload]
        "written_at": datetime.now(UTC).isoformat(),
    }
    return json.dumps(index, indent=2, sort_keys=True, default=str).encode()


def _discard(
    fs: pafs.FileSystem, staging: str, writers: list[_StreamWriter], *, local: bool
) -> None:
    if local:
        delete_dir(fs, staging)
    else:
        delete_files(fs, [path for w in writers for path, _ in w.open])
