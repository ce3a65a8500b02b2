"""E-mail addresses: the reference check (email-validator, no DNS) and the column normaliser.

The plainest addresses never reach email-validator: :mod:`.emails_fast` accepts them with a
regular expression; every other distinct value goes through :func:`check_email` once.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from email_validator import EmailNotValidError, validate_email

from etl.imports.normalise.emails_fast import fast_emails
from etl.imports.normalise.kernels import PARSE_CACHE_SIZE, blank, bool_np, lit, scatter

_NO_AT = "an email address must have an @-sign"
NON_ASCII_LOCAL_PART = (
    "Brevo refuses e-mail addresses with non-ASCII characters before the @ "
    "(its import counts them as invalid)"
)


def normalise_emails(uniques: pa.Array) -> tuple[pa.Array, np.ndarray, pa.Array | None]:
    """Lower-cased valid addresses ('' elsewhere), which are invalid, and why."""
    n = len(uniques)
    fast = fast_emails(uniques)
    lowered = pc.utf8_lower(uniques)
    out = pc.if_else(pa.array(fast), lowered, lit(""))
    empty = pc.equal(uniques, "").to_numpy(zero_copy_only=False)
    # A sure failure that needs no library call.
    bad = ~fast & ~empty & ~bool_np(pc.match_substring(uniques, "@"))
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
    out = scatter(out, positions, values)
    details = scatter(blank(n), detail_pos, detail_text) if detail_pos else None
    return out, bad, details


@lru_cache(maxsize=PARSE_CACHE_SIZE)
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
