"""The typed column layout of a run's export files, from the account's attributes.

The exported file (docs/brevo/FACTS.md, top table): ``EMAIL``, ``ADDED_TIME`` and ``MODIFIED_TIME``
(mandatory attributes), then the requested attributes; metadata ``_listIds`` as ``[2|7]``;
``ADDED_TIME AS _ADDED_TIME`` aliases rename a column; ``_SUBSCRIBED``/``_BLOCKLISTED`` hold
``|``-joined channels. Each header column gets a kind (``text``, ``float``, ``date``...) from
``GET /contacts/attributes`` and an output name (``snake`` or as exported); :func:`plan_layout`
returns both with the Arrow schema of the merged table.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from etl.brevo.models import Attribute
from etl.errors import InputError

ColumnCase = Literal["snake", "brevo"]

SOURCES_COLUMN = "_sources"
SCHEMA_VERSION = "1"
TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")
# Identifier columns, in the order used to fold duplicates across exports.
IDENTIFIER_COLUMNS: tuple[str, ...] = ("EMAIL", "EXT_ID", "SMS", "WHATSAPP", "LANDLINE_NUMBER")
DATE_METADATA: tuple[str, ...] = ("ADDED_TIME", "MODIFIED_TIME")
LIST_IDS_COLUMN = "_listIds"
CHANNEL_COLUMNS: tuple[str, ...] = ("_SUBSCRIBED", "_BLOCKLISTED")
KIND_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "float": pa.float64(),
    "date": pa.date32(),
    "boolean": pa.bool_(),
    "category": pa.string(),
    "multiple-choice": pa.list_(pa.string()),
    "timestamp": TIMESTAMP_TYPE,
    "list_ids": pa.list_(pa.int64()),
    "channels": pa.list_(pa.string()),
}
# Attribute categories whose definition wins when one name exists in several categories.
_CATEGORY_RANK = {"normal": 0, "category": 0, "calculated": 1, "global": 2, "transactional": 3}

HeaderKey = tuple[str, int]
"""A header column: its name and which occurrence of that name it is (1, 2...)."""


@dataclass(frozen=True)
class ColumnSpec:
    """How one CSV column becomes one (or, for categories, two) output columns."""

    header: HeaderKey
    name: str
    kind: str
    labels: tuple[str, ...] = ()
    values: tuple[int, ...] = ()
    value_name: str | None = None

    @property
    def source(self) -> str:
        """The column's name in the export file."""
        return self.header[0]


@dataclass(frozen=True)
class ExportLayout:
    """The typed layout of a set of export files: column specs and the output schema."""

    columns: tuple[ColumnSpec, ...]
    schema: pa.Schema
    modified_column: str | None
    identifier_headers: tuple[HeaderKey, ...]


def snake_name(name: str) -> str:
    """``_listIds`` -> ``list_ids``, ``ADDED_TIME`` -> ``added_time``, ``Prénom`` -> ``prenom``."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"([a-z])([A-Z])", r"\1_\2", text).lower()
    text = re.sub(r"[^a-z0-9]+", "_", text).strip("_")
    if not text:
        return "column"
    return f"col_{text}" if text[0].isdigit() else text


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``...; case-insensitive, as most warehouses compare."""
    candidate, n = name, 2
    while candidate.lower() in taken:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate.lower())
    return candidate


def header_keys(names: Sequence[str]) -> list[HeaderKey]:
    """Number repeated header names: ``[A, B, A]`` -> ``[(A, 1), (B, 1), (A, 2)]``."""
    counts: dict[str, int] = {}
    keys = []
    for name in names:
        counts[name] = counts.get(name, 0) + 1
        keys.append((name, counts[name]))
    return keys


def _attribute_index(attributes: Sequence[Attribute]) -> dict[str, Attribute]:
    index: dict[str, Attribute] = {}
    for attr in sorted(attributes, key=lambda a: _CATEGORY_RANK.get(a.category, 9), reverse=True):
        index[attr.name.upper()] = attr
    return index


