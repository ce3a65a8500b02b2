"""Normalise a batch of raw rows into values Brevo accepts, and reject the rows that cannot be.

Pure and vectorised: every column goes through Arrow compute kernels, and the values that need
a library (email-validator, phonenumbers) or a Python fallback are handled once per *distinct*
value. The common shapes never reach those libraries: an email made only of the plainest
characters is accepted by a regular expression that is a strict subset of what email-validator
accepts, and a phone number already in E.164 form (or in the default region's national form) is
checked against phonenumbers' own metadata patterns with vectorised regular expressions that
reproduce ``phonenumbers.is_valid_number`` (tests compare both on thousands of numbers).

Output values (``NormalisedBatch.contacts``): EMAIL lower-cased (IDN domains in ASCII form),
phones in E.164 (``+33612345678``), dates ``YYYY-MM-DD``, booleans ``true``/``false``, floats as
plain decimals (``12.5``, never ``1e+16``), categories as their enumeration value (``"1"``),
multiple-choice values as the account's option names joined by commas, text trimmed with its
control characters removed. Normalising that output again gives it back unchanged.

Rows are rejected with exactly one reason, checked in this order: ``invalid_email`` (an EMAIL
value is present but invalid, whatever the SMS), ``missing_identifier`` (no EMAIL and no SMS
value), ``invalid_phone`` (the SMS identifying the row, then any other phone),
``invalid_value:<ATTRIBUTE>`` (in column order); ``malformed_row`` comes from the reader. With
``drop_invalid_values`` an invalid value that is not the identifier is removed from the row
instead and listed in ``NormalisedBatch.dropped``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import EmailNotValidError, validate_email
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from etl.errors import ConfigError
from etl.imports.csv_io import MALFORMED_ROW, STR_DTYPE, RawBatch, arrow_strings, str_series
from etl.imports.mapping import EMAIL, PHONE_ATTRIBUTES, SMS, ColumnMapping

if TYPE_CHECKING:
    from etl.brevo.models import Attribute

Kind = Literal[
    "text", "date", "float", "boolean", "category", "multiple-choice", "id", "email", "phone"
]

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
INVALID_VALUE_PREFIX = "invalid_value:"
REASONS_FIXED: tuple[str, ...] = (INVALID_EMAIL, INVALID_PHONE, MISSING_IDENTIFIER, MALFORMED_ROW)


def invalid_value(attribute: str) -> str:
    """The reason code of a value that does not fit ``attribute``."""
    return f"{INVALID_VALUE_PREFIX}{attribute}"


@dataclass(frozen=True)
class AttributeSpec:
    """How the values of one attribute are normalised."""

    name: str
    kind: Kind
    enumeration: Mapping[str, int] = field(default_factory=dict)
    """Category: lower-cased label -> value, and str(value) -> value."""
    options: tuple[str, ...] = ()
    """Multiple-choice: the account's option names."""


_TYPE_KINDS: dict[str, Kind] = {
    "text": "text",
    "date": "date",
    "float": "float",
    "boolean": "boolean",
    "id": "id",
    "multiple-choice": "multiple-choice",
    "category": "category",
}


def build_specs(attributes: Sequence[Attribute]) -> dict[str, AttributeSpec]:
    """Specs from ``GET /contacts/attributes``; EMAIL and the phone attributes by name."""
    specs: dict[str, AttributeSpec] = {}
    for attribute in attributes:
        name = attribute.name.upper()
        if name == EMAIL:
            specs[name] = AttributeSpec(name, "email")
            continue
        if name in PHONE_ATTRIBUTES:
            specs[name] = AttributeSpec(name, "phone")
            continue
        kind = _TYPE_KINDS.get(attribute.kind, "text")
        enumeration: dict[str, int] = {}
        if kind == "category":
            # Labels first, then values, so that a value always means itself (idempotence).
            for item in attribute.enumeration:
                enumeration[item.label.strip().lower()] = item.value
            for item in attribute.enumeration:
                enumeration[str(item.value)] = item.value
        specs[name] = AttributeSpec(
            name=name,
            kind=kind,
            enumeration=enumeration,
            options=tuple(attribute.multi_category_options),
        )
    return specs


def spec_for(attribute: str, specs: Mapping[str, AttributeSpec]) -> AttributeSpec:
    """The spec of an attribute; EMAIL and phones are recognised even when the account's list
    omits them, and unknown attributes are text."""
    if attribute == EMAIL:
        return AttributeSpec(EMAIL, "email")
    if attribute in PHONE_ATTRIBUTES:
        return AttributeSpec(attribute, "phone")
    return specs.get(attribute) or AttributeSpec(attribute, "text")


