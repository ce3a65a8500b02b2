"""``GET /account``."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from etl.sandbox.profiles import account_wire
from etl.sandbox.routes.common import Context, json_response


def handle_account(ctx: Context, req: Request, body: bytes) -> Response:
    """``GET /account``: the configured identity (``POST /_sandbox/config {"account"}``)."""
    return json_response(account_wire(ctx.config.current.account))
