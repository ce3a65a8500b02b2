"""Normalising values and deciding which rows are rejected, and why."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pytest

from etl.brevo.models import Attribute, EnumValue
from etl.errors import ConfigError
from etl.imports.csv import STR_DTYPE, RawBatch
from etl.imports.mapping import map_columns
from etl.imports.normalise import (
    IDENTIFIER,
    LINE,
    AttributeSpec,
    NormaliseOptions,
    build_specs,
    check_email,
    dedupe_key,
    normalise_batch,
    original_columns,
    parse_float,
    parse_phone,
    plain_decimal,
    spec_for,
)
from etl.imports.normalise.phones import normalise_phones, reassigned_numbers
from etl.imports.normalise.phones_fast import DOMESTIC_REGIONS, fast_phones

ATTRIBUTES = [
    Attribute("FIRSTNAME", "normal", "text"),
    Attribute("LASTNAME", "normal", "text"),
    Attribute("SMS", "normal", "text"),
    Attribute("WHATSAPP", "normal", "text"),
    Attribute("BIRTHDAY", "normal", "date"),
    Attribute("GENDER", "category", "category", (EnumValue(1, "Mr"), EnumValue(2, "Ms"))),
    Attribute("NEWSLETTER", "normal", "boolean"),
    Attribute("SCORE", "normal", "float"),
    Attribute("INTERESTS", "normal", "multiple-choice", (), ("Sport", "Music", "Travel")),
    Attribute("CUSTOMER_ID", "normal", "id"),
]
SPECS = build_specs(ATTRIBUTES)


def batch(rows: list[dict[str, str]], *, lines: list[int] | None = None, malformed=()) -> RawBatch:
    columns = list(rows[0]) if rows else ["Email"]
    frame = pd.DataFrame(
        {c: pd.Series([r.get(c, "") for r in rows], dtype=STR_DTYPE) for c in columns}
    )
    lines = lines or list(range(2, 2 + len(rows)))
    return RawBatch(rows=frame, lines=np.array(lines, dtype=np.int64), malformed=list(malformed))


DEFAULT = NormaliseOptions()


def run(rows, options=DEFAULT, **kwargs):
    raw = batch(rows, **kwargs)
    mapping = map_columns(list(raw.rows.columns), known_attributes=SPECS)
    result = normalise_batch(raw, mapping, SPECS, options)
    assert result.rows_read == raw.rows_read == result.rows_ok + result.rows_rejected
    return result


def column(rows, header, attribute, options=DEFAULT, **extra):
    result = run(
        [{"Email": f"u{i}@example.com", header: v, **extra} for i, v in enumerate(rows)], options
    )
    kept = dict(zip(result.contacts[LINE] - 2, result.contacts[attribute], strict=True))
    return [kept.get(i) for i in range(len(rows))], result


def test_build_specs_kinds_and_enumeration():
    assert SPECS["BIRTHDAY"].kind == "date"
    assert SPECS["SMS"].kind == "phone"
    assert SPECS["CUSTOMER_ID"].kind == "id"
    assert SPECS["GENDER"].enumeration == {"mr": 1, "ms": 2, "1": 1, "2": 2}
    assert SPECS["INTERESTS"].options == ("Sport", "Music", "Travel")
    specs = build_specs(
        [Attribute("EMAIL", "normal", "text"), Attribute("X", "calculated", "user")]
    )
    assert specs["EMAIL"].kind == "email"
    assert specs["X"].kind == "text"


def test_options_validate_region():
    assert NormaliseOptions(default_region=" fr ").default_region == "FR"
    with pytest.raises(ConfigError, match="unknown default region"):
        NormaliseOptions(default_region="XX")


def test_emails_trimmed_lowercased_and_checked():
    values = [
        " John.Doe@Example.COM ",
        "zoé.roux@exemple.fr",
        "bad",
        "a@b",
        "x y@z.com",
        "a@xn--bcher-kva.example",
    ]
    result = run([{"Email": v} for v in values])
    assert result.contacts["EMAIL"].tolist() == [
        "john.doe@example.com",
        "a@bücher.example",
    ]
    assert result.contacts[IDENTIFIER].tolist() == result.contacts["EMAIL"].tolist()
    rejected = result.rejected
    assert rejected["reason"].tolist() == ["invalid_email"] * 4
    assert rejected["Email"].tolist() == ["zoé.roux@exemple.fr", "bad", "a@b", "x y@z.com"]
    assert "non-ASCII characters before the @" in rejected["message"].iloc[0]
    assert rejected["message"].iloc[1].startswith("EMAIL 'bad' is not a valid email address: ")


@pytest.mark.parametrize("value", ["chloé.sato14@example.com", "Ünal@example.de", "李@example.cn"])
def test_non_ascii_local_parts_are_refused_as_brevo_refuses_them(value):
    result = run([{"Email": value}])
    assert result.contacts.empty
    assert result.rejected["reason"].tolist() == ["invalid_email"]
    assert "Brevo refuses" in result.rejected["message"].iloc[0]


def test_present_invalid_email_rejects_even_with_a_valid_sms():
    result = run(
        [
            {"Email": "nope", "Mobile": "+33612345678"},
            {"Email": "", "Mobile": "+33612345678"},
            {"Email": "", "Mobile": ""},
            {"Email": "", "Mobile": "12345"},
            {"Email": "ok@example.com", "Mobile": "12345"},
        ]
    )
    assert result.rejected["reason"].tolist() == [
        "invalid_email",
        "missing_identifier",
        "invalid_phone",
        "invalid_phone",
    ]
    assert result.rejected[LINE].tolist() == [2, 4, 5, 6]
    assert result.contacts[IDENTIFIER].tolist() == ["+33612345678"]
    assert result.rejected["message"].iloc[1] == "no EMAIL or SMS value"


def test_drop_invalid_values_keeps_contact_unless_value_is_the_identifier():
    options = NormaliseOptions(drop_invalid_values=True)
    rows = [
        {"Email": "a@example.com", "Mobile": "12345", "Birthday": "31/02/1990", "Gender": "Mrs"},
        {"Email": "", "Mobile": "12345", "Birthday": "", "Gender": ""},
    ]
    result = run(rows, options)
    assert result.contacts[["EMAIL", "SMS", "BIRTHDAY", "GENDER"]].values.tolist() == [
        ["a@example.com", "", "", ""]
    ]
    assert result.rejected["reason"].tolist() == ["invalid_phone"]
    dropped = result.dropped
    assert dropped.columns.tolist() == ["_line", "attribute", "value", "reason"]
    assert dropped.values.tolist() == [
        [2, "SMS", "12345", "invalid_phone"],
        [2, "BIRTHDAY", "31/02/1990", "invalid_value:BIRTHDAY"],
        [2, "GENDER", "Mrs", "invalid_value:GENDER"],
    ]


def test_first_failing_column_gives_the_reason():
    result = run([{"Email": "a@example.com", "Whatsapp": "1", "Gender": "x", "Score": "y"}])
    assert result.rejected["reason"].tolist() == ["invalid_phone"]
    result = run([{"Email": "a@example.com", "Gender": "x", "Score": "y"}])
    assert result.rejected["reason"].tolist() == ["invalid_value:GENDER"]
    assert "one of the category's labels or values (mr, ms)" in result.rejected["message"].iloc[0]


@pytest.mark.parametrize(
    ("value", "region", "expected"),
    [
        ("+33 6 12 34 56 78", None, "+33612345678"),
        ("+33 (0)6 12 34 56 78", None, "+33612345678"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("06.12.34.56.78", "FR", "+33612345678"),
        ("0612345678", None, None),
        ("0033612345678", None, "+33612345678"),
        ("0033612345678", "FR", "+33612345678"),
        ("33612345678", None, "+33612345678"),
        ("33612345678", "FR", "+33612345678"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("+1 415 555 2671", "FR", "+14155552671"),
        ("+44 20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+7 800 123-45-67", None, "+78001234567"),
        ("8 800 123 45 67", "RU", "+78001234567"),
        ("12345", "FR", None),
        ("phone me", "FR", None),
        ("+999123456789", None, None),
    ],
)
def test_phones_to_e164(value, region, expected):
    values, _ = column([value], "Mobile", "SMS", NormaliseOptions(default_region=region))
    assert values == [expected]
    assert parse_phone(value, region) == expected


def test_vectorised_phone_path_agrees_with_phonenumbers():
    """The fast path must give exactly what phonenumbers gives, valid or not."""
    rng = random.Random(11)
    values: set[str] = set()
    fmt = phonenumbers.PhoneNumberFormat
    for region in sorted(phonenumbers.SUPPORTED_REGIONS)[::3]:
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, fmt.E164)
            values.update(
                {e164, phonenumbers.format_number(example, fmt.NATIONAL), e164[1:], "0" + e164[1:]}
            )
            # Dialled with an international prefix (00, the US's 011, Russia's 810), and with a
            # national prefix after the country code ("+33 (0)6 ...").
            nsn = phonenumbers.national_significant_number(example)
            cc = example.country_code
            for prefix in ("00", "011", "810", "+"):
                values.update(
                    {f"{prefix}{cc}{nsn}", f"{prefix}{cc}0{nsn}", f"{prefix} {cc} (0){nsn}"}
                )
                values.update(
                    {f"{prefix}{cc}1{nsn}", f"{prefix}{cc}8{nsn}", f"{prefix}{cc}0{nsn[1:]}"}
                )
            for _ in range(3):
                digits = list(e164[1:])
                digits[rng.randrange(len(digits))] = str(rng.randrange(10))
                values.add("+" + "".join(digits))
    for cc in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)[::4]:
        values.add(f"+{cc}{rng.randrange(10**9)}")
    # French overseas numbers dialled the French way (valid, and one digit off).
    for region in DOMESTIC_REGIONS["FR"]:
        for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = "0" + str(example.national_number)
            values.update({national, phonenumbers.format_number(example, fmt.NATIONAL)})
            for _ in range(5):
                digits = list(national)
                digits[rng.randrange(4, len(digits))] = str(rng.randrange(10))
                values.add("".join(digits))
    ordered = sorted(values)
    arr = pa.array(ordered, type=pa.large_string())
    for region in (None, "FR", "GB", "US", "RU", "IT", "AR"):
        out, bad, _ = normalise_phones(arr, region)
        fast = [None if b else o for o, b in zip(out.to_pylist(), bad, strict=True)]
        slow = [parse_phone(v, region) for v in ordered]
        assert fast == slow, region


@pytest.mark.parametrize(
    ("value", "dayfirst", "expected"),
    [
        ("1990-03-25", False, "1990-03-25"),
        ("1990-3-5", False, "1990-03-05"),
        ("1990-03-25T10:11:12Z", False, "1990-03-25"),
        ("1990-03-25 10:11", False, "1990-03-25"),
        ("1990/03/25", False, "1990-03-25"),
        ("03/04/1990", False, "1990-03-04"),
        ("03/04/1990", True, "1990-04-03"),
        ("25/03/1990", False, "1990-03-25"),  # only day-first makes a date
        ("25.03.1990", False, "1990-03-25"),
        ("5.3.1990", False, "1990-03-05"),
        ("25-03-1990", False, "1990-03-25"),
        ("25/03/90", True, "1990-03-25"),
        ("25/03/05", True, "2005-03-25"),
        ("19900325", False, "1990-03-25"),
        ("32945", False, "1990-03-13"),  # Excel serial day
        ("12 Mar 1990", False, "1990-03-12"),
        ("12-mar-90", False, "1990-03-12"),
        ("March 12, 1990", False, "1990-03-12"),
        ("1er février 1990", False, "1990-02-01"),
        ("12 août 1990", False, "1990-08-12"),
        ("29/02/2000", True, "2000-02-29"),
        ("29/02/1900", True, None),
        ("31/04/1990", True, None),
        ("1990-13-01", False, None),
        ("yesterday", False, None),
        ("12 Foo 1990", False, None),
    ],
)
def test_dates(value, dayfirst, expected):
    values, result = column([value], "Birthday", "BIRTHDAY", NormaliseOptions(dayfirst=dayfirst))
    assert values == [expected]
    if expected is None:
        assert result.rejected["reason"].tolist() == ["invalid_value:BIRTHDAY"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", "true"),
        ("Y", "true"),
        ("TRUE", "true"),
        ("1", "true"),
        ("Oui", "true"),
        ("no", "false"),
        ("n", "false"),
        ("0", "false"),
        ("Non", "false"),
        ("false", "false"),
        ("", ""),
        ("maybe", None),
    ],
)
def test_booleans(value, expected):
    values, _ = column([value], "Newsletter", "NEWSLETTER")
    assert values == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.5", "12.5"),
        ("12,5", "12.5"),
        ("12.50", "12.5"),
        ("+3", "3"),
        ("007", "7"),
        ("-0", "0"),
        ("1e3", "1000"),
        ("1E-7", "0.0000001"),
        ("1 234,5", "1234.5"),
        ("1.234,5", "1234.5"),
        ("1,234.5", "1234.5"),
        ("1,234,567", "1234567"),
        (".5", "0.5"),
        ("nan", None),
        ("inf", None),
        ("12abc", None),
        ("1,2,3", None),
    ],
)
def test_floats(value, expected):
    values, _ = column([value], "Score", "SCORE")
    assert values == [expected]
    assert parse_float(value) == (expected if value not in ("12.5",) else "12.5")


def test_plain_decimal_never_uses_an_exponent():
    assert plain_decimal(1e22) == "10000000000000000000000"
    assert plain_decimal(1.5e-10) == "0.00000000015"
    assert plain_decimal(-0.0) == "0"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Mr", "1"), ("ms", "2"), (" MS ", "2"), ("1", "1"), ("2", "2"), ("Mrs", None), ("3", None)],
)
def test_categories(value, expected):
    values, _ = column([value], "Gender", "GENDER")
    assert values == [expected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sport", "Sport"),
        ("Music; TRAVEL", "Music,Travel"),
        ("travel|sport|travel", "Travel,Sport"),
        ("sport,,", "Sport"),
        ("sport, cooking", None),
    ],
)
def test_multiple_choice(value, expected):
    values, _ = column([value], "Interests", "INTERESTS")
    assert values == [expected]


def test_text_is_trimmed_and_control_characters_removed():
    values, _ = column(
        ["  Zoé\x00 ", "\tO'Brien\x1f", "=1+1", "two\nlines"], "First name", "FIRSTNAME"
    )
    assert values == ["Zoé", "O'Brien", "=1+1", "two\nlines"]


def test_rejected_frame_keeps_original_values_and_malformed_rows():
    rows = [
        {"Email": "  BAD ", "First name": " Ann ", "reason": "meta clash"},
        {"Email": "ok@example.com", "First name": "Bob", "reason": ""},
    ]
    result = run(rows, lines=[3, 7], malformed=[(5, 'x,y,"z",w', "malformed_row")])
    rejected = result.rejected
    assert rejected.columns.tolist()[:4] == ["_line", "reason", "message", "raw"]
    assert original_columns(rejected) == ["Email", "First name", "reason (source)"]
    assert rejected["_line"].tolist() == [3, 5]
    assert rejected["reason"].tolist() == ["invalid_email", "malformed_row"]
    assert rejected["Email"].tolist() == ["  BAD ", ""]
    assert rejected["reason (source)"].tolist() == ["meta clash", ""]
    assert rejected["raw"].tolist() == ["", 'x,y,"z",w']
    assert result.rows_read == 3
    assert result.contacts[LINE].tolist() == [7]
    assert str(result.contacts["EMAIL"].dtype) == str(STR_DTYPE)


def test_unmapped_source_columns_stay_out_of_contacts():
    raw = batch([{"Email": "a@example.com", "Secret": "x", "Name": "Ann"}])
    mapping = map_columns(["Email", "Secret", "Name"], user_mapping={"Secret": None})
    result = normalise_batch(raw, mapping, SPECS, NormaliseOptions())
    assert result.contacts.columns.tolist() == ["EMAIL", "NAME", LINE, IDENTIFIER]


def test_empty_batch_and_batch_of_only_malformed_rows():
    raw = RawBatch(
        rows=pd.DataFrame({"Email": pd.Series([], dtype=STR_DTYPE)}),
        lines=np.array([], dtype=np.int64),
        malformed=[(2, "a,b", "malformed_row")],
    )
    result = normalise_batch(raw, map_columns(["Email"]), SPECS, NormaliseOptions())
    assert result.rows_ok == 0
    assert result.rejected["reason"].tolist() == ["malformed_row"]


def test_dedupe_key_is_the_identifier_after_normalising():
    result = run(
        [
            {"Email": " John@Example.com ", "Mobile": ""},
            {"Email": "john@example.com", "Mobile": ""},
            {"Email": "", "Mobile": "+33 6 12 34 56 78"},
            {"Email": "", "Mobile": "0033612345678"},
        ]
    )
    keys = dedupe_key(result.contacts)
    assert keys.tolist() == ["john@example.com", "john@example.com", "+33612345678", "+33612345678"]
    assert keys.duplicated().sum() == 2


def test_check_email_is_cached_and_idempotent():
    assert check_email("A@Example.COM") == ("a@example.com", "")
    normalised, why = check_email("not an email")
    assert normalised is None
    assert why


def test_unknown_attributes_are_text():
    spec = spec_for("WHATEVER", SPECS)
    assert spec == AttributeSpec("WHATEVER", "text")


# --------------------------------------------------------------------------- issue 17


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("06 92 12 34 56", "+262692123456"),  # Réunion mobile
        ("0693 10 22 04", "+262693102204"),
        ("0262 12 34 56", "+262262123456"),  # Réunion landline
        ("0639 01 23 45", "+262639012345"),  # Mayotte mobile
        ("0590 27 12 34", "+590590271234"),  # Guadeloupe
        ("0690 00 12 34", "+590690001234"),
        ("0594 10 12 34", "+594594101234"),  # Guyane
        ("0696 12 34 56", "+596696123456"),  # Martinique mobile
        ("0708 41 12 34", "+508708411234"),  # Saint-Pierre-et-Miquelon
        ("06 12 34 56 78", "+33612345678"),  # valid in France: stays French
        ("06 93 19 22 04", None),  # 6931[4-9] is not allocated in Réunion's metadata
        ("0151 23456789", None),  # a German mobile is not dialled from France as domestic
        ("0049 151 23456789", "+4915123456789"),
    ],
)
def test_french_overseas_numbers_under_fr(value, expected):
    values, result = column([value], "Mobile", "SMS", NormaliseOptions(default_region="FR"))
    assert values == [expected]
    assert parse_phone(value, "FR") == expected
    moved = expected is not None and not expected.startswith(("+33", "+49"))
    assert result.phones_reassigned == int(moved)


def test_international_prefixes_are_settled_by_the_fast_path():
    cleaned = pa.array(
        ["0033612345678", "+330612345678", "00330612345678", "004915123456789", "00331234567890"],
        type=pa.large_string(),
    )
    found, invalid = fast_phones(cleaned, "FR")
    settled = {int(i): e for idx, e164 in found for i, e in zip(idx, e164.to_pylist(), strict=True)}
    assert settled == {
        0: "+33612345678",
        1: "+33612345678",
        2: "+33612345678",
        3: "+4915123456789",
    }
    assert np.concatenate(invalid).tolist() == [4]
    assert parse_phone("00331234567890", "FR") is None
    us, _ = fast_phones(pa.array(["01133612345678"], type=pa.large_string()), "US")
    assert [e for _, e164 in us for e in e164.to_pylist()] == ["+33612345678"]


def test_overseas_numbers_are_settled_by_the_fast_path():
    cleaned = pa.array(["0692123456", "0590271234", "0612345678"], type=pa.large_string())
    found, _ = fast_phones(cleaned, "FR")
    settled = {int(i): e for idx, e164 in found for i, e in zip(idx, e164.to_pylist(), strict=True)}
    assert settled == {0: "+262692123456", 1: "+590590271234", 2: "+33612345678"}


def test_overseas_numbers_are_only_reassigned_under_fr():
    values, result = column(["0692123456"], "Mobile", "SMS", NormaliseOptions(default_region="BE"))
    assert values == [None]
    assert result.phones_reassigned == 0
    uniques = pa.array(["+262692123456", "00262692123456"], type=pa.large_string())
    out, _, _ = normalise_phones(uniques, "FR")
    assert not reassigned_numbers(uniques, out, "FR").any()  # written internationally


def test_phone_messages_name_the_default_region_for_national_numbers_only():
    result = run(
        [
            {"Email": "a@example.com", "Mobile": "+44 7911 12345"},
            {"Email": "b@example.com", "Mobile": "0044 7911 12345"},
            {"Email": "c@example.com", "Mobile": "415 555 01"},
        ],
        NormaliseOptions(default_region="US"),
    )
    assert result.rejected["message"].tolist() == [
        "SMS '+44 7911 12345' is not a valid phone number",
        "SMS '0044 7911 12345' is not a valid phone number",
        "SMS '415 555 01' is not a valid phone number (default region US)",
    ]


BIRTHDAYS = ["25/12/2023", "03/02/2024", "07/07/2024", "2024-05-06", ""]


@pytest.mark.parametrize(
    ("options", "expected", "reasons"),
    [
        # Settled day-first by the pre-scan: every value read so, whatever --dayfirst says.
        (
            NormaliseOptions(dayfirst=False, date_orders=(("BIRTHDAY", "day-first"),)),
            ["2023-12-25", "2024-02-03", "2024-07-07", "2024-05-06", ""],
            [],
        ),
        # Settled month-first: 25/12/2023 cannot be read so, and is invalid.
        (
            NormaliseOptions(dayfirst=True, date_orders=(("BIRTHDAY", "month-first"),)),
            [None, "2024-03-02", "2024-07-07", "2024-05-06", ""],
            ["invalid_value:BIRTHDAY"],
        ),
        # Not settled, no --dayfirst: the ambiguous value is rejected, not guessed.
        (
            NormaliseOptions(dayfirst=None),
            ["2023-12-25", None, "2024-07-07", "2024-05-06", ""],
            ["ambiguous_date"],
        ),
        # Not settled, --dayfirst / --monthfirst given: read as they say (as before).
        (
            NormaliseOptions(dayfirst=True),
            ["2023-12-25", "2024-02-03", "2024-07-07", "2024-05-06", ""],
            [],
        ),
        (
            NormaliseOptions(dayfirst=False),
            ["2023-12-25", "2024-03-02", "2024-07-07", "2024-05-06", ""],
            [],
        ),
    ],
)
def test_date_columns_read_in_one_order(options, expected, reasons):
    values, result = column(BIRTHDAYS, "Birthday", "BIRTHDAY", options)
    assert values == expected
    assert result.rejected["reason"].tolist() == reasons


def test_ambiguous_dates_are_dropped_with_drop_invalid_values():
    options = NormaliseOptions(dayfirst=None, drop_invalid_values=True)
    values, result = column(["03/02/2024"], "Birthday", "BIRTHDAY", options)
    assert values == [""]
    assert result.dropped["reason"].tolist() == ["ambiguous_date"]


def test_the_float_kernels_agree_with_parse_float():
    """normalise_floats makes plain decimals canonical with Arrow kernels (decimal comma,
    trailing zeros); parse_float is the reference for every value."""
    from etl.imports.normalise.values import normalise_floats

    rng = random.Random(5)
    values = ["0", "-0", "0,0", "-0,0", "0.000", "-0.50", "10", "100,00", "1,234", "7.", ",5"]
    for _ in range(3_000):
        whole = str(rng.choice([0, rng.randrange(1, 10 ** rng.randrange(1, 14))]))
        frac = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 6)))
        sign = rng.choice(["", "", "-"])
        sep = rng.choice([".", ","])
        values.append(sign + whole + (sep + frac if frac else ""))
    uniques = pa.array(sorted(set(values)), type=pa.large_string())
    out, bad, _ = normalise_floats(uniques)
    for text, got, is_bad in zip(uniques.to_pylist(), out.to_pylist(), bad, strict=True):
        expected = parse_float(text)
        assert (got if not is_bad else None) == expected, text
