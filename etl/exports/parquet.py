"""Write the merged export as a Parquet partition that a warehouse can load as it is.

Layout under ``OUT`` (a local path or any pyarrow filesystem URI such as ``s3://bucket/prefix``)::

    OUT/contacts/export_date=YYYY-MM-DD/part-0000.parquet ...   the day's rows (zstd)
    OUT/contacts/_manifests/<run_id>.json                       what a run wrote, for loaders
    OUT/contacts/_current/export_date=YYYY-MM-DD.json           the manifest of the live partition
    OUT/contacts/_state/high_water_mark.json                    last MODIFIED_TIME (--incremental)

Atomicity. A reader must never see half a day, or a day twice:

* Local filesystems: the files are written in a hidden sibling directory
  (``contacts/.tmp-...``, which ``export_date=*`` globs and Hive-style readers ignore) and then
  swapped in with ``rename``. On Linux an existing partition is exchanged atomically with
  ``renameat2(RENAME_EXCHANGE)``; elsewhere the old one is renamed away first, so for an instant
  the day is missing (never doubled, never half). A failure before the swap removes the
  temporary directory and leaves the previous partition untouched.
* Object stores (S3, GCS...), where rename is a copy: new files get run-unique names inside the
  partition, then the run manifest and ``_current/export_date=...json`` are written last (a single
  PUT is atomic), then the previous run's files are deleted. **Loaders on object stores must read
  the file list from** ``_current/export_date=YYYY-MM-DD.json`` (or the run manifest), not by
  listing the prefix, which briefly shows both runs' files.

Each file carries key-value metadata: ``schema_version``, ``run_id``, ``export_date``, the
caller's metadata (process ids, filters...), ``rows`` (this file), ``partition_rows``,
``merged_rows`` and ``rows_per_source`` (JSON).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import logging
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from etl.errors import InputError
from etl.exports.merge import (
    IDENTIFIER_COLUMNS,
    SCHEMA_VERSION,
    DuplicateIdentifiers,
    MergeResult,
    filter_modified_since,
)

__all__ = [
    "SCHEMA_VERSION",
    "WrittenPartition",
    "filter_modified_since",
    "read_high_water_mark",
    "resolve_output",
    "write_high_water_mark",
    "write_partition",
]

logger = logging.getLogger(__name__)

COMPRESSION = "zstd"
# Level 1: nearly the ratio of the default (3) on contact data, at a fraction of the CPU.
COMPRESSION_LEVEL = 1
ROW_GROUP_ROWS = 100_000
MAX_ROWS_PER_FILE = 10_000_000
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# A staging directory untouched this long belongs to a run that died before its rename (a
# crash or a kill): no live writer leaves one idle for hours, so the next run removes it.
STALE_STAGING_S = 6 * 3600


@dataclass(frozen=True)
class WrittenPartition:
    """What :func:`write_partition` published."""

    path: str
    files: tuple[str, ...]
    rows: int
    manifest_path: str
    export_date: date
    rows_per_file: tuple[int, ...] = ()
    current_manifest_path: str = ""


# --------------------------------------------------------------------------- filesystem helpers


def resolve_output(
    out: str, filesystem: pafs.FileSystem | None = None
) -> tuple[pafs.FileSystem, str, str]:
    """Return ``(filesystem, root path in it, prefix that turns a path back into a URI)``."""
    if filesystem is not None:
        return filesystem, out.rstrip("/"), ""
    if "://" in out:
        scheme = out.split("://", 1)[0]
        try:
            fs, path = pafs.FileSystem.from_uri(out)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise InputError(f"cannot open output {out!r}: {exc}") from exc
        if isinstance(fs, pafs.LocalFileSystem):
            return fs, path.rstrip("/") or "/", ""
        return fs, path.rstrip("/"), f"{scheme}://"
    return pafs.LocalFileSystem(), str(Path(out).expanduser().resolve()), ""


def _is_local(fs: pafs.FileSystem) -> bool:
    return isinstance(fs, pafs.LocalFileSystem)


def _write_bytes_atomic(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Local: temp file + rename; object stores: one PUT (atomic there)."""
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    if _is_local(fs):
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with tmp.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)
        return
    with fs.open_output_stream(path) as stream:
        stream.write(data)


def _delete_dir(fs: pafs.FileSystem, path: str) -> None:
    with contextlib.suppress(FileNotFoundError, OSError):
        if _is_local(fs):
            shutil.rmtree(path, ignore_errors=True)
        else:
            fs.delete_dir(path)


def _delete_files(fs: pafs.FileSystem, paths: Iterable[str]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError, OSError):
            fs.delete_file(path)


