"""Wire types for the Brevo v3 endpoints the pipeline uses.

Brevo's own field names (``listIds``, ``updateExistingContacts``, ``processId`` ...) appear only
here and in the ``to_wire``/``from_wire`` helpers: the rest of the code base speaks Python names.
Requests are frozen dataclasses with a ``to_wire()`` that drops unset optional fields, so what is
sent is exactly what the caller asked for. Responses are parsed leniently (see docs/brevo/FACTS.md section 11):
unknown status spellings, an ``export_url`` wrapped in an HTML anchor and ``info.import`` values
that are counts, URLs or null are all accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

ActionForContacts = Literal["allContacts", "subscribed", "unsubscribed", "unsubscribedPerList"]
ActionForEmailCampaigns = Literal[
    "openers", "nonOpeners", "clickers", "nonClickers", "unsubscribed", "hardBounces", "softBounces"
]
ActionForSmsCampaigns = Literal["hardBounces", "softBounces", "unsubscribed"]
AttributeCategory = Literal["normal", "transactional", "category", "calculated", "global"]
AttributeType = Literal[
    "text", "date", "float", "id", "boolean", "multiple-choice", "user", "category"
]
SubscriptionStatus = Literal["email_marketing", "sms_marketing"]

ACTIONS_FOR_CONTACTS: tuple[str, ...] = (
    "allContacts",
    "subscribed",
    "unsubscribed",
    "unsubscribedPerList",
)
ACTIONS_FOR_EMAIL_CAMPAIGNS: tuple[str, ...] = (
    "openers",
    "nonOpeners",
    "clickers",
    "nonClickers",
    "unsubscribed",
    "hardBounces",
    "softBounces",
)
# Email campaign actions that cannot be asked without a campaign id (spec text).
EMAIL_ACTIONS_NEEDING_CAMPAIGN: tuple[str, ...] = (
    "openers",
    "nonOpeners",
    "clickers",
    "nonClickers",
    "unsubscribed",
)
ACTIONS_FOR_SMS_CAMPAIGNS: tuple[str, ...] = ("hardBounces", "softBounces", "unsubscribed")

# Every status spelling seen in a spec edition or an official SDK (docs/brevo/FACTS.md sections 5 and 11).
PENDING_STATUSES: frozenset[str] = frozenset({"queued", "in_process", "processing"})
FAILED_STATUSES: frozenset[str] = frozenset({"failed", "cancelled", "error", "aborted"})
COMPLETED_STATUS = "completed"

_HREF = re.compile(r"""href\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def _drop_none(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if v is not None}


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class NewList:
    """``newList``: a list Brevo creates before importing into it."""

    name: str
    folder_id: int | None = None

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON object Brevo expects."""
        return _drop_none({"listName": self.name, "folderId": self.folder_id})


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """Body of ``POST /contacts/import``. Exactly one of file_body, file_url, json_body."""

    file_body: str | None = None
    file_url: str | None = None
    json_body: list[dict[str, Any]] | None = None
    list_ids: tuple[int, ...] = ()
    new_list: NewList | None = None
    update_existing_contacts: bool = True
    empty_contacts_attributes: bool = False
    email_blacklist: bool = False
    sms_blacklist: bool = False
    notify_url: str | None = None
    disable_notification: bool = False

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON body; defaults Brevo already assumes are still sent explicitly."""
        return _drop_none(
            {
                "fileBody": self.file_body,
                "fileUrl": self.file_url,
                "jsonBody": self.json_body,
                "listIds": list(self.list_ids) if self.list_ids else None,
                "newList": self.new_list.to_wire() if self.new_list else None,
                "updateExistingContacts": self.update_existing_contacts,
                "emptyContactsAttributes": self.empty_contacts_attributes,
                "emailBlacklist": self.email_blacklist,
                "smsBlacklist": self.sms_blacklist,
                "notifyUrl": self.notify_url,
                "disableNotification": self.disable_notification,
            }
        )


