"""Numbers, booleans, categories and multiple-choice values."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.imports.normalise.kernels import PARSE_CACHE_SIZE, bool_np, lit, parse_each
from etl.imports.normalise.specs import AttributeSpec

_PLAIN_DECIMAL = r"^-?(?:0|[1-9]\d*)(?:[.,]\d+)?$"
_PLAIN_FLOAT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def normalise_floats(uniques: pa.Array) -> tuple[pa.Array, np.ndarray, None]:
    """Plain decimals of the numbers ('' elsewhere) and which are not numbers."""
    n = len(uniques)
    # Plain decimals short enough to round-trip through a double unchanged, with a decimal
    # comma or trailing zeros too ("55,70" -> "55.7"): made canonical with kernels, as
    # parse_float would (tests check they agree).
    short = pc.utf8_length(uniques).to_numpy(zero_copy_only=False) <= 15
    plain = bool_np(pc.match_substring_regex(uniques, _PLAIN_DECIMAL)) & short
    canonical = pc.replace_substring(uniques, ",", ".")
    canonical = pc.replace_substring_regex(canonical, r"(\.\d*?)0+$", r"\1")
    canonical = pc.replace_substring_regex(canonical, r"\.$", "")
    fast = plain & ~bool_np(pc.equal(canonical, "-0"))
    out = pc.if_else(pa.array(fast), canonical, lit(""))
    empty = pc.equal(uniques, "").to_numpy(zero_copy_only=False)
    slow = np.flatnonzero(~fast & ~empty)
    bad = np.zeros(n, dtype=bool)
    return parse_each(out, uniques, slow, bad, parse_float), bad, None


@lru_cache(maxsize=PARSE_CACHE_SIZE)
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
    found = bool_np(where.is_valid())
    out = pc.fill_null(outputs.take(where), lit(""))
    return out, ~found, None


def normalise_booleans(uniques: pa.Array) -> tuple[pa.Array, np.ndarray, None]:
    """``true``/``false`` for the known spellings (yes/no, oui/non, 1/0, ...)."""
    return _lookup(uniques, _BOOL_KEYS, _BOOL_OUT)


def normalise_categories(
    uniques: pa.Array, spec: AttributeSpec
) -> tuple[pa.Array, np.ndarray, None]:
    """The enumeration value of each label or value of the category."""
    keys = pa.array(list(spec.enumeration), type=pa.large_string())
    outputs = pa.array([str(v) for v in spec.enumeration.values()], type=pa.large_string())
    return _lookup(uniques, keys, outputs)


def normalise_multiple_choice(
    uniques: pa.Array, spec: AttributeSpec
) -> tuple[pa.Array, np.ndarray, None]:
    """The account's option names, joined by commas, of each list of options."""
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
