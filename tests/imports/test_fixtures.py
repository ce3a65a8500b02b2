"""Every messy fixture file gives its declared outcome, and the row accounting holds."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from fixtures.make_import_fixtures import FIXTURE_ATTRIBUTES, FIXTURES, Fixture, write_fixtures

from etl.errors import InputError
from etl.imports.csv import iter_csv_batches, sniff_csv
from etl.imports.mapping import load_mapping_file, map_columns
from etl.imports.normalise import (
    IDENTIFIER,
    LINE,
    NormaliseOptions,
    build_specs,
    dedupe_key,
    normalise_batch,
)

SPECS = build_specs(FIXTURE_ATTRIBUTES)


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("import-fixtures")
    write_fixtures(directory)
    return directory


def prepare(path: Path, fixture: Fixture, *, batch_rows: int):
    """Read, map and normalise a file as the import does (no network)."""
    fmt = sniff_csv(path)
    mapping_path = path.with_name(path.name + ".mapping.yaml")
    user = load_mapping_file(mapping_path) if mapping_path.exists() else None
    mapping = map_columns(fmt.header, user_mapping=user, known_attributes=SPECS)
    options = NormaliseOptions(
        default_region=fixture.default_region,
        dayfirst=fixture.dayfirst,
        drop_invalid_values=fixture.drop_invalid_values,
    )
    results, rows_read = [], 0
    for batch in iter_csv_batches(path, fmt, batch_rows=batch_rows):
        result = normalise_batch(batch, mapping, SPECS, options)
        assert result.rows_read == batch.rows_read
        rows_read += batch.rows_read
        results.append(result)
    return rows_read, results


def test_there_are_at_least_30_fixtures_with_unique_names():
    assert len(FIXTURES) >= 30
    assert len({f.name for f in FIXTURES}) == len(FIXTURES)
    assert sum(1 for f in FIXTURES if f.error) >= 8


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.name)
@pytest.mark.parametrize("small_batches", [True, False], ids=["small-batches", "one-batch"])
def test_fixture_outcome(fixture_dir, fixture, small_batches):
    path = fixture_dir / fixture.name
    # Tiny batches cross every batch boundary; the big fixture gets fewer, larger ones.
    batch_rows = (2 if fixture.rows_read < 100 else 997) if small_batches else 50_000
    declared = json.loads(path.with_name(path.name + ".expected.json").read_text())
    assert declared["exit_code"] == fixture.exit_code
    if fixture.error:
        with pytest.raises(InputError, match=fixture.error) as caught:
            prepare(path, fixture, batch_rows=batch_rows)
        assert "\n" not in str(caught.value)
        return
    rows_read, results = prepare(path, fixture, batch_rows=batch_rows)
    contacts = pd.concat([r.contacts for r in results], ignore_index=True) if results else None
    rejected = pd.concat([r.rejected for r in results], ignore_index=True) if results else None
    rows_ok = sum(r.rows_ok for r in results)
    rows_rejected = sum(r.rows_rejected for r in results)
    assert rows_read == fixture.rows_read
    assert rows_read == rows_ok + rows_rejected
    assert rows_ok == fixture.rows_ok
    reasons = Counter(rejected["reason"]) if rejected is not None else Counter()
    assert dict(reasons) == fixture.rejects
    assert sum(len(r.dropped) for r in results) == fixture.dropped
    keys = dedupe_key(contacts) if contacts is not None else pd.Series([], dtype=object)
    assert int(keys.duplicated().sum()) == fixture.duplicates
    if fixture.reject_lines is not None:
        assert sorted(rejected[LINE].tolist()) == list(fixture.reject_lines)
    for identifier, values in fixture.contacts.items():
        row = contacts[contacts[IDENTIFIER] == identifier]
        assert len(row) >= 1, identifier
        for attribute, value in values.items():
            assert row[attribute].iloc[-1] == value, (identifier, attribute)
    assert declared["rows_sent"] == fixture.rows_ok - fixture.duplicates


def test_missing_file_is_unusable_input(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        sniff_csv(tmp_path / "absent.csv")


def test_generator_script_writes_expectations(tmp_path, capsys):
    from fixtures.make_import_fixtures import main

    main([str(tmp_path)])
    assert len(list(tmp_path.glob("*.expected.json"))) == len(FIXTURES)
    assert (tmp_path / "42_user_mapping.csv.mapping.yaml").exists()
    assert "01_utf8_basic.csv" in capsys.readouterr().out


SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"


def test_demo_samples_give_what_their_readme_says():
    expected = json.loads((SAMPLES / "expected.json").read_text())
    options = expected["options"]
    user = load_mapping_file(SAMPLES / options["mapping"])
    normalise_options = NormaliseOptions(
        default_region=options["default_region"], dayfirst=options["dayfirst"]
    )
    all_contacts = []
    totals = Counter()
    for name, declared in expected["files"].items():
        path = SAMPLES / name
        fmt = sniff_csv(path)
        assert (fmt.encoding, fmt.delimiter, fmt.skip_sep_line) == (
            declared["encoding"],
            declared["delimiter"],
            declared["sep_line"],
        )
        mapping = map_columns(fmt.header, user_mapping=user, known_attributes=SPECS)
        assert mapping.unknown == ()
        reasons = Counter()
        rows_read = rows_ok = 0
        for batch in iter_csv_batches(path, fmt):
            result = normalise_batch(batch, mapping, SPECS, normalise_options)
            rows_read += batch.rows_read
            rows_ok += result.rows_ok
            reasons.update(result.rejected["reason"])
            all_contacts.append(result.contacts)
        assert (rows_read, rows_ok, dict(reasons)) == (
            declared["rows_read"],
            declared["rows_ok"],
            declared["rejects"],
        ), name
        totals.update(rows_read=rows_read, rows_ok=rows_ok)
    duplicates = int(dedupe_key(pd.concat(all_contacts, ignore_index=True)).duplicated().sum())
    run = expected["run"]
    assert (totals["rows_read"], totals["rows_ok"], duplicates) == (
        run["rows_read"],
        run["rows_ok"],
        run["duplicates"],
    )
    assert run["rows_sent"] == run["rows_ok"] - run["duplicates"]
    assert run["rows_rejected"] == run["rows_read"] - run["rows_ok"]
