"""``/contacts/lists``, ``/contacts/lists/{id}``, a list's contacts and list membership."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from etl.sandbox.errors import invalid, missing, not_found, out_of_range
from etl.sandbox.processes import JobResult
from etl.sandbox.routes.common import (
    Context,
    ints,
    json_response,
    object_body,
    path_int,
    q_int,
    q_moment,
    q_sort,
)

MAX_LIST_BATCH = 150


def handle_lists(ctx: Context, req: Request, body: bytes) -> Response:
    """``POST /contacts/lists`` (create) and ``GET /contacts/lists`` (a page)."""
    lists = ctx.account.lists
    if req.method == "POST":
        data = object_body(body)
        name, folder = data.get("name"), data.get("folderId")
        if not isinstance(name, str) or not name.strip():
            raise missing("name is mandatory")
        if folder is None:
            raise missing("folderId is mandatory")
        if isinstance(folder, bool) or not isinstance(folder, int):
            raise invalid("folderId must be an integer")
        return json_response({"id": lists.create(name.strip(), folder)}, 201)
    count, page = lists.page(
        limit=q_int(req, "limit", default=10, maximum=50),
        offset=q_int(req, "offset", default=0),
        sort=q_sort(req),
    )
    return json_response({"lists": page, "count": count})


def handle_list(ctx: Context, req: Request, body: bytes, list_id: str) -> Response:
    """``GET``, ``PUT`` and ``DELETE /contacts/lists/{id}``."""
    lists = ctx.account.lists
    lid = path_int(list_id, "listId")
    if req.method == "GET":
        return json_response(lists.get(lid))
    if req.method == "DELETE":
        lists.delete(lid)
        return Response(status=204)
    data = object_body(body)
    name, folder = data.get("name"), data.get("folderId")
    if name is not None and folder is not None:
        raise invalid("Either name or folderId can be updated at a time")
    if name is None and folder is None:
        raise missing("name or folderId is mandatory")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise invalid("name must be a non-empty string")
    if folder is not None and (isinstance(folder, bool) or not isinstance(folder, int)):
        raise invalid("folderId must be an integer")
    lists.update(lid, name=name.strip() if name else None, folder_id=folder)
    return Response(status=204)


def handle_list_contacts(ctx: Context, req: Request, body: bytes, list_id: str) -> Response:
    """``GET /contacts/lists/{id}/contacts``."""
    lid = path_int(list_id, "listId")
    if not ctx.account.lists.exists(lid):
        raise not_found("List ID not found")
    count, contacts = ctx.account.contacts.page(
        limit=q_int(req, "limit", default=50, maximum=500),
        offset=q_int(req, "offset", default=0),
        sort=q_sort(req),
        modified_since=q_moment(req, "modifiedSince"),
        list_ids=[lid],
    )
    return json_response({"contacts": contacts, "count": count})


def _membership_body(data: dict[str, Any]) -> tuple[str, list[Any]]:
    given = [k for k in ("emails", "ids", "extIds") if data.get(k) is not None]
    if not given:
        raise missing("One of emails, ids or extIds is mandatory")
    if len(given) > 1:
        raise invalid("Pass only one of emails, ids or extIds")
    field = given[0]
    values = data[field]
    if not isinstance(values, list) or not values:
        raise invalid(f"{field} must be a non-empty array")
    if len(values) > MAX_LIST_BATCH:
        raise out_of_range(f"You can pass a maximum of {MAX_LIST_BATCH} {field} in one request")
    if field == "ids":
        ints(values, field)
    elif not all(isinstance(v, str) for v in values):
        raise invalid(f"{field} must be an array of strings")
    return field, values


def handle_list_add(ctx: Context, req: Request, body: bytes, list_id: str) -> Response:
    """``POST /contacts/lists/{id}/contacts/add``."""
    lid = path_int(list_id, "listId")
    field, values = _membership_body(object_body(body))
    success, failure = ctx.account.lists.change_membership(
        lid, field=field, values=values, add=True
    )
    return json_response({"contacts": {"success": success, "failure": failure}}, 201)


def handle_list_remove(ctx: Context, req: Request, body: bytes, list_id: str) -> Response:
    """Remove contacts; ``{"all": true}`` starts a process (sandbox name, Brevo's unknown:
    ``REMOVE_CONTACTS_FROM_LIST``) and answers ``{"contacts": {"total", "processId"}}``."""
    lists = ctx.account.lists
    lid = path_int(list_id, "listId")
    data = object_body(body)
    if data.get("all") is not None:
        if data["all"] is not True:
            raise invalid("all must be true")
        if any(data.get(k) is not None for k in ("emails", "ids", "extIds")):
            raise invalid("Pass either all or one of emails, ids or extIds")
        if not lists.exists(lid):
            raise not_found("List ID not found")
        total = lists.member_count(lid)

        def job(process_id: int, generation: int) -> JobResult:
            removed = lists.remove_all(lid, generation)
            return JobResult(info={"remove": {"total": removed}})

        process_id = ctx.runner.submit("REMOVE_CONTACTS_FROM_LIST", job)
        return json_response({"contacts": {"total": total, "processId": process_id}}, 201)
    field, values = _membership_body(data)
    success, failure = lists.change_membership(lid, field=field, values=values, add=False)
    return json_response({"contacts": {"success": success, "failure": failure}}, 201)
