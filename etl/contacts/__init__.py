"""The legacy v2 "User" operations on v3: upsert with v2 blacklist semantics, get, unlink-all.

May import: ``etl.brevo``, the shared ``etl`` modules, and the value normalising of
``etl.imports`` (one e-mail, phone and date rule for every path). Never ``etl.exports``,
``etl.cli``, ``flows`` or ``etl.sandbox``.
"""

from __future__ import annotations

from etl.contacts.ops import (
    ContactDetails,
    ContactOpError,
    UpsertResult,
    get_contact_details,
    parse_attr_pairs,
    unlink_from_all_lists,
    upsert_contact,
)

__all__ = [
    "ContactDetails",
    "ContactOpError",
    "UpsertResult",
    "get_contact_details",
    "parse_attr_pairs",
    "unlink_from_all_lists",
    "upsert_contact",
]
