"""Where an export is written: a local path or a pyarrow filesystem, and its atomic operations.

``OUT`` is a local path or any pyarrow filesystem URI (``s3://bucket/prefix``). Small files
(manifests, state) are written atomically: a temporary file and ``rename`` locally, one PUT on
object stores. A local partition directory is swapped in whole with ``rename`` (atomically with
``renameat2(RENAME_EXCHANGE)`` on Linux). The ``--incremental`` high-water mark lives here too::

    OUT/contacts/_state/high_water_mark.json                    last MODIFIED_TIME (--incremental)
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs

from etl.errors import InputError

logger = logging.getLogger(__name__)

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# A staging directory untouched this long belongs to a run that died before its rename (a
# crash or a kill): no live writer leaves one idle for hours, so the next run removes it.
STALE_STAGING_S = 6 * 3600


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


def is_local(fs: pafs.FileSystem) -> bool:
    """Whether ``fs`` is the local filesystem (where rename is atomic and cheap)."""
    return isinstance(fs, pafs.LocalFileSystem)


def write_bytes_atomic(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Local: temp file + rename; object stores: one PUT (atomic there)."""
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    if is_local(fs):
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


def delete_dir(fs: pafs.FileSystem, path: str) -> None:
    """Remove a directory tree, ignoring one that is already gone."""
    with contextlib.suppress(FileNotFoundError, OSError):
        if is_local(fs):
            shutil.rmtree(path, ignore_errors=True)
        else:
            fs.delete_dir(path)


def delete_files(fs: pafs.FileSystem, paths: Iterable[str]) -> None:
    """Remove files, ignoring those already gone."""
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


def sweep_stale_staging(contacts: str, part_name: str) -> None:
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


def swap_in_local(staging: str, partition: str) -> None:
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
    write_bytes_atomic(fs, _state_path(root), json.dumps(body, indent=2).encode())
