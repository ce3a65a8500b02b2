"""Plan a run: resolve paths and globs, sniff every file, map its headers to attributes, and
settle the day/month order of date columns.

Unusable input raises :class:`~etl.errors.InputError` here, before anything is read in full or
sent.

Date orders are decided run-wide, by a pre-scan, before any file is normalised: files are read
in batches and possibly in parallel, so a batch or a file alone cannot decide for the column,
and the same value must mean the same date in every batch. The pre-scan reads each file's date
columns in order (files in the order given) until every date attribute is settled; the first
value that is a date in one order only (``25/12/2023``) settles that attribute for the whole
run. A file with no ``d/d/d`` text at all is not read (a quick byte scan tells), and reading
stops once the file's date attributes are settled, so the pre-scan costs little unless a date
column holds only ambiguous or non-slash values.
"""

from __future__ import annotations

import codecs
import glob
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow.compute as pc

from etl.brevo.models import Attribute
from etl.errors import InputError
from etl.imports.csv import CsvFormat, arrow_strings, iter_csv_batches, sniff_csv
from etl.imports.mapping import ColumnMapping, load_mapping_file, map_columns
from etl.imports.normalise import AttributeSpec, NormaliseOptions, build_specs, spec_for
from etl.imports.normalise.dates import DAY_FIRST, MONTH_FIRST, DayOrder, order_evidence
from etl.imports.options import ImportOptions
from etl.imports.presets import load_preset


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
    normalise: NormaliseOptions = field(default_factory=NormaliseOptions)
    """How values are read: the options, a preset's defaults, the settled date orders."""
    date_orders: dict[str, DateOrder] = field(default_factory=dict)
    """Date attributes with slash-form values: how their day/month order was decided."""


@dataclass(frozen=True)
class DateOrder:
    """How the day/month order of one date attribute was decided for the run."""

    attribute: str
    order: DayOrder | None
    """None: no value settles it (the run's ``dayfirst`` says, or ambiguous values are
    rejected)."""
    example: str
    """The value that settled it, or the first ambiguous one."""
    where: str
    """``file line N`` of ``example``."""

    def describe(self, dayfirst: bool | None) -> str:
        """One line for the report."""
        if self.order is not None:
            return f"{self.order} (settled by {self.example}, {self.where})"
        if dayfirst is None:
            return (
                f"not settled: ambiguous values such as {self.example} ({self.where}) are "
                "rejected (ambiguous_date); give --dayfirst or --monthfirst"
            )
        read = DAY_FIRST if dayfirst else MONTH_FIRST
        return f"not settled: ambiguous values such as {self.example} read {read} (dayfirst)"


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


def plan_import(
    options: ImportOptions, attributes: Sequence[Attribute], *, scan_dates: bool = True
) -> ImportPlan:
    """Sniff and map every input file; raise InputError for anything unusable.

    With ``scan_dates`` (the default) the date columns are pre-scanned to settle their
    day/month order (see the module doc); a preflight that only checks the input can skip it.
    """
    options.check()
    user_mapping = load_mapping_file(options.mapping_file) if options.mapping_file else None
    preset = load_preset(options.mapping_preset) if options.mapping_preset else None
    known = {a.name for a in attributes}
    files: list[PlannedFile] = []
    unknown: dict[str, None] = {}
    for path in resolve_paths(options.paths):
        fmt = sniff_csv(path)
        try:
            mapping = map_columns(
                fmt.header,
                user_mapping=user_mapping,
                known_attributes=known,
                preset_mapping=preset.columns if preset else None,
            )
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
    specs = build_specs(attributes)
    dayfirst = options.dayfirst
    if dayfirst is None and preset is not None:
        dayfirst = preset.dayfirst
    normalise = NormaliseOptions(
        default_region=options.default_region or (preset.default_region if preset else None),
        dayfirst=dayfirst,
        drop_invalid_values=options.drop_invalid_values,
    )
    decisions = (
        decide_date_orders(files, specs, batch_rows=options.batch_rows) if scan_dates else {}
    )
    settled = tuple((a, d.order) for a, d in decisions.items() if d.order is not None)
    return ImportPlan(
        files=tuple(files),
        unknown_columns=tuple(unknown),
        specs=specs,
        normalise=replace(normalise, date_orders=settled),
        date_orders=decisions,
    )


SCAN_BATCH_ROWS = 10_000
"""Rows a batch of the date pre-scan reads (see :func:`decide_date_orders`)."""


def decide_date_orders(
    files: Sequence[PlannedFile], specs: dict[str, AttributeSpec], *, batch_rows: int
) -> dict[str, DateOrder]:
    """The pre-scan: per date attribute, the first value settling its order, else the first
    ambiguous one (attributes without slash-form values are left out).

    Read in batches of at most :data:`SCAN_BATCH_ROWS` rows: the order is usually settled in
    the first rows, and the first batch of a big file is then not read whole (a 200,000-row
    batch cost ~1 s of a 1M-row import). The answer does not depend on the batch size.
    """
    settled: dict[str, DateOrder] = {}
    unsettled: dict[str, DateOrder] = {}
    for planned in files:
        todo = {
            source: attribute
            for source, attribute in planned.mapping.columns.items()
            if spec_for(attribute, specs).kind == "date" and attribute not in settled
        }
        if not todo or not _may_hold_slash_dates(planned):
            continue
        for batch in iter_csv_batches(
            planned.path, planned.fmt, batch_rows=min(batch_rows, SCAN_BATCH_ROWS)
        ):
            for source, attribute in list(todo.items()):
                values = pc.utf8_trim_whitespace(arrow_strings(batch.rows[source]))
                evidence = order_evidence(values)
                found = [
                    (pos, order)
                    for pos, order in (
                        (evidence.day_first, DAY_FIRST),
                        (evidence.month_first, MONTH_FIRST),
                    )
                    if pos is not None
                ]
                if found:
                    pos, order = min(found)
                    settled[attribute] = DateOrder(
                        attribute, order, str(values[pos]), _where(planned, batch.lines[pos])
                    )
                    del todo[source]
                elif evidence.ambiguous is not None and attribute not in unsettled:
                    pos = evidence.ambiguous
                    unsettled[attribute] = DateOrder(
                        attribute, None, str(values[pos]), _where(planned, batch.lines[pos])
                    )
            if not todo:
                break
    decided = {a: d for a, d in unsettled.items() if a not in settled}
    decided.update(settled)
    return dict(sorted(decided.items()))


def _where(planned: PlannedFile, line: object) -> str:
    return f"{planned.path.name} line {line}"


_SLASH_DATE = re.compile(rb"\d/\d{1,2}/\d")
_ASCII_COMPATIBLE = frozenset({"utf-8", "utf-8-sig", "cp1252", "latin-1", "iso8859-1"})


def _may_hold_slash_dates(planned: PlannedFile) -> bool:
    """Whether the file's bytes hold ``d/d/d`` anywhere (a cheap scan before a full read)."""
    if codecs.lookup(planned.fmt.encoding).name not in _ASCII_COMPATIBLE:
        return True
    tail = b""
    with planned.path.open("rb") as raw:
        while block := raw.read(8 << 20):
            if _SLASH_DATE.search(tail + block):
                return True
            tail = block[-8:]
    return False
