"""Normalise a batch of raw rows: one column at a time by value family, then one reason per row.

Rows are rejected with exactly one reason, checked in this order: ``invalid_email`` (an EMAIL
value is present but invalid, whatever the SMS), ``missing_identifier`` (no EMAIL and no SMS
value), ``invalid_phone`` (the SMS identifying the row, then any other phone),
``invalid_value:<ATTRIBUTE>`` or ``ambiguous_date`` (in column order: a date that reads as two
different dates and whose column nothing settles, see :mod:`.dates`); ``malformed_row`` comes
from the reader. With ``drop_invalid_values`` an invalid or ambiguous value that is not the
identifier is removed from the row instead and listed in ``NormalisedBatch.dropped``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from etl.imports.csv import MALFORMED_ROW, STR_DTYPE, RawBatch, arrow_strings, str_series
from etl.imports.mapping import EMAIL, PHONE_ATTRIBUTES, SMS, ColumnMapping
from etl.imports.normalise.dates import DAY_FIRST, normalise_dates
from etl.imports.normalise.emails import normalise_emails
from etl.imports.normalise.kernels import blank, lit, scatter
from etl.imports.normalise.phones import normalise_phones, reassigned_numbers
from etl.imports.normalise.specs import AttributeSpec, NormaliseOptions, spec_for
from etl.imports.normalise.values import (
    normalise_booleans,
    normalise_categories,
    normalise_floats,
    normalise_multiple_choice,
)

LINE = "_line"
IDENTIFIER = "_identifier"
REASON = "reason"
MESSAGE = "message"
RAW = "raw"
ATTRIBUTE = "attribute"
VALUE = "value"
REJECT_META: tuple[str, ...] = (LINE, REASON, MESSAGE, RAW)
DROPPED_COLUMNS: tuple[str, ...] = (LINE, ATTRIBUTE, VALUE, REASON)

INVALID_EMAIL = "invalid_email"
INVALID_PHONE = "invalid_phone"
MISSING_IDENTIFIER = "missing_identifier"
AMBIGUOUS_DATE = "ambiguous_date"
INVALID_VALUE_PREFIX = "invalid_value:"
REASONS_FIXED: tuple[str, ...] = (INVALID_EMAIL, INVALID_PHONE, MISSING_IDENTIFIER, MALFORMED_ROW)


def invalid_value(attribute: str) -> str:
    """The reason code of a value that does not fit ``attribute``."""
    return f"{INVALID_VALUE_PREFIX}{attribute}"


@dataclass
class NormalisedBatch:
    """The outcome of one batch."""

    contacts: pd.DataFrame
    """Kept rows: one column per mapped attribute, plus ``_line`` (int) and ``_identifier``."""
    rejected: pd.DataFrame
    """``_line``, ``reason``, ``message``, ``raw`` and the original values of every source
    column (a source column named like a meta column is renamed ``<name> (source)``)."""
    dropped: pd.DataFrame
    """With drop_invalid_values: ``_line``, ``attribute``, ``value``, ``reason``."""
    phones_reassigned: int = 0
    """Phone values of kept rows read as another region's (``06 92 ...`` under FR: Réunion)."""
    rejected_identifiers: pa.Array | None = None
    """The valid identifiers (EMAIL, else SMS) of rejected rows that have one: their contacts
    are in the input although the rows are not sent (``--unlink-missing`` keeps them)."""

    @property
    def rows_ok(self) -> int:
        """Rows kept."""
        return len(self.contacts)

    @property
    def rows_rejected(self) -> int:
        """Rows rejected, malformed ones included."""
        return len(self.rejected)

    @property
    def rows_read(self) -> int:
        """Rows of the batch: always ``rows_ok + rows_rejected``."""
        return self.rows_ok + self.rows_rejected


def dedupe_key(contacts: pd.DataFrame) -> pd.Series:
    """The run-wide duplicate key of each kept row: its identifier (EMAIL, else SMS).

    An email always holds ``@`` and an E.164 number never does, so the two never collide.
    """
    return contacts[IDENTIFIER]


def original_columns(rejected: pd.DataFrame) -> list[str]:
    """The columns of ``NormalisedBatch.rejected`` that hold original values."""
    return [c for c in rejected.columns if c not in REJECT_META]


# --------------------------------------------------------------------------- the batch


@dataclass
class _Column:
    """A normalised column: values ('' where empty or invalid) and its problems."""

    values: pa.Array
    present: np.ndarray  # non-empty after trimming
    invalid: np.ndarray
    trimmed: pa.Array
    details: pa.Array | None = None  # a per-row explanation of invalid values, when known
    ambiguous: np.ndarray | None = None  # dates that read differently day- and month-first
    reassigned: np.ndarray | None = None  # phones moved to another region (see .phones)