def _rename_exchange(a: str, b: str) -> bool:
    """Atomically swap two paths (Linux ``renameat2``); False when the platform cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), a)


def _sweep_stale_staging(contacts: str, part_name: str) -> None:
    """Remove hidden staging directories of ``part_name`` left by runs that died long ago."""
    now = time.time()
    for path in Path(contacts).glob(f".tmp-{part_name}-*"):
        try:
            idle = now - path.stat().st_mtime
        except OSError:
            continue
        if path.is_dir() and idle > STALE_STAGING_S:
            logger.info("removing %s, left by a run that did not finish", path.name)
            shutil.rmtree(path, ignore_errors=True)


def _swap_in_local(staging: str, partition: str) -> None:
    """Publish ``staging`` as ``partition`` with renames; removes the previous partition."""
    new, live = Path(staging), Path(partition)
    if not live.exists():
        try:
            new.rename(live)
            return
        except OSError as exc:
            # A concurrent run published the day meanwhile: fall through and replace it.
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    if _rename_exchange(staging, partition):
        shutil.rmtree(new, ignore_errors=True)  # it now holds the previous partition
        return
    old = live.with_name(f".old-{live.name}-{uuid.uuid4().hex[:8]}")
    live.rename(old)
    try:
        new.rename(live)
    except BaseException:
        old.rename(live)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------- writing

# Columns that are (nearly) unique per contact: a dictionary costs time and saves nothing.
_NO_DICTIONARY_KINDS = frozenset({"timestamp", "float", "date"})


def _writer_options(schema: pa.Schema) -> dict[str, Any]:
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
    """``part-0000.parquet``, ``part-0001.parquet``... shared by the writer threads."""

    def __init__(self, directory: str, suffix: str) -> None:
        self.directory = directory
        self.suffix = suffix
        self.next = 0
        self.lock = threading.Lock()

    def __call__(self) -> str:
        with self.lock:
            index, self.next = self.next, self.next + 1
        return f"{self.directory}/part-{index:04d}{self.suffix}.parquet"


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


def _metadata_value(metadata: Mapping[str, str], name: str) -> Any:
    """``name`` or any namespaced ``<prefix>.name`` key of the caller's metadata, decoded."""
    for key, value in metadata.items():
        if key == name or key.endswith(f".{name}"):
            return _json_or_text(value)
    return None


def _json_or_text(value: str) -> Any:
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
    """Write one day's partition atomically, replacing a previous run of the same day whole.

    A :class:`~etl.exports.merge.MergeResult`'s streams are written in parallel, one file each. When a
    single-source merge turns out to repeat a contact, the merge is regrouped and the partition
    written again (the repeat never becomes visible).

    Args:
        result_or_batches: a merge result, an iterable of record batches, or a table.
        schema: the output schema (``MergeResult.schema``).
        out: local path or filesystem URI (``s3://bucket/prefix``).
        export_date: the partition's date.
        metadata: key-value metadata for every file and the manifest (process ids, filters...);
            values that are JSON text are decoded in the manifest.
        run_id: names the run manifest; letters, digits, ``_.-``.
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
    local = _is_local(fs)
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
        _sweep_stale_staging(contacts, part_name)
    result = result_or_batches
    for attempt in (1, 2):
        staging = f"{contacts}/.tmp-{part_name}-{run_id}-{token}-{attempt}" if local else partition
        fs.create_dir(staging, recursive=True)
        next_path = _FileNames(staging, "" if local else f"-{token}")
        streams = _streams_of(result)
        writers = [
            _StreamWriter(
                fs=fs,
                schema=file_schema,
                next_path=next_path,
                row_group_rows=row_group_rows,
                max_rows_per_file=max_rows_per_file,
            )
            for _ in streams
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
                for writer, stream in zip(writers, streams, strict=True):
                    writer.consume(stream())
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
    final_files = [f"{partition}/{path.rsplit('/', 1)[1]}" for path in files]
    rows_by_path = {path: r for w in writers for (path, _), r in zip(w.open, w.rows, strict=True)}
    rows_per_file = tuple(rows_by_path[path] for path in files)
    manifest = {
        "run_id": run_id,
        "export_date": export_date.isoformat(),
        "schema_version": SCHEMA_VERSION,
        "partition": f"contacts/{part_name}",
        "files": [
            {"path": f"contacts/{part_name}/{p.rsplit('/', 1)[1]}", "rows": r}
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
        _swap_in_local(staging, partition)
        _write_bytes_atomic(fs, manifest_path, data)
        _write_bytes_atomic(fs, current_path, data)
    else:
        previous = [
            info.path
            for info in fs.get_file_info(pafs.FileSelector(partition, allow_not_found=True))
            if info.type == pafs.FileType.File and info.path not in set(final_files)
        ]
        _write_bytes_atomic(fs, manifest_path, data)
        _write_bytes_atomic(fs, current_path, data)  # the commit point for loaders
        _delete_files(fs, previous)
    if isinstance(result, MergeResult):
        result.close()
    return WrittenPartition(
        path=uri_prefix + partition,
        files=tuple(uri_prefix + p for p in final_files),
        rows=sum(rows_per_file),
        manifest_path=uri_prefix + manifest_path,
        export_date=export_date,
        rows_per_file=rows_per_file,
        current_manifest_path=uri_prefix + current_path,
    )


def _discard(
    fs: pafs.FileSystem, staging: str, writers: list[_StreamWriter], *, local: bool
) -> None:
    if local:
        _delete_dir(fs, staging)
    else:
        _delete_files(fs, [path for w in writers for path, _ in w.open])


# --------------------------------------------------------------------------- incremental state


def _state_path(root: str) -> str:
    return f"{root}/contacts/_state/high_water_mark.json"


def read_high_water_mark(out: str, *, filesystem: pafs.FileSystem | None = None) -> datetime | None:
    """The ``MODIFIED_TIME`` high-water mark of the last incremental run, or None."""
    fs, root, _ = resolve_output(out, filesystem)
    path = _state_path(root)
    try:
        with fs.open_input_stream(path) as stream:
            raw = json.loads(stream.read().decode())
    except FileNotFoundError:
        return None
    except OSError as exc:
        if "not found" in str(exc).lower() or "does not exist" in str(exc).lower():
            return None
        raise
    value = raw.get("modified_time") if isinstance(raw, dict) else None
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def write_high_water_mark(
    out: str, ts: datetime, *, filesystem: pafs.FileSystem | None = None
) -> None:
    """Remember ``ts`` (naive means UTC) as the next ``--incremental`` run's lower bound."""
    fs, root, _ = resolve_output(out, filesystem)
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    body = {
        "modified_time": ts.astimezone(UTC).isoformat(),
        "written_at": datetime.now(UTC).isoformat(),
    }
    _write_bytes_atomic(fs, _state_path(root), json.dumps(body, indent=2).encode())
