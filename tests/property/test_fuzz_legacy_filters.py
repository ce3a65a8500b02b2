"""Fuzz the legacy v2 filter translator with what breaks JSON readers: it raises only InputError.

``test_export_properties.py`` covers short random text and random filter mappings; here come
integers past Python's 4300-digit conversion limit, nesting past the parser's depth limit,
non-mapping documents and keys, NaN and infinities, doubly encoded JSON strings and
``export_attrib`` lists of the wrong types.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from etl.errors import InputError
from etl.exports.legacy_filters import parse_export_attrib, translate_legacy_filter

KEYS = ["listid.id", "blacklisted", "sms_bl", "messages_sent.messageid", "messages_sent.bnc.r"]
HUGE = st.integers(min_value=10**4400, max_value=10**4600) | st.just(-(10**5000))
ODD = st.sampled_from([float("nan"), float("inf"), -0.0, 1e308, 2**63, -(2**63), True, None])
SCALARS = HUGE | ODD | st.integers() | st.text(max_size=6)


def _ok_or_input_error(value: Any) -> None:
    try:
        translate_legacy_filter(value)
    except InputError as exc:
        error = exc
    else:
        return
    assert "\n" not in str(error), str(error)


@given(st.sampled_from(KEYS), HUGE)
def test_integers_past_the_conversion_limit(key, number):
    _ok_or_input_error({key: number})
    _ok_or_input_error({key: [number]})


@given(st.sampled_from(KEYS), st.integers(19, 6000), st.sampled_from(["", "-"]), st.booleans())
def test_long_numbers_in_pasted_text(key, digits, sign, quoted):
    number = sign + "9" * digits
    _ok_or_input_error(f'{{"{key}": {json.dumps(number) if quoted else number}}}')


@given(st.integers(20, 5000), st.sampled_from(["[", '{"a":', '{"listid.id": [']))
def test_nesting_far_past_the_depth_limit(depth, opener):
    closer = {"[": "]", '{"a":': "}", '{"listid.id": [': "]}"}[opener]
    _ok_or_input_error(opener * depth + "1" + closer * depth)


@given(
    st.one_of(
        st.lists(SCALARS, max_size=3),
        SCALARS,
        st.dictionaries(st.integers() | st.none() | st.booleans(), SCALARS, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), SCALARS, max_size=3),
    )
)
def test_odd_documents_and_keys(value):
    _ok_or_input_error(value)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        return
    _ok_or_input_error(text)
    _ok_or_input_error(json.dumps(text))  # JSON inside a JSON string, as old docs print it


@given(st.lists(st.none() | st.integers() | st.text(max_size=5) | st.binary(max_size=3)))
def test_export_attrib_of_any_items(items):
    try:
        names = parse_export_attrib(items)
    except InputError as exc:
        error = exc
    else:
        assert all(isinstance(n, str) and n and n == n.upper() for n in names)
        return
    assert "\n" not in str(error)
