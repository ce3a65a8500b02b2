"""``/contacts/folders``, ``/contacts/folders/{id}`` and a folder's lists."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from etl.sandbox.errors import missing, not_found
from etl.sandbox.routes.common import (
    Context,
    json_response,
    object_body,
    path_int,
    q_int,
    q_sort,
)


def handle_folders(ctx: Context, req: Request, body: bytes) -> Response:
    """``POST /contacts/folders`` (create) and ``GET /contacts/folders`` (a page)."""
    folders = ctx.account.folders
    if req.method == "POST":
        data = object_body(body)
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise missing("name is mandatory")
        return json_response({"id": folders.create(name.strip())}, 201)
    count, page = folders.page(
        limit=q_int(req, "limit", default=10, maximum=50),
        offset=q_int(req, "offset", default=0),
        sort=q_sort(req),
    )
    return json_response({"folders": page, "count": count})


def handle_folder(ctx: Context, req: Request, body: bytes, folder_id: str) -> Response:
    """``GET``, ``PUT`` and ``DELETE /contacts/folders/{id}``."""
    folders = ctx.account.folders
    fid = path_int(folder_id, "folderId")
    if req.method == "GET":
        return json_response(folders.get(fid))
    if req.method == "DELETE":
        folders.delete(fid)
        return Response(status=204)
    data = object_body(body)
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise missing("name is mandatory")
    folders.update(fid, name.strip())
    return Response(status=204)


def handle_folder_lists(ctx: Context, req: Request, body: bytes, folder_id: str) -> Response:
    """``GET /contacts/folders/{id}/lists``."""
    fid = path_int(folder_id, "folderId")
    if not ctx.account.folders.exists(fid):
        raise not_found("Folder ID not found")
    count, lists = ctx.account.lists.page(
        limit=q_int(req, "limit", default=10, maximum=50),
        offset=q_int(req, "offset", default=0),
        sort=q_sort(req),
        folder_id=fid,
    )
    for item in lists:
        item.pop("folderId", None)
    return json_response({"lists": lists, "count": count})
