"""The phone fast path: ``phonenumbers.is_valid_number`` re-implemented over Arrow columns.

A phone number already in E.164 form (or in the default region's national form) is checked
against phonenumbers' own metadata patterns with vectorised regular expressions; numbers that
``phonenumbers.parse`` could rewrite in ways not modelled here are left to the reference,
:func:`etl.imports.normalise.phones.parse_phone` (tests compare both on thousands of numbers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

from etl.imports.normalise.kernels import blank, bool_np, lit

# Regions with their own country code whose numbers belong to another region's national plan,
# so that its callers dial them as domestic numbers (with its national prefix): France's
# overseas departments and collectivities (0692 ... in Réunion, 0590 ... in Guadeloupe). The
# metadata does not record this: searching it for regions whose numbers fit another region's
# national plan finds hundreds of pairs, nearly all wrong (a German 0151 ... is not dialled
# from France as a domestic number). Regions that share a numbering plan otherwise share its
# country code as well (+1 NANP, +44 with JE/GG/IM, +7, +39 VA, +47 SJ, +61 CX/CC, +212 EH,
# +358 AX), which phonenumbers handles under the default region already. Kept here, beside the
# fast path that must agree with the reference (:mod:`.phones`).
DOMESTIC_REGIONS: dict[str, tuple[str, ...]] = {
    "FR": ("RE", "YT", "GP", "BL", "MF", "GF", "MQ", "PM"),
}

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
    local_only: tuple[int, ...] = ()
    """Lengths of national numbers only dialled locally: parse() keeps the prefix then."""


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
    return _CountryRule(
        cc=cc,
        regions=tuple(regions),
        prefix_pattern=prefix,
        fast=fast,
        local_only=_local_only(main),
    )


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
        return bool_np(pc.match_substring_regex(values, f"^(?:{pattern})$"))
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
            chosen = bool_np(pc.match_substring_regex(part, f"^(?:{region.leading_digits})"))
            sel = idx[chosen]
            if len(sel):
                valid[sel] = _region_valid(region, nsn.take(pa.array(sel)))
            undecided[sel] = False
        else:
            ok = _region_valid(region, part)
            valid[idx[ok]] = True
            undecided[idx[ok]] = False
    return valid


Found = tuple[list[tuple[np.ndarray, pa.Array]], list[np.ndarray]]


def fast_phones(cleaned: pa.Array, region: str | None) -> Found:
    """E.164 of the numbers the fast path settles as valid, and positions of the surely invalid.

    ``+<cc><nsn>`` numbers first, then, with a default region, numbers in its national form.
    """
    e164_parts: list[tuple[np.ndarray, pa.Array]] = []
    sure_invalid: list[np.ndarray] = []

    plus = np.flatnonzero(bool_np(pc.match_substring_regex(cleaned, r"^\+[1-9]\d{6,14}$")))
    if len(plus):
        found, invalid = _fast_group(plus, _split_country_code(cleaned.take(pa.array(plus))))
        e164_parts.extend(found)
        sure_invalid.extend(invalid)
    idd = _idd_digits(region)
    if idd:
        # "0033 6 ...": parse() strips the region's international (IDD) prefix and reads the
        # rest as "+33 6 ..." (under no region, parse_phone retries "00..." as "+..."). A 0
        # after the prefix is no country code: parse() then reads a national number instead.
        dialled = np.flatnonzero(
            bool_np(pc.match_substring_regex(cleaned, f"^{idd}[1-9]\\d{{6,14}}$"))
        )
        if len(dialled):
            rest = pc.utf8_slice_codeunits(cleaned.take(pa.array(dialled)), len(idd), 64)
            numbers = pc.binary_join_element_wise(lit("+"), rest, lit(""))
            found, invalid = _fast_group(dialled, _split_country_code(numbers))
            e164_parts.extend(found)
            if idd.startswith("0"):
                # Otherwise parse_phone retries the digits as "+<digits>" ("810..." as +81 0...).
                sure_invalid.extend(invalid)
    if region is not None:
        found, invalid = _fast_national(cleaned, region)
        e164_parts.extend(found)
        sure_invalid.extend(invalid)
    return e164_parts, sure_invalid


def _idd_digits(region: str | None) -> str | None:
    """The international prefix parse() strips under ``region`` when it is plain digits
    (``00`` in France, ``011`` in the US); ``00`` under no region (see parse_phone)."""
    if region is None:
        return "00"
    md = PhoneMetadata.metadata_for_region(region)
    idd = md.international_prefix if md is not None else None
    return idd if idd and re.fullmatch(r"\d+", idd) else None


def _strip_prefix(values: pa.Array, prefix: str) -> tuple[pa.Array, np.ndarray]:
    """``values`` without the national prefix parse() may strip, and where one was found."""
    plain = re.sub(r"(?<!\\)\((?!\?)", "(?:", prefix)  # extract_regex wants named groups only
    parts = pc.extract_regex(values, f"^(?P<p>(?:{plain}))(?P<rest>\\d*)$")
    stripped = bool_np(parts.is_valid())
    rest = parts.field("rest").cast(pa.large_string())
    return pc.if_else(pa.array(stripped), rest, values), stripped


def _local_only(md: PhoneMetadata | None) -> tuple[int, ...]:
    general = md.general_desc if md is not None else None
    return tuple(getattr(general, "possible_length_local_only", ()) or ())


def _split_country_code(numbers: pa.Array) -> tuple[np.ndarray, pa.Array, pa.Array]:
    """Country code and national number of ``+<digits>`` numbers (codes are prefix-free)."""
    n = len(numbers)
    matched = np.zeros(n, dtype=bool)
    cc = blank(n)
    for width in (1, 2, 3):
        head = pc.utf8_slice_codeunits(numbers, 1, 1 + width)
        known = ~matched & bool_np(pc.is_in(head, value_set=_country_codes(width)))
        if known.any():
            cc = pc.if_else(pa.array(known), head, cc)
            matched |= known
    digits = pc.utf8_slice_codeunits(numbers, 1, 64)
    return matched, cc, _drop_prefix(digits, pc.utf8_length(cc))


def _drop_prefix(values: pa.Array, lengths: pa.Array) -> pa.Array:
    out = values
    for width in (1, 2, 3):
        sel = bool_np(pc.equal(lengths, width))
        if sel.any():
            out = pc.if_else(pa.array(sel), pc.utf8_slice_codeunits(values, width, 64), out)
    return out


@cache
def _country_codes(width: int) -> pa.Array:
    codes = [str(cc) for cc in COUNTRY_CODE_TO_REGION_CODE if len(str(cc)) == width]
    return pa.array(codes, type=pa.large_string())


def _fast_group(idx: np.ndarray, parts: tuple[np.ndarray, pa.Array, pa.Array]) -> Found:
    """``+<cc><nsn>`` numbers that parse() keeps as they are: E.164 of the valid ones, and the
    positions of the invalid ones (parse_phone would find nothing else to try for them)."""
    matched, cc_field, nsns = parts
    found: list[tuple[np.ndarray, pa.Array]] = []
    invalid: list[np.ndarray] = []
    for cc_text in pc.unique(cc_field.filter(pa.array(matched))).to_pylist():
        if not cc_text:
            continue
        sel = np.flatnonzero(matched & bool_np(pc.equal(cc_field, cc_text)))
        cc = int(cc_text)
        rule = _country_rule(cc)
        if not rule.fast:
            continue
        nsn = nsns.take(pa.array(sel))
        ok = np.ones(len(sel), dtype=bool)
        if rule.prefix_pattern:
            # parse() strips a national prefix written after the country code ("+33 (0)6 ..."),
            # unless what is left has a length only dialled locally (and keeps it if the rest
            # fits no number of the country). A valid rest was stripped: settled here; an
            # invalid one may have been kept whole: left to the reference.
            rest, stripped = _strip_prefix(nsn, rule.prefix_pattern)
            ok &= ~stripped
            if rule.local_only:
                lengths = pc.utf8_length(rest).to_numpy(zero_copy_only=False)
                stripped &= ~np.isin(lengths, rule.local_only)
            tried = np.flatnonzero(stripped)
            if len(tried):
                rest = rest.take(pa.array(tried))
                valid = valid_national_numbers(cc, rest)
                if valid.any():
                    e164 = pc.binary_join_element_wise(
                        lit("+" + cc_text), rest.filter(pa.array(valid)), lit("")
                    )
                    found.append((idx[sel[tried[valid]]], e164.cast(pa.large_string())))
        keep = np.flatnonzero(ok)
        if not len(keep):
            continue
        valid = valid_national_numbers(cc, nsn.take(pa.array(keep)))
        good = keep[valid]
        invalid.append(idx[sel[keep[~valid]]])
        if len(good):
            e164 = pc.binary_join_element_wise(
                lit("+" + cc_text), nsn.take(pa.array(good)), lit("")
            )
            found.append((idx[sel[good]], e164.cast(pa.large_string())))
    return found, invalid


@cache
def _domestic_codes(region: str, prefix: str | None) -> tuple[int, ...]:
    """The country codes of :data:`DOMESTIC_REGIONS` of ``region`` whose regions strip the same
    national prefix the same way (the others are left to the reference)."""
    codes: list[int] = []
    for other in DOMESTIC_REGIONS.get(region, ()):
        md = PhoneMetadata.metadata_for_region(other)
        if md is None or md.country_code is None or _prefix_rule(md) != (prefix, True):
            return ()
        if getattr(md.general_desc, "possible_length_local_only", ()):
            return ()
        if md.country_code not in codes:
            codes.append(md.country_code)
    return tuple(codes)


def _fast_national(cleaned: pa.Array, region: str) -> Found:
    """Numbers in ``region``'s national form whose digits parse() keeps (after its national
    prefix): E.164 of the valid ones, positions of the surely invalid ones."""
    md = PhoneMetadata.metadata_for_region(region)
    prefix, fast = _prefix_rule(md)
    if md is None or not fast or md.country_code is None:
        return [], []
    cc = md.country_code
    digits = bool_np(pc.match_substring_regex(cleaned, r"^\d{2,17}$"))
    digits &= ~bool_np(pc.starts_with(cleaned, str(cc)))
    if md.international_prefix:
        digits &= ~bool_np(pc.match_substring_regex(cleaned, f"^(?:{md.international_prefix})"))
    idx = np.flatnonzero(digits)
    if not len(idx):
        return [], []
    values = cleaned.take(pa.array(idx))
    nsn = values
    stripped = np.zeros(len(idx), dtype=bool)
    if prefix:
        nsn, stripped = _strip_prefix(values, prefix)
    local_only = _local_only(md)
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
        e164 = pc.binary_join_element_wise(lit(f"+{cc}"), nsn.filter(pa.array(valid)), lit(""))
        found.append((idx[good], e164.cast(pa.large_string())))
    # Written with the national prefix, invalid here, valid in a region dialled as a domestic
    # number (a Réunion mobile under FR): that region's number, as parse_phone decides.
    settled = valid.copy()
    for other_cc in _domestic_codes(region, prefix):
        todo = np.flatnonzero(~settled & stripped[keep])
        if not len(todo):
            break
        there = valid_national_numbers(other_cc, nsn.take(pa.array(todo)))
        hits = todo[there]
        if len(hits):
            e164 = pc.binary_join_element_wise(
                lit(f"+{other_cc}"), nsn.take(pa.array(hits)), lit("")
            )
            found.append((idx[keep[hits]], e164.cast(pa.large_string())))
            settled[hits] = True
    # An invalid number is hopeless when parse() kept all its digits (no national prefix
    # matched: with one, parse() may keep the prefix instead) and parse_phone's "+<digits>"
    # retry does not apply (fewer than 11 digits, or a leading 0).
    unsure = keep[~valid]
    unsure = unsure[~stripped[unsure]]
    lengths = pc.utf8_length(values.take(pa.array(unsure))).to_numpy(zero_copy_only=False)
    first = pc.utf8_slice_codeunits(values.take(pa.array(unsure)), 0, 1)
    hopeless = (lengths < 11) | bool_np(pc.equal(first, "0"))
    return found, [idx[unsure[hopeless]]]
