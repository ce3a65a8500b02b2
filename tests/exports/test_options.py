"""Export options -> export requests; combinations Brevo rejects are refused before any call."""

from __future__ import annotations

import pytest

from etl.brevo.models import Attribute, ContactFilter
from etl.errors import InputError
from etl.exports.legacy_filters import WHOLE_ACCOUNT_SINCE
from etl.exports.options import (
    ExportOptions,
    build_export_requests,
    default_export_attributes,
    normalise_metadata,
    plan_exports,
    validate_contact_filter,
)
from etl.exports.read import ChannelFilter


def test_lists_and_segments_become_one_export_each_with_all_contacts() -> None:
    requests = build_export_requests(ExportOptions(list_ids=(3, 5), segment_ids=(9,)))
    assert [label for label, _ in requests] == ["list:3", "list:5", "segment:9"]
    filters = [r.custom_contact_filter for _, r in requests]
    assert filters == [
        ContactFilter(action_for_contacts="allContacts", list_id=3),
        ContactFilter(action_for_contacts="allContacts", list_id=5),
        ContactFilter(action_for_contacts="allContacts", segment_id=9),
    ]


def test_every_option_reaches_the_wire_body() -> None:
    opts = ExportOptions(
        attributes=("firstname", "LASTNAME,SMS"),
        list_ids=(3,),
        action="unsubscribedperlist",
        import_process_id=77,
        metadata=("_listids", "added_time as _ADDED_TIME", "MODIFIED_TIME"),
        subscription_status=("email_marketing", "SMS_MARKETING"),
        mandatory_attributes=False,
        utc=False,
        skip_files_merge=True,
        notify_url="https://hooks.example.com/done?x=1",
        disable_notification=True,
        disable_frontend_notification=True,
    )
    [(label, request)] = build_export_requests(opts)
    assert label == "unsubscribedPerList:list:3:import:77"
    assert request.to_wire() == {
        "exportAttributes": ["FIRSTNAME", "LASTNAME", "SMS"],
        "customContactFilter": {
            "actionForContacts": "unsubscribedPerList",
            "listId": 3,
            "importProcessId": 77,
        },
        "exportMetadata": ["_listIds", "ADDED_TIME AS _ADDED_TIME", "MODIFIED_TIME"],
        "exportSubscriptionStatus": ["email_marketing", "sms_marketing"],
        "exportMandatoryAttributes": False,
        "exportDateInUTC": False,
        "skipFilesMerge": True,
        "notifyUrl": "https://hooks.example.com/done?x=1",
        "disableNotification": True,
        "disableFrontendNotification": True,
    }


def test_defaults_are_utc_and_mandatory_attributes() -> None:
    [(_, request)] = build_export_requests(ExportOptions(list_ids=(2,)))
    wire = request.to_wire()
    assert wire["exportDateInUTC"] is True
    assert wire["exportMandatoryAttributes"] is True
    assert "contactFilter" not in wire


def test_campaign_filters_are_separate_exports() -> None:
    requests = build_export_requests(
        ExportOptions(
            list_ids=(2,),
            email_campaign_action="openers",
            email_campaign_id=7,
            sms_campaign_action="hardBounces",
        )
    )
    assert [label for label, _ in requests] == [
        "list:2",
        "openers:campaign:7",
        "sms-hardBounces:sms-campaigns:all",
    ]


def test_bounces_need_no_campaign_id() -> None:
    [(label, request)] = build_export_requests(ExportOptions(email_campaign_action="softbounces"))
    assert label == "softBounces:campaigns:all"
    assert request.custom_contact_filter == ContactFilter(action_for_email_campaigns="softBounces")


def test_legacy_filter_is_translated() -> None:
    [(label, request)] = build_export_requests(
        ExportOptions(legacy_filter="{\u201clistid.id\u201d: 4, \u201cblacklisted\u201d: 0}")
    )
    assert label == "subscribed:list:4"
    assert request.custom_contact_filter == ContactFilter(
        action_for_contacts="subscribed", list_id=4
    )


