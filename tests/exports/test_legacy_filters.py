"""Legacy v2 export filters -> v3 export filters (issue 5's table, row by row)."""

from __future__ import annotations

import pytest

from etl.brevo.models import ContactFilter
from etl.errors import InputError
from etl.exports.legacy_filters import (
    SUPPORTED_FORMS,
    WHOLE_ACCOUNT_SINCE,
    parse_export_attrib,
    parse_legacy_filter,
    translate_legacy_filter,
)
from etl.exports.read import ChannelFilter

OR_UNSUBSCRIBED = (
    '{"blacklisted": 1, "$or": [{"user_history": {"$elemMatch": {"action": "unsubscribed", '
    '"camp_id": 41}}}, {"messages_sent.bnc.r": "h_b", "messages_sent.messageid": 41}]}'
)

TABLE = [
    ('{"listid.id": 12}', ContactFilter(action_for_contacts="allContacts", list_id=12)),
    (
        '{"blacklisted": 0, "listid.id": 12}',
        ContactFilter(action_for_contacts="subscribed", list_id=12),
    ),
    (
        '{"blacklisted": 1, "listid.id": 12}',
        ContactFilter(action_for_contacts="unsubscribed", list_id=12),
    ),
    (
        '{"opened_message.messageid": 7, "messages_sent.messageid": 7}',
        ContactFilter(action_for_email_campaigns="openers", email_campaign_id=7),
    ),
    (
        '{"clicked_message.messageid": 7, "messages_sent.messageid": 7}',
        ContactFilter(action_for_email_campaigns="clickers", email_campaign_id=7),
    ),
    (
        '{"opened_message.messageid": {"$nin": [7]}, "messages_sent.messageid": 7}',
        ContactFilter(action_for_email_campaigns="nonOpeners", email_campaign_id=7),
    ),
    (
        '{"clicked_message.messageid": {"$nin": [7]}, "messages_sent.messageid": 7}',
        ContactFilter(action_for_email_campaigns="nonClickers", email_campaign_id=7),
    ),
    (
        '{"messages_sent.bnc.r": "h_b", "messages_sent.messageid": 7}',
        ContactFilter(action_for_email_campaigns="hardBounces", email_campaign_id=7),
    ),
    ('{"messages_sent.bnc.r": "h_b"}', ContactFilter(action_for_email_campaigns="hardBounces")),
    (
        '{"messages_sent.bnc.r": "s_b", "messages_sent.messageid": 7}',
        ContactFilter(action_for_email_campaigns="softBounces", email_campaign_id=7),
    ),
    ('{"messages_sent.bnc.r": "s_b"}', ContactFilter(action_for_email_campaigns="softBounces")),
    (
        OR_UNSUBSCRIBED,
        ContactFilter(action_for_email_campaigns="unsubscribed", email_campaign_id=41),
    ),
]


@pytest.mark.parametrize(("text", "expected"), TABLE)
def test_every_row_of_the_table_translates_exactly(text: str, expected: ContactFilter) -> None:
    translated = translate_legacy_filter(text)
    assert translated.filters == (expected,)
    assert not translated.per_list
    assert translated.deprecated_contact_filter is None


WHOLE_ACCOUNT = ContactFilter(action_for_contacts="allContacts", created_since=WHOLE_ACCOUNT_SINCE)


@pytest.mark.parametrize(
    ("text", "keep"),
    [
        ('{"blacklisted": 1}', ChannelFilter("_BLOCKLISTED", "email_marketing", present=True)),
        ('{"blacklisted": 0}', ChannelFilter("_BLOCKLISTED", "email_marketing", present=False)),
        ('{"sms_bl": 1}', ChannelFilter("_BLOCKLISTED", "sms_marketing", present=True)),
        ('{"sms_bl": "0"}', ChannelFilter("_BLOCKLISTED", "sms_marketing", present=False)),
    ],
)
def test_forms_naming_no_list_run_on_the_whole_account_filtered_locally(
    text: str, keep: ChannelFilter
) -> None:
    translated = translate_legacy_filter(text)
    assert translated.filters == (WHOLE_ACCOUNT,)
    assert not translated.per_list
    assert translated.deprecated_contact_filter is None
    assert translated.row_filter == keep
    assert any("contacts in no list are included" in note for note in translated.notes)