@dataclass(frozen=True, slots=True)
class ContactFilter:
    """``customContactFilter`` of an export."""

    action_for_contacts: str | None = None
    action_for_email_campaigns: str | None = None
    action_for_sms_campaigns: str | None = None
    list_id: int | None = None
    segment_id: int | None = None
    email_campaign_id: int | None = None
    sms_campaign_id: int | None = None
    import_process_id: int | None = None
    # Not in any spec: with it, allContacts needs no list (a whole-account export, docs/brevo/FACTS.md F7).
    created_since: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON object Brevo expects."""
        return _drop_none(
            {
                "actionForContacts": self.action_for_contacts,
                "actionForEmailCampaigns": self.action_for_email_campaigns,
                "actionForSmsCampaigns": self.action_for_sms_campaigns,
                "listId": self.list_id,
                "segmentId": self.segment_id,
                "emailCampaignId": self.email_campaign_id,
                "smsCampaignId": self.sms_campaign_id,
                "importProcessId": self.import_process_id,
                "createdSince": self.created_since,
            }
        )

    def describe(self) -> str:
        """Short human label, e.g. ``allContacts listId=3``."""
        return " ".join(f"{k}={v}" for k, v in self.to_wire().items())


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """Body of ``POST /contacts/export``.

    ``contact_filter`` is the deprecated v2-era filter (``{"blacklisted": true}``); Brevo takes
    either it or ``custom_contact_filter``, never both.
    """

    custom_contact_filter: ContactFilter | None = None
    export_attributes: tuple[str, ...] = ()
    export_metadata: tuple[str, ...] = ()
    export_subscription_status: tuple[str, ...] = ()
    export_mandatory_attributes: bool = True
    export_date_in_utc: bool = True
    skip_files_merge: bool = False
    notify_url: str | None = None
    disable_notification: bool = False
    disable_frontend_notification: bool = False
    contact_filter: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON body."""
        return _drop_none(
            {
                "exportAttributes": list(self.export_attributes) or None,
                "customContactFilter": (
                    self.custom_contact_filter.to_wire() if self.custom_contact_filter else None
                ),
                "contactFilter": self.contact_filter,
                "exportMetadata": list(self.export_metadata) or None,
                "exportSubscriptionStatus": list(self.export_subscription_status) or None,
                "exportMandatoryAttributes": self.export_mandatory_attributes,
                "exportDateInUTC": self.export_date_in_utc,
                "skipFilesMerge": self.skip_files_merge or None,
                "notifyUrl": self.notify_url,
                "disableNotification": self.disable_notification,
                "disableFrontendNotification": self.disable_frontend_notification or None,
            }
        )


