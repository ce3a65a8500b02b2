"""Map CSV header names to Brevo attribute names.

Matching ignores case, accents, spaces, underscores, hyphens and dots, so ``E-mail``,
``email_address`` and ``Adresse e-mail`` meet their alias. In order of precedence a column maps
through: the user's mapping file, an attribute of the account with the same normalised name, a
built-in alias, and finally its own name upper-cased with underscores (``Date of birth`` ->
``DATE_OF_BIRTH``), which Brevo ignores when the account has no such attribute; those columns are
listed in ``ColumnMapping.unknown`` so that the run can warn, or refuse with ``--strict``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from etl.errors import ConfigError, InputError
from etl.imports.csv import UNNAMED_PREFIX

EMAIL = "EMAIL"
SMS = "SMS"
WHATSAPP = "WHATSAPP"
LANDLINE_NUMBER = "LANDLINE_NUMBER"
EXT_ID = "EXT_ID"
IDENTIFIER_ATTRIBUTES: tuple[str, ...] = (EMAIL, SMS)
PHONE_ATTRIBUTES: tuple[str, ...] = (SMS, WHATSAPP, LANDLINE_NUMBER)
# Brevo accepts these in an import whether or not GET /contacts/attributes lists them.
BUILTIN_ATTRIBUTES: frozenset[str] = frozenset({EMAIL, SMS, WHATSAPP, LANDLINE_NUMBER, EXT_ID})
# A user mapping to one of these drops the column.
IGNORE_VALUES: frozenset[str] = frozenset({"", "-", "IGNORE", "SKIP", "NONE", "NULL"})

BUILTIN_ALIASES: dict[str, str] = {
    # email
    "email": EMAIL,
    "e-mail": EMAIL,
    "email address": EMAIL,
    "e-mail address": EMAIL,
    "mail": EMAIL,
    "mail address": EMAIL,
    "courriel": EMAIL,
    "adresse email": EMAIL,
    "adresse e-mail": EMAIL,
    "adresse mail": EMAIL,
    # mobile phone (Brevo's SMS attribute)
    "sms": SMS,
    "phone": SMS,
    "phone number": SMS,
    "mobile": SMS,
    "mobile phone": SMS,
    "mobile number": SMS,
    "mobile phone number": SMS,
    "cell": SMS,
    "cell phone": SMS,
    "cellphone": SMS,
    "cell number": SMS,
    "gsm": SMS,
    "portable": SMS,
    "telephone portable": SMS,
    "tel": SMS,
    "telephone": SMS,
    "numero de telephone": SMS,
    # other phones
    "whatsapp": WHATSAPP,
    "whatsapp number": WHATSAPP,
    "whatsapp phone": WHATSAPP,
    "landline": LANDLINE_NUMBER,
    "landline number": LANDLINE_NUMBER,
    "landline phone": LANDLINE_NUMBER,
    "home phone": LANDLINE_NUMBER,
    "fixed phone": LANDLINE_NUMBER,
    "telephone fixe": LANDLINE_NUMBER,
    "fixe": LANDLINE_NUMBER,
    # names
    "first name": "FIRSTNAME",
    "firstname": "FIRSTNAME",
    "fname": "FIRSTNAME",
    "given name": "FIRSTNAME",
    "forename": "FIRSTNAME",
    "prenom": "FIRSTNAME",
    "last name": "LASTNAME",
    "lastname": "LASTNAME",
    "lname": "LASTNAME",
    "surname": "LASTNAME",
    "family name": "LASTNAME",
    "nom": "LASTNAME",
    "nom de famille": "LASTNAME",
    # external id
    "ext id": EXT_ID,
    "external id": EXT_ID,
    "ext_id": EXT_ID,
    "externalid": EXT_ID,
}

_SEPARATORS = re.compile(r"[\s_\-.]+")
_NON_WORD = re.compile(r"[^A-Z0-9]+")


def header_key(name: str) -> str:
    """The form headers are compared in: no accents, case, spaces, ``_``, ``-`` or ``.``."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub("", stripped.casefold())


def attribute_name(header: str) -> str:
    """The attribute a header maps to when nothing else matches: ``Date of birth`` ->
    ``DATE_OF_BIRTH``."""
    decomposed = unicodedata.normalize("NFKD", header)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NON_WORD.sub("_", ascii_text.upper()).strip("_")


_ALIASES_BY_KEY: dict[str, str] = {header_key(k): v for k, v in BUILTIN_ALIASES.items()}


@dataclass(frozen=True)
class ColumnMapping:
    """Which source column feeds which attribute."""

    columns: dict[str, str]
    """Source column -> ATTRIBUTE, in the file's column order (mapped columns only)."""
    unknown: tuple[str, ...] = ()
    """Source columns whose attribute the account does not have (empty when not checked)."""
    ignored: tuple[str, ...] = ()
    """Source columns left out (no header, or mapped to nothing by the user)."""
    unused_user_keys: tuple[str, ...] = ()
    """Entries of the user's mapping that matched no column."""

    @property
    def attributes(self) -> tuple[str, ...]:
        """The mapped attributes, in column order."""
        return tuple(self.columns.values())

    def source_for(self, attribute: str) -> str | None:
        """The source column mapped to ``attribute``, if any."""
        for source, target in self.columns.items():
            if target == attribute:
                return source
        return None


