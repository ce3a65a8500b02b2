"""Fuzz the normaliser with hostile values for every attribute type: it never raises.

``test_import_properties.py`` checks idempotence on realistic pools; this throws at each typed
column the values that break parsers: 5000-digit numbers (Python refuses to convert those to
int), infinities, Unicode and full-width digits, dates at the edges of the calendar, giant
local parts, formula payloads and control characters. Each row must end kept or rejected with a
known reason; nothing may escape as an exception.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from etl.brevo.models import Attribute, EnumValue
from etl.imports.csv import STR_DTYPE, RawBatch
from etl.imports.mapping import map_columns
from etl.imports.normalise import IDENTIFIER, NormaliseOptions, build_specs, normalise_batch

SPECS = build_specs(
    [
        Attribute("SMS", "normal", "text"),
        Attribute("WHATSAPP", "normal", "text"),
        Attribute("LANDLINE_NUMBER", "normal", "text"),
        Attribute("BIRTHDAY", "normal", "date"),
        Attribute("GENDER", "category", "category", (EnumValue(1, "Mr"), EnumValue(2, "Ms"))),
        Attribute("NEWSLETTER", "normal", "boolean"),
        Attribute("SCORE", "normal", "float"),
        Attribute("INTERESTS", "normal", "multiple-choice", (), ("Sport", "Music", "Travel")),
        Attribute("FIRSTNAME", "normal", "text"),
    ]
)
COLUMNS = [
    "Email", "Mobile", "WhatsApp", "Landline number", "Birthday", "Gender", "Newsletter",
    "Score", "Interests", "First name",
]  # fmt: skip
HOSTILE = [
    "9" * 5000, "1" * 30, "1e309", "-1e309", "nan", "inf", "-0", "1e-400", "0x1A", "1_000",
    "١٢٣٤", "１２３４", "０６１２３４５６７８", "+٣٣٦١٢٣٤٥٦٧٨", "+" + "9" * 60, "+" * 30,
    "99999999", "2958466", "-5", "9999-12-31", "0000-01-01", "10000-01-01", "1990-02-29",
    "31/12/-1", "١٢/٠٣/١٩٩٠", "12/31/99999", "½", "²", "Ⅻ", "1.234.567,89", "1 234,5",
    "a@" + "b" * 300 + ".com", "a" * 65 + "@x.com", "@", "a@b@c.com", "x@[127.0.0.1]",
    "x@localhost", '"a b"@x.com', "=cmd|' /C calc'!A0", "\x00", "\x1b[31m", "\u202e",
    "\u200b", "é" * 300, "TRUE", "Oui", "sí", "Mr;Ms", "Sport|Music;Travel", "", " ",
]  # fmt: skip
VALUE = st.sampled_from(HOSTILE) | st.text(max_size=12)
ROWS = st.lists(st.fixed_dictionaries({c: VALUE for c in COLUMNS}), min_size=1, max_size=12)
KNOWN_REASONS = {
    "invalid_email",
    "invalid_phone",
    "missing_identifier",
    "ambiguous_date",
    *(f"invalid_value:{name}" for name in SPECS),
}


@given(
    ROWS,
    st.sampled_from([None, "FR", "US", "GB", "DE"]),
    st.sampled_from([None, True, False]),
    st.booleans(),
    st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=len(COLUMNS), unique=True),
)
def test_hostile_values_are_kept_or_rejected_never_raised(rows, region, dayfirst, drop, columns):
    if "Email" not in columns and "Mobile" not in columns:
        columns = ["Email", *columns]
    frame = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=STR_DTYPE) for c in columns})
    batch = RawBatch(rows=frame, lines=np.arange(2, 2 + len(rows), dtype=np.int64), malformed=[])
    options = NormaliseOptions(default_region=region, dayfirst=dayfirst, drop_invalid_values=drop)
    result = normalise_batch(batch, map_columns(columns), SPECS, options)
    assert result.rows_ok + result.rows_rejected == len(rows)
    assert set(result.rejected["reason"].astype(str)) <= KNOWN_REASONS
    assert result.contacts[IDENTIFIER].astype(str).str.len().gt(0).all()
    for column in result.contacts.columns:
        if column.startswith("_"):
            continue
        values = result.contacts[column].to_numpy(dtype=object, na_value=None)
        assert all(isinstance(v, str) for v in values), column
