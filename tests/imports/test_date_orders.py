"""Issue 17: the run-wide pre-scan that settles the day/month order of each date column."""

from __future__ import annotations

import pyarrow as pa
import pytest

from etl.brevo.models import Attribute
from etl.imports import ImportOptions, plan_import
from etl.imports.normalise.dates import OrderEvidence, order_evidence

ATTRIBUTES = [Attribute("BIRTHDAY", "normal", "date"), Attribute("FIRSTNAME", "normal", "text")]


@pytest.mark.parametrize(
    ("values", "evidence"),
    [
        (["03/02/2024", "25/12/2023", "12/25/2023"], OrderEvidence(1, 2, 0)),
        (["07/07/2024", "1/2/24", "2024-01-02"], OrderEvidence(None, None, 1)),
        (["31/02/2024", "13/13/2024", "25.12.2023"], OrderEvidence()),  # no date, or not d/m/y
        ([], OrderEvidence()),
    ],
)
def test_order_evidence(values, evidence):
    assert order_evidence(pa.array(values, type=pa.large_string())) == evidence


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def plan(tmp_path, *files, **options):
    paths = [write(tmp_path / f"f{i}.csv", text) for i, text in enumerate(files)]
    return plan_import(ImportOptions(paths=tuple(paths), list_ids=(1,), **options), ATTRIBUTES)


def test_the_first_settling_value_in_file_order_decides_for_the_run(tmp_path):
    # f0 has only ambiguous values; f1 settles the attribute for both files.
    result = plan(
        tmp_path,
        "Email,Birthday\na@x.io,03/02/2024\n",
        "Email,Birthday\nb@x.io,04/05/2024\nc@x.io,12/25/2023\nd@x.io,25/12/2023\n",
    )
    assert result.normalise.date_orders == (("BIRTHDAY", "month-first"),)
    assert result.date_orders["BIRTHDAY"].describe(None) == (
        "month-first (settled by 12/25/2023, f1.csv line 3)"
    )


def test_a_column_without_settling_values_follows_dayfirst(tmp_path):
    text = "Email,Birthday\na@x.io,03/02/2024\n"
    unsettled = plan(tmp_path, text)
    assert unsettled.normalise.date_orders == ()
    assert "rejected (ambiguous_date)" in unsettled.date_orders["BIRTHDAY"].describe(None)
    assert plan(tmp_path, text, dayfirst=True).date_orders["BIRTHDAY"].describe(True) == (
        "not settled: ambiguous values such as 03/02/2024 read day-first (dayfirst)"
    )


def test_columns_without_slash_dates_are_not_reported(tmp_path):
    result = plan(tmp_path, "Email,Birthday,First name\na@x.io,1990-01-02,03/02/2024\n")
    assert result.date_orders == {}
    assert result.normalise.date_orders == ()


def test_the_preset_supplies_defaults_the_options_override(tmp_path):
    text = "E-mail;Prénom;Date de naissance\na@x.io;Zoé;03/02/2024\n"
    by_preset = plan(tmp_path, text, mapping_preset="excel-fr")
    assert (by_preset.normalise.default_region, by_preset.normalise.dayfirst) == ("FR", True)
    mine = plan(tmp_path, text, mapping_preset="excel-fr", default_region="BE", dayfirst=False)
    assert (mine.normalise.default_region, mine.normalise.dayfirst) == ("BE", False)
    assert mine.files[0].mapping.columns == {
        "E-mail": "EMAIL",
        "Prénom": "FIRSTNAME",
        "Date de naissance": "BIRTHDAY",
    }


def test_the_scan_answer_does_not_depend_on_its_batch_size(tmp_path, monkeypatch):
    # The settling value sits past several scan batches: the same row is found whatever the
    # batch (the scan reads small batches so a big file's first batch is not read whole).
    import etl.imports.plan as plan_module

    rows = "".join(f"r{i}@x.io,03/02/2024\n" for i in range(600))
    text = "Email,Birthday\n" + rows + "late@x.io,02/13/2024\n" + rows
    answers = set()
    for scan_rows in (7, 250, 10_000):
        monkeypatch.setattr(plan_module, "SCAN_BATCH_ROWS", scan_rows)
        answers.add(plan(tmp_path, text).date_orders["BIRTHDAY"].describe(None))
    assert answers == {"month-first (settled by 02/13/2024, f0.csv line 602)"}