def test_blacklisted_runs_one_whole_account_export_with_the_status_columns() -> None:
    # The case: an account with lists (or none) and the CLI's pre-check ([0]).
    for lists in ([2, 8], [], [0]):
        plan = plan_exports(ExportOptions(legacy_filter='{"blacklisted":1}'), all_list_ids=lists)
        [(label, request)] = plan.requests
        assert label == "all-contacts:since:2000-01-01"
        wire = request.to_wire()
        assert wire["customContactFilter"] == {
            "actionForContacts": "allContacts",
            "createdSince": "2000-01-01T00:00:00.000Z",
        }
        assert wire["exportSubscriptionStatus"] == ["email_marketing"]
        assert plan.row_filter == ChannelFilter("_BLOCKLISTED", "email_marketing")
    plan = plan_exports(
        ExportOptions(
            legacy_filter='{"blacklisted": 1}',
            created_since="2026-01-31",
            subscription_status=("sms_marketing",),
        )
    )
    wire = plan.requests[0][1].to_wire()
    assert wire["customContactFilter"]["createdSince"] == "2026-01-31T00:00:00.000Z"
    assert wire["exportSubscriptionStatus"] == ["sms_marketing", "email_marketing"]


def test_all_contacts_is_one_whole_account_export() -> None:
    plan = plan_exports(ExportOptions(all_contacts=True, created_since="2026-01-31T10:00:00+01:00"))
    [(label, request)] = plan.requests
    assert label == "all-contacts:since:2026-01-31"
    assert request.custom_contact_filter == ContactFilter(
        action_for_contacts="allContacts", created_since="2026-01-31T09:00:00.000Z"
    )
    assert plan.row_filter is None
    default = plan_exports(ExportOptions(all_contacts=True))
    assert default.requests[0][1].custom_contact_filter.created_since == WHOLE_ACCOUNT_SINCE
    assert any("without --created-since" in n for n in default.notes)


def test_default_attributes_are_every_contact_attribute_of_the_account() -> None:
    account = [
        Attribute("EMAIL", "normal", "text"),
        Attribute("FIRSTNAME", "normal", "text"),
        Attribute("GENDER", "category"),
        Attribute("ORDER_ID", "transactional", "id"),
        Attribute("TOTAL", "calculated", "float"),
        Attribute("COMPANY", "global", "text"),
        Attribute("firstname", "normal", "text"),
    ]
    names = default_export_attributes(account)
    assert names == ("FIRSTNAME", "GENDER")
    plan = plan_exports(ExportOptions(list_ids=(1,)), default_attributes=names)
    assert plan.requests[0][1].export_attributes == ("FIRSTNAME", "GENDER")
    narrowed = plan_exports(
        ExportOptions(list_ids=(1,), attributes=("SMS",)), default_attributes=names
    )
    assert narrowed.requests[0][1].export_attributes == ("SMS",)


def test_deprecated_contact_filter_when_allowed() -> None:
    [(label, request)] = build_export_requests(
        ExportOptions(legacy_filter='{"blacklisted": 1}', allow_deprecated_contact_filter=True)
    )
    assert label == "contactFilter:blacklisted"
    wire = request.to_wire()
    assert wire["contactFilter"] == {"blacklisted": True}
    assert "customContactFilter" not in wire


def test_timestamp_columns_follow_metadata_aliases() -> None:
    plan = plan_exports(
        ExportOptions(list_ids=(1,), metadata=("ADDED_TIME AS _ADDED_TIME", "MODIFIED_TIME"))
    )
    assert plan.timestamp_columns == ("ADDED_TIME", "MODIFIED_TIME", "_ADDED_TIME")


