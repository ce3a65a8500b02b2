"""``/contacts/attributes`` and ``/contacts/attributes/{category}/{name}``."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from etl.sandbox.routes.common import Context, json_response, object_body


def handle_attributes(ctx: Context, req: Request, body: bytes) -> Response:
    """``GET /contacts/attributes``."""
    attrs = [a.as_wire() for a in ctx.account.attributes.defs().values()]
    return json_response({"attributes": attrs})


def handle_attribute(ctx: Context, req: Request, body: bytes, category: str, name: str) -> Response:
    """``POST`` and ``DELETE /contacts/attributes/{category}/{name}``."""
    if req.method == "DELETE":
        ctx.account.attributes.delete(category, name)
        return Response(status=204)
    data = object_body(body) if body.strip() else {}
    ctx.account.attributes.create(category, name, data)
    return Response(status=201)
