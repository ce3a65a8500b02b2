"""Column names and types of an export, from the account's attributes (etl.exports.layout)."""

from __future__ import annotations

from etl.exports.layout import export_schema, snake_name
from tests.exports._support import (
    ATTRIBUTES,
    HEADER,
)


def test_snake_names() -> None:
    assert snake_name("_listIds") == "list_ids"
    assert snake_name("ADDED_TIME") == "added_time"
    assert snake_name("_ADDED_TIME") == "added_time"
    assert snake_name("Prénom de l'élève") == "prenom_de_l_eleve"
    assert snake_name("2FA") == "col_2fa"
    assert snake_name("???") == "column"


def test_schema_types_and_names() -> None:
    columns = [*HEADER, "_ADDED_TIME", "UNKNOWN THING", "EXT_ID"]
    schema = export_schema(ATTRIBUTES, columns)
    assert {f.name: str(f.type) for f in schema} == {
        "email": "string",
        "added_time": "timestamp[us, tz=UTC]",
        "modified_time": "timestamp[us, tz=UTC]",
        "firstname": "string",
        "birthday": "date32[day]",
        "score": "double",
        "opt_in": "bool",
        "gender": "string",
        "gender_value": "int64",
        "interests": "list<item: string>",
        "list_ids": "list<item: int64>",
        "subscribed": "list<item: string>",
        "blocklisted": "list<item: string>",
        "_added_time": "timestamp[us, tz=UTC]",
        "unknown_thing": "string",
        "ext_id": "string",
        "_sources": "list<item: string>",
    }
    assert schema.field("_added_time").metadata[b"brevo_name"] == b"_ADDED_TIME"
    brevo = export_schema(ATTRIBUTES, columns, column_case="brevo")
    assert brevo.names[:3] == ["EMAIL", "ADDED_TIME", "MODIFIED_TIME"]
    assert "GENDER_value" in brevo.names
    assert "_listIds" in brevo.names