@pytest.mark.parametrize(
    ("opts", "all_lists", "reason"),
    [
        (ExportOptions(action="subscribed"), (), "needs --list-id or --segment-id"),
        (ExportOptions(email_campaign_action="openers"), (), "needs an email campaign id"),
        (ExportOptions(email_campaign_action="nonClickers"), (), "needs an email campaign id"),
        (ExportOptions(email_campaign_action="unsubscribed"), (), "needs an email campaign id"),
        (ExportOptions(email_campaign_id=3), (), "needs --email-campaign-action"),
        (ExportOptions(sms_campaign_id=3), (), "needs --sms-campaign-action"),
        (ExportOptions(list_ids=(1,), action="everyone"), (), "unknown contacts action"),
        (ExportOptions(email_campaign_action="readers", email_campaign_id=1), (), "unknown email"),
        (ExportOptions(sms_campaign_action="openers"), (), "unknown SMS action"),
        (
            ExportOptions(list_ids=(1,), mandatory_attributes=False),
            (),
            "--no-mandatory-attributes needs --attributes",
        ),
        (ExportOptions(list_ids=(1,), subscription_status=("whatsapp",)), (), "subscription"),
        (ExportOptions(list_ids=(1,), metadata=("_segmentIds",)), (), "unknown metadata"),
        (ExportOptions(list_ids=(1,), metadata=("_listIds AS L",)), (), "can be aliased"),
        (ExportOptions(list_ids=(1,), metadata=("ADDED_TIME AS",)), (), "bad metadata"),
        (
            ExportOptions(list_ids=(1,), legacy_filter='{"listid.id": 2}'),
            (),
            "cannot be combined",
        ),
        (ExportOptions(allow_deprecated_contact_filter=True, list_ids=(1,)), (), "only applies"),
        (ExportOptions(all_contacts=True, list_ids=(1,)), (), "cannot be combined"),
        (ExportOptions(all_contacts=True, action="subscribed"), (), "exports every contact"),
        (ExportOptions(list_ids=(1,), created_since="2026-01-01"), (), "only applies"),
        (ExportOptions(all_contacts=True, created_since="yesterday"), (), "--created-since"),
        (
            ExportOptions(legacy_filter='{"listid.id": 2}', created_since="2026-01-01"),
            (),
            "only applies",
        ),
        (ExportOptions(legacy_filter='{"blacklisted": 1}', all_contacts=True), (), "combined"),
        (ExportOptions(legacy_filter='{"nope": 1}'), (), "supported forms"),
        (ExportOptions(), (), "nothing to export"),
        (ExportOptions(import_process_id=5), (), "--import-process-id only applies"),
        (ExportOptions(list_ids=(0,)), (), "positive integer"),
        (ExportOptions(list_ids=(1,), notify_url="file:///etc/passwd"), (), "http(s) URL"),
    ],
)
def test_combinations_brevo_rejects_are_refused(
    opts: ExportOptions, all_lists: tuple[int, ...], reason: str
) -> None:
    with pytest.raises(InputError) as info:
        build_export_requests(opts, all_list_ids=all_lists)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("flt", "reason"),
    [
        (ContactFilter(), "needs a filter"),
        (
            ContactFilter(action_for_contacts="allContacts", list_id=1, segment_id=2),
            "both a list id and a segment id",
        ),
        (ContactFilter(action_for_contacts="allContacts"), "needs a list id or a segment id"),
        (ContactFilter(action_for_sms_campaigns="unsubscribed", list_id=3), "contacts action"),
        (
            ContactFilter(action_for_sms_campaigns="unsubscribed", import_process_id=3),
            "importProcessId",
        ),
    ],
)
def test_single_filter_rules(flt: ContactFilter, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        validate_contact_filter(flt)


def test_metadata_is_canonicalised_and_deduplicated() -> None:
    assert normalise_metadata(["_LISTIDS", "_listIds", "modified_time as _M"]) == (
        "_listIds",
        "MODIFIED_TIME AS _M",
    )
    assert normalise_metadata("ADDED_TIME,_listIds") == ("ADDED_TIME", "_listIds")