def normalise_batch(
    batch: RawBatch,
    mapping: ColumnMapping,
    specs: Mapping[str, AttributeSpec],
    options: NormaliseOptions,
) -> NormalisedBatch:
    """Normalise one batch; never adds rows, never raises on bad values."""
    rows = batch.rows
    n = len(rows)
    lines = np.asarray(batch.lines, dtype=np.int64)
    if len(lines) != n:
        raise ValueError("batch.lines must have one entry per row")
    columns: dict[str, _Column] = {}
    kinds: dict[str, AttributeSpec] = {}
    for source, attribute in mapping.columns.items():
        spec = spec_for(attribute, specs)
        kinds[attribute] = spec
        columns[attribute] = _normalise_column(
            arrow_strings(rows[source]), spec, options, attribute
        )

    reason = np.full(n, -1, dtype=np.int32)
    reasons: list[tuple[str, str, str | None]] = []  # (code, attribute, message template)

    def reject(mask: np.ndarray, code: str, attribute: str, template: str | None = None) -> None:
        fresh = mask & (reason < 0)
        if fresh.any():
            reason[fresh] = len(reasons)
        reasons.append((code, attribute, template))

    email = columns.get(EMAIL)
    sms = columns.get(SMS)
    no = np.zeros(n, dtype=bool)
    email_present = email.present if email else no
    sms_present = sms.present if sms else no
    if email:
        reject(email.invalid, INVALID_EMAIL, EMAIL)
    missing = ~email_present & ~sms_present
    names = " or ".join(a for a in (EMAIL, SMS) if a in columns)
    reject(missing, MISSING_IDENTIFIER, "", f"no {names} value")
    by_sms = ~email_present & sms_present
    if sms:
        reject(sms.invalid & by_sms, INVALID_PHONE, SMS)
    drops: list[tuple[str, np.ndarray, str]] = []
    for attribute in columns:
        if attribute in (EMAIL,):
            continue
        col = columns[attribute]
        if col.ambiguous is not None and col.ambiguous.any():
            if options.drop_invalid_values:
                drops.append((attribute, col.ambiguous, AMBIGUOUS_DATE))
            else:
                reject(col.ambiguous, AMBIGUOUS_DATE, attribute, None)
        bad = col.invalid & ~by_sms if attribute == SMS else col.invalid
        if not bad.any():
            continue
        code = INVALID_PHONE if attribute in PHONE_ATTRIBUTES else invalid_value(attribute)
        if options.drop_invalid_values:
            drops.append((attribute, bad, code))
        else:
            reject(bad, code, attribute)

    kept = reason < 0
    kept_idx = np.flatnonzero(kept)
    dropped = _dropped_frame(columns, drops, kept, lines, rows, mapping)
    contacts = _contacts_frame(columns, kept, kept_idx, lines, email_present)
    rejected = _rejected_frame(batch, columns, reason, reasons, kinds, mapping, options)
    reassigned = sum(
        int((col.reassigned & kept).sum()) for col in columns.values() if col.reassigned is not None
    )
    return NormalisedBatch(
        contacts=contacts,
        rejected=rejected,
        dropped=dropped,
        phones_reassigned=reassigned,
        rejected_identifiers=_rejected_identifiers(columns, kept),
    )


def _rejected_identifiers(columns: dict[str, _Column], kept: np.ndarray) -> pa.Array:
    """Valid identifiers of the rejected rows (values are ``""`` where invalid or empty)."""
    email = columns.get(EMAIL)
    sms = columns.get(SMS)
    rejected = pa.array(~kept)
    if email is None and sms is None:
        return pa.array([], type=pa.large_string())
    if email is None or sms is None:
        only = email or sms
        assert only is not None
        values = only.values.filter(rejected)
    else:
        values = pc.if_else(pc.not_equal(email.values, ""), email.values, sms.values).filter(
            rejected
        )
    return values.filter(pc.not_equal(values, ""))


def _contacts_frame(
    columns: dict[str, _Column],
    kept: np.ndarray,
    kept_idx: np.ndarray,
    lines: np.ndarray,
    email_present: np.ndarray,
) -> pd.DataFrame:
    mask = pa.array(kept)
    index = pd.RangeIndex(len(kept_idx))
    data: dict[str, pd.Series] = {}
    for attribute, col in columns.items():
        data[attribute] = str_series(col.values.filter(mask), index=index)
    data[LINE] = pd.Series(lines[kept_idx], index=index, dtype=np.int64)
    email = columns.get(EMAIL)
    sms = columns.get(SMS)
    empty = pa.array([""] * len(kept), type=pa.large_string())
    email_values = email.values if email else empty
    sms_values = sms.values if sms else empty
    identifier = pc.if_else(pa.array(email_present), email_values, sms_values)
    data[IDENTIFIER] = str_series(identifier.filter(mask), index=index)
    return pd.DataFrame(data, index=index)