def test_blacklisted_alone_with_the_deprecated_filter_allowed() -> None:
    translated = translate_legacy_filter('{"blacklisted": 1}', allow_deprecated_contact_filter=True)
    assert translated.filters == ()
    assert not translated.per_list
    assert translated.deprecated_contact_filter == {"blacklisted": True}
    assert any("deprecated" in note for note in translated.notes)


@pytest.mark.parametrize(
    "text",
    [
        "{\u201clistid.id\u201d: 12}",  # curly double quotes, as doc sites print them
        "{\u2018listid.id\u2019: \u201812\u2019}",  # curly single quotes, id as a string
        "{'listid.id': '12',}",  # single quotes, trailing comma
        "{listid.id: 12}",  # unquoted key
        '"{\\"listid.id\\": 12}"',  # the v2 docs' JSON-in-a-string form
        '  {"listid.id": 12.0}\n',
        {"listid.id": "12"},  # already a mapping
    ],
)
def test_pasted_variants_parse_to_the_same_filter(text: object) -> None:
    translated = translate_legacy_filter(text)  # type: ignore[arg-type]
    assert translated.filters == (ContactFilter(action_for_contacts="allContacts", list_id=12),)


def test_blacklisted_accepts_booleans_and_strings() -> None:
    for flag in ("true", '"1"', "True"):
        translated = translate_legacy_filter(f'{{"blacklisted": {flag}, "listid.id": 4}}')
        assert translated.filters[0].action_for_contacts == "unsubscribed"


@pytest.mark.parametrize(
    "text",
    [
        '{"foo": 1}',
        '{"listid.id": 12, "foo": 2}',
        '{"blacklisted": 2}',
        '{"sms_bl": "x"}',
        '{"listid.id": -3}',
        '{"listid.id": "abc"}',
        '{"listid.id": [1, 2]}',
        '{"opened_message.messageid": 7, "messages_sent.messageid": 8}',
        '{"opened_message.messageid": {"$in": [7]}, "messages_sent.messageid": 7}',
        '{"messages_sent.bnc.r": "x_b"}',
        '{"blacklisted": 1, "$or": [{"messages_sent.bnc.r": "h_b"}]}',
        '{"blacklisted": 1, "$or": [{"user_history": {"camp_id": 1}}, {"camp_id": 2}]}',
        "{}",
    ],
)
def test_unsupported_forms_raise_with_the_supported_list(text: str) -> None:
    with pytest.raises(InputError) as info:
        translate_legacy_filter(text)
    message = str(info.value)
    assert "\n" not in message
    assert "supported forms" in message
    for form in SUPPORTED_FORMS:
        assert form in message


@pytest.mark.parametrize(
    "text",
    ['{"listid.id": ', "listid.id", "[1, 2]", "", "{'a': 1} trailing", "[" * 100, '{"a": "\\q"}'],
)
def test_unparsable_text_raises_a_one_line_input_error(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_legacy_filter(text)
    assert "\n" not in str(info.value)


def test_parse_reports_the_position() -> None:
    with pytest.raises(InputError, match="character 15"):
        parse_legacy_filter('{"listid.id": }')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("EMAIL,NAME,SMS", ("EMAIL", "NAME", "SMS")),
        ("email, name ,sms,EMAIL", ("EMAIL", "NAME", "SMS")),
        (["fname", "lname,email"], ("FNAME", "LNAME", "EMAIL")),
        ("\u201cEMAIL\u201d,NAME", ("EMAIL", "NAME")),
        ("", ()),
    ],
)
def test_export_attrib(value: str | list[str], expected: tuple[str, ...]) -> None:
    assert parse_export_attrib(value) == expected
