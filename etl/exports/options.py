"""Export options (one CLI invocation or flow run) -> the ``POST /contacts/export`` bodies to send.

Everything Brevo would refuse is refused here first, with the reason, so a bad combination costs
no API call and no rate-limit budget. The rules come from the spec text of
``requestContactExport`` (docs/brevo/FACTS.md section 4):

* ``actionForContacts`` needs a ``listId`` or a ``segmentId`` (one of them, never both);
* ``emailCampaignId`` is mandatory for openers, nonOpeners, clickers, nonClickers and
  unsubscribed, optional for hard/soft bounces, and ignored without ``actionForEmailCampaigns``;
* ``smsCampaignId`` is ignored without ``actionForSmsCampaigns``;
* ``exportAttributes`` is required when ``exportMandatoryAttributes`` is false;
* ``contactFilter`` (deprecated) and ``customContactFilter`` are mutually exclusive;
* ``importProcessId`` only applies with ``actionForContacts``.

Several lists or segments, and each kind of filter given (list/segment, email campaign, SMS
campaign, legacy filter), become separate exports whose results are merged (a union): Brevo has
no way to combine them into one export, and running them apart keeps each label meaningful.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urlparse

from etl.brevo.models import (
    ACTIONS_FOR_CONTACTS,
    ACTIONS_FOR_EMAIL_CAMPAIGNS,
    ACTIONS_FOR_SMS_CAMPAIGNS,
    EMAIL_ACTIONS_NEEDING_CAMPAIGN,
    Attribute,
    ContactFilter,
    ExportRequest,
)
from etl.errors import InputError
from etl.exports.legacy_filters import (
    WHOLE_ACCOUNT_SINCE,
    parse_export_attrib,
    translate_legacy_filter,
)
from etl.exports.read import ChannelFilter

SUBSCRIPTION_STATUSES: tuple[str, ...] = ("email_marketing", "sms_marketing")
METADATA_FIELDS: tuple[str, ...] = ("_listIds", "ADDED_TIME", "MODIFIED_TIME")
ALIASABLE_METADATA: tuple[str, ...] = ("ADDED_TIME", "MODIFIED_TIME")

_ALIAS = re.compile(r"^\s*([A-Za-z_]+)\s+as\s+([A-Za-z_][A-Za-z0-9_]*)\s*$", re.IGNORECASE)
_CANONICAL_METADATA = {m.lower(): m for m in METADATA_FIELDS}


@dataclass(frozen=True)
class ExportOptions:
    """Every option of an export run, in Python names (defaults as the issue gives them)."""

    attributes: tuple[str, ...] = ()
    list_ids: tuple[int, ...] = ()
    segment_ids: tuple[int, ...] = ()
    action: str | None = None
    email_campaign_action: str | None = None
    email_campaign_id: int | None = None
    sms_campaign_action: str | None = None
    sms_campaign_id: int | None = None
    import_process_id: int | None = None
    metadata: tuple[str, ...] = ()
    subscription_status: tuple[str, ...] = ()
    mandatory_attributes: bool = True
    utc: bool = True
    skip_files_merge: bool = False
    notify_url: str | None = None
    disable_notification: bool = False
    disable_frontend_notification: bool = False
    legacy_filter: str | None = None
    allow_deprecated_contact_filter: bool = False
    all_contacts: bool = False
    created_since: str | None = None


@dataclass(frozen=True)
class ExportPlan:
    """The exports to run for one set of options, plus caveats to show the user."""

    requests: tuple[tuple[str, ExportRequest], ...]
    notes: tuple[str, ...] = field(default=())
    timestamp_columns: tuple[str, ...] = ()
    row_filter: ChannelFilter | None = None  # rows to keep, filtered locally after download


# Attribute categories exported by default: the contact's own values. Transactional,
# calculated and global attributes are not per-contact columns of an export.
DEFAULT_ATTRIBUTE_CATEGORIES: tuple[str, ...] = ("normal", "category")


def default_export_attributes(attributes: Iterable[Attribute]) -> tuple[str, ...]:
    """The attributes exported without ``--attributes``: every contact attribute of the account.

    EMAIL is left out: it is a mandatory attribute, exported anyway.
    """
    names = (
        a.name.upper()
        for a in attributes
        if a.category in DEFAULT_ATTRIBUTE_CATEGORIES and a.name.upper() != "EMAIL"
    )
    return tuple(dict.fromkeys(names))


def created_since_value(value: str) -> str:
    """``createdSince`` from a date (``2026-01-31``) or an ISO date-time (naive means UTC).

    Raises:
        InputError: not a date or date-time.
    """
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--created-since must be a date (2026-01-31) or an ISO date-time, got {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _as_seq(values: str | Iterable[str]) -> Iterable[str]:
    return [values] if isinstance(values, str) else values


def _ids(values: Iterable[object], what: str) -> tuple[int, ...]:
    result: list[int] = []
    for value in values:
        number = _one_id(value, what)
        if number not in result:
            result.append(number)
    return tuple(result)


def _one_id(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdecimal():
        number = int(value.strip())
    else:
        raise InputError(f"{what} must be a positive integer, got {value!r}")
    if number <= 0:
        raise InputError(f"{what} must be a positive integer, got {number}")
    return number


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    """Match case-insensitively, returning Brevo's spelling."""
    for name in allowed:
        if value.strip().lower() == name.lower():
            return name
    raise InputError(f"unknown {what} {value!r}; expected one of: {', '.join(allowed)}")