def _dropped_frame(
    columns: dict[str, _Column],
    drops: list[tuple[str, np.ndarray, str]],
    kept: np.ndarray,
    lines: np.ndarray,
    rows: pd.DataFrame,
    mapping: ColumnMapping,
) -> pd.DataFrame:
    """Blank the dropped values in ``columns`` and list them."""
    parts: list[pd.DataFrame] = []
    for attribute, bad, code in drops:
        col = columns[attribute]
        where = bad & kept
        idx = np.flatnonzero(where)
        # The contact goes without the value.
        col.values = pc.if_else(pa.array(where), lit(""), col.values)
        if not len(idx):
            continue
        source = next(s for s, a in mapping.columns.items() if a == attribute)
        parts.append(
            pd.DataFrame(
                {
                    LINE: lines[idx],
                    ATTRIBUTE: pd.Series([attribute] * len(idx), dtype=STR_DTYPE),
                    VALUE: rows[source].iloc[idx].reset_index(drop=True).astype(STR_DTYPE),
                    REASON: pd.Series([code] * len(idx), dtype=STR_DTYPE),
                }
            )
        )
    if not parts:
        return pd.DataFrame(
            {
                LINE: pd.Series([], dtype=np.int64),
                ATTRIBUTE: pd.Series([], dtype=STR_DTYPE),
                VALUE: pd.Series([], dtype=STR_DTYPE),
                REASON: pd.Series([], dtype=STR_DTYPE),
            }
        )
    return pd.concat(parts, ignore_index=True).sort_values(LINE, kind="stable", ignore_index=True)


def _rejected_frame(
    batch: RawBatch,
    columns: dict[str, _Column],
    reason: np.ndarray,
    reasons: list[tuple[str, str, str | None]],
    kinds: dict[str, AttributeSpec],
    mapping: ColumnMapping,
    options: NormaliseOptions,
) -> pd.DataFrame:
    rows = batch.rows
    rej_idx = np.flatnonzero(reason >= 0)
    row_reason = reason[rej_idx]
    code_parts: list[pa.Array] = []
    message_parts: list[pa.Array] = []
    order_parts: list[np.ndarray] = []
    for k, (code, attribute, template) in enumerate(reasons):
        sel = np.flatnonzero(row_reason == k)
        if not len(sel):
            continue
        taken = pa.array(rej_idx[sel])
        order_parts.append(sel)
        code_parts.append(pa.array([code] * len(sel), type=pa.large_string()))
        if template is not None:
            message_parts.append(pa.array([template] * len(sel), type=pa.large_string()))
            continue
        col = columns[attribute]
        value = col.trimmed.take(taken)
        # "EMAIL 'x@' is not a valid email address: <detail>", built column-wise.
        text = pc.binary_join_element_wise(
            lit(f"{attribute} '"),
            value,
            lit(_problem(code, kinds[attribute], options, attribute)),
            lit(""),
        )
        if kinds[attribute].kind == "phone" and options.default_region:
            # The default region only explains numbers written without their country code.
            international = pc.match_substring_regex(value, r"^\s*(?:\+|00)")
            plain = pc.binary_join_element_wise(
                lit(f"{attribute} '"), value, lit("' is not a valid phone number"), lit("")
            )
            text = pc.if_else(international, plain, text)
        if col.details is not None:
            detail = col.details.take(taken)
            with_detail = pc.binary_join_element_wise(text, detail, lit(": "))
            text = pc.if_else(pc.not_equal(detail, lit("")), with_detail, text)
        message_parts.append(text.cast(pa.large_string()))
    codes = blank(len(rej_idx))
    messages = blank(len(rej_idx))
    if order_parts:
        positions = np.concatenate(order_parts)
        codes = scatter(codes, positions, pa.concat_arrays(code_parts))
        messages = scatter(messages, positions, pa.concat_arrays(message_parts))
    originals = {
        _meta_safe(name): rows[name].iloc[rej_idx].reset_index(drop=True).astype(STR_DTYPE)
        for name in rows.columns
    }
    frame = pd.DataFrame(
        {
            LINE: pd.Series(batch.lines[rej_idx] if len(rej_idx) else [], dtype=np.int64),
            REASON: str_series(codes),
            MESSAGE: str_series(messages),
            RAW: pd.Series([""] * len(rej_idx), dtype=STR_DTYPE),
            **originals,
        }
    )
    if batch.malformed:
        malformed = pd.DataFrame(
            {
                LINE: pd.Series([m[0] for m in batch.malformed], dtype=np.int64),
                REASON: pd.Series([m[2] for m in batch.malformed], dtype=STR_DTYPE),
                MESSAGE: pd.Series(
                    ["the row has more fields than the header"] * len(batch.malformed),
                    dtype=STR_DTYPE,
                ),
                RAW: pd.Series([m[1] for m in batch.malformed], dtype=STR_DTYPE),
                **{
                    name: pd.Series([""] * len(batch.malformed), dtype=STR_DTYPE)
                    for name in originals
                },
            }
        )
        frame = pd.concat([frame, malformed], ignore_index=True)
        frame = frame.sort_values(LINE, kind="stable", ignore_index=True)
    return frame


