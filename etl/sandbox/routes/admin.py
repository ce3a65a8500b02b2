"""``/_sandbox/``: the admin API (reset, faults, config, seeded events and segments, the
request log, notifications). It needs the key but is neither faulted, rate-limited nor
recorded; its handlers work on the whole app (``AdminHost``), not only the account."""

from __future__ import annotations

from typing import Any, Protocol

from werkzeug.wrappers import Request, Response

from etl.sandbox.errors import invalid, missing
from etl.sandbox.faults import FaultSet
from etl.sandbox.routes.common import Context, json_response, object_body
from etl.sandbox.state import Account
from etl.sandbox.values import parse_moment, utc_now_iso

EMAIL_EVENTS = (
    "delivered",
    "open",
    "click",
    "hardBounce",
    "softBounce",
    "unsubscribe",
    "spam",
    "listUnsubscribe",
)
SMS_EVENTS = ("delivered", "hardBounce", "softBounce", "unsubscribe")
_EVENT_KEYS = frozenset(
    {"channel", "event", "campaign_id", "list_id", "emails", "time", "ip", "url"}
)


class AdminHost(Protocol):
    """What the admin handlers need of the app."""

    @property
    def ctx(self) -> Context: ...

    @property
    def faults(self) -> FaultSet: ...

    def reset(self) -> None: ...

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]: ...

    def add_fault(self, raw: dict[str, Any]) -> dict[str, Any]: ...

    def requests_log(self) -> list[dict[str, Any]]: ...

    def clear_requests_log(self) -> None: ...


def seed_events(account: Account, raw: dict[str, Any]) -> dict[str, Any]:
    """Record campaign events (the body of ``POST /_sandbox/events``)."""
    channel = raw.get("channel", "email")
    if channel not in ("email", "sms"):
        raise invalid("channel must be email or sms")
    event = raw.get("event")
    allowed = EMAIL_EVENTS if channel == "email" else SMS_EVENTS
    if event not in allowed:
        raise invalid(f"event must be one of {', '.join(allowed)}")
    campaign = raw.get("campaign_id")
    list_id = raw.get("list_id")
    if event == "listUnsubscribe":
        if isinstance(list_id, bool) or not isinstance(list_id, int):
            raise missing("list_id is mandatory for listUnsubscribe")
    elif isinstance(campaign, bool) or not isinstance(campaign, int):
        raise missing("campaign_id is mandatory")
    emails = raw.get("emails")
    if not isinstance(emails, list) or not emails or not all(isinstance(e, str) for e in emails):
        raise missing("emails must be a non-empty array of strings")
    when = utc_now_iso()
    if raw.get("time") is not None:
        parsed = parse_moment(str(raw["time"]))
        if parsed is None:
            raise invalid("time must be an ISO 8601 date-time")
        when = parsed
    for key in ("ip", "url"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise invalid(f"{key} must be a string")
    unknown_keys = set(raw) - _EVENT_KEYS
    if unknown_keys:
        raise invalid(f"Unknown keys: {', '.join(sorted(unknown_keys))}")
    recorded, unknown = account.events.record(
        channel=channel,
        event=str(event),
        campaign_id=campaign if event != "listUnsubscribe" else None,
        list_id=list_id if event == "listUnsubscribe" else None,
        emails=emails,
        when=when,
        ip=raw.get("ip") or "127.0.0.1",
        url=raw.get("url") or ("https://example.com/" if event == "click" else None),
    )
    return {"recorded": recorded, "unknown": unknown}


def create_segment(account: Account, raw: dict[str, Any]) -> dict[str, Any]:
    """Create a segment from emails (the body of ``POST /_sandbox/segments``)."""
    name, emails = raw.get("name"), raw.get("emails", [])
    if not isinstance(name, str) or not name.strip():
        raise missing("name is mandatory")
    if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
        raise invalid("emails must be an array of strings")
    segment_id, unknown = account.segments.create(name.strip(), emails)
    return {"id": segment_id, "unknown": unknown}


def handle_reset(app: AdminHost, req: Request, body: bytes) -> Response:
    """``POST /_sandbox/reset``."""
    app.reset()
    return Response(status=204)


def handle_faults(app: AdminHost, req: Request, body: bytes) -> Response:
    """``GET``, ``POST`` and ``DELETE /_sandbox/faults``."""
    if req.method == "DELETE":
        app.faults.clear()
        return Response(status=204)
    if req.method == "GET":
        return json_response({"faults": app.faults.as_list()})
    return json_response(app.add_fault(object_body(body)), 201)


def handle_config(app: AdminHost, req: Request, body: bytes) -> Response:
    """``GET`` and ``POST /_sandbox/config``."""
    if req.method == "GET":
        return json_response(app.ctx.config.current.as_dict())
    return json_response(app.configure(object_body(body)))


def handle_events(app: AdminHost, req: Request, body: bytes) -> Response:
    """``POST /_sandbox/events``."""
    return json_response(seed_events(app.ctx.account, object_body(body)))


def handle_segments(app: AdminHost, req: Request, body: bytes) -> Response:
    """``POST /_sandbox/segments``."""
    return json_response(create_segment(app.ctx.account, object_body(body)), 201)


def handle_requests(app: AdminHost, req: Request, body: bytes) -> Response:
    """``GET`` and ``DELETE /_sandbox/requests``."""
    if req.method == "DELETE":
        app.clear_requests_log()
        return Response(status=204)
    return json_response({"requests": app.requests_log()})


def handle_notifications(app: AdminHost, req: Request, body: bytes) -> Response:
    """``GET /_sandbox/notifications``."""
    return json_response({"notifications": list(app.ctx.runner.notifications)})