def normalise_metadata(values: Iterable[str]) -> tuple[str, ...]:
    """Check ``exportMetadata`` names; ``ADDED_TIME AS _ADDED_TIME`` aliases are kept as given.

    Raises:
        InputError: an unknown name, or an alias of anything but ADDED_TIME/MODIFIED_TIME.
    """
    result: list[str] = []
    for raw in [values] if isinstance(values, str) else values:
        for item in str(raw).split(","):
            text = item.strip()
            if not text:
                continue
            alias = _ALIAS.match(text)
            if alias:
                source = _CANONICAL_METADATA.get(alias.group(1).lower())
                if source not in ALIASABLE_METADATA:
                    raise InputError(
                        f"metadata alias {text!r}: only {' and '.join(ALIASABLE_METADATA)} "
                        "can be aliased (e.g. 'ADDED_TIME AS _ADDED_TIME')"
                    )
                name = f"{source} AS {alias.group(2)}"
            elif " " in text:
                raise InputError(
                    f"bad metadata {text!r}; write an alias as 'ADDED_TIME AS _ADDED_TIME'"
                )
            else:
                canonical = _CANONICAL_METADATA.get(text.lower())
                if canonical is None:
                    raise InputError(
                        f"unknown metadata {text!r}; expected one of: {', '.join(METADATA_FIELDS)}"
                        " (ADDED_TIME/MODIFIED_TIME may be aliased: 'ADDED_TIME AS _ADDED_TIME')"
                    )
                name = canonical
            if name not in result:
                result.append(name)
    return tuple(result)


def metadata_timestamp_columns(metadata: Iterable[str]) -> tuple[str, ...]:
    """Column names the export will carry for date metadata (aliases included)."""
    columns: list[str] = []
    for item in metadata:
        alias = _ALIAS.match(item)
        if alias:
            columns.append(alias.group(2))
        elif item in ALIASABLE_METADATA:
            columns.append(item)
    return tuple(columns)