def _meta_safe(name: str) -> str:
    return f"{name} (source)" if name in REJECT_META else name


def _problem(code: str, spec: AttributeSpec, options: NormaliseOptions, attribute: str) -> str:
    """The rest of a reject message after ``ATTRIBUTE 'value``."""
    if code == AMBIGUOUS_DATE:
        return (
            "' is a different date day-first and month-first, and no value of the column "
            "settles the order (give --dayfirst or --monthfirst)"
        )
    return f"' is not {_describe(spec, options, attribute)}"


def _describe(spec: AttributeSpec, options: NormaliseOptions, attribute: str = "") -> str:
    kind = spec.kind
    if kind == "email":
        return "a valid email address"
    if kind == "phone":
        region = f" (default region {options.default_region})" if options.default_region else ""
        return f"a valid phone number{region}"
    if kind == "date":
        settled = options.order_of(attribute)
        if settled is not None:
            shape = "dd/mm/yyyy" if settled == DAY_FIRST else "mm/dd/yyyy"
            order = f"{shape}: the column is {settled}"
        elif options.dayfirst is None:
            order = "dd/mm/yyyy or mm/dd/yyyy"
        else:
            order = "dd/mm/yyyy" if options.dayfirst else "mm/dd/yyyy"
        return f"a date (e.g. 1990-03-25, {order}, 25.03.1990, 25 Mar 1990)"
    if kind == "float":
        return "a number"
    if kind == "boolean":
        return "a boolean (yes/no, true/false, y/n, 1/0, oui/non)"
    if kind == "category":
        labels = sorted({k for k in spec.enumeration if not k.lstrip("-").isdigit()})
        shown = ", ".join(labels[:10]) + (", ..." if len(labels) > 10 else "")
        return f"one of the category's labels or values ({shown})"
    if kind == "multiple-choice":
        shown = ", ".join(spec.options[:10]) + (", ..." if len(spec.options) > 10 else "")
        return f"a list of the attribute's options ({shown})"
    return "valid"


_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _normalise_column(
    raw: pa.Array, spec: AttributeSpec, options: NormaliseOptions, attribute: str
) -> _Column:
    kind = spec.kind
    trimmed = pc.utf8_trim_whitespace(raw)
    if kind in ("text", "id"):
        if len(trimmed) and pc.any(pc.match_substring_regex(trimmed, _CONTROL)).as_py():
            trimmed = pc.utf8_trim_whitespace(pc.replace_substring_regex(trimmed, _CONTROL, ""))
        present = pc.not_equal(trimmed, "").to_numpy(zero_copy_only=False)
        return _Column(trimmed, present, np.zeros(len(trimmed), dtype=bool), trimmed)
    encoded = trimmed.dictionary_encode()
    uniques: pa.Array = encoded.dictionary
    indices = encoded.indices
    index_np = indices.to_numpy(zero_copy_only=False)
    unsure: np.ndarray | None = None
    moved: np.ndarray | None = None
    if kind == "email":
        out, bad, details = normalise_emails(uniques)
    elif kind == "phone":
        out, bad, details = normalise_phones(uniques, options.default_region)
        moved = reassigned_numbers(uniques, out, options.default_region)
    elif kind == "date":
        out, bad, unsure = normalise_dates(
            uniques, dayfirst=options.dayfirst, order=options.order_of(attribute)
        )
        details = None
    elif kind == "float":
        out, bad, details = normalise_floats(uniques)
    elif kind == "boolean":
        out, bad, details = normalise_booleans(uniques)
    elif kind == "category":
        out, bad, details = normalise_categories(uniques, spec)
    else:
        out, bad, details = normalise_multiple_choice(uniques, spec)
    empty = pc.equal(uniques, "").to_numpy(zero_copy_only=False)
    values = out.take(indices)
    return _Column(
        values=values,
        present=~empty[index_np],
        invalid=(bad & ~empty)[index_np],
        trimmed=trimmed,
        details=details.take(indices) if details is not None else None,
        ambiguous=unsure[index_np] if unsure is not None and unsure.any() else None,
        reassigned=moved[index_np] if moved is not None and moved.any() else None,
    )
