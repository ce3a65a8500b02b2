"""Safe unpacking of skipFilesMerge archives: traversal, links, bombs, truncation."""

from __future__ import annotations

import stat
import struct
import warnings
import zipfile
from pathlib import Path

import pytest

from etl.errors import InputError
from etl.exports.archive import UnsafeArchive, safe_extract_zip

CSV = "EMAIL;ADDED_TIME\na@example.com;01-02-2026 10:00:00\n"


def _zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes | str]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are deliberate in one test
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


def _refused(zip_path: Path, dest: Path, match: str, **caps: float) -> None:
    with pytest.raises(UnsafeArchive, match=match) as info:
        safe_extract_zip(zip_path, dest, **caps)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    assert isinstance(info.value, InputError)
    assert not dest.exists() or not any(dest.rglob("*"))
    assert not (dest.parent / "evil.csv").exists()


def test_extracts_csv_members_in_name_order_and_ignores_others(tmp_path: Path) -> None:
    zip_path = _zip(
        tmp_path / "export.zip",
        [
            ("part-2.csv", CSV),
            ("README.txt", "not data"),
            ("part-1.csv", CSV),
            ("sub/", b""),
            ("sub/part-3.CSV", CSV),
        ],
    )
    dest = tmp_path / "out"
    paths = safe_extract_zip(zip_path, dest)
    assert [p.relative_to(dest).as_posix() for p in paths] == [
        "part-1.csv",
        "part-2.csv",
        "sub/part-3.CSV",
    ]
    assert all(p.read_text() == CSV for p in paths)
    assert not (dest / "README.txt").exists()


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("../evil.csv", "escapes the destination"),
        ("parts/../../evil.csv", "escapes the destination"),
        ("/tmp/evil.csv", "absolute path"),
        ("C:/evil.csv", "absolute path"),
        ("..\\evil.csv", "backslash"),
        ("parts\\evil.csv", "backslash"),
    ],
)
def test_zip_slip_is_refused(tmp_path: Path, name: str, match: str) -> None:
    zip_path = _zip(tmp_path / "slip.zip", [("ok.csv", CSV), (name, CSV)])
    _refused(zip_path, tmp_path / "out", match)


@pytest.mark.parametrize(
    ("mode", "match"),
    [
        (stat.S_IFLNK | 0o777, "symbolic link"),
        (stat.S_IFIFO | 0o644, "not a regular file"),
        (stat.S_IFCHR | 0o644, "not a regular file"),
    ],
)
def test_links_and_special_files_are_refused(tmp_path: Path, mode: int, match: str) -> None:
    info = zipfile.ZipInfo("link.csv")
    info.create_system = 3
    info.external_attr = mode << 16
    zip_path = _zip(tmp_path / "links.zip", [("ok.csv", CSV), (info, "/etc/passwd")])
    _refused(zip_path, tmp_path / "out", match)


def test_high_compression_ratio_is_refused(tmp_path: Path) -> None:
    zip_path = _zip(tmp_path / "bomb.zip", [("bomb.csv", b"0" * (8 << 20))])
    _refused(zip_path, tmp_path / "out", "compression ratio")


def test_total_size_cap(tmp_path: Path) -> None:
    zip_path = _zip(tmp_path / "big.zip", [("a.csv", "x" * 800), ("b.csv", "y" * 800)])
    _refused(zip_path, tmp_path / "out", "more than the cap", max_total_bytes=1000)


def test_too_many_members(tmp_path: Path) -> None:
    zip_path = _zip(tmp_path / "many.zip", [(f"p{i}.csv", CSV) for i in range(11)])
    _refused(zip_path, tmp_path / "out", "more than the cap of 10", max_members=10)


def test_duplicate_member_names_are_refused(tmp_path: Path) -> None:
    zip_path = _zip(tmp_path / "dup.zip", [("a.csv", CSV), ("a.csv", "EMAIL\nx@y.z\n")])
    _refused(zip_path, tmp_path / "out", "appears twice")


def test_encrypted_members_are_refused(tmp_path: Path) -> None:
    data = bytearray(_zip(tmp_path / "plain.zip", [("secret.csv", CSV)]).read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + flags_at
        struct.pack_into("<H", data, at, struct.unpack_from("<H", data, at)[0] | 0x1)
    zip_path = tmp_path / "enc.zip"
    zip_path.write_bytes(bytes(data))
    _refused(zip_path, tmp_path / "out", "encrypted")


def test_truncated_archive_is_refused(tmp_path: Path) -> None:
    whole = _zip(tmp_path / "whole.zip", [("a.csv", CSV * 200), ("b.csv", CSV * 200)])
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    _refused(cut, tmp_path / "out", "not a readable zip archive")


def test_header_that_understates_the_size_is_refused(tmp_path: Path) -> None:
    """The central directory claims 100 bytes; the data holds 10 kB: never trust the header."""
    data = bytearray(_zip(tmp_path / "liar.zip", [("a.csv", "z" * 10_000)]).read_bytes())
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 100)  # uncompressed size in the central directory
    liar = tmp_path / "liar2.zip"
    liar.write_bytes(bytes(data))
    _refused(liar, tmp_path / "out", "truncated or corrupt")


def test_existing_destination_keeps_its_other_files(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    zip_path = _zip(tmp_path / "slip.zip", [("a.csv", CSV), ("../evil.csv", CSV)])
    with pytest.raises(UnsafeArchive):
        safe_extract_zip(zip_path, dest)
    assert (dest / "keep.txt").read_text() == "mine"
    assert not (dest / "a.csv").exists()
