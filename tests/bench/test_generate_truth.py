"""The benchmark's data profiles against their ground truth: the real import preparation on 3,000
rows of each profile must send exactly the expected values and reject exactly the expected rows,
each for the expected reason."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from bench.generate import PROFILES, canonical_decimal, expected_phone, generate_contacts
from bench.truth import compare
from bench.worker import import_attributes
from etl.imports import ImportOptions, plan_import, prepare_import

ROWS = 3000


def _prepare(tmp_path: Path, profile: str):
    generated = generate_contacts(tmp_path / "in", ROWS, profile=profile, truth=True)
    options = ImportOptions(
        paths=tuple(str(p) for p in generated.paths),
        list_ids=(1,),
        state_dir=tmp_path / "state",
        default_region="FR",
        dayfirst=generated.dayfirst,
    )
    plan = plan_import(options, import_attributes())
    return generated, prepare_import(plan, options, work_dir=tmp_path / "work")


@pytest.fixture(scope="module", params=PROFILES)
def prepared(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    return _prepare(tmp, request.param)


def test_every_value_and_every_reject_reason_matches_the_truth(prepared):
    generated, result = prepared
    report = compare(generated, result)
    assert report.ok, report.summary()
    assert result.rows_read == ROWS
    assert report.sent_actual == report.sent_expected


def test_the_comparison_catches_a_wrong_value_and_a_wrong_reason(prepared):
    generated, result = prepared
    truth = list(generated.truth)
    i = next(k for k, t in enumerate(truth) if t.reason is None and t.values["BIRTHDAY"])
    truth[i] = dataclasses.replace(truth[i], values={**truth[i].values, "BIRTHDAY": "1900-01-01"})
    j = next(k for k, t in enumerate(truth) if t.reason == "invalid_phone")
    truth[j] = dataclasses.replace(truth[j], reason="invalid_email")
    report = compare(dataclasses.replace(generated, truth=truth), result)
    assert set(report.differences) == {
        "value of BIRTHDAY",
        "reason invalid_phone, truth: invalid_email",
    }


def test_mixed_profile_has_the_promised_mess(tmp_path):
    generated = generate_contacts(tmp_path, ROWS, profile="mixed", truth=True)
    truth = generated.truth
    reasons = Counter(t.reason for t in truth)
    assert {f.encoding for f in generated.files} == {"utf-8-sig", "utf-8", "cp1252"}
    assert {f.sep for f in generated.files} == {";", ","}
    assert 0.006 * ROWS <= reasons["malformed_row"] <= 0.015 * ROWS
    assert 0.03 * ROWS <= reasons["duplicate"] <= 0.07 * ROWS
    raw = b"".join(p.read_bytes() for p in generated.paths)
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    assert b'"' in raw
    # Phones of at least 10 countries; about 20% outside the default region.
    sent = [t.values for t in truth if t.reason is None and t.values["SMS"]]
    codes = Counter(_country(v["SMS"]) for v in sent)
    assert len(codes) >= 10, codes
    foreign = sum(n for cc, n in codes.items() if cc != "33")
    assert 0.05 * len(sent) <= foreign <= 0.3 * len(sent)
    # The same files, byte for byte, without the truth (the benchmark's sizes skip it).
    again = generate_contacts(tmp_path / "again", ROWS, profile="mixed")
    assert [p.read_bytes() for p in again.paths] == [p.read_bytes() for p in generated.paths]


def _country(e164: str) -> str:
    import phonenumbers

    return str(phonenumbers.parse(e164).country_code)


def test_reference_rules():
    assert canonical_decimal(1250) == "12.5"
    assert canonical_decimal(1200) == "12"
    assert canonical_decimal(5) == "0.05"
    assert canonical_decimal(0) == "0"
    assert expected_phone("06 12 34 56 78") == "+33612345678"
    assert expected_phone("0692 12 34 56") == "+262692123456"  # Réunion, dialled from France
    assert expected_phone("01512 3456789") is None  # a German mobile written nationally
    assert expected_phone("") == ""
