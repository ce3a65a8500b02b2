"""Issue 17: mapping presets ship with the package, combine with --mapping, and are listed."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from etl.errors import InputError
from etl.imports.csv import sniff_csv
from etl.imports.mapping import map_columns
from etl.imports.presets import PRESET_NAMES, list_presets, load_preset

REAL_WORLD = Path(__file__).parents[1] / "fixtures" / "real_world"
FILES = {
    "hubspot": "hubspot-crm-exports-all-contacts-2024-03-14.csv",
    "mailchimp": "subscribed_members_export_15d17415eb.csv",
    "salesforce": "report1710430000000.csv",
    "excel-fr": "export_contacts_excel_fr.csv",
}
EXPECTED = {
    "hubspot": {
        "Record ID": "EXT_ID",
        "First Name": "FIRSTNAME",
        "Last Name": "LASTNAME",
        "Email": "EMAIL",
        "Phone Number": "SMS",
    },
    "mailchimp": {
        "Email Address": "EMAIL",
        "First Name": "FIRSTNAME",
        "Last Name": "LASTNAME",
        "Phone": "SMS",
        "LEID": "EXT_ID",
    },
    "salesforce": {
        "First Name": "FIRSTNAME",
        "Last Name": "LASTNAME",
        "Title": "JOB_TITLE",
        "Account Name": "COMPANY",
        "Phone": "LANDLINE_NUMBER",
        "Mobile": "SMS",
        "Email": "EMAIL",
    },
    "excel-fr": {
        "Prénom": "FIRSTNAME",
        "Nom": "LASTNAME",
        "E-mail": "EMAIL",
        "Téléphone portable": "SMS",
    },
}


def test_every_preset_loads_with_its_documentation():
    presets = list_presets()
    assert [p.name for p in presets] == list(PRESET_NAMES)
    for preset in presets:
        assert preset.tool
        assert len(preset.description) > 40
        assert preset.columns
    assert (load_preset("excel-fr").default_region, load_preset("excel-fr").dayfirst) == (
        "FR",
        True,
    )
    assert load_preset("hubspot").default_region is None


def test_an_unknown_preset_is_bad_input():
    with pytest.raises(InputError, match="choose one of hubspot, mailchimp"):
        load_preset("zoho")


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_each_real_world_file_maps_through_its_preset_and_drops_the_rest(name):
    fmt = sniff_csv(REAL_WORLD / FILES[name])
    known = {"FIRSTNAME", "LASTNAME", "JOB_TITLE", "COMPANY"}
    mapping = map_columns(
        fmt.header, known_attributes=known, preset_mapping=load_preset(name).columns
    )
    assert mapping.columns == EXPECTED[name]
    assert mapping.unknown == ()
    assert set(mapping.ignored) == set(fmt.header) - set(EXPECTED[name])
    assert mapping.unused_user_keys == ()  # preset entries missing from a file are fine


def test_the_mapping_file_wins_column_by_column():
    fmt = sniff_csv(REAL_WORLD / FILES["salesforce"])
    mapping = map_columns(
        fmt.header,
        user_mapping={"phone": "SMS", "mobile": "", "Created Date": "SIGNUP"},
        preset_mapping=load_preset("salesforce").columns,
    )
    assert mapping.columns["Phone"] == "SMS"
    assert mapping.columns["Created Date"] == "SIGNUP"
    assert "Mobile" in mapping.ignored
    assert mapping.columns["Title"] == "JOB_TITLE"  # the preset still maps the rest


def test_the_presets_are_package_data():
    config = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["package-data"]["etl.imports.presets"] == ["*.yaml"]
    shipped = Path(__file__).parents[2] / "etl" / "imports" / "presets"
    assert sorted(p.stem for p in shipped.glob("*.yaml")) == sorted(PRESET_NAMES)


def test_contacts_etl_mapping_presets_lists_them():
    from etl.cli.main import cli

    result = CliRunner().invoke(cli, ["mapping", "presets"], obj={})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == list(PRESET_NAMES)
    assert "HubSpot CRM" in lines[0]
    as_json = CliRunner().invoke(cli, ["mapping", "presets", "--json"], obj={})
    assert json.loads(as_json.output)[3]["default_region"] == "FR"
