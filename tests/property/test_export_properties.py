"""Property tests: the legacy translator only ever raises InputError; typed parsing round-trips."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from etl.brevo.models import Attribute, ContactFilter, EnumValue
from etl.errors import InputError
from etl.exports.legacy_filters import translate_legacy_filter
from etl.exports.read import iter_typed_batches

KEYS = [
    "listid.id",
    "blacklisted",
    "sms_bl",
    "opened_message.messageid",
    "clicked_message.messageid",
    "messages_sent.messageid",
    "messages_sent.bnc.r",
    "$or",
    "$nin",
    "user_history",
    "camp_id",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["h_b", "s_b", "12", "0", "1", " 7 "])
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
filters = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), json_values, max_size=4)


def _translate_or_input_error(value: Any) -> object:
    try:
        return translate_legacy_filter(value)
    except InputError as exc:
        error = exc
    assert "\n" not in str(error)
    return error


@given(st.text(max_size=80))
def test_any_text_translates_or_raises_input_error(text: str) -> None:
    _translate_or_input_error(text)


@given(filters)
def test_any_mapping_translates_or_raises_input_error(flt: dict[str, Any]) -> None:
    _translate_or_input_error(flt)


@given(filters, st.booleans())
def test_pasted_text_means_the_same_as_the_mapping(flt: dict[str, Any], curly: bool) -> None:
    try:
        text = json.dumps(flt, allow_nan=False)
    except ValueError:
        return
    if curly:
        text = text.replace('"', "\u201c")
    direct, pasted = _translate_or_input_error(flt), _translate_or_input_error(text)
    if isinstance(direct, InputError):
        assert isinstance(pasted, InputError)
    elif not curly or '\\"' not in text:
        assert pasted == direct


ids = st.integers(1, 10**9)


@given(ids, st.booleans(), st.sampled_from(["opened", "clicked"]), st.booleans())
def test_campaign_forms_keep_their_ids(
    campaign: int, as_text: bool, event: str, negate: bool
) -> None:
    value: object = str(campaign) if as_text else campaign
    key = f"{event}_message.messageid"
    flt = {key: {"$nin": [value]} if negate else value, "messages_sent.messageid": value}
    action = {
        ("opened", False): "openers",
        ("opened", True): "nonOpeners",
        ("clicked", False): "clickers",
        ("clicked", True): "nonClickers",
    }[(event, negate)]
    assert translate_legacy_filter(flt).filters == (
        ContactFilter(action_for_email_campaigns=action, email_campaign_id=campaign),
    )


@given(ids, st.sampled_from([0, 1, "0", "1", True, False]))
def test_list_forms_keep_their_ids(list_id: int, flag: object) -> None:
    result = translate_legacy_filter({"listid.id": list_id, "blacklisted": flag})
    action = "unsubscribed" if flag in (1, "1", True) else "subscribed"
    assert result.filters == (ContactFilter(action_for_contacts=action, list_id=list_id),)


# --------------------------------------------------------------------------- typed parsing

ATTRIBUTES = [
    Attribute("FIRSTNAME", "normal", "text"),
    Attribute("BIRTHDAY", "normal", "date"),
    Attribute("SCORE", "normal", "float"),
    Attribute("OPT_IN", "normal", "boolean"),
    Attribute("GENDER", "category", None, (EnumValue(1, "Mr"), EnumValue(2, "Ms"))),
    Attribute("INTERESTS", "normal", "multiple-choice", (), ("sport", "music", "travel")),
]
HEADER = [
    "EMAIL",
    "ADDED_TIME",
    "FIRSTNAME",
    "BIRTHDAY",
    "SCORE",
    "OPT_IN",
    "GENDER",
    "INTERESTS",
    "_listIds",
    "_SUBSCRIBED",
]
moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
texts = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff") | st.just("\n"),
    max_size=20,
)
contact = st.fixed_dictionaries(
    {
        "added": moments | st.none(),
        "firstname": texts,
        "birthday": st.dates(date(1900, 1, 1), date(2099, 12, 31)) | st.none(),
        "score": st.floats(allow_nan=False, allow_infinity=False, width=64) | st.none(),
        "opt_in": st.booleans() | st.none(),
        "gender": st.sampled_from([None, "Mr", "Ms"]),
        "interests": st.none()
        | st.lists(st.sampled_from(["sport", "music", "travel"]), min_size=1),
        "lists": st.lists(st.integers(1, 10**6), unique=True, max_size=5).map(sorted),
        "subscribed": st.sampled_from(
            [[], ["email_marketing"], ["sms_marketing"], ["email_marketing", "sms_marketing"]]
        ),
    }
)


def _render(row: dict[str, Any], index: int, style: str) -> list[str]:
    added = row["added"]
    if added is None:
        stamp = ""
    elif style == "iso":
        stamp = added.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    else:
        stamp = added.strftime("%d-%m-%Y %H:%M:%S")
    return [
        f"c{index}@example.com",
        stamp,
        row["firstname"],
        row["birthday"].isoformat() if row["birthday"] else "",
        repr(row["score"]) if row["score"] is not None else "",
        "" if row["opt_in"] is None else ("true" if row["opt_in"] else "false"),
        row["gender"] or "",
        ",".join(row["interests"]) if row["interests"] else "",
        "[" + "|".join(str(i) for i in row["lists"]) + "]",
        "|".join(row["subscribed"]),
    ]


@given(st.lists(contact, min_size=1, max_size=20), st.sampled_from(["iso", "account"]))
def test_typed_parsing_round_trips(rows: list[dict[str, Any]], style: str) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(_render(row, i, style) for i, row in enumerate(rows))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        batches = list(iter_typed_batches(path, ATTRIBUTES, source="list:1", batch_rows=7))
    parsed = pa.Table.from_batches(batches).to_pylist()
    assert len(parsed) == len(rows)
    for i, (got, row) in enumerate(zip(parsed, rows, strict=True)):
        assert got["email"] == f"c{i}@example.com"
        assert got["added_time"] == row["added"]
        assert got["firstname"] == (row["firstname"] or None)
        assert got["birthday"] == row["birthday"]
        assert got["score"] == row["score"]
        assert got["opt_in"] == row["opt_in"]
        assert got["gender"] == row["gender"]
        assert got["gender_value"] == {None: None, "Mr": 1, "Ms": 2}[row["gender"]]
        assert got["interests"] == row["interests"]
        assert got["list_ids"] == row["lists"]
        assert got["subscribed"] == row["subscribed"]
        assert got["_sources"] == ["list:1"]


# Arrow's timezone rules stop at 2037 (after that it applies standard time all year), so
# local-time exports are checked up to then; ADDED_TIME/MODIFIED_TIME are past instants anyway.
local_moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@given(local_moments, st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"]))
def test_account_timezone_is_applied(moment: datetime, zone: str) -> None:
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo(zone))
    text = f"EMAIL;ADDED_TIME\na@x.io;{local.strftime('%d-%m-%Y %H:%M:%S')}\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        path.write_text(text, encoding="utf-8")
        [batch] = list(iter_typed_batches(path, [], source="s", account_timezone=zone))
    got = batch.column("added_time")[0].as_py()
    # Wall-clock times repeated by a DST fold are read as the earlier instant.
    assert got == moment or (got < moment and (moment - got) <= timedelta(hours=1))
