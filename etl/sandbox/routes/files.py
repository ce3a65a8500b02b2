"""``GET /exports/{token}/{name}``: served files, without the key, like a presigned S3 URL."""

from __future__ import annotations

import time

from werkzeug.utils import send_file
from werkzeug.wrappers import Request, Response

from etl.sandbox.routes.common import EXPORT_PREFIX, Context, json_response


def download(ctx: Context, request: Request) -> tuple[Response, bool]:
    """The file behind an ``/exports/`` link, or its error; (response, processed)."""
    parts = request.path[len(EXPORT_PREFIX) :].split("/", 1)
    record = ctx.account.files.record(parts[0]) if len(parts) == 2 else None
    denied = ctx.config.current.expired_link_status == 403
    if record is None or record[1] != parts[1] or not record[0].exists():
        if denied:
            return _access_denied(), False
        return json_response(
            {"code": "document_not_found", "message": "File not found"}, 404
        ), False
    path, name, content_type, expires_at = record
    if time.time() > expires_at:
        if denied:
            return _access_denied(), False
        return json_response(
            {"code": "document_not_found", "message": "The export link has expired"}, 410
        ), False
    resp = send_file(
        path,
        request.environ,
        mimetype=content_type,
        as_attachment=True,
        download_name=name,
        max_age=0,
    )
    return resp, True


def _access_denied() -> Response:
    """What an expired or missing presigned S3 object answers (docs/brevo/FACTS.md F5)."""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
        "<Message>Request has expired</Message></Error>"
    )
    return Response(body, status=403, mimetype="application/xml")
