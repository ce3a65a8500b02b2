"""Header -> attribute mapping: aliases, user mapping files, clashes, missing identifier."""

from __future__ import annotations

import json

import pytest

from etl.errors import ConfigError, InputError
from etl.imports.mapping import (
    BUILTIN_ALIASES,
    attribute_name,
    header_key,
    load_mapping_file,
    map_columns,
)


@pytest.mark.parametrize(
    ("header", "attribute"),
    [
        ("Email", "EMAIL"),
        ("E-mail", "EMAIL"),
        ("EMAIL_ADDRESS", "EMAIL"),
        ("Email Address", "EMAIL"),
        ("  e-Mail  address ", "EMAIL"),
        ("Adresse e-mail", "EMAIL"),
        ("Mail", "EMAIL"),
        ("Phone", "SMS"),
        ("Mobile", "SMS"),
        ("Mobile Phone", "SMS"),
        ("cell", "SMS"),
        ("SMS", "SMS"),
        ("Téléphone", "SMS"),
        ("WhatsApp", "WHATSAPP"),
        ("Landline number", "LANDLINE_NUMBER"),
        ("First name", "FIRSTNAME"),
        ("first_name", "FIRSTNAME"),
        ("FirstName", "FIRSTNAME"),
        ("Prénom", "FIRSTNAME"),
        ("prenom", "FIRSTNAME"),
        ("Last name", "LASTNAME"),
        ("Surname", "LASTNAME"),
        ("NOM", "LASTNAME"),
        ("External ID", "EXT_ID"),
        ("ext_id", "EXT_ID"),
        ("Date of birth", "DATE_OF_BIRTH"),
        ("Score (%)", "SCORE"),
        ("Société", "SOCIETE"),
    ],
)
def test_builtin_aliases_and_fallback_names(header, attribute):
    mapping = map_columns(["Email", header] if attribute != "EMAIL" else [header])
    assert mapping.columns[header] == attribute


def test_header_key_ignores_case_accents_spaces_underscores_hyphens():
    assert header_key("  Prénom_de-la Personne ") == header_key("prenomdelapersonne")
    assert attribute_name("Date of birth") == "DATE_OF_BIRTH"
    assert all(v.isupper() for v in BUILTIN_ALIASES.values())


def test_known_attribute_with_same_key_wins_over_alias():
    mapping = map_columns(["Email", "Nom", "Birth_Day"], known_attributes=["NOM", "BIRTHDAY"])
    assert mapping.columns == {"Email": "EMAIL", "Nom": "NOM", "Birth_Day": "BIRTHDAY"}
    assert mapping.unknown == ()


def test_unknown_columns_listed_only_when_attributes_known():
    header = ["Email", "First name", "Favourite colour", "Mobile"]
    mapping = map_columns(header, known_attributes=["FIRSTNAME", "LASTNAME"])
    assert mapping.unknown == ("Favourite colour",)
    assert mapping.columns["Favourite colour"] == "FAVOURITE_COLOUR"
    assert map_columns(header).unknown == ()


def test_user_mapping_wins_and_can_ignore_columns():
    header = ["Courriel", "Portable", "Anniv", "Internal notes", "_unnamed_5"]
    mapping = map_columns(
        header,
        user_mapping={
            "anniv": "BIRTHDAY",
            "Internal notes": None,
            "Portable": "whatsapp",
            "Zip": "X",
        },
    )
    assert mapping.columns == {"Courriel": "EMAIL", "Portable": "WHATSAPP", "Anniv": "BIRTHDAY"}
    assert mapping.ignored == ("Internal notes", "_unnamed_5")
    assert mapping.unused_user_keys == ("Zip",)
    assert mapping.attributes == ("EMAIL", "WHATSAPP", "BIRTHDAY")
    assert mapping.source_for("BIRTHDAY") == "Anniv"
    assert mapping.source_for("NOPE") is None


def test_two_columns_for_one_attribute_is_an_input_error_naming_both():
    with pytest.raises(InputError, match=r"'Email' and 'E-mail' both map to EMAIL"):
        map_columns(["Email", "E-mail", "Name"])


def test_no_identifier_column():
    with pytest.raises(InputError, match=r"^no identifier column: .*'Name', 'City'"):
        map_columns(["Name", "City"])
    with pytest.raises(InputError, match="looks like data"):
        map_columns(["john@example.com", "John"])


def test_sms_alone_is_an_identifier():
    assert map_columns(["Mobile", "Name"]).columns["Mobile"] == "SMS"


def test_load_mapping_file_yaml_json_and_columns_key(tmp_path):
    yaml_path = tmp_path / "m.yaml"
    yaml_path.write_text("columns:\n  Courriel: email\n  Notes: ~\n  Code: '-'\n")
    assert load_mapping_file(yaml_path) == {"Courriel": "EMAIL", "Notes": "", "Code": "-"}
    json_path = tmp_path / "m.json"
    json_path.write_text(json.dumps({"Tel": "SMS", "Birth": "BIRTHDAY"}))
    assert load_mapping_file(json_path) == {"Tel": "SMS", "Birth": "BIRTHDAY"}
    mapping = map_columns(["Courriel", "Notes", "Code"], user_mapping=load_mapping_file(yaml_path))
    assert mapping.columns == {"Courriel": "EMAIL"}
    assert mapping.ignored == ("Notes", "Code")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.yaml", "a: [unclosed", "not valid YAML"),
        ("bad.json", "{nope", "not valid JSON"),
        ("list.yaml", "- a\n- b\n", "expected a mapping"),
        ("empty.yaml", "", "expected a mapping"),
        ("nested.yaml", "Email: {x: 1}\n", "must map a header name"),
        ("space.yaml", "Email: first name\n", "not an attribute name"),
    ],
)
def test_bad_mapping_files(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_mapping_file(path)


def test_missing_mapping_file_is_a_config_error_which_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_mapping_file(tmp_path / "absent.yaml")