@dataclass(frozen=True, slots=True)
class CreateContact:
    """Body of ``POST /contacts``."""

    email: str | None = None
    ext_id: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    email_blacklisted: bool | None = None
    sms_blacklisted: bool | None = None
    list_ids: tuple[int, ...] = ()
    update_enabled: bool = False

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON body."""
        return _drop_none(
            {
                "email": self.email,
                "ext_id": self.ext_id,
                "attributes": self.attributes or None,
                "emailBlacklisted": self.email_blacklisted,
                "smsBlacklisted": self.sms_blacklisted,
                "listIds": list(self.list_ids) or None,
                "updateEnabled": self.update_enabled,
            }
        )


@dataclass(frozen=True, slots=True)
class UpdateContact:
    """Body of ``PUT /contacts/{identifier}``; ``None`` leaves a field unchanged."""

    attributes: dict[str, Any] = field(default_factory=dict)
    email_blacklisted: bool | None = None
    sms_blacklisted: bool | None = None
    list_ids: tuple[int, ...] = ()
    unlink_list_ids: tuple[int, ...] = ()
    ext_id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        """Return the JSON body."""
        return _drop_none(
            {
                "attributes": self.attributes or None,
                "emailBlacklisted": self.email_blacklisted,
                "smsBlacklisted": self.sms_blacklisted,
                "listIds": list(self.list_ids) or None,
                "unlinkListIds": list(self.unlink_list_ids) or None,
                "ext_id": self.ext_id,
            }
        )


# --------------------------------------------------------------------------- responses


@dataclass(frozen=True, slots=True)
class EnumValue:
    """One option of a category attribute."""

    value: int
    label: str


@dataclass(frozen=True, slots=True)
class Attribute:
    """A contact attribute of the account (``GET /contacts/attributes``)."""

    name: str
    category: str
    type: str | None = None
    enumeration: tuple[EnumValue, ...] = ()
    multi_category_options: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        """The effective type: ``category`` for enumerated attributes, else ``type``/text."""
        if self.category == "category" or self.enumeration:
            return "category"
        return self.type or "text"

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Attribute:
        """Parse one entry of ``attributes``."""
        return cls(
            name=str(raw["name"]),
            category=str(raw.get("category", "normal")),
            type=raw.get("type"),
            enumeration=tuple(
                EnumValue(value=int(e["value"]), label=str(e["label"]))
                for e in raw.get("enumeration") or ()
            ),
            multi_category_options=tuple(str(o) for o in raw.get("multiCategoryOptions") or ()),
        )


@dataclass(frozen=True, slots=True)
class ImportInfo:
    """``info.import`` of an import process: each value a count, a URL of a CSV, or None."""

    invalid_emails: int | str | None = None
    duplicate_contact_id: int | str | None = None
    duplicate_ext_id: int | str | None = None
    duplicate_email_id: int | str | None = None
    duplicate_phone_id: int | str | None = None
    duplicate_whatsapp_id: int | str | None = None
    duplicate_landline_number_id: int | str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ExportInfo:
    """``info.export`` of an export process."""

    total_records: int | None = None
    file_size: int | None = None


def _count_or_url(value: Any) -> int | str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    return text


def parse_export_url(value: str | None) -> str | None:
    """Return the URL of ``export_url``, which may be plain or an HTML ``<a href>``."""
    if not value:
        return None
    match = _HREF.search(value)
    return match.group(1) if match else value.strip()


@dataclass(frozen=True, slots=True)
class Process:
    """A Brevo background process (import or export)."""

    id: int
    name: str
    status: str
    export_url: str | None = None
    import_info: ImportInfo | None = None
    export_info: ExportInfo | None = None
    error: str | None = None
    created_at: str | None = None
    completed_at: str | None = None

    @property
    def is_pending(self) -> bool:
        """True while the process has not reached a terminal status."""
        return not (self.is_completed or self.is_failed)

    @property
    def is_completed(self) -> bool:
        """True when the process completed successfully."""
        return self.status == COMPLETED_STATUS

    @property
    def is_failed(self) -> bool:
        """True when the process failed or was cancelled."""
        return self.status in FAILED_STATUSES

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Process:
        """Parse a process object of ``GET /processes[/{id}]``."""
        info = raw.get("info") or {}
        imp = info.get("import") if isinstance(info, dict) else None
        exp = info.get("export") if isinstance(info, dict) else None
        import_info = None
        if isinstance(imp, dict):
            known = {f for f in ImportInfo.__dataclass_fields__ if f != "extra"}
            import_info = ImportInfo(
                **{k: _count_or_url(imp.get(k)) for k in known},
                extra={k: v for k, v in imp.items() if k not in known},
            )
        export_info = None
        if isinstance(exp, dict):
            total, size = exp.get("total_records"), exp.get("file_size")
            export_info = ExportInfo(
                total_records=int(total) if total is not None else None,
                file_size=int(size) if size is not None else None,
            )
        return cls(
            id=int(raw["id"]),
            name=str(raw.get("name", "")),
            status=str(raw.get("status", "")),
            export_url=parse_export_url(raw.get("export_url")),
            import_info=import_info,
            export_info=export_info,
            error=raw.get("error"),
            created_at=raw.get("created_at"),
            completed_at=raw.get("completed_at"),
        )


@dataclass(frozen=True, slots=True)
class DateTimePreferences:
    """The account's date and time display settings (``GET /account`` ``dateTimePreferences``)."""

    date_format: str = "dd-mm-yyyy"
    time_format: str = "24"
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class AccountInfo:
    """Who an API key belongs to (``GET /account``): the identity runs are scoped by."""

    email: str
    company_name: str | None = None
    organization_id: str | None = None
    user_id: str | None = None
    plan: tuple[str, ...] = ()
    date_time_preferences: DateTimePreferences | None = None

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> AccountInfo:
        """Parse ``GET /account``; only ``email`` is required."""
        prefs = raw.get("dateTimePreferences")
        dtp = None
        if isinstance(prefs, dict):
            dtp = DateTimePreferences(
                date_format=str(prefs.get("dateFormat") or "dd-mm-yyyy").lower(),
                time_format=str(prefs.get("timeFormat") or "24"),
                timezone=str(prefs.get("timezone") or "UTC"),
            )
        raw_plans = raw.get("plan")
        plans: list[Any] = raw_plans if isinstance(raw_plans, list) else []
        org, user = raw.get("organization_id"), raw.get("user_id")
        return cls(
            email=str(raw.get("email") or ""),
            company_name=raw.get("companyName"),
            organization_id=str(org) if org not in (None, "") else None,
            user_id=str(user) if user not in (None, "") else None,
            plan=tuple(str(p.get("type")) for p in plans if isinstance(p, dict) and p.get("type")),
            date_time_preferences=dtp,
        )


