"""Phone numbers: the reference (phonenumbers, once per distinct value) and the column normaliser.

Most numbers never reach phonenumbers: :mod:`.phones_fast` settles the ones in E.164 form or in
the default region's national form with vectorised metadata patterns.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from etl.imports.normalise.kernels import blank, parse_each, scatter
from etl.imports.normalise.phones_fast import fast_phones

_PHONE_JUNK = r"[\s\x{00a0}\x{2007}\x{202f}().\-/]"


def normalise_phones(uniques: pa.Array, region: str | None) -> tuple[pa.Array, np.ndarray, None]:
    """E.164 of the valid numbers ('' elsewhere) and which are invalid."""
    n = len(uniques)
    cleaned = pc.replace_substring_regex(uniques, _PHONE_JUNK, "")
    out = blank(n)
    fast = np.zeros(n, dtype=bool)
    e164_parts, sure_invalid = fast_phones(cleaned, region)
    if e164_parts:
        fast_idx = np.concatenate([idx for idx, _ in e164_parts])
        fast[fast_idx] = True
        out = scatter(out, fast_idx, pa.concat_arrays([e for _, e in e164_parts]))
    empty = pc.equal(uniques, "").to_numpy(zero_copy_only=False)
    bad = np.zeros(n, dtype=bool)
    for idx in sure_invalid:
        bad[idx] = True
    slow = np.flatnonzero(~fast & ~empty & ~bad)
    return parse_each(out, uniques, slow, bad, lambda text: parse_phone(text, region)), bad, None


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
