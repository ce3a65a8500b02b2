"""Phone numbers: the reference (phonenumbers, once per distinct value) and the column normaliser.

Most numbers never reach phonenumbers: :mod:`.phones_fast` settles the ones in E.164 form or in
the default region's national form with vectorised metadata patterns.

A number written the national way that is invalid in the default region but valid, dialled the
same way, in a region its callers reach as a domestic number with its own country code, is that
region's (:data:`DOMESTIC_REGIONS`): ``06 92 12 34 56`` under FR is a Réunion mobile,
``+262692123456``. The column normaliser counts those (:func:`reassigned_numbers`).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from etl.imports.normalise.kernels import PARSE_CACHE_SIZE, blank, bool_np, parse_each, scatter
from etl.imports.normalise.phones_fast import DOMESTIC_REGIONS, fast_phones

_PHONE_JUNK = r"[\s\x{00a0}\x{2007}\x{202f}().\-/]"


def domestic_country_codes(region: str | None) -> tuple[int, ...]:
    """Country codes a default region's callers reach as domestic numbers (tried in order)."""
    codes: list[int] = []
    for other in DOMESTIC_REGIONS.get(region or "", ()):
        cc = phonenumbers.country_code_for_region(other)
        if cc and cc not in codes:
            codes.append(cc)
    return tuple(codes)


def reassigned_numbers(uniques: pa.Array, e164: pa.Array, region: str | None) -> np.ndarray:
    """Which of ``uniques`` (written the national way) became another region's number."""
    codes = domestic_country_codes(region)
    if not codes or not len(uniques):
        return np.zeros(len(uniques), dtype=bool)
    prefix = phonenumbers.PhoneMetadata.metadata_for_region(region or "")
    national = (prefix.national_prefix if prefix else None) or "0"
    cleaned = pc.replace_substring_regex(uniques, _PHONE_JUNK, "")
    # National prefix then the number; "00" starts an international number instead.
    written_nationally = bool_np(pc.starts_with(cleaned, national)) & ~bool_np(
        pc.starts_with(cleaned, national * 2)
    )
    moved = bool_np(pc.match_substring_regex(e164, "^\\+(?:" + "|".join(map(str, codes)) + ")"))
    result: np.ndarray = written_nationally & moved
    return result


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


@lru_cache(maxsize=PARSE_CACHE_SIZE)
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
        e164 = _valid_e164(candidate, region)
        if e164 is not None:
            return e164
    if region in DOMESTIC_REGIONS and not text.lstrip().startswith("+"):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        national = (metadata.national_prefix if metadata else None) or "0"
        if digits.startswith(national) and not digits.startswith(national * 2):
            significant = digits[len(national) :]
            for other in DOMESTIC_REGIONS[region]:
                # A cheap necessary condition first: most invalid numbers fit no overseas plan.
                if not _general_pattern(other).fullmatch(significant):
                    continue
                e164 = _valid_e164(text, other)
                if e164 is not None:
                    return e164
    return None


@lru_cache(maxsize=64)
def _general_pattern(region: str) -> re.Pattern[str]:
    """The region's pattern for any national significant number (libphonenumber metadata)."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    general = metadata.general_desc if metadata else None
    pattern = general.national_number_pattern if general else None
    return re.compile(pattern or r"\d+")


def _valid_e164(candidate: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    again = phonenumbers.parse(e164, None)
    if phonenumbers.is_valid_number(again) and (
        phonenumbers.format_number(again, phonenumbers.PhoneNumberFormat.E164) == e164
    ):
        return e164
    return None