@dataclass(frozen=True)
class NormaliseOptions:
    """Switches of the import command that change values."""

    default_region: str | None = None
    """ISO country (``FR``) for phone numbers written without their country code."""
    dayfirst: bool = False
    """``01/02/1990`` is 1 February (True) or January 2 (False); ``.`` and ``-`` are day-first."""
    drop_invalid_values: bool = False
    """Send the contact without an invalid non-identifier value instead of rejecting the row."""

    def __post_init__(self) -> None:
        if self.default_region is not None:
            region = self.default_region.strip().upper()
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise ConfigError(
                    f"unknown default region {self.default_region!r}: use an ISO country code "
                    "such as FR, GB or US"
                )
            object.__setattr__(self, "default_region", region)


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
        columns[attribute] = _normalise_column(arrow_strings(rows[source]), spec, options)

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
    drops: list[tuple[str, np.ndarray]] = []
    for attribute in columns:
        if attribute in (EMAIL,):
            continue
        col = columns[attribute]
        bad = col.invalid & ~by_sms if attribute == SMS else col.invalid
        if not bad.any():
            continue
        code = INVALID_PHONE if attribute in PHONE_ATTRIBUTES else invalid_value(attribute)
        if options.drop_invalid_values:
            drops.append((attribute, bad))
        else:
            reject(bad, code, attribute)

    kept = reason < 0
    kept_idx = np.flatnonzero(kept)
    dropped = _dropped_frame(columns, drops, kept, lines, rows, mapping)
    contacts = _contacts_frame(columns, kept, kept_idx, lines, email_present)
    rejected = _rejected_frame(batch, columns, reason, reasons, kinds, mapping, options)
    return NormalisedBatch(contacts=contacts, rejected=rejected, dropped=dropped)


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
    drops: list[tuple[str, np.ndarray]],
    kept: np.ndarray,
    lines: np.ndarray,
    rows: pd.DataFrame,
    mapping: ColumnMapping,
) -> pd.DataFrame:
    """Blank the dropped values in ``columns`` and list them."""
    parts: list[pd.DataFrame] = []
    for attribute, bad in drops:
        col = columns[attribute]
        where = bad & kept
        idx = np.flatnonzero(where)
        # The contact goes without the value.
        col.values = pc.if_else(pa.array(where), _lit(""), col.values)
        if not len(idx):
            continue
        code = INVALID_PHONE if attribute in PHONE_ATTRIBUTES else invalid_value(attribute)
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
        # "EMAIL 'x@' is not a valid email address: <detail>", built column-wise.
        text = pc.binary_join_element_wise(
            _lit(f"{attribute} '"),
            col.trimmed.take(taken),
            _lit(f"' is not {_describe(kinds[attribute], options)}"),
            _lit(""),
        )
        if col.details is not None:
            detail = col.details.take(taken)
            with_detail = pc.binary_join_element_wise(text, detail, _lit(": "))
            text = pc.if_else(pc.not_equal(detail, _lit("")), with_detail, text)
        message_parts.append(text.cast(pa.large_string()))
    codes = _blank(len(rej_idx))
    messages = _blank(len(rej_idx))
    if order_parts:
        positions = np.concatenate(order_parts)
        codes = _scatter(codes, positions, pa.concat_arrays(code_parts))
        messages = _scatter(messages, positions, pa.concat_arrays(message_parts))
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


def _describe(spec: AttributeSpec, options: NormaliseOptions) -> str:
    kind = spec.kind
    if kind == "email":
        return "a valid email address"
    if kind == "phone":
        region = f" (default region {options.default_region})" if options.default_region else ""
        return f"a valid phone number{region}"
    if kind == "date":
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


# --------------------------------------------------------------------------- columns

_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


def _normalise_column(raw: pa.Array, spec: AttributeSpec, options: NormaliseOptions) -> _Column:
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
    if kind == "email":
        out, bad, details = _emails(uniques)
    elif kind == "phone":
        out, bad, details = _phones(uniques, options.default_region)
    elif kind == "date":
        out, bad, details = _dates(uniques, dayfirst=options.dayfirst)
    elif kind == "float":
        out, bad, details = _floats(uniques)
    elif kind == "boolean":
        out, bad, details = _booleans(uniques)
    elif kind == "category":
        out, bad, details = _categories(uniques, spec)
    else:
        out, bad, details = _multiple_choice(uniques, spec)
    empty = pc.equal(uniques, "").to_numpy(zero_copy_only=False)
    values = out.take(indices)
    return _Column(
        values=values,
        present=~empty[index_np],
        invalid=(bad & ~empty)[index_np],
        trimmed=trimmed,
        details=details.take(indices) if details is not None else None,
    )


