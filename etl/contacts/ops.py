"""The legacy v2 "User" operations, expressed on v3 endpoints.

* :func:`upsert_contact`: v2 ``POST /user/createdituser``: create or update one contact, link
  and unlink lists, set the email/SMS blacklist with v2's empty-value semantics: on create an
  empty value means *not blacklisted*; on update it leaves the status *unchanged*.
* :func:`get_contact_details`: v2 ``GET /user/{email}``: attributes, lists with their names,
  blacklist status and statistics.
* :func:`unlink_from_all_lists`: v2 ``PUT /user/{email}`` with ``listid_unlink`` of every list.

Values go through the same normaliser as the import flow (E.164 phones, dates, booleans,
category labels or values), and unknown attributes are refused with the list of known ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from etl.brevo.client import BrevoClient
from etl.brevo.errors import BrevoAPIError, BrevoBadRequest, BrevoNotFound
from etl.brevo.models import Attribute, CreateContact, UpdateContact
from etl.errors import InputError
from etl.imports.csv import RawBatch
from etl.imports.mapping import ColumnMapping
from etl.imports.normalise import NormaliseOptions, build_specs, normalise_batch
from etl.imports.normalise.frame import AMBIGUOUS_DATE

BLACKLIST_VALUES = ("0", "1", "")

# An attribute value as Brevo takes it in a contact body, by attribute kind.
AttributeValue = str | bool | float | int | list[str]


class ContactOpError(Exception):
    """A contact operation that cannot be done; one line, exit code 1."""


@dataclass(frozen=True)
class UpsertResult:
    """What upsert did."""

    created: bool
    contact_id: int | None
    email: str

    def line(self) -> str:
        """The CLI output: the new id, or ``updated``."""
        return str(self.contact_id) if self.created else "updated"


def parse_attr_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` strings to a dict (names upper-cased)."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ContactOpError(f"--attr {pair!r}: expected NAME=VALUE")
        result[name.strip().upper()] = value
    return result


def _blacklist_flag(value: str | None, *, creating: bool) -> bool | None:
    """v2 semantics: '1' -> True, '0' -> False, '' or absent -> False on create, unchanged on update."""
    if value is None or value.strip() == "":
        return False if creating else None
    if value.strip() not in ("0", "1"):
        raise ContactOpError(f"blacklist value {value!r}: expected 0, 1 or empty")
    return value.strip() == "1"


def normalise_attributes(
    values: Mapping[str, str],
    attributes: Sequence[Attribute],
    *,
    default_region: str | None = None,
    dayfirst: bool | None = None,
) -> dict[str, AttributeValue]:
    """Check names against the account and normalise values as the import flow does.

    A date that reads as a date one way only (``25/12/2023``) is read so; one that reads both
    ways (``03/02/2024``) is read as ``dayfirst`` says (True: day-first, False: month-first).

    Raises:
        InputError: ``dayfirst`` is None and a date reads both ways (exit 2: say which order).
        ContactOpError: an unknown attribute or a value that is not of its attribute's type.
    """
    known = {a.name for a in attributes}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ContactOpError(
            f"unknown attribute(s) {', '.join(unknown)}; the account has: {', '.join(sorted(known))}"
        )
    if not values:
        return {}
    specs = build_specs(attributes)
    names = list(values)
    # EMAIL is the identifier on its own path; a one-row batch needs an identifier column.
    frame = pd.DataFrame({n: [values[n]] for n in names})
    has_identifier = "EMAIL" in names or "SMS" in names
    if not has_identifier:
        frame["EMAIL"] = ["placeholder@example.com"]
    batch = RawBatch(rows=frame, lines=np.array([2], dtype=np.int64), malformed=[])
    mapping = ColumnMapping(columns={c: c for c in frame.columns}, unknown=(), ignored=())
    result = normalise_batch(
        batch,
        mapping,
        specs,
        NormaliseOptions(default_region=default_region, dayfirst=dayfirst),
    )
    if len(result.rejected):
        reason = str(result.rejected["reason"].iloc[0])
        message = str(result.rejected["message"].iloc[0])
        if reason == AMBIGUOUS_DATE:
            value = next((values[n] for n in names if message.startswith(f"{n} '")), "")
            attr = message.split(" ", 1)[0]
            raise InputError(
                f"attribute {attr}: {value!r} is a different date day-first and month-first; "
                "give --dayfirst or --monthfirst"
            )
        if reason.startswith("invalid_value:"):
            attr = reason.split(":", 1)[1]
            raise ContactOpError(f"attribute {attr}: {message}")
        raise ContactOpError(message)
    row = result.contacts.iloc[0]
    out: dict[str, AttributeValue] = {}
    for name in names:
        value = row.get(name, "")
        out[name] = _typed(str(value), specs[name].kind if name in specs else "text")
    return out


def _typed(value: str, kind: str) -> AttributeValue:
    if value == "":
        return ""
    if kind == "boolean":
        return value == "true"
    if kind == "float":
        return float(value)
    if kind == "category":
        return int(value)
    if kind == "multiple-choice":
        return [v for v in value.split(",") if v]
    return value


def _duplicate_message(exc: BrevoAPIError) -> str | None:
    meta = exc.metadata or {}
    ids = meta.get("duplicate_identifiers") if isinstance(meta, dict) else None
    if ids:
        return (
            f"{', '.join(map(str, ids))} already belongs to another contact ({exc.brevo_message})"
        )
    return None


def _exists(client: BrevoClient, email: str) -> bool:
    try:
        client.get_contact(email)
    except BrevoNotFound:
        return False
    return True


def upsert_contact(
    client: BrevoClient,
    email: str,
    *,
    attributes: Mapping[str, str] | None = None,
    blacklisted: str | None = None,
    blacklisted_sms: str | None = None,
    list_ids: Sequence[int] = (),
    unlink_list_ids: Sequence[int] = (),
    default_region: str | None = None,
    dayfirst: bool | None = None,
) -> UpsertResult:
    """Create the contact if its email is new, else update it (v2 createdituser).

    Values are normalised as :func:`normalise_attributes` does (``dayfirst`` included).
    """
    email = email.strip().lower()
    account = client.get_attributes()
    values = normalise_attributes(
        {"EMAIL": email, **dict(attributes or {})},
        account,
        default_region=default_region,
        dayfirst=dayfirst,
    )
    email = str(values.pop("EMAIL"))
    try:
        if not _exists(client, email):
            try:
                new_id = client.create_contact(
                    CreateContact(
                        email=email,
                        attributes=values,
                        email_blacklisted=_blacklist_flag(blacklisted, creating=True),
                        sms_blacklisted=_blacklist_flag(blacklisted_sms, creating=True),
                        list_ids=tuple(list_ids),
                    )
                )
                return UpsertResult(created=True, contact_id=new_id, email=email)
            except BrevoBadRequest as exc:
                if exc.code != "duplicate_parameter" or "email" not in str(exc.metadata):
                    raise
                # Created by someone else in between: fall through to an update.
        client.update_contact(
            email,
            UpdateContact(
                attributes=values,
                email_blacklisted=_blacklist_flag(blacklisted, creating=False),
                sms_blacklisted=_blacklist_flag(blacklisted_sms, creating=False),
                list_ids=tuple(list_ids),
                unlink_list_ids=tuple(unlink_list_ids),
            ),
        )
        return UpsertResult(created=False, contact_id=None, email=email)
    except BrevoAPIError as exc:
        raise ContactOpError(_duplicate_message(exc) or str(exc)) from None


STAT_KEYS = (
    "messagesSent",
    "delivered",
    "hardBounces",
    "softBounces",
    "complaints",
    "opened",
    "clicked",
)


@dataclass
class ContactDetails:
    """A contact as ``contacts-etl contact get`` shows it."""

    id: int
    email: str | None
    attributes: dict[str, Any]
    lists: list[dict[str, Any]]
    email_blacklisted: bool
    sms_blacklisted: bool
    statistics: dict[str, int]
    raw_statistics: dict[str, Any] = field(default_factory=dict)


def summarise_statistics(stats: Mapping[str, Any] | None) -> dict[str, int]:
    """Counts per statistic (each statistic in Brevo is a list of events)."""
    stats = stats or {}
    out: dict[str, int] = {}
    for key in STAT_KEYS:
        value = stats.get(key) or []
        out[key] = len(value) if isinstance(value, list) else int(value or 0)
    unsub = stats.get("unsubscriptions") or {}
    out["unsubscriptions"] = sum(
        len(unsub.get(k) or []) for k in ("userUnsubscription", "adminUnsubscription")
    )
    return out


def get_contact_details(client: BrevoClient, email: str) -> ContactDetails:
    """The contact with list names and statistics (v2 GET user)."""
    try:
        contact = client.get_contact(email.strip().lower())
    except BrevoNotFound:
        raise ContactOpError(f"no contact with email {email}") from None
    lists = []
    for list_id in contact.list_ids:
        try:
            name = client.get_list(list_id).name
        except BrevoNotFound:
            name = ""
        lists.append({"id": list_id, "name": name})
    return ContactDetails(
        id=contact.id,
        email=contact.email,
        attributes=contact.attributes,
        lists=lists,
        email_blacklisted=contact.email_blacklisted,
        sms_blacklisted=contact.sms_blacklisted,
        statistics=summarise_statistics(contact.statistics),
        raw_statistics=dict(contact.statistics or {}),
    )


def unlink_from_all_lists(client: BrevoClient, email: str) -> list[int]:
    """Remove the contact from every list it is in; returns those list ids (maybe none)."""
    email = email.strip().lower()
    try:
        contact = client.get_contact(email)
    except BrevoNotFound:
        raise ContactOpError(f"no contact with email {email}") from None
    if not contact.list_ids:
        return []
    client.update_contact(email, UpdateContact(unlink_list_ids=contact.list_ids))
    return list(contact.list_ids)
