"""``POST /contacts/batch`` (updateBatchContacts): validate the body, resolve every contact.

Each item names its contact by exactly one of ``email``, ``id`` or ``sms`` (the spec: "For
each operation only pass one of the supported contact identifiers"); ``ext_id`` sets the
contact's EXT_ID, as in ``PUT /contacts/{identifier}``. The rest of an item is a PUT body
(``attributes``, ``emailBlacklisted``, ``smsBlacklisted``, ``listIds``, ``unlinkListIds``,
``smtpBlacklistSender``). The whole batch is checked before anything is written and then
applied in one transaction: an unknown contact, a bad value or a duplicate identifier is a
400 and nothing changes. No spec edition states a maximum batch size (docs/brevo/FACTS.md section 8):
the sandbox caps it at config ``batch_max_contacts`` (100) and answers 400 ``out_of_range``
above it. Booleans given here always apply (``boolean_false_overwrites`` is about imports).
"""

from __future__ import annotations

from typing import Any

from etl.sandbox.errors import invalid, missing, out_of_range
from etl.sandbox.state import Account

_IDENTIFIERS = {"email": "email_id", "id": "contact_id", "sms": "phone_id"}
_KEYS = frozenset(
    {
        *_IDENTIFIERS,
        "ext_id",
        "attributes",
        "emailBlacklisted",
        "smsBlacklisted",
        "listIds",
        "unlinkListIds",
        "smtpBlacklistSender",
    }
)


def _int_list(item: dict[str, Any], key: str, where: str) -> None:
    value = item.get(key)
    if value is not None and (
        not isinstance(value, list)
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise invalid(f"{where}.{key} must be an array of integers")


def parse_batch(
    body: dict[str, Any], account: Account, max_contacts: int
) -> list[tuple[int, dict[str, Any]]]:
    """``(contact id, PUT body)`` per item, in order; ApiError (400) for any bad item."""
    contacts = body.get("contacts")
    if contacts is None:
        raise missing("contacts is mandatory")
    if not isinstance(contacts, list) or not contacts:
        raise invalid("contacts must be a non-empty array")
    if len(contacts) > max_contacts:
        raise out_of_range(f"You can pass a maximum of {max_contacts} contacts in one request")
    out: list[tuple[int, dict[str, Any]]] = []
    for index, item in enumerate(contacts):
        where = f"contacts[{index}]"
        if not isinstance(item, dict):
            raise invalid(f"{where} must be an object")
        unknown = set(item) - _KEYS
        if unknown:
            raise invalid(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        given = [k for k in _IDENTIFIERS if item.get(k) is not None]
        if not given:
            raise missing(f"{where}: one of email, id or sms is mandatory")
        if len(given) > 1:
            raise invalid(f"{where}: pass only one of email, id or sms")
        key = given[0]
        value = item[key]
        if key == "id" and (isinstance(value, bool) or not isinstance(value, int)):
            raise invalid(f"{where}.id must be an integer")
        if key != "id" and not isinstance(value, str):
            raise invalid(f"{where}.{key} must be a string")
        for flag in ("emailBlacklisted", "smsBlacklisted"):
            if item.get(flag) is not None and not isinstance(item[flag], bool):
                raise invalid(f"{where}.{flag} must be a boolean")
        _int_list(item, "listIds", where)
        _int_list(item, "unlinkListIds", where)
        found = account.contacts.find(str(value), _IDENTIFIERS[key])
        if found is None:
            raise invalid(f"{where}: contact not found: {value}")
        out.append((found, {k: v for k, v in item.items() if k not in _IDENTIFIERS}))
    return out