def _scatter(base: pa.Array, positions: Sequence[int] | np.ndarray, values: object) -> pa.Array:
    """``base`` with ``base[positions[i]] = values[i]`` (values: a list or an Arrow array)."""
    positions = np.asarray(positions, dtype=np.int64)
    if not len(positions):
        return base
    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = pa.array(values, type=pa.large_string())
    mask = np.zeros(len(base), dtype=bool)
    mask[positions] = True
    order = np.argsort(positions, kind="stable")
    replacements = values.take(pa.array(order)).cast(pa.large_string())
    return pc.replace_with_mask(base, pa.array(mask), replacements)


def _parse_each(
    out: pa.Array,
    uniques: pa.Array,
    rows: np.ndarray,
    bad: np.ndarray,
    parse: Callable[[str], str | None],
) -> pa.Array:
    """The slow path: ``parse`` each of ``uniques[rows]`` in Python; None marks it ``bad``."""
    positions: list[int] = []
    values: list[str] = []
    if len(rows):
        for i, text in zip(rows.tolist(), uniques.take(pa.array(rows)).to_pylist(), strict=True):
            value = parse(text)
            if value is None:
                bad[i] = True
            else:
                positions.append(i)
                values.append(value)
    return _scatter(out, positions, values)


def _bool_np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool)


def _lit(text: str) -> pa.Scalar:
    return pa.scalar(text, type=pa.large_string())


def _blank(n: int) -> pa.Array:
    return pc.fill_null(pa.nulls(n, type=pa.large_string()), _lit(""))


# --- emails

# A strict subset of what email-validator accepts unchanged: ASCII atext, dot-atom local part,
# plain ASCII domain. The property tests check that it never accepts more than email-validator.
# Brevo refuses addresses with non-ASCII characters before the @ (FACTS.md section 12), so the
# local part is ASCII only, here and in check_email.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]"
_FAST_LOCAL = rf"{_ATEXT}+(?:\.{_ATEXT}+)*"
_FAST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
_FAST_TLD = r"[A-Za-z](?:[A-Za-z0-9\-]{0,61}[A-Za-z])?"
FAST_EMAIL = rf"^{_FAST_LOCAL}@(?:{_FAST_LABEL}\.)+{_FAST_TLD}$"
_SPECIAL_DOMAIN = r"[@.](?:arpa|invalid|local|localhost|onion|test)$"
_NO_AT = "an email address must have an @-sign"
NON_ASCII_LOCAL_PART = (
    "Brevo refuses e-mail addresses with non-ASCII characters before the @ "
    "(its import counts them as invalid)"
)


def _emails(uniques: pa.Array) -> tuple[pa.Array, np.ndarray, pa.Array | None]:
    n = len(uniques)
    fast = (
        _bool_np(pc.match_substring_regex(uniques, FAST_EMAIL))
        & ~_bool_np(pc.match_substring_regex(uniques, "--"))
        & ~_bool_np(pc.match_substring_regex(uniques, _SPECIAL_DOMAIN, ignore_case=True))
        & (pc.binary_length(uniques).to_numpy(zero_copy_only=False) <= 254)
        & _bool_np(pc.match_substring_regex(uniques, r"^[^@]{1,32}@"))
    )
    lowered = pc.utf8_lower(uniques)
    out = pc.if_else(pa.array(fast), lowered, _lit(""))
    empty = pc.equal(uniques, "").to_numpy(zero_copy_only=False)
    # A sure failure that needs no library call.
    bad = ~fast & ~empty & ~_bool_np(pc.match_substring(uniques, "@"))
    slow = np.flatnonzero(~fast & ~empty & ~bad)
    positions: list[int] = []
    values: list[str] = []
    detail_pos: list[int] = np.flatnonzero(bad).tolist()
    detail_text: list[str] = [_NO_AT] * len(detail_pos)
    if len(slow):
        texts = uniques.take(pa.array(slow)).to_pylist()
        for i, text in zip(slow.tolist(), texts, strict=True):
            normalised, problem = check_email(text)
            if normalised is None:
                bad[i] = True
                detail_pos.append(i)
                detail_text.append(problem)
            else:
                positions.append(i)
                values.append(normalised)
    out = _scatter(out, positions, values)
    details = _scatter(_blank(n), detail_pos, detail_text) if detail_pos else None
    return out, bad, details


