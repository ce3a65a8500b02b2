"""Translate Sendinblue v2 export filters (``user/export`` ``filter``) into v3 export filters.

The v2 API took a Mongo-style JSON filter. Brevo's v3 ``POST /contacts/export`` only knows
``customContactFilter`` (plus the deprecated ``contactFilter``), so each supported v2 form maps
to one or more v3 filters (see ``SUPPORTED_FORMS`` and issue 5); the forms that name no list
(``{"blacklisted": 1}``, ``{"sms_bl": 1}`` and their ``0`` twins) run as one whole-account
export filtered locally on its subscription-status columns (issue 18). Anything else is
refused before any call, with a message that lists the forms we understand.

Users paste these filters from old docs, blog posts and tickets, so :func:`parse_legacy_filter`
is tolerant: curly quotes, single quotes, unquoted keys, trailing commas, Python's
``True/False/None`` and a filter wrapped once more as a JSON string are all accepted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from etl.brevo.models import ContactFilter
from etl.errors import InputError
from etl.exports.read import ChannelFilter

SUPPORTED_FORMS: tuple[str, ...] = (
    '{"listid.id": X}',
    '{"blacklisted": 0, "listid.id": X}',
    '{"blacklisted": 1, "listid.id": X}',
    '{"opened_message.messageid": X, "messages_sent.messageid": X}',
    '{"clicked_message.messageid": X, "messages_sent.messageid": X}',
    '{"opened_message.messageid": {"$nin": [X]}, "messages_sent.messageid": X}',
    '{"clicked_message.messageid": {"$nin": [X]}, "messages_sent.messageid": X}',
    '{"messages_sent.bnc.r": "h_b", "messages_sent.messageid": X}',
    '{"messages_sent.bnc.r": "h_b"}',
    '{"messages_sent.bnc.r": "s_b", "messages_sent.messageid": X}',
    '{"messages_sent.bnc.r": "s_b"}',
    '{"blacklisted": 1, "$or": [{"user_history": ...}, {"messages_sent.bnc.r": "h_b", ...}]}'
    " naming campaign X",
    '{"sms_bl": 1}',
    '{"sms_bl": 0}',
    '{"blacklisted": 1}',
    '{"blacklisted": 0}',
)

# Brevo's v3 export has no account-wide "blocklisted" action. A v2 filter that names no list
# runs as one whole-account export (allContacts + createdSince, docs/brevo/FACTS.md F7) with the
# subscription-status columns, filtered here: contacts in no list are covered too.
WHOLE_ACCOUNT_SINCE = "2000-01-01T00:00:00.000Z"  # before any Brevo (Sendinblue) account
WHOLE_ACCOUNT_FILTERS: dict[str, tuple[str, str]] = {
    # v2 key -> (status column, channel) of the whole-account export
    "blacklisted": ("_BLOCKLISTED", "email_marketing"),
    "sms_bl": ("_BLOCKLISTED", "sms_marketing"),
}

WHOLE_ACCOUNT_NOTE = (
    "legacy filter {filter} runs as one whole-account export (allContacts with createdSince, "
    "accepted by Brevo without a list) with the subscription-status columns, filtered locally "
    "({rule}): contacts in no list are included"
)
PER_LIST_NOTE = (
    'legacy filter {"blacklisted": 1} runs as one "unsubscribed" export per list: contacts in no '
    "list are not covered (--allow-deprecated-contact-filter sends the deprecated contactFilter "
    "instead)"
)
DEPRECATED_NOTE = (
    'legacy filter {"blacklisted": 1} is sent as the deprecated contactFilter {"blacklisted": '
    "true}; Brevo announced its removal in 2021 and may refuse it"
)

# Curly and typographic quotes that word processors and doc sites put into pasted JSON.
_QUOTES = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00a0": " ",
        "\u202f": " ",
        "\u2007": " ",
        "\ufeff": None,
        "\u200b": None,
    }
)
_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.\-]*")
# Ids are 64-bit; Python refuses to turn integers of over 4300 digits into text at all.
_MAX_DIGITS = 20
_MAX_ID = 2**63 - 1
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_KEYWORDS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r"}
_ESCAPES["t"] = "\t"


@dataclass(frozen=True)
class TranslatedFilter:
    """The v3 export(s) that implement one v2 filter.

    Attributes:
        filters: one ``customContactFilter`` per export to run.
        per_list: the single filter in ``filters`` is a template without ``list_id``: run it once
            per list of the account (see :meth:`for_lists`).
        deprecated_contact_filter: set instead of ``filters`` when the deprecated ``contactFilter``
            was explicitly allowed.
        notes: caveats to show the user (coverage gaps, deprecation).
        row_filter: the rows of a whole-account export to keep (filtered locally); the
            export must carry that subscription-status column.
    """

    filters: tuple[ContactFilter, ...]
    per_list: bool = False
    deprecated_contact_filter: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default=())
    row_filter: ChannelFilter | None = None

    def for_lists(self, list_ids: Sequence[int]) -> tuple[ContactFilter, ...]:
        """Return the concrete filters: the template once per list when ``per_list``."""
        if not self.per_list:
            return self.filters
        return tuple(replace(f, list_id=int(i)) for f in self.filters for i in list_ids)


class _Parser:
    """A small tolerant JSON reader (JSON5-like subset) that reports positions."""

    MAX_DEPTH = 32

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def fail(self, message: str) -> InputError:
        snippet = self.text[self.pos : self.pos + 20].replace("\n", " ")
        where = f"at character {self.pos + 1}" + (f" (near {snippet!r})" if snippet else "")
        return InputError(f"legacy filter is not valid JSON {where}: {message}")

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def peek(self) -> str:
        self.skip_ws()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.fail(f"expected {char!r}")
        self.pos += 1

    def parse_document(self) -> Any:
        value = self.value()
        if self.peek():
            raise self.fail("unexpected text after the end of the value")
        return value

    def value(self) -> Any:
        char = self.peek()
        if char in ("{", "["):
            self.depth += 1
            if self.depth > self.MAX_DEPTH:
                raise self.fail("nested too deeply")
            try:
                return self.obj() if char == "{" else self.array()
            finally:
                self.depth -= 1
        if char and char in "\"'":
            return self.string()
        if not char:
            raise self.fail("unexpected end of text")
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            literal = number.group()
            if re.fullmatch(r"-?\d+", literal):
                if len(literal) > _MAX_DIGITS:
                    raise self.fail("number too long to be an id")
                return int(literal)
            return float(literal)
        ident = _IDENT.match(self.text, self.pos)
        if ident and ident.group() in _KEYWORDS:
            self.pos = ident.end()
            return _KEYWORDS[ident.group()]
        raise self.fail("expected a value")

    def key(self) -> str:
        char = self.peek()
        if char and char in "\"'":
            return self.string()
        ident = _IDENT.match(self.text, self.pos)
        if ident:
            self.pos = ident.end()
            return ident.group()
        raise self.fail("expected a key")

    def obj(self) -> dict[str, Any]:
        self.expect("{")
        result: dict[str, Any] = {}
        while True:
            if self.peek() == "}":
                self.pos += 1
                return result
            name = self.key()
            self.expect(":")
            if name in result:
                raise self.fail(f"key {name!r} appears twice")
            result[name] = self.value()
            char = self.peek()
            if char == ",":
                self.pos += 1
            elif char != "}":
                raise self.fail("expected ',' or '}'")

    def array(self) -> list[Any]:
        self.expect("[")
        result: list[Any] = []
        while True:
            if self.peek() == "]":
                self.pos += 1
                return result
            result.append(self.value())
            char = self.peek()
            if char == ",":
                self.pos += 1
            elif char != "]":
                raise self.fail("expected ',' or ']'")

    def string(self) -> str:
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(out)
            if char == "\\":
                self.pos += 1
                esc = self.text[self.pos : self.pos + 1]
                if esc == "u":
                    digits = self.text[self.pos + 1 : self.pos + 5]
                    if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                        raise self.fail("bad \\u escape")
                    out.append(chr(int(digits, 16)))
                    self.pos += 5
                    continue
                if esc not in _ESCAPES:
                    raise self.fail("bad escape")
                out.append(_ESCAPES[esc])
                self.pos += 1
                continue
            out.append(char)
            self.pos += 1
        raise self.fail("unterminated string")


def parse_legacy_filter(text: str | Mapping[str, Any]) -> dict[str, Any]:
    """Parse a v2 filter as users paste it; return it as a plain dict.

    Raises:
        InputError: the text is not a JSON object even read tolerantly.
    """
    if isinstance(text, Mapping):
        return dict(text)
    if not isinstance(text, str):
        raise InputError(f"legacy filter must be a JSON object, got {type(text).__name__}")
    value: Any = text.translate(_QUOTES).strip()
    # Old docs print the filter as a JSON string inside JSON ("{\"blacklisted\":1}"); unwrap once.
    for _ in range(2):
        if not isinstance(value, str):
            break
        if not value.strip():
            raise InputError(
                f"legacy filter is empty; expected a JSON object such as {SUPPORTED_FORMS[0]}"
            )
        value = _Parser(value).parse_document()
    if not isinstance(value, dict):
        raise InputError(
            f"legacy filter must be a JSON object such as {SUPPORTED_FORMS[0]}, "
            f"got {type(value).__name__}"
        )
    return value


def _printable(value: Any) -> Any:
    """``value`` for a message: integers too long to print (or to be ids) are abbreviated."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"<{'-' if value < 0 else ''}{value.bit_length()}-bit integer>"
    if isinstance(value, Mapping):
        return {_key_text(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def _key_text(key: Any) -> str:
    """A mapping key as text (a Python caller may pass keys that are not strings)."""
    return key if isinstance(key, str) else str(_printable(key))


def _show(value: Any) -> str:
    return json.dumps(_printable(value), ensure_ascii=False, default=str)


def _unsupported(flt: Mapping[str, Any], why: str = "") -> InputError:
    shown = _show(flt)
    reason = f" ({why})" if why else ""
    return InputError(
        f"unsupported legacy filter {shown}{reason}; supported forms: " + "; ".join(SUPPORTED_FORMS)
    )


def _as_id(value: Any, flt: Mapping[str, Any], what: str) -> int:
    """A positive integer id, also from ``"12"`` or ``12.0``."""
    if isinstance(value, bool):
        raise _unsupported(flt, f"{what} must be an integer id")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdecimal():
        if len(value.strip()) > _MAX_DIGITS:
            raise _unsupported(flt, f"{what} is too large to be an id")
        number = int(value.strip())
    else:
        raise _unsupported(flt, f"{what} must be an integer id, got {_show(value)}")
    if number <= 0:
        raise _unsupported(flt, f"{what} must be positive, got {_show(number)}")
    if number > _MAX_ID:
        raise _unsupported(flt, f"{what} is too large to be an id")
    return number


def _as_flag(value: Any) -> int | None:
    """0/1 from ``0``, ``1``, ``"1"``, ``true``...; None when it is not a flag."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, float) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("0", "false"):
            return 0
        if lowered in ("1", "true"):
            return 1
    return None


def _nin_id(value: Any, flt: Mapping[str, Any], what: str) -> int | None:
    """X from ``{"$nin": [X]}`` (or ``{"$nin": X}``); None when value is not such an object."""
    if not isinstance(value, Mapping):
        return None
    keys = {_key_text(k).strip().lower() for k in value}
    if keys != {"$nin"}:
        raise _unsupported(flt, f'{what} only supports {{"$nin": [X]}}')
    inner = next(iter(value.values()))
    if isinstance(inner, list):
        if len(inner) != 1:
            raise _unsupported(flt, f"{what} $nin must name exactly one campaign")
        inner = inner[0]
    return _as_id(inner, flt, what)


def _campaign_ids(node: Any) -> set[Any]:
    """Every value under a campaign/message id key, anywhere in ``node``."""
    found: set[Any] = set()
    if isinstance(node, Mapping):
        for key, value in node.items():
            name = _key_text(key).strip().lower()
            if name.endswith(("messageid", "camp_id", "campaign_id", "campaignid")):
                if isinstance(value, Mapping | list):
                    found |= _campaign_ids(value)
                else:
                    found.add(value)
            else:
                found |= _campaign_ids(value)
    elif isinstance(node, list):
        for item in node:
            found |= _campaign_ids(item)
    return found


def _mentions(node: Any, key: str) -> bool:
    if isinstance(node, Mapping):
        return any(
            _key_text(k).strip().lower() == key or _mentions(v, key) for k, v in node.items()
        )
    if isinstance(node, list):
        return any(_mentions(item, key) for item in node)
    return False


def _email_action(action: str, campaign: int | None) -> TranslatedFilter:
    return TranslatedFilter(
        filters=(ContactFilter(action_for_email_campaigns=action, email_campaign_id=campaign),)
    )


def translate_legacy_filter(
    flt: str | Mapping[str, Any], *, allow_deprecated_contact_filter: bool = False
) -> TranslatedFilter:
    """Translate one v2 filter into the v3 export filter(s) that return the same contacts.

    Raises:
        InputError: the filter does not parse, or is not one of ``SUPPORTED_FORMS``.
    """
    raw = parse_legacy_filter(flt)
    norm = {_key_text(k).strip().lower(): v for k, v in raw.items()}
    keys = frozenset(norm)
    sent = "messages_sent.messageid"

    if keys == {"listid.id"}:
        list_id = _as_id(norm["listid.id"], raw, "listid.id")
        return TranslatedFilter(
            filters=(ContactFilter(action_for_contacts="allContacts", list_id=list_id),)
        )

    if keys == {"blacklisted", "listid.id"}:
        list_id = _as_id(norm["listid.id"], raw, "listid.id")
        flag = _as_flag(norm["blacklisted"])
        if flag is None:
            raise _unsupported(raw, "blacklisted must be 0 or 1")
        action = "unsubscribed" if flag else "subscribed"
        return TranslatedFilter(
            filters=(ContactFilter(action_for_contacts=action, list_id=list_id),)
        )

    for event, (hit, miss) in {
        "opened_message.messageid": ("openers", "nonOpeners"),
        "clicked_message.messageid": ("clickers", "nonClickers"),
    }.items():
        if keys == {event, sent}:
            campaign = _as_id(norm[sent], raw, sent)
            excluded = _nin_id(norm[event], raw, event)
            if excluded is None:
                if _as_id(norm[event], raw, event) != campaign:
                    raise _unsupported(raw, f"{event} and {sent} name different campaigns")
                return _email_action(hit, campaign)
            if excluded != campaign:
                raise _unsupported(raw, f"{event} and {sent} name different campaigns")
            return _email_action(miss, campaign)

    bounce = "messages_sent.bnc.r"
    if keys in ({bounce}, {bounce, sent}):
        value = norm[bounce]
        kind = value.strip().lower() if isinstance(value, str) else ""
        actions = {"h_b": "hardBounces", "s_b": "softBounces"}
        if kind not in actions:
            raise _unsupported(raw, f'{bounce} must be "h_b" or "s_b"')
        bounced_in = _as_id(norm[sent], raw, sent) if sent in norm else None
        return _email_action(actions[kind], bounced_in)

    if "$or" in keys and keys <= {"blacklisted", "$or", sent}:
        if _as_flag(norm.get("blacklisted")) != 1:
            raise _unsupported(raw, "the $or form needs blacklisted: 1")
        branches = norm["$or"]
        if not isinstance(branches, list) or not all(isinstance(b, Mapping) for b in branches):
            raise _unsupported(raw, "$or must be a list of objects")
        if not _mentions(branches, "user_history"):
            raise _unsupported(raw, "the $or form needs a user_history branch")
        ids = {_as_id(v, raw, "campaign id") for v in _campaign_ids(norm)}
        if len(ids) != 1:
            why = "names no campaign" if not ids else f"names several campaigns {sorted(ids)}"
            raise _unsupported(raw, f"the $or form {why}")
        return _email_action("unsubscribed", ids.pop())

    if len(keys) == 1 and next(iter(keys)) in WHOLE_ACCOUNT_FILTERS:
        key = next(iter(keys))
        flag = _as_flag(norm[key])
        if flag is None:
            raise _unsupported(raw, f"{key} must be 0 or 1")
        if key == "blacklisted" and flag == 1 and allow_deprecated_contact_filter:
            return TranslatedFilter(
                filters=(),
                deprecated_contact_filter={"blacklisted": True},
                notes=(DEPRECATED_NOTE,),
            )
        column, channel = WHOLE_ACCOUNT_FILTERS[key]
        keep = ChannelFilter(column, channel, present=bool(flag))
        note = WHOLE_ACCOUNT_NOTE.format(filter=_show({key: flag}), rule=keep.describe())
        return TranslatedFilter(
            filters=(
                ContactFilter(action_for_contacts="allContacts", created_since=WHOLE_ACCOUNT_SINCE),
            ),
            notes=(note,),
            row_filter=keep,
        )

    raise _unsupported(raw)


def parse_export_attrib(value: str | Sequence[str]) -> tuple[str, ...]:
    """Parse v2 ``export_attrib`` (``"EMAIL,NAME,SMS"``) or a list: upper-cased, deduplicated."""
    items = [value] if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InputError(f"attribute names must be text, got {item!r}")
        for part in item.translate(_QUOTES).split(","):
            name = part.strip().strip("'\"").strip().upper()
            if name and name not in names:
                names.append(name)
    return tuple(names)