@dataclass(frozen=True, slots=True)
class BatchContactUpdate:
    """One contact of ``POST /contacts/batch``: an identifier and the attributes to set."""

    email: str | None = None
    sms: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        """The contact as the batch endpoint takes it."""
        out: dict[str, Any] = {"attributes": dict(self.attributes)}
        if self.email is not None:
            out["email"] = self.email
        elif self.sms is not None:
            out["sms"] = self.sms
        return out


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact as ``GET /contacts`` and ``GET /contacts/{identifier}`` return it."""

    id: int
    email: str | None
    email_blacklisted: bool
    sms_blacklisted: bool
    created_at: str
    modified_at: str
    list_ids: tuple[int, ...]
    attributes: dict[str, Any]
    list_unsubscribed: tuple[int, ...] = ()
    statistics: dict[str, Any] | None = None

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Contact:
        """Parse a contact object."""
        return cls(
            id=int(raw["id"]),
            email=raw.get("email"),
            email_blacklisted=bool(raw.get("emailBlacklisted", False)),
            sms_blacklisted=bool(raw.get("smsBlacklisted", False)),
            created_at=str(raw.get("createdAt", "")),
            modified_at=str(raw.get("modifiedAt", "")),
            list_ids=tuple(int(i) for i in raw.get("listIds") or ()),
            attributes=dict(raw.get("attributes") or {}),
            list_unsubscribed=tuple(int(i) for i in raw.get("listUnsubscribed") or ()),
            statistics=raw.get("statistics"),
        )


@dataclass(frozen=True, slots=True)
class ContactList:
    """A contact list."""

    id: int
    name: str
    folder_id: int | None = None
    unique_subscribers: int | None = None

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> ContactList:
        """Parse a list object."""
        folder = raw.get("folderId")
        return cls(
            id=int(raw["id"]),
            name=str(raw.get("name", "")),
            folder_id=int(folder) if folder is not None else None,
            unique_subscribers=raw.get("uniqueSubscribers"),
        )


@dataclass(frozen=True, slots=True)
class Folder:
    """A folder of lists."""

    id: int
    name: str

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Folder:
        """Parse a folder object."""
        return cls(id=int(raw["id"]), name=str(raw.get("name", "")))


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment (read-only over the API)."""

    id: int
    name: str

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Segment:
        """Parse a segment object."""
        return cls(id=int(raw["id"]), name=str(raw.get("segmentName", raw.get("name", ""))))


@dataclass(frozen=True, slots=True)
class ListMembershipResult:
    """Result of adding/removing contacts to/from a list (``postContactInfo``)."""

    success: tuple[str, ...] = ()
    failure: tuple[str, ...] = ()
    total: int | None = None
    process_id: int | None = None

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> ListMembershipResult:
        """Parse either the schema's ``{"contacts": {...}}`` or the examples' top-level form."""
        body = raw.get("contacts", raw) if isinstance(raw.get("contacts"), dict) else raw
        return cls(
            success=tuple(str(s) for s in body.get("success") or ()),
            failure=tuple(str(s) for s in body.get("failure") or ()),
            total=body.get("total"),
            process_id=body.get("processId"),
        )
