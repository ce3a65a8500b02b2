"""``GET /contacts/segments``."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from etl.sandbox.routes.common import Context, json_response, q_int, q_sort


def handle_segments(ctx: Context, req: Request, body: bytes) -> Response:
    """``GET /contacts/segments``: a page of segments."""
    count, segments = ctx.account.segments.page(
        limit=q_int(req, "limit", default=10, maximum=50),
        offset=q_int(req, "offset", default=0),
        sort=q_sort(req),
    )
    return json_response({"segments": segments, "count": count})
