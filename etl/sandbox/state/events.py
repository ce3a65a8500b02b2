"""Campaign events: seeded by the admin API, read back as a contact's ``statistics``.

Events also carry side effects on contacts (blocklisting, list unsubscription); see
``Events.record``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from etl.sandbox.errors import invalid
from etl.sandbox.state.db import Database, ids_by_email


def record_admin_unsubscribe(db: sqlite3.Connection, contact_id: int, now: str) -> None:
    """The event a contact gets when it is blocklisted for email through the API."""
    db.execute(
        "INSERT INTO events(contact_id, channel, event, time, ip) VALUES (?,?,?,?,?)",
        (contact_id, "email", "adminUnsubscribe", now, "127.0.0.1"),
    )


class Events:
    """The ``events`` table."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def record(
        self,
        *,
        channel: str,
        event: str,
        campaign_id: int | None,
        list_id: int | None,
        emails: Sequence[str],
        when: str,
        ip: str | None,
        url: str | None,
    ) -> tuple[int, list[str]]:
        """Admin: seed events for contacts by email; returns (recorded, unknown emails).

        Side effects follow Brevo: an email ``unsubscribe`` or ``spam`` complaint and a
        ``hardBounce`` blocklist the contact for email; an SMS ``unsubscribe`` blocklists it
        for SMS; ``listUnsubscribe`` unsubscribes it from that list only (it then shows in
        ``listUnsubscribed`` instead of ``listIds``).
        """
        with self._database.tx() as db:
            found = ids_by_email(db, emails)
            ids = list(dict.fromkeys(found.values()))
            if event == "listUnsubscribe":
                if (
                    list_id is None
                    or not db.execute("SELECT 1 FROM lists WHERE id=?", (list_id,)).fetchone()
                ):
                    raise invalid("list_id must be an existing list")
                db.executemany(
                    "INSERT INTO list_members(list_id, contact_id, unsubscribed) VALUES (?,?,1) "
                    "ON CONFLICT(list_id, contact_id) DO UPDATE SET unsubscribed=1",
                    [(list_id, cid) for cid in ids],
                )
            db.executemany(
                "INSERT INTO events(contact_id, channel, event, campaign_id, list_id, time, ip, "
                "url) VALUES (?,?,?,?,?,?,?,?)",
                [(cid, channel, event, campaign_id, list_id, when, ip, url) for cid in ids],
            )
            column = None
            if channel == "email" and event in ("unsubscribe", "spam", "hardBounce"):
                column = "email_bl"
            elif channel == "sms" and event == "unsubscribe":
                column = "sms_bl"
            if column is not None:
                db.executemany(
                    f"UPDATE contacts SET {column}=1 WHERE id=?", [(cid,) for cid in ids]
                )
            db.executemany(
                "UPDATE contacts SET modified_at=? WHERE id=?", [(when, cid) for cid in ids]
            )
        unknown = [e for e in emails if e.strip().lower() not in found]
        return len(ids), unknown

    def statistics(self, contact_id: int) -> dict[str, Any]:
        """Email-campaign statistics of a contact, in the spec's item shapes."""
        rows = self._database.query(
            "SELECT event, campaign_id, time, ip, url FROM events "
            "WHERE contact_id=? AND channel='email' ORDER BY time, id",
            (contact_id,),
        )
        stats: dict[str, Any] = {
            "messagesSent": [],
            "hardBounces": [],
            "softBounces": [],
            "complaints": [],
            "unsubscriptions": {"userUnsubscription": [], "adminUnsubscription": []},
            "opened": [],
            "clicked": [],
            "delivered": [],
        }
        opened: dict[int, dict[str, Any]] = {}
        clicked: dict[int, dict[str, dict[str, Any]]] = {}
        simple = {
            "delivered": ("messagesSent", "delivered"),
            "hardBounce": ("hardBounces",),
            "softBounce": ("softBounces",),
            "spam": ("complaints",),
        }
        for event, campaign, when, ip, url in rows:
            if event in simple:
                for key in simple[event]:
                    stats[key].append({"campaignId": campaign, "eventTime": when})
            elif event == "unsubscribe":
                stats["unsubscriptions"]["userUnsubscription"].append(
                    {"campaignId": campaign, "eventTime": when, "ip": ip or "127.0.0.1"}
                )
            elif event == "adminUnsubscribe":
                stats["unsubscriptions"]["adminUnsubscription"].append(
                    {"eventTime": when, "ip": ip or "127.0.0.1"}
                )
            elif event == "open":
                entry = opened.setdefault(
                    campaign, {"campaignId": campaign, "count": 0, "eventTime": when, "ip": ip}
                )
                entry["count"] += 1
                entry["eventTime"], entry["ip"] = when, ip or "127.0.0.1"
            elif event == "click":
                link = clicked.setdefault(campaign, {}).setdefault(
                    url or "", {"count": 0, "eventTime": when, "ip": ip, "url": url or ""}
                )
                link["count"] += 1
                link["eventTime"], link["ip"] = when, ip or "127.0.0.1"
        stats["opened"] = list(opened.values())
        stats["clicked"] = [
            {"campaignId": campaign, "links": list(links.values())}
            for campaign, links in clicked.items()
        ]
        return stats
