"""Prefect flow for the legacy v2 "User" operations on v3: upsert, get, unlink from all lists."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from prefect import flow

from etl.contacts import get_contact_details, unlink_from_all_lists, upsert_contact
from etl.settings import DEFAULT_SECRET_BLOCK
from flows._common import build_client, create_markdown_artifact, get_run_logger, markdown_table

Blacklisted = Literal["0", "1", ""]
"""A blacklist flag: set ("1"), cleared ("0"), or "" (create: not blacklisted; update: unchanged)."""


@flow(name="contact-ops", log_prints=True)
def contact_ops(
    operation: Literal["upsert", "get", "unlink-all"],
    email: str,
    attributes: dict[str, str] | None = None,
    blacklisted: Blacklisted | None = None,
    blacklisted_sms: Blacklisted | None = None,
    list_ids: list[int] | None = None,
    unlink_list_ids: list[int] | None = None,
    default_region: str | None = None,
    dayfirst: bool | None = None,
    secret_block: str | None = DEFAULT_SECRET_BLOCK,
    credentials_block: str | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Run one contact operation; ``blacklisted``/``blacklisted_sms`` take "0", "1" or "".

    This signature is the one definition of the contact options: ``contacts-etl contact
    upsert`` derives its command line from it and these ``Args`` (see ``etl.cli.flow_options``).

    Args:
        operation: upsert, get or unlink-all.
        email: The contact's email address.
        attributes: Attribute value (repeatable).
        blacklisted: Email blacklist: 1, 0, or "" (create: not blacklisted; update: unchanged).
        blacklisted_sms: SMS blacklist, same semantics.
        list_ids: List to link (repeatable).
        unlink_list_ids: List to unlink (repeatable).
        default_region: Region for national phone numbers, e.g. FR.
        dayfirst: Read a date that is a date both ways (03/02/2024) day-first (--dayfirst) or
            month-first (--monthfirst); neither: such a value is refused (exit 2).
        secret_block: Prefect Secret block holding the API key, used when BREVO_API_KEY is
            not set.
        credentials_block: A BrevoCredentials block (key, base URL, rate-limit tier); wins
            over BREVO_API_KEY and the Secret block.
        base_url: Brevo API base URL (default: BREVO_BASE_URL, else https://api.brevo.com/v3).
    """
    logger = get_run_logger()
    with build_client(
        secret_block=secret_block,
        base_url=base_url,
        credentials_block=credentials_block,
    ) as client:
        if operation == "upsert":
            result = upsert_contact(
                client,
                email,
                attributes=attributes or {},
                blacklisted=blacklisted,
                blacklisted_sms=blacklisted_sms,
                list_ids=list_ids or (),
                unlink_list_ids=unlink_list_ids or (),
                default_region=default_region,
                dayfirst=dayfirst,
            )
            logger.info("upsert %s: %s", result.email, result.line())
            return asdict(result)
        if operation == "get":
            details = get_contact_details(client, email)
            create_markdown_artifact(
                key="contact-details",
                markdown=f"# {details.email}\n\n"
                + markdown_table(
                    [{"statistic": k, "count": v} for k, v in details.statistics.items()]
                ),
            )
            return asdict(details)
        if operation == "unlink-all":
            unlinked = unlink_from_all_lists(client, email)
            logger.info("unlinked %s from lists %s", email, unlinked or "none")
            return {"email": email, "unlinked_list_ids": unlinked}
    raise ValueError(f"unknown operation {operation!r}: upsert, get or unlink-all")
