"""Sent and held values compare in typed form, whatever format Brevo answers in."""

from __future__ import annotations

from datetime import date

import pytest

from etl.exports.convert import ParseSettings
from etl.imports.normalise import AttributeSpec
from etl.verify.compare import UNREADABLE, read_held, same, show, wire_value

BOOL = AttributeSpec("NEWSLETTER", "boolean")
DATE = AttributeSpec("BIRTHDAY", "date")
FLOAT = AttributeSpec("SCORE", "float")
GENDER = AttributeSpec("GENDER", "category", {"mr": 1, "ms": 2, "1": 1, "2": 2})
CHOICE = AttributeSpec("INTERESTS", "multiple-choice", options=("Sport", "Music"))
EMAIL = AttributeSpec("EMAIL", "email")
PHONE = AttributeSpec("SMS", "phone")
TEXT = AttributeSpec("FIRSTNAME", "text")


def account(date_format: str):
    return lambda: ParseSettings("UTC", date_format, "24")


@pytest.mark.parametrize(
    ("spec", "sent", "held", "equal"),
    [
        (BOOL, "false", True, False),
        (BOOL, "false", "true", False),
        (BOOL, "false", False, True),
        (BOOL, "true", "True", True),
        (BOOL, "false", None, False),  # not held at all is not false
        (DATE, "2024-02-03", "2024-02-03", True),
        (DATE, "2024-02-03", "2024-02-03T00:00:00Z", True),
        (DATE, "2024-02-03", date(2024, 2, 3), True),
        (DATE, "2024-02-03", "2024-02-04", False),
        (FLOAT, "12.5", 12.5, True),
        (FLOAT, "3", 3, True),
        (FLOAT, "3", "3.0", True),
        (FLOAT, "0.1", 0.1 + 1e-15, True),
        (FLOAT, "3", 3.5, False),
        (FLOAT, "3", True, False),
        (GENDER, "2", "Ms", True),
        (GENDER, "2", "ms", True),
        (GENDER, "2", 2, True),
        (GENDER, "2", "2", True),
        (GENDER, "2", "Mr", False),
        (GENDER, "2", "Unknown", False),
        (CHOICE, "Sport,Music", ["Music", "Sport"], True),
        (CHOICE, "Sport,Music", "music, sport", True),
        (CHOICE, "Sport,Music", ["Sport"], False),
        (EMAIL, "ann@example.com", "Ann@Example.com", True),
        (PHONE, "+33612345678", "33612345678", True),
        (PHONE, "+33612345678", "+33 6 12 34 56 78", True),
        (PHONE, "+33612345678", "33612345679", False),
        (TEXT, "Ann", "Ann", True),
        (TEXT, "Ann", " Ann ", True),
        (TEXT, "Ann", "ann", False),
        (TEXT, "Ann", "", False),
    ],
)
def test_typed_equality(spec, sent, held, equal):
    assert same(sent, held, spec, account("dd-mm-yyyy")) is equal


@pytest.mark.parametrize(
    ("date_format", "held"),
    [("dd-mm-yyyy", "03-02-2024"), ("mm-dd-yyyy", "02-03-2024"), ("dd-mm-yyyy", "03/02/2024")],
)
def test_a_held_date_in_the_accounts_format_is_read_in_that_format(date_format, held):
    assert same("2024-02-03", held, DATE, account(date_format))
    other = "mm-dd-yyyy" if date_format == "dd-mm-yyyy" else "dd-mm-yyyy"
    assert not same("2024-02-03", held, DATE, account(other))


def test_date_settings_are_asked_for_only_when_a_date_is_not_iso():
    def never():
        raise AssertionError("GET /account was not needed")

    assert same("2024-02-03", "2024-02-03", DATE, never)
    assert read_held("tomorrow", DATE, account("dd-mm-yyyy")) is UNREADABLE


@pytest.mark.parametrize(
    ("spec", "sent", "wire"),
    [
        (BOOL, "false", False),
        (BOOL, "true", True),
        (FLOAT, "3", 3),
        (FLOAT, "12.5", 12.5),
        (GENDER, "2", 2),
        (CHOICE, "Sport,Music", ["Sport", "Music"]),
        (DATE, "2024-02-03", "2024-02-03"),
        (TEXT, "Ann", "Ann"),
    ],
)
def test_wire_values_for_the_update_endpoint(spec, sent, wire):
    assert wire_value(sent, spec) == wire
    assert type(wire_value(sent, spec)) is type(wire)


def test_held_values_are_shown_as_text():
    assert show(True) == "true"
    assert show(None) == ""
    assert show(3.0) == "3"
    assert show(3.5) == "3.5"
    assert show(date(2024, 2, 3)) == "2024-02-03"
    assert show(["Sport", "Music"]) == "Sport,Music"