def _kind_of(name: str, attr: Attribute | None, timestamp_columns: set[str]) -> str:
    upper = name.upper()
    if upper == "EMAIL":
        return "text"
    if upper in timestamp_columns or upper.lstrip("_") in DATE_METADATA:
        return "timestamp"
    if upper == LIST_IDS_COLUMN.upper():
        return "list_ids"
    if upper in CHANNEL_COLUMNS:
        return "channels"
    if attr is None:
        return "text"
    kind = attr.kind
    if kind == "multiple-choice" or (attr.multi_category_options and kind == "text"):
        return "multiple-choice"
    return kind if kind in KIND_TYPES else "text"


def plan_layout(
    attributes: Sequence[Attribute],
    columns: Sequence[str] | Sequence[HeaderKey],
    *,
    column_case: ColumnCase = "snake",
    timestamp_columns: Sequence[str] = (),
) -> ExportLayout:
    """Work out the typed output layout of export files with these header columns."""
    if column_case not in ("snake", "brevo"):
        raise InputError(f"column case must be 'snake' or 'brevo', got {column_case!r}")
    keys = (
        [c for c in columns if isinstance(c, tuple)]
        if columns and isinstance(columns[0], tuple)
        else header_keys([str(c) for c in columns])
    )
    index = _attribute_index(attributes)
    stamps = {c.upper() for c in timestamp_columns}
    taken: set[str] = {SOURCES_COLUMN.lower()}
    specs: list[ColumnSpec] = []
    fields: list[pa.Field] = []
    modified: str | None = None
    for key in keys:
        header = key[0]
        attr = index.get(header.upper())
        kind = _kind_of(header, attr, stamps)
        base = snake_name(header) if column_case == "snake" else (header or "column")
        if column_case == "snake" and kind == "timestamp" and header.startswith("_"):
            # A metadata alias (``ADDED_TIME AS _ADDED_TIME``) keeps the name the user chose,
            # instead of colliding with ADDED_TIME's ``added_time`` and becoming ``added_time_2``.
            base = f"_{base}"
        name = _unique(base, taken)
        meta = {"brevo_name": header, "brevo_type": kind}
        labels: tuple[str, ...] = ()
        values: tuple[int, ...] = ()
        value_name = None
        if kind == "category" and attr is not None:
            labels = tuple(e.label for e in attr.enumeration)
            values = tuple(e.value for e in attr.enumeration)
        fields.append(pa.field(name, KIND_TYPES[kind], metadata=meta))
        if kind == "category":
            value_name = _unique(f"{name}_value", taken)
            fields.append(
                pa.field(
                    value_name,
                    pa.int64(),
                    metadata={"brevo_name": header, "brevo_type": "category_value"},
                )
            )
        if (
            kind == "timestamp"
            and header.upper().lstrip("_") == "MODIFIED_TIME"
            and modified is None
        ):
            modified = name
        specs.append(ColumnSpec(key, name, kind, labels, values, value_name))
    fields.append(
        pa.field(SOURCES_COLUMN, pa.list_(pa.string()), metadata={"brevo_type": "sources"})
    )
    present = {k[0].upper(): k for k in keys}
    identifiers = tuple(present[c] for c in IDENTIFIER_COLUMNS if c in present)
    schema = pa.schema(fields, metadata={"schema_version": SCHEMA_VERSION})
    return ExportLayout(tuple(specs), schema, modified, identifiers)


def export_schema(
    attributes: Sequence[Attribute],
    columns: Sequence[str],
    *,
    column_case: ColumnCase = "snake",
    timestamp_columns: Sequence[str] = (),
) -> pa.Schema:
    """The Arrow schema of an export with these header ``columns`` (plus ``_sources``).

    Types come from ``GET /contacts/attributes``: text -> string, float -> float64, date ->
    date32, boolean -> bool, category -> label string plus ``<name>_value`` int64,
    multiple-choice -> list<string>; ``ADDED_TIME``/``MODIFIED_TIME`` and their aliases (and
    ``timestamp_columns``) -> timestamp[us, UTC]; ``_listIds`` -> list<int64>;
    ``_SUBSCRIBED``/``_BLOCKLISTED`` -> list<string>; anything else -> string.
    """
    return plan_layout(
        attributes, columns, column_case=column_case, timestamp_columns=timestamp_columns
    ).schema
