"""``/contacts``, ``/contacts/{identifier}`` and ``/contacts/batch``."""

from __future__ import annotations

import re
from typing import Any

from werkzeug.wrappers import Request, Response

from etl.sandbox.batch import parse_batch
from etl.sandbox.errors import ApiError, invalid
from etl.sandbox.routes.common import (
    Context,
    check_bools,
    ints,
    json_response,
    object_body,
    path_int,
    q_int,
    q_moment,
    q_sort,
)
from etl.sandbox.state import IDENTIFIER_TYPES, Account
from etl.sandbox.values import INVALID

RESERVED_CONTACT_PATHS = frozenset(
    {"import", "export", "attributes", "folders", "lists", "segments", "batch"}
)
_FILTER = re.compile(r"^\s*equals\(\s*([A-Za-z0-9_]+)\s*,\s*(.*?)\s*\)\s*$", re.S)


def handle_contacts(ctx: Context, req: Request, body: bytes) -> Response:
    """``POST /contacts`` (create) and ``GET /contacts`` (a page, filtered)."""
    account = ctx.account
    if req.method == "POST":
        data = object_body(body)
        check_bools(data, "emailBlacklisted", "smsBlacklisted", "updateEnabled")
        ints(data.get("listIds"), "listIds")
        created = account.contacts.create(data)
        if created is None:
            return Response(status=204)
        return json_response({"id": created}, 201)
    list_ids: list[int] = []
    for raw in req.args.getlist("listIds") + req.args.getlist("listIds[]"):
        for part in raw.split(","):
            if part.strip():
                list_ids.append(path_int(part.strip(), "listIds"))
    segment = req.args.get("segmentId")
    segment_id = path_int(segment, "segmentId") if segment else None
    if list_ids and segment_id is not None:
        raise invalid("Either listIds or segmentId can be passed, not both")
    count, contacts = account.contacts.page(
        limit=q_int(req, "limit", default=50, maximum=1000),
        offset=q_int(req, "offset", default=0),
        sort=q_sort(req),
        modified_since=q_moment(req, "modifiedSince"),
        created_since=q_moment(req, "createdSince"),
        list_ids=list_ids,
        segment_id=segment_id,
        attribute_equals=_filter(account, req.args.get("filter")),
    )
    return json_response({"contacts": contacts, "count": count})


def _filter(account: Account, raw: str | None) -> tuple[str, Any] | None:
    if not raw:
        return None
    match = _FILTER.match(raw)
    if match is None:
        raise invalid('filter must look like equals(ATTRIBUTE,"value")')
    name, value = match.group(1).upper(), match.group(2).strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    if name == "EMAIL":
        return name, value
    attr = account.attributes.defs().get(name)
    if attr is None:
        raise invalid(f"Attribute {name} does not exist")
    stored = attr.coercer()(value)
    if stored is INVALID:
        raise invalid(f"Invalid value for {name}")
    return name, stored


def _identifier_type(req: Request) -> str | None:
    raw = req.args.get("identifierType")
    if raw is None or raw == "":
        return None
    if raw not in IDENTIFIER_TYPES:
        raise invalid(f"identifierType must be one of {', '.join(IDENTIFIER_TYPES)}")
    return raw


def handle_contact(ctx: Context, req: Request, body: bytes, identifier: str) -> Response:
    """``GET``, ``PUT`` and ``DELETE /contacts/{identifier}``."""
    if identifier.split("/")[0] in RESERVED_CONTACT_PATHS:
        # /contacts/import etc. are endpoints, never contact identifiers.
        raise ApiError(
            405, "method_not_allowed", f"{req.method} Method is not allowed on this path"
        )
    contacts = ctx.account.contacts
    id_type = _identifier_type(req)
    if req.method == "GET":
        start, end = req.args.get("startDate"), req.args.get("endDate")
        if (start is None) != (end is None):
            raise invalid("startDate and endDate must be passed together")
        contact_id = contacts.require(identifier, id_type)
        return json_response(contacts.get(contact_id))
    if req.method == "DELETE":
        if id_type is None and "@" not in identifier and not identifier.isdigit():
            raise invalid("Pass an email or a contact id, or use identifierType")
        contacts.delete(contacts.require(identifier, id_type))
        return Response(status=204)
    data = object_body(body)
    check_bools(data, "emailBlacklisted", "smsBlacklisted")
    ints(data.get("listIds"), "listIds")
    ints(data.get("unlinkListIds"), "unlinkListIds")
    contact_id = contacts.require(identifier, id_type)
    contacts.update(contact_id, data)
    return Response(status=204)


def handle_batch(ctx: Context, req: Request, body: bytes) -> Response:
    """``POST /contacts/batch`` (updateBatchContacts): every update, or none, then 204."""
    updates = parse_batch(object_body(body), ctx.account, ctx.config.current.batch_max_contacts)
    ctx.account.contacts.update_many(updates)
    return Response(status=204)