def _check_url(url: str) -> str:
    parsed = urlparse(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise InputError(f"notify URL must be an http(s) URL, got {url!r}")
    return url.strip()


def validate_contact_filter(flt: ContactFilter) -> None:
    """Refuse a single ``customContactFilter`` that Brevo would reject.

    Raises:
        InputError: with the reason.
    """
    actions = [
        a
        for a in (
            flt.action_for_contacts,
            flt.action_for_email_campaigns,
            flt.action_for_sms_campaigns,
        )
        if a
    ]
    if not actions:
        raise InputError(
            "an export needs a filter: a list or segment (actionForContacts), an email campaign "
            "action or an SMS campaign action"
        )
    if flt.list_id is not None and flt.segment_id is not None:
        raise InputError("one export filter cannot take both a list id and a segment id")
    whole_account = flt.action_for_contacts == "allContacts" and flt.created_since is not None
    if flt.action_for_contacts:
        _choice(flt.action_for_contacts, ACTIONS_FOR_CONTACTS, "contacts action")
        if flt.list_id is None and flt.segment_id is None and not whole_account:
            raise InputError(
                f"action {flt.action_for_contacts!r} (actionForContacts) needs a list id or a "
                "segment id"
            )
    elif flt.list_id is not None or flt.segment_id is not None:
        raise InputError("a list or segment id needs a contacts action (actionForContacts)")
    if flt.import_process_id is not None and not flt.action_for_contacts:
        raise InputError(
            "importProcessId only applies with a contacts action (a list or segment export)"
        )
    if flt.action_for_email_campaigns:
        action = _choice(
            flt.action_for_email_campaigns, ACTIONS_FOR_EMAIL_CAMPAIGNS, "email action"
        )
        if action in EMAIL_ACTIONS_NEEDING_CAMPAIGN and flt.email_campaign_id is None:
            raise InputError(f"email campaign action {action!r} needs an email campaign id")
    elif flt.email_campaign_id is not None:
        raise InputError("an email campaign id needs an email campaign action")
    if flt.action_for_sms_campaigns:
        _choice(flt.action_for_sms_campaigns, ACTIONS_FOR_SMS_CAMPAIGNS, "SMS action")
    elif flt.sms_campaign_id is not None:
        raise InputError("an SMS campaign id needs an SMS campaign action")


def _label(flt: ContactFilter) -> str:
    """Short stable label of a filter, e.g. ``list:3`` or ``openers:campaign:7``."""
    if flt.action_for_contacts and flt.list_id is None and flt.segment_id is None:
        since = (flt.created_since or "")[:10]
        return f"all-contacts:since:{since}"
    if flt.action_for_contacts:
        target = f"list:{flt.list_id}" if flt.list_id is not None else f"segment:{flt.segment_id}"
        if flt.action_for_contacts != "allContacts":
            target = f"{flt.action_for_contacts}:{target}"
        if flt.import_process_id is not None:
            target += f":import:{flt.import_process_id}"
        return target
    if flt.action_for_email_campaigns:
        campaign = flt.email_campaign_id
        where = f"campaign:{campaign}" if campaign is not None else "campaigns:all"
        return f"{flt.action_for_email_campaigns}:{where}"
    campaign = flt.sms_campaign_id
    where = f"sms-campaign:{campaign}" if campaign is not None else "sms-campaigns:all"
    return f"sms-{flt.action_for_sms_campaigns}:{where}"


def plan_exports(
    opts: ExportOptions,
    *,
    all_list_ids: Sequence[int] = (),
    default_attributes: Sequence[str] = (),
) -> ExportPlan:
    """Validate ``opts`` and return the exports to run, with notes.

    Args:
        opts: the run's options.
        all_list_ids: the account's lists (per-list legacy filters).
        default_attributes: exported when ``opts.attributes`` is empty
            (:func:`default_export_attributes` of the account's attributes).

    Raises:
        InputError: any combination Brevo would reject, with the reason.
    """
    attributes = parse_export_attrib(opts.attributes) if opts.attributes else ()
    if not opts.mandatory_attributes and not attributes:
        raise InputError(
            "--no-mandatory-attributes needs --attributes (Brevo requires exportAttributes when "
            "exportMandatoryAttributes is false)"
        )
    if not attributes and default_attributes:
        attributes = parse_export_attrib(list(default_attributes))
    metadata = normalise_metadata(opts.metadata)
    statuses = tuple(
        dict.fromkeys(
            _choice(s, SUBSCRIPTION_STATUSES, "subscription status")
            for raw in _as_seq(opts.subscription_status)
            for s in str(raw).split(",")
            if s.strip()
        )
    )
    notify_url = _check_url(opts.notify_url) if opts.notify_url else None
    list_ids = _ids(opts.list_ids, "list id")
    segment_ids = _ids(opts.segment_ids, "segment id")
    email_id = (
        _one_id(opts.email_campaign_id, "email campaign id")
        if opts.email_campaign_id is not None
        else None
    )
    sms_id = (
        _one_id(opts.sms_campaign_id, "SMS campaign id")
        if opts.sms_campaign_id is not None
        else None
    )
    import_id = (
        _one_id(opts.import_process_id, "import process id")
        if opts.import_process_id is not None
        else None
    )
    action = _choice(opts.action, ACTIONS_FOR_CONTACTS, "contacts action") if opts.action else None

    filters: list[ContactFilter] = []
    notes: list[str] = []
    deprecated: dict[str, object] | None = None
    row_filter: ChannelFilter | None = None
    created_since = created_since_value(opts.created_since) if opts.created_since else None

    if opts.allow_deprecated_contact_filter and not opts.legacy_filter:
        raise InputError("--allow-deprecated-contact-filter only applies to --legacy-filter")
    if opts.legacy_filter:
        others = [
            name
            for name, given in (
                ("--list-id", list_ids),
                ("--segment-id", segment_ids),
                ("--action", action),
                ("--email-campaign-action", opts.email_campaign_action),
                ("--email-campaign-id", email_id),
                ("--sms-campaign-action", opts.sms_campaign_action),
                ("--sms-campaign-id", sms_id),
                ("--import-process-id", import_id),
                ("--all-contacts", opts.all_contacts),
            )
            if given
        ]
        if others:
            raise InputError(
                f"--legacy-filter cannot be combined with {', '.join(others)}: it is the whole "
                "filter (Brevo takes contactFilter or customContactFilter, not both)"
            )
        translated = translate_legacy_filter(
            opts.legacy_filter,
            allow_deprecated_contact_filter=opts.allow_deprecated_contact_filter,
        )
        notes.extend(translated.notes)
        row_filter = translated.row_filter
        if created_since is not None and row_filter is None:
            raise InputError(
                "--created-since only applies to --all-contacts (or a legacy filter that names "
                "no list)"
            )
        if translated.deprecated_contact_filter is not None:
            deprecated = dict(translated.deprecated_contact_filter)
        elif translated.per_list:
            account_lists = _ids(all_list_ids, "list id")
            if not account_lists:
                raise InputError(
                    'legacy filter {"blacklisted": 1} runs one export per list, but the account '
                    "has no lists (or none were given)"
                )
            filters.extend(translated.for_lists(account_lists))
        elif row_filter is not None:
            filters.extend(
                replace(f, created_since=created_since or f.created_since)
                for f in translated.filters
            )
        else:
            filters.extend(translated.filters)
    elif opts.all_contacts:
        others = [
            name
            for name, given in (
                ("--list-id", list_ids),
                ("--segment-id", segment_ids),
                ("--import-process-id", import_id),
                ("--email-campaign-action", opts.email_campaign_action),
                ("--sms-campaign-action", opts.sms_campaign_action),
            )
            if given
        ]
        if others:
            raise InputError(
                f"--all-contacts cannot be combined with {', '.join(others)}: it exports the "
                "whole account"
            )
        if action not in (None, "allContacts"):
            raise InputError(
                f"--all-contacts exports every contact; --action {action} needs --list-id or "
                "--segment-id"
            )
        if created_since is None:
            created_since = WHOLE_ACCOUNT_SINCE
            notes.append(
                f"--all-contacts without --created-since: every contact created since "
                f"{WHOLE_ACCOUNT_SINCE[:10]} (Brevo needs createdSince for a whole-account export)"
            )
        filters.append(
            ContactFilter(action_for_contacts="allContacts", created_since=created_since)
        )
    else:
        if created_since is not None:
            raise InputError("--created-since only applies to --all-contacts")
        if action and not (list_ids or segment_ids):
            raise InputError(
                f"--action {action} (actionForContacts) needs --list-id or --segment-id"
            )
        if import_id is not None and not (list_ids or segment_ids):
            raise InputError("--import-process-id only applies to a --list-id/--segment-id export")
        contacts_action = action or "allContacts"
        filters.extend(
            ContactFilter(
                action_for_contacts=contacts_action, list_id=i, import_process_id=import_id
            )
            for i in list_ids
        )
        filters.extend(
            ContactFilter(
                action_for_contacts=contacts_action, segment_id=i, import_process_id=import_id
            )
            for i in segment_ids
        )
        if opts.email_campaign_action:
            filters.append(
                ContactFilter(
                    action_for_email_campaigns=_choice(
                        opts.email_campaign_action, ACTIONS_FOR_EMAIL_CAMPAIGNS, "email action"
                    ),
                    email_campaign_id=email_id,
                )
            )
        elif email_id is not None:
            raise InputError("--email-campaign-id needs --email-campaign-action")
        if opts.sms_campaign_action:
            filters.append(
                ContactFilter(
                    action_for_sms_campaigns=_choice(
                        opts.sms_campaign_action, ACTIONS_FOR_SMS_CAMPAIGNS, "SMS action"
                    ),
                    sms_campaign_id=sms_id,
                )
            )
        elif sms_id is not None:
            raise InputError("--sms-campaign-id needs --sms-campaign-action")
        if not filters:
            raise InputError(
                "nothing to export: give --all-contacts, --list-id, --segment-id, "
                "--email-campaign-action, --sms-campaign-action or --legacy-filter"
            )

    for flt in filters:
        validate_contact_filter(flt)
    if row_filter is not None and row_filter.channel not in statuses:
        # The local filter reads the subscription-status columns: ask for its channel too.
        statuses = (*statuses, row_filter.channel)

    def request(
        flt: ContactFilter | None, contact_filter: dict[str, object] | None
    ) -> ExportRequest:
        return ExportRequest(
            custom_contact_filter=flt,
            contact_filter=contact_filter,
            export_attributes=attributes,
            export_metadata=metadata,
            export_subscription_status=statuses,
            export_mandatory_attributes=opts.mandatory_attributes,
            export_date_in_utc=opts.utc,
            skip_files_merge=opts.skip_files_merge,
            notify_url=notify_url,
            disable_notification=opts.disable_notification,
            disable_frontend_notification=opts.disable_frontend_notification,
        )

    planned: dict[str, ExportRequest] = {}
    if deprecated is not None:
        planned["contactFilter:blacklisted"] = request(None, deprecated)
    for flt in filters:
        planned.setdefault(_label(flt), request(flt, None))
    timestamps = (
        ("ADDED_TIME", "MODIFIED_TIME") if opts.mandatory_attributes else ()
    ) + metadata_timestamp_columns(metadata)
    return ExportPlan(
        requests=tuple(planned.items()),
        notes=tuple(notes),
        timestamp_columns=tuple(dict.fromkeys(timestamps)),
        row_filter=row_filter,
    )


def build_export_requests(
    opts: ExportOptions, *, all_list_ids: Sequence[int] = ()
) -> list[tuple[str, ExportRequest]]:
    """Return ``(label, request)`` for each export to run; see :func:`plan_exports`.

    Raises:
        InputError: any combination Brevo would reject, before any call.
    """
    return list(plan_exports(opts, all_list_ids=all_list_ids).requests)
