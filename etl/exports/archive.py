"""Unpack an export ``.zip`` (``skipFilesMerge``) without trusting it.

A downloaded archive is untrusted input: a member may try to escape the destination
(``../``, absolute paths, drive letters, backslashes), be a symlink or a device, or decompress to
far more than it claims (a zip bomb). Every member is checked before anything is written, and
sizes are counted again while streaming, because the sizes in the headers are the attacker's to
choose. Nothing is left behind when the archive is refused.
"""

from __future__ import annotations

import logging
import re
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from etl.errors import InputError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
# Small members may compress extremely well (a CSV of empty cells) and are harmless; the ratio cap
# only applies once a member has produced this many bytes.
RATIO_FLOOR_BYTES = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_ALLOWED_TYPES = (0, stat.S_IFREG, stat.S_IFDIR)


class UnsafeArchive(InputError):
    """The archive is corrupt, truncated or unsafe to unpack; the message says why."""


def _check_name(name: str) -> PurePosixPath:
    if not name or "\x00" in name:
        raise UnsafeArchive(f"archive member with an empty or NUL name: {name!r}")
    if "\\" in name:
        raise UnsafeArchive(f"archive member name contains a backslash: {name!r}")
    if name.startswith("/") or _DRIVE.match(name):
        raise UnsafeArchive(f"archive member has an absolute path: {name!r}")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"archive member escapes the destination: {name!r}")
    if not parts:
        raise UnsafeArchive(f"archive member has no usable name: {name!r}")
    return PurePosixPath(*parts)


def _check_member(info: zipfile.ZipInfo, max_ratio: float) -> PurePosixPath:
    rel = _check_name(info.filename)
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise UnsafeArchive(f"archive member is a symbolic link: {info.filename!r}")
    if kind not in _ALLOWED_TYPES:
        raise UnsafeArchive(f"archive member is not a regular file: {info.filename!r}")
    if info.flag_bits & 0x1:
        raise UnsafeArchive(f"archive member is encrypted: {info.filename!r}")
    if (
        not info.is_dir()
        and info.file_size > RATIO_FLOOR_BYTES
        and info.file_size > max_ratio * max(info.compress_size, 1)
    ):
        raise UnsafeArchive(
            f"archive member {info.filename!r} declares a compression ratio over {max_ratio:g}"
            " (zip bomb?)"
        )
    return rel


def _copy_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: Path,
    *,
    budget_left: int,
    max_ratio: float,
) -> int:
    written = 0
    with archive.open(info) as src, target.open("xb") as dst:
        while chunk := src.read(CHUNK_BYTES):
            written += len(chunk)
            if written > info.file_size:
                raise UnsafeArchive(
                    f"archive member {info.filename!r} is larger than its header declares"
                )
            if written > budget_left:
                raise UnsafeArchive("archive expands beyond the total size cap")
            if written > RATIO_FLOOR_BYTES and written > max_ratio * max(info.compress_size, 1):
                raise UnsafeArchive(
                    f"archive member {info.filename!r} expands over {max_ratio:g}x (zip bomb?)"
                )
            dst.write(chunk)
    return written


def safe_extract_zip(
    zip_path: Path,
    dest_dir: Path,
    *,
    max_members: int = 1000,
    max_total_bytes: int = 20 * 2**30,
    max_ratio: float = 200.0,
) -> list[Path]:
    """Extract the ``.csv`` members of ``zip_path`` into ``dest_dir``; return them in name order.

    Other members are checked like the rest, then skipped (and logged).

    Raises:
        UnsafeArchive: corrupt or truncated archive, path traversal, link or special member,
            encryption, too many members, total size or compression ratio over the caps.
    """
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as exc:
        raise UnsafeArchive(
            f"{zip_path.name} is not a readable zip archive (truncated or corrupt): {exc}"
        ) from exc
    created = not dest_dir.exists()
    extracted: list[Path] = []
    try:
        with archive:
            infos = archive.infolist()
            if len(infos) > max_members:
                raise UnsafeArchive(
                    f"archive has {len(infos)} members, more than the cap of {max_members}"
                )
            members: list[tuple[PurePosixPath, zipfile.ZipInfo]] = []
            seen: set[PurePosixPath] = set()
            declared = 0
            for info in infos:
                rel = _check_member(info, max_ratio)
                if info.is_dir():
                    continue
                if rel in seen:
                    raise UnsafeArchive(f"archive member appears twice: {info.filename!r}")
                seen.add(rel)
                declared += info.file_size
                members.append((rel, info))
            if declared > max_total_bytes:
                raise UnsafeArchive(
                    f"archive declares {declared} bytes, more than the cap of {max_total_bytes}"
                )
            skipped = [str(rel) for rel, _ in members if rel.suffix.lower() != ".csv"]
            if skipped:
                logger.warning("ignoring non-CSV archive members: %s", ", ".join(skipped))
            dest_dir.mkdir(parents=True, exist_ok=True)
            root = dest_dir.resolve()
            total = 0
            for rel, info in sorted(members, key=lambda m: str(m[0])):
                if rel.suffix.lower() != ".csv":
                    continue
                target = dest_dir.joinpath(*rel.parts)
                if not target.resolve().is_relative_to(root):
                    raise UnsafeArchive(
                        f"archive member escapes the destination: {info.filename!r}"
                    )
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted.append(target)
                total += _copy_member(
                    archive,
                    info,
                    target,
                    budget_left=max_total_bytes - total,
                    max_ratio=max_ratio,
                )
    except UnsafeArchive:
        _cleanup(dest_dir, extracted, created=created)
        raise
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, ValueError) as exc:
        _cleanup(dest_dir, extracted, created=created)
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UnsafeArchive(f"{zip_path.name} is truncated or corrupt: {message}") from exc
    except BaseException:
        _cleanup(dest_dir, extracted, created=created)
        raise
    return extracted


def _cleanup(dest_dir: Path, extracted: list[Path], *, created: bool) -> None:
    if created:
        shutil.rmtree(dest_dir, ignore_errors=True)
        return
    for path in extracted:
        path.unlink(missing_ok=True)
