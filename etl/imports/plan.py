"""Plan a run: resolve paths and globs, sniff every file, map its headers to attributes.

Unusable input raises :class:`~etl.errors.InputError` here, before anything is read in full or
sent.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from etl.brevo.models import Attribute
from etl.errors import InputError
from etl.imports.csv import CsvFormat, sniff_csv
from etl.imports.mapping import ColumnMapping, load_mapping_file, map_columns
from etl.imports.normalise import AttributeSpec, build_specs
from etl.imports.options import ImportOptions


@dataclass(frozen=True)
class PlannedFile:
    """One input file, sniffed and mapped."""

    path: Path
    fmt: CsvFormat
    mapping: ColumnMapping

    @property
    def attributes(self) -> tuple[str, ...]:
        """The Brevo attributes this file provides, identifiers first."""
        return order_attributes(set(self.mapping.columns.values()))


@dataclass(frozen=True)
class ImportPlan:
    """The checked input of a run."""

    files: tuple[PlannedFile, ...]
    unknown_columns: tuple[str, ...]
    specs: dict[str, AttributeSpec]


def order_attributes(names: Iterable[str]) -> tuple[str, ...]:
    """EMAIL, then SMS, then the rest alphabetically: a stable body header."""
    first = [n for n in ("EMAIL", "SMS") if n in names]
    return (*first, *sorted(n for n in names if n not in ("EMAIL", "SMS")))


def resolve_paths(patterns: Sequence[str]) -> list[Path]:
    """Expand paths and globs, in order, without duplicates; InputError when one matches nothing."""
    seen: dict[Path, None] = {}
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matches = sorted(glob.glob(pattern, recursive=True))  # noqa: PTH207 - absolute patterns too
            if not matches:
                raise InputError(f"{pattern}: no file matches this pattern")
            for m in matches:
                seen.setdefault(Path(m), None)
        else:
            path = Path(pattern)
            if not path.exists():
                raise InputError(f"{pattern}: no such file")
            if path.is_dir():
                raise InputError(f"{pattern}: is a directory, not a CSV file")
            seen.setdefault(path, None)
    return list(seen)


def plan_import(options: ImportOptions, attributes: Sequence[Attribute]) -> ImportPlan:
    """Sniff and map every input file; raise InputError for anything unusable."""
    options.check()
    user_mapping = load_mapping_file(options.mapping_file) if options.mapping_file else None
    known = {a.name for a in attributes}
    files: list[PlannedFile] = []
    unknown: dict[str, None] = {}
    for path in resolve_paths(options.paths):
        fmt = sniff_csv(path)
        try:
            mapping = map_columns(fmt.header, user_mapping=user_mapping, known_attributes=known)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
        for col in mapping.unknown:
            unknown.setdefault(mapping.columns.get(col, col), None)
        files.append(PlannedFile(path=path, fmt=fmt, mapping=mapping))
    if options.strict and unknown:
        raise InputError(
            "unknown attributes (not in the account; Brevo would ignore them): "
            + ", ".join(unknown)
            + " (create them, map them with --mapping, or drop --strict)"
        )
    return ImportPlan(
        files=tuple(files), unknown_columns=tuple(unknown), specs=build_specs(attributes)
    )