def load_mapping_file(path: Path) -> dict[str, str]:
    """Read a ``{"Source header": "ATTRIBUTE"}`` mapping from a YAML or JSON file.

    A value that is empty, null, ``-`` or ``IGNORE`` drops the column. The mapping may also sit
    under a top-level ``columns:`` key.

    Raises:
        ConfigError: missing or unreadable file, bad syntax, or not a mapping of names.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"mapping file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"mapping file {path}: cannot be read ({exc})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"mapping file {path}: not valid {_kind(path)} ({first})") from None
    if isinstance(data, dict) and set(data) == {"columns"} and isinstance(data["columns"], dict):
        data = data["columns"]
    if not isinstance(data, dict) or not data:
        raise ConfigError(f'mapping file {path}: expected a mapping {{"Source header": "ATTR"}}')
    return check_mapping(data, f"mapping file {path}")


def check_mapping(data: Mapping[object, object], where: str) -> dict[str, str]:
    """``{"Source header": "ATTRIBUTE"}`` checked, attributes upper-cased (``""`` drops).

    Raises:
        ConfigError: an entry is not a header name mapped to an attribute name.
    """
    mapping: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str)):
            raise ConfigError(
                f"{where}: entry {key!r}: {value!r} must map a header name to an attribute name"
            )
        target = (value or "").strip().upper()
        if target not in IGNORE_VALUES and not re.fullmatch(r"[A-Z0-9_]+", target):
            raise ConfigError(
                f"{where}: {key!r} -> {value!r} is not an attribute name (letters, digits and _)"
            )
        mapping[key] = target
    return mapping


def _kind(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "YAML"


def map_columns(
    header: Sequence[str],
    *,
    user_mapping: Mapping[str, str | None] | None = None,
    known_attributes: Collection[str] = (),
    preset_mapping: Mapping[str, str | None] | None = None,
) -> ColumnMapping:
    """Map each header name to an attribute.

    ``preset_mapping`` (a mapping preset's columns) comes under ``user_mapping``: for a column
    both name (headers compared as :func:`header_key` does), the user's entry wins. Preset
    entries that match no column are not listed in ``unused_user_keys``.

    Raises:
        InputError: two columns map to the same attribute, or no column maps to EMAIL or SMS.
    """
    user = dict(user_mapping or {})
    if preset_mapping:
        mine = {header_key(k) for k in user}
        preset = {k: v for k, v in preset_mapping.items() if header_key(k) not in mine}
        user = {**preset, **user}
    user_by_key = {header_key(k): k for k in user}
    known_by_key = {header_key(a): a.upper() for a in known_attributes}
    known = {a.upper() for a in known_attributes} | BUILTIN_ATTRIBUTES
    columns: dict[str, str] = {}
    ignored: list[str] = []
    used_user: set[str] = set()
    for name in header:
        key = header_key(name)
        user_key = name if name in user else user_by_key.get(key)
        if user_key is not None:
            used_user.add(user_key)
            target = (user[user_key] or "").strip().upper()
            if target in IGNORE_VALUES:
                ignored.append(name)
                continue
        elif name.startswith(UNNAMED_PREFIX):
            ignored.append(name)
            continue
        else:
            target = known_by_key.get(key) or _ALIASES_BY_KEY.get(key) or attribute_name(name)
            if not target:
                ignored.append(name)
                continue
        columns[name] = target

    by_target: dict[str, list[str]] = {}
    for name, target in columns.items():
        by_target.setdefault(target, []).append(name)
    clashes = [(t, names) for t, names in by_target.items() if len(names) > 1]
    if clashes:
        target, names = clashes[0]
        listed = " and ".join(repr(n) for n in names)
        raise InputError(
            f"columns {listed} both map to {target}; drop one or map it elsewhere with --mapping"
        )
    if not any(t in IDENTIFIER_ATTRIBUTES for t in columns.values()):
        shown = ", ".join(repr(h) for h in list(header)[:8]) + (", ..." if len(header) > 8 else "")
        hint = ""
        if any("@" in h for h in header):
            hint = " (the first line looks like data: the file needs a header row)"
        raise InputError(
            f"no identifier column: none of the columns ({shown}) maps to EMAIL or SMS{hint}; "
            "rename one or use --mapping"
        )
    unknown = tuple(n for n, t in columns.items() if t not in known) if known_attributes else ()
    unused = tuple(k for k in user_mapping or {} if k not in used_user)
    return ColumnMapping(
        columns=columns, unknown=unknown, ignored=tuple(ignored), unused_user_keys=unused
    )
