"""The Great Expectations suite over normalised contacts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from etl.brevo.models import Attribute, EnumValue
from etl.imports.csv import STR_DTYPE
from etl.imports.normalise import build_specs
from etl.imports.validate import ContactValidator, ValidationReport, merge_reports

SPECS = build_specs(
    [
        Attribute("SMS", "normal", "text"),
        Attribute("BIRTHDAY", "normal", "date"),
        Attribute("GENDER", "category", "category", (EnumValue(1, "Mr"), EnumValue(2, "Ms"))),
        Attribute("NEWSLETTER", "normal", "boolean"),
        Attribute("SCORE", "normal", "float"),
        Attribute("INTERESTS", "normal", "multiple-choice", (), ("Sport", "Music")),
    ]
)
COLUMNS = ["EMAIL", "SMS", "BIRTHDAY", "GENDER", "NEWSLETTER", "SCORE", "INTERESTS", "FIRSTNAME"]
GOOD = {
    "EMAIL": "a@example.com",
    "SMS": "+33612345678",
    "BIRTHDAY": "1990-03-25",
    "GENDER": "1",
    "NEWSLETTER": "true",
    "SCORE": "12.5",
    "INTERESTS": "Sport,Music",
    "FIRSTNAME": "Ann",
}


def frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    data = {c: pd.Series([r[c] for r in rows], dtype=STR_DTYPE) for c in COLUMNS}
    data["_line"] = pd.Series(np.arange(2, 2 + len(rows)), dtype=np.int64)
    data["_identifier"] = pd.Series([r["EMAIL"] or r["SMS"] for r in rows], dtype=STR_DTYPE)
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def validator() -> ContactValidator:
    return ContactValidator(SPECS, [*COLUMNS, "_line", "_identifier"])


def test_suite_covers_the_typed_columns(validator):
    assert validator.expectations == 9
    assert "FIRSTNAME" not in validator.validated_columns
    assert "_line" not in validator.validated_columns


def test_normalised_contacts_pass_and_empty_values_are_not_failures(validator):
    rows = [
        GOOD,
        {**GOOD, "EMAIL": "", "SMS": "+33699999999", "BIRTHDAY": "", "GENDER": "", "SCORE": ""},
        {**GOOD, "EMAIL": "b@example.com", "SMS": "", "NEWSLETTER": "", "INTERESTS": ""},
    ]
    report = validator.validate(frame(rows))
    assert report.passed
    assert (report.evaluated, report.successful, report.rows) == (9, 9, 3)
    assert report.failures == ()


def test_each_broken_shape_is_reported_with_counts_and_samples(validator):
    rows = [
        GOOD,
        {**GOOD, "EMAIL": "not-an-email", "SMS": "0612345678"},
        {**GOOD, "EMAIL": "a@example.com", "BIRTHDAY": "25/03/1990", "GENDER": "Mr"},
        {
            **GOOD,
            "EMAIL": "c@example.com",
            "NEWSLETTER": "yes",
            "SCORE": "1e3",
            "INTERESTS": "Golf",
        },
    ]
    report = validator.validate(frame(rows))
    assert not report.passed
    assert report.evaluated == 9
    assert report.successful == 1  # only not-null on _identifier holds
    failures = "\n".join(report.failures)
    assert (
        "expect_column_values_to_match_regex(EMAIL): 1 unexpected (e.g. 'not-an-email')" in failures
    )
    assert "expect_column_values_to_match_regex(SMS): 1 unexpected (e.g. '0612345678')" in failures
    assert "expect_column_values_to_be_unique(_identifier): 2 unexpected" in failures
    assert "expect_column_values_to_be_in_set(GENDER): 1 unexpected (e.g. 'Mr')" in failures
    assert "(BIRTHDAY): 1 unexpected" in failures
    assert "(NEWSLETTER): 1 unexpected" in failures
    assert "(SCORE): 1 unexpected (e.g. '1e3')" in failures
    assert "(INTERESTS): 1 unexpected (e.g. 'Golf')" in failures


def test_missing_identifier_is_reported(validator):
    report = validator.validate(frame([GOOD, {**GOOD, "EMAIL": "", "SMS": ""}]))
    assert any("expect_column_values_to_not_be_null(_identifier)" in f for f in report.failures)


def test_missing_column_does_not_raise(validator):
    report = validator.validate(frame([GOOD]).drop(columns=["SCORE"]))
    assert report.passed  # an all-null column has nothing unexpected
    assert report.rows == 1


def test_merge_reports_adds_counts_and_keeps_samples_short(validator):
    bad = frame([{**GOOD, "EMAIL": f"bad{i}"} for i in range(4)])
    one, two = validator.validate(bad), validator.validate(frame([GOOD]))
    merged = merge_reports([one, one, two])
    assert not merged.passed
    assert merged.rows == 9
    assert merged.evaluated == 27
    (email,) = [u for u in merged.unexpected if u[0].endswith("(EMAIL)")]
    assert email[1] == 8
    assert len(email[2]) <= 5
    assert merged.to_dict()["failures"] == list(merged.failures)
    empty = merge_reports([])
    assert empty == ValidationReport(True, 0, 0, (), 0)


def test_a_validator_without_expectations():
    validator = ContactValidator({}, ["FIRSTNAME"])
    assert validator.validate(pd.DataFrame({"FIRSTNAME": ["x"]})) == ValidationReport(
        True, 0, 0, (), 1
    )


def test_validate_frames_runs_once_over_several_batches(validator):
    first = frame([GOOD])
    second = frame([{**GOOD, "GENDER": "9"}, {**GOOD, "EMAIL": "x"}])
    report = validator.validate_frames([first, second, first.iloc[:0]])
    assert report.rows == 3
    assert report.evaluated == 9
    assert any("(GENDER): 1 unexpected (e.g. '9')" in f for f in report.failures)
    assert any("(_identifier): 2 unexpected" in f for f in report.failures)  # a@ twice
    assert validator.validate_frames([]) == ValidationReport(True, 0, 0, (), 0)