@lru_cache(maxsize=100_000)
def check_email(text: str) -> tuple[str | None, str]:
    """``(normalised, "")`` for a valid address, ``(None, why)`` otherwise (no DNS)."""
    try:
        valid = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, str(exc)
    if not valid.local_part.isascii():
        return None, NON_ASCII_LOCAL_PART
    normalised = unicodedata.normalize("NFC", valid.normalized.lower())
    # Normalising must be idempotent: the output has to come back as itself.
    try:
        again = validate_email(normalised, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, str(exc)
    if unicodedata.normalize("NFC", again.normalized.lower()) != normalised:
        return None, "the address does not have a stable normalised form"
    return normalised, ""


# --- phones

_PHONE_JUNK = r"[\s\x{00a0}\x{2007}\x{202f}().\-/]"
_TYPE_DESCS = (
    "mobile",
    "fixed_line",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


@dataclass(frozen=True)
class _Desc:
    lengths: tuple[int, ...]
    pattern: str


@dataclass(frozen=True)
class _Region:
    leading_digits: str | None
    general: _Desc | None
    types: tuple[_Desc, ...]


@dataclass(frozen=True)
class _CountryRule:
    cc: int
    regions: tuple[_Region, ...]
    prefix_pattern: str | None
    """National prefix that parse() may strip after the country code: such numbers go slow."""
    fast: bool
    """False when parse() may rewrite the number in ways the fast path does not model."""


def _desc(desc: object) -> _Desc | None:
    pattern = getattr(desc, "national_number_pattern", None)
    if desc is None or not pattern:
        return None
    return _Desc(tuple(getattr(desc, "possible_length", ()) or ()), pattern)


def _metadata(cc: int, region: str) -> PhoneMetadata | None:
    return PhoneMetadata.metadata_for_region_or_calling_code(cc, region)


@cache
def _country_rule(cc: int) -> _CountryRule:
    region_codes = COUNTRY_CODE_TO_REGION_CODE.get(cc, ())
    regions: list[_Region] = []
    for code in region_codes:
        md = _metadata(cc, code)
        if md is None:
            continue
        types = tuple(d for d in (_desc(getattr(md, t, None)) for t in _TYPE_DESCS) if d)
        regions.append(
            _Region(
                # A single region is chosen without looking at its leading digits.
                leading_digits=md.leading_digits if len(region_codes) > 1 else None,
                general=_desc(md.general_desc),
                types=types,
            )
        )
    main = _metadata(cc, region_codes[0]) if region_codes else None
    prefix, fast = _prefix_rule(main)
    return _CountryRule(cc=cc, regions=tuple(regions), prefix_pattern=prefix, fast=fast)


def _prefix_rule(md: PhoneMetadata | None) -> tuple[str | None, bool]:
    if md is None:
        return None, False
    prefix = md.national_prefix_for_parsing
    if not prefix:
        return None, True
    if md.national_prefix_transform_rule or re.match(prefix, "") is not None:
        return prefix, False
    return prefix, True


def _full(pattern: str, values: pa.Array) -> np.ndarray:
    """Vectorised re.fullmatch of a phonenumbers pattern."""
    try:
        return _bool_np(pc.match_substring_regex(values, f"^(?:{pattern})$"))
    except pa.ArrowInvalid:  # a pattern RE2 cannot compile: fall back to Python's re
        compiled = re.compile(pattern)
        return np.array([compiled.fullmatch(v) is not None for v in values.to_pylist()], bool)


def _desc_match(desc: _Desc | None, nsn: pa.Array, lengths: np.ndarray) -> np.ndarray:
    if desc is None:
        return np.zeros(len(nsn), dtype=bool)
    ok = np.isin(lengths, desc.lengths) if desc.lengths else np.ones(len(nsn), dtype=bool)
    idx = np.flatnonzero(ok)
    if len(idx):
        ok[idx] = _full(desc.pattern, nsn.take(pa.array(idx)))
    return ok


def _region_valid(region: _Region, nsn: pa.Array) -> np.ndarray:
    lengths = pc.utf8_length(nsn).to_numpy(zero_copy_only=False)
    valid = _desc_match(region.general, nsn, lengths)
    matched = np.zeros(len(nsn), dtype=bool)
    for desc in region.types:
        todo = np.flatnonzero(valid & ~matched)
        if not len(todo):
            break
        matched[todo] = _desc_match(desc, nsn.take(pa.array(todo)), lengths[todo])
    return valid & matched


def valid_national_numbers(cc: int, nsn: pa.Array) -> np.ndarray:
    """``phonenumbers.is_valid_number`` for ``+<cc><nsn>``, vectorised over nsn."""
    rule = _country_rule(cc)
    n = len(nsn)
    valid = np.zeros(n, dtype=bool)
    undecided = np.ones(n, dtype=bool)
    for region in rule.regions:
        idx = np.flatnonzero(undecided)
        if not len(idx):
            break
        part = nsn.take(pa.array(idx))
        if region.leading_digits is not None:
            chosen = _bool_np(pc.match_substring_regex(part, f"^(?:{region.leading_digits})"))
            sel = idx[chosen]
            if len(sel):
                valid[sel] = _region_valid(region, nsn.take(pa.array(sel)))
            undecided[sel] = False
        else:
            ok = _region_valid(region, part)
            valid[idx[ok]] = True
            undecided[idx[ok]] = False
    return valid


def _phones(uniques: pa.Array, region: str | None) -> tuple[pa.Array, np.ndarray, None]:
    n = len(uniques)
    cleaned = pc.replace_substring_regex(uniques, _PHONE_JUNK, "")
    out = _blank(n)
    fast = np.zeros(n, dtype=bool)
    e164_parts: list[tuple[np.ndarray, pa.Array]] = []
    sure_invalid: list[np.ndarray] = []

    plus = np.flatnonzero(_bool_np(pc.match_substring_regex(cleaned, r"^\+[1-9]\d{6,14}$")))
    if len(plus):
        found, invalid = _fast_group(plus, _split_country_code(cleaned.take(pa.array(plus))))
        e164_parts.extend(found)
        sure_invalid.extend(invalid)
    if region is not None:
        found, invalid = _fast_national(cleaned, region)
        e164_parts.extend(found)
        sure_invalid.extend(invalid)
    if e164_parts:
        fast_idx = np.concatenate([idx for idx, _ in e164_parts])
        fast[fast_idx] = True
        out = _scatter(out, fast_idx, pa.concat_arrays([e for _, e in e164_parts]))
    empty = pc.equal(uniques, "").to_numpy(zero_copy_only=False)
    bad = np.zeros(n, dtype=bool)
    for idx in sure_invalid:
        bad[idx] = True
    slow = np.flatnonzero(~fast & ~empty & ~bad)
    return _parse_each(out, uniques, slow, bad, lambda text: parse_phone(text, region)), bad, None


_Found = tuple[list[tuple[np.ndarray, pa.Array]], list[np.ndarray]]


def _split_country_code(numbers: pa.Array) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """Country code and national number of ``+<digits>`` numbers (codes are prefix-free)."""
    n = len(numbers)
    matched = np.zeros(n, dtype=bool)
    cc = _blank(n)
    for width in (1, 2, 3):
        head = pc.utf8_slice_codeunits(numbers, 1, 1 + width)
        known = ~matched & _bool_np(pc.is_in(head, value_set=_country_codes(width)))
        if known.any():
            cc = pc.if_else(pa.array(known), head, cc)
            matched |= known
    digits = pc.utf8_slice_codeunits(numbers, 1, 64)
    return matched, cc, _drop_prefix(digits, pc.utf8_length(cc))


def _drop_prefix(values: pa.Array, lengths: pa.Array) -> pa.Array:
    out = values
    for width in (1, 2, 3):
        sel = _bool_np(pc.equal(lengths, width))
        if sel.any():
            out = pc.if_else(pa.array(sel), pc.utf8_slice_codeunits(values, width, 64), out)
    return out


@cache
def _country_codes(width: int) -> pa.Array:
    codes = [str(cc) for cc in COUNTRY_CODE_TO_REGION_CODE if len(str(cc)) == width]
    return pa.array(codes, type=pa.large_string())


def _fast_group(idx: np.ndarray, parts: tuple[np.ndarray, pa.Array, pa.Array]) -> _Found:
    """``+<cc><nsn>`` numbers that parse() keeps as they are: E.164 of the valid ones, and the
    positions of the invalid ones (parse_phone would find nothing else to try for them)."""
    matched, cc_field, nsns = parts
    found: list[tuple[np.ndarray, pa.Array]] = []
    invalid: list[np.ndarray] = []
    for cc_text in pc.unique(cc_field.filter(pa.array(matched))).to_pylist():
        if not cc_text:
            continue
        sel = np.flatnonzero(matched & _bool_np(pc.equal(cc_field, cc_text)))
        cc = int(cc_text)
        rule = _country_rule(cc)
        if not rule.fast:
            continue
        nsn = nsns.take(pa.array(sel))
        ok = np.ones(len(sel), dtype=bool)
        if rule.prefix_pattern:
            # parse() would strip a national prefix written after the country code.
            ok &= ~_bool_np(pc.match_substring_regex(nsn, f"^(?:{rule.prefix_pattern})"))
        keep = np.flatnonzero(ok)
        if not len(keep):
            continue
        valid = valid_national_numbers(cc, nsn.take(pa.array(keep)))
        good = keep[valid]
        invalid.append(idx[sel[keep[~valid]]])
        if len(good):
            e164 = pc.binary_join_element_wise(
                _lit("+" + cc_text), nsn.take(pa.array(good)), _lit("")
            )
            found.append((idx[sel[good]], e164.cast(pa.large_string())))
    return found, invalid


def _fast_national(cleaned: pa.Array, region: str) -> _Found:
    """Numbers in ``region``'s national form whose digits parse() keeps (after its national
    prefix): E.164 of the valid ones, positions of the surely invalid ones."""
    md = PhoneMetadata.metadata_for_region(region)
    prefix, fast = _prefix_rule(md)
    if md is None or not fast:
        return [], []
    cc = md.country_code
    digits = _bool_np(pc.match_substring_regex(cleaned, r"^\d{2,17}$"))
    digits &= ~_bool_np(pc.starts_with(cleaned, str(cc)))
    if md.international_prefix:
        digits &= ~_bool_np(pc.match_substring_regex(cleaned, f"^(?:{md.international_prefix})"))
    idx = np.flatnonzero(digits)
    if not len(idx):
        return [], []
    values = cleaned.take(pa.array(idx))
    nsn = values
    stripped = np.zeros(len(idx), dtype=bool)
    if prefix:
        plain = re.sub(r"(?<!\\)\((?!\?)", "(?:", prefix)  # extract_regex wants named groups only
        parts = pc.extract_regex(values, f"^(?P<p>(?:{plain}))(?P<rest>\\d*)$")
        stripped = _bool_np(parts.is_valid())
        rest = parts.field("rest").cast(pa.large_string())
        nsn = pc.if_else(pa.array(stripped), rest, values)
    local_only = tuple(getattr(md.general_desc, "possible_length_local_only", ()) or ())
    ok = np.ones(len(idx), dtype=bool)
    if local_only:
        lengths = pc.utf8_length(nsn).to_numpy(zero_copy_only=False)
        ok &= ~(stripped & np.isin(lengths, local_only))
    keep = np.flatnonzero(ok)
    if not len(keep):
        return [], []
    nsn = nsn.take(pa.array(keep))
    valid = valid_national_numbers(cc, nsn)
    found: list[tuple[np.ndarray, pa.Array]] = []
    good = keep[valid]
    if len(good):
        e164 = pc.binary_join_element_wise(_lit(f"+{cc}"), nsn.filter(pa.array(valid)), _lit(""))
        found.append((idx[good], e164.cast(pa.large_string())))
    # An invalid number is hopeless when parse() kept all its digits (no national prefix
    # matched: with one, parse() may keep the prefix instead) and parse_phone's "+<digits>"
    # retry does not apply (fewer than 11 digits, or a leading 0).
    unsure = keep[~valid]
    unsure = unsure[~stripped[unsure]]
    lengths = pc.utf8_length(values.take(pa.array(unsure))).to_numpy(zero_copy_only=False)
    first = pc.utf8_slice_codeunits(values.take(pa.array(unsure)), 0, 1)
    hopeless = (lengths < 11) | _bool_np(pc.equal(first, "0"))
    return found, [idx[unsure[hopeless]]]


@lru_cache(maxsize=200_000)
def parse_phone(text: str, region: str | None) -> str | None:
    """E.164 form of a valid phone number, else None (phonenumbers, once per distinct value)."""
    candidates = [text]
    digits = re.sub(r"[^\d+]", "", text)
    if region is None and digits.startswith("00"):
        candidates.append("+" + digits[2:])
    if digits.isdigit() and len(digits) >= 11 and not digits.startswith("0"):
        # Brevo's own examples write numbers as country code + number, without "+".
        candidates.append("+" + digits)
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(number):
            continue
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        again = phonenumbers.parse(e164, None)
        if phonenumbers.is_valid_number(again) and (
            phonenumbers.format_number(again, phonenumbers.PhoneNumberFormat.E164) == e164
        ):
            return e164
    return None


# --- dates

_TIME = (
    r"(?:(?:T|\s+)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[AaPp][Mm])?\s*"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_DATE_FORMATS: tuple[tuple[str, str], ...] = (
    # The common shapes first, without the optional time: much cheaper to extract.
    ("ymd", r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$"),
    ("slash", r"^(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4})$"),
    ("dmy", r"^(?P<a>\d{1,2})\.(?P<b>\d{1,2})\.(?P<y>\d{4})$"),
    ("ymd", rf"^(?P<y>\d{{4}})-(?P<m>\d{{1,2}})-(?P<d>\d{{1,2}}){_TIME}$"),
    ("ymd", rf"^(?P<y>\d{{4}})/(?P<m>\d{{1,2}})/(?P<d>\d{{1,2}}){_TIME}$"),
    ("ymd", rf"^(?P<y>\d{{4}})\.(?P<m>\d{{1,2}})\.(?P<d>\d{{1,2}}){_TIME}$"),
    ("slash", rf"^(?P<a>\d{{1,2}})/(?P<b>\d{{1,2}})/(?P<y>\d{{4}}|\d{{2}}){_TIME}$"),
    ("dmy", rf"^(?P<a>\d{{1,2}})\.(?P<b>\d{{1,2}})\.(?P<y>\d{{4}}|\d{{2}}){_TIME}$"),
    ("dmy", rf"^(?P<a>\d{{1,2}})-(?P<b>\d{{1,2}})-(?P<y>\d{{4}}|\d{{2}}){_TIME}$"),
    ("ymd", r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"),
    ("serial", r"^(?P<n>\d{5})(?:\.0+)?$"),
)
_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "jan january janv janvier",
        "feb febr february fev fevr fevrier",
        "mar march mars",
        "apr april avr avril",
        "may mai",
        "jun june juin",
        "jul july juil juillet",
        "aug august aou aout",
        "sep sept september septembre",
        "oct october octobre",
        "nov november novembre",
        "dec december decembre",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number
_DAY_MONTH_YEAR = re.compile(
    rf"(?P<d>\d{{1,2}})(?:st|nd|rd|th|er)?[\s\-./]+(?P<mon>[^\W\d_]+)\.?,?[\s\-./]+"
    rf"(?P<y>\d{{4}}|\d{{2}}){_TIME}"
)
_MONTH_DAY_YEAR = re.compile(
    rf"(?P<mon>[^\W\d_]+)\.?[\s\-./]+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?[\s\-./]+"
    rf"(?P<y>\d{{4}}){_TIME}"
)
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")


def _full_year(years: np.ndarray, two_digit: np.ndarray) -> np.ndarray:
    # strptime's %y rule: 69-99 -> 1900s, 00-68 -> 2000s.
    return np.where(two_digit, np.where(years >= 69, 1900 + years, 2000 + years), years)


def _valid_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    ok = (y >= 1000) & (y <= 9999) & (m >= 1) & (m <= 12) & (d >= 1)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 0, 12)]
    days = days + ((m == 2) & leap)
    return ok & (d <= days)


def _format_ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> pa.Array:
    text = pa.array((y * 10000 + m * 100 + d).astype(np.int64)).cast(pa.large_string())
    return pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(text, 0, 4),
        pc.utf8_slice_codeunits(text, 4, 6),
        pc.utf8_slice_codeunits(text, 6, 8),
        _lit("-"),
    )


def _ints(parts: pa.StructArray, name: str) -> np.ndarray:
    return pc.cast(parts.field(name), pa.int64()).to_numpy(zero_copy_only=False)


def _dates(uniques: pa.Array, *, dayfirst: bool) -> tuple[pa.Array, np.ndarray, None]:
    n = len(uniques)
    done = pc.equal(uniques, "").to_numpy(zero_copy_only=False).copy()
    parsed = np.zeros(n, dtype=bool)
    found_idx: list[np.ndarray] = []
    found_text: list[pa.Array] = []
    for kind, pattern in _DATE_FORMATS:
        todo = np.flatnonzero(~done)
        if not len(todo):
            break
        parts = pc.extract_regex(uniques.take(pa.array(todo)), pattern)
        matched = _bool_np(parts.is_valid())
        if not matched.any():
            continue
        sel = todo[matched]
        parts = parts.filter(pa.array(matched))
        if kind == "serial":
            days = _EXCEL_EPOCH + _ints(parts, "n").astype("timedelta64[D]")
            y = days.astype("datetime64[Y]").astype(np.int64) + 1970
            m = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
            d = (days - days.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
            ok = np.ones(len(sel), dtype=bool)
        elif kind == "ymd":
            y, m, d = _ints(parts, "y"), _ints(parts, "m"), _ints(parts, "d")
            ok = _valid_ymd(y, m, d)
        else:
            y_text = parts.field("y")
            y = _full_year(_ints(parts, "y"), pc.utf8_length(y_text).to_numpy() == 2)
            a, b = _ints(parts, "a"), _ints(parts, "b")
            day_first = dayfirst or kind == "dmy"
            d, m = (a, b) if day_first else (b, a)
            ok = _valid_ymd(y, m, d)
            # Swap when only the other order makes a date (25/12 cannot be month 25).
            swap = ~ok & _valid_ymd(y, d, m)
            d, m = np.where(swap, m, d), np.where(swap, d, m)
            ok = ok | swap
        good = np.flatnonzero(ok)
        if len(good):
            found_idx.append(sel[good])
            found_text.append(_format_ymd(y[good], m[good], d[good]).cast(pa.large_string()))
            parsed[sel[good]] = True
        done[sel] = True  # matched a numeric form: valid or not, no other form applies
    out = _blank(n)
    if found_idx:
        out = _scatter(out, np.concatenate(found_idx), pa.concat_arrays(found_text))
    empty = pc.equal(uniques, "").to_numpy(zero_copy_only=False)
    rest = np.flatnonzero(~parsed & ~empty)
    bad = np.zeros(n, dtype=bool)
    return _parse_each(out, uniques, rest, bad, _parse_named_date), bad, None


@lru_cache(maxsize=50_000)
def _parse_named_date(text: str) -> str | None:
    """Dates with a month name: ``12 Mar 1990``, ``12-mars-90``, ``March 12, 1990``."""
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).lower()
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        match = pattern.fullmatch(folded)
        if not match:
            continue
        month = _MONTHS.get(match.group("mon"))
        if month is None:
            continue
        year_text = match.group("y")
        y = _full_year(np.array([int(year_text)]), np.array([len(year_text) == 2]))
        m, d = np.array([month]), np.array([int(match.group("d"))])
        if _valid_ymd(y, m, d)[0]:
            return f"{int(y[0]):04d}-{month:02d}-{int(d[0]):02d}"
    return None


# --- floats

_CANONICAL_FLOAT = r"^-?(?:0|[1-9]\d*)(?:\.\d*[1-9])?$"
_PLAIN_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _floats(uniques: pa.Array) -> tuple[pa.Array, np.ndarray, None]:
    n = len(uniques)
    # Already canonical and short enough to round-trip through a double unchanged.
    fast = (
        _bool_np(pc.match_substring_regex(uniques, _CANONICAL_FLOAT))
        & (pc.utf8_length(uniques).to_numpy(zero_copy_only=False) <= 15)
        & ~_bool_np(pc.equal(uniques, "-0"))
    )
    out = pc.if_else(pa.array(fast), uniques, _lit(""))
    empty = pc.equal(uniques, "").to_numpy(zero_copy_only=False)
    slow = np.flatnonzero(~fast & ~empty)
    bad = np.zeros(n, dtype=bool)
    return _parse_each(out, uniques, slow, bad, parse_float), bad, None


@lru_cache(maxsize=100_000)
def parse_float(text: str) -> str | None:
    """A number as a plain decimal string (``1,5`` -> ``1.5``, ``1e3`` -> ``1000``), or None."""
    s = re.sub(r"[\s\u00a0\u202f'_]", "", text)
    if re.fullmatch(r"[+-]?\d+,\d+", s):  # one comma and no dot: a decimal comma
        s = s.replace(",", ".")
    elif re.fullmatch(r"[+-]?\d{1,3}(?:\.\d{3})+,\d+", s):  # 1.234,5
        s = s.replace(".", "").replace(",", ".")
    elif re.fullmatch(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):  # 1,234.5 or 1,234,567
        s = s.replace(",", "")
    if not _PLAIN_FLOAT.fullmatch(s):
        return None
    number = float(s)
    if not math.isfinite(number):
        return None
    return plain_decimal(number)


def plain_decimal(number: float) -> str:
    """The shortest text that reads back as ``number``, without an exponent."""
    text = format(Decimal(repr(number)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


# --- booleans, categories, multiple choice

_TRUE = ("true", "yes", "y", "1", "oui", "o", "t", "vrai", "x")
_FALSE = ("false", "no", "n", "0", "non", "f", "faux")
_BOOL_KEYS = pa.array([*_TRUE, *_FALSE], type=pa.large_string())
_BOOL_OUT = pa.array(["true"] * len(_TRUE) + ["false"] * len(_FALSE), type=pa.large_string())


def _lookup(
    uniques: pa.Array, keys: pa.Array, outputs: pa.Array
) -> tuple[pa.Array, np.ndarray, None]:
    where = pc.index_in(pc.utf8_lower(uniques), value_set=keys)
    found = _bool_np(where.is_valid())
    out = pc.fill_null(outputs.take(where), _lit(""))
    return out, ~found, None


def _booleans(uniques: pa.Array) -> tuple[pa.Array, np.ndarray, None]:
    return _lookup(uniques, _BOOL_KEYS, _BOOL_OUT)


def _categories(uniques: pa.Array, spec: AttributeSpec) -> tuple[pa.Array, np.ndarray, None]:
    keys = pa.array(list(spec.enumeration), type=pa.large_string())
    outputs = pa.array([str(v) for v in spec.enumeration.values()], type=pa.large_string())
    return _lookup(uniques, keys, outputs)


def _multiple_choice(uniques: pa.Array, spec: AttributeSpec) -> tuple[pa.Array, np.ndarray, None]:
    options = {o.strip().lower(): o for o in spec.options}
    n = len(uniques)
    bad = np.zeros(n, dtype=bool)
    values: list[str] = []
    for i, text in enumerate(uniques.to_pylist()):
        chosen: list[str] = []
        for part in re.split(r"[,;|]", text):
            key = part.strip().lower()
            if not key:
                continue
            option = options.get(key)
            if option is None:
                bad[i] = bool(text)
                chosen = []
                break
            if option not in chosen:
                chosen.append(option)
        values.append(",".join(chosen))
    return pa.array(values, type=pa.large_string()), bad, None
