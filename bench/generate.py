"""Deterministic generator of contact CSVs (and Brevo-style export files), with ground truth.

Two profiles (``generate_contacts``): ``clean``, today's single UTF-8 file, vectorised with
NumPy; and ``mixed``, the default, four files in UTF-8 with BOM and Windows-1252, ``;`` and
``,``, quoted fields holding separators and line breaks, phones of 13 regions (20% outside the
default region FR, some written the national way), 1% malformed rows, 5% duplicates after
normalisation, day-first dates in several formats, long tails of rare names and domains (see
bench/README.md). With ``truth=True`` every row comes with what the import must make of it
(:class:`TruthRow`). The same ``seed`` and ``rows`` always give the same bytes.
"""

from __future__ import annotations

import argparse
import random
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

FIRST = np.array(
    [
        "Anne",
        "Éloïse",
        "José",
        "Zoë",
        "François",
        "Ana",
        "Jürgen",
        "Łukasz",
        "Siobhán",
        "Chloé",
        "Mathéo",
        "Inès",
        "Noah",
        "Lucía",
        "Björn",
        "Amélie",
        "Oğuz",
        "Søren",
        "Renée",
        "Kai",
    ]
)
LAST = np.array(
    [
        "Martin",
        "Bernard",
        "Dubois",
        "Müller",
        "García",
        "Nowak",
        "O'Brien",
        "Lefèvre",
        "Rossi",
        "Fernández",
        "Schmidt",
        "Moreau",
        "Łęcki",
        "Kowalski",
        "Petit",
        "Durand",
        "Smith",
        "Öztürk",
    ]
)
DOMAINS = np.array(["example.com", "Example.org", "mail.example.net", "EXAMPLE.fr", "test.io"])
GENDER = np.array(["Mr", "Ms", "mr", "MS", "1", "2", ""])
BOOL = np.array(["yes", "no", "Y", "n", "true", "FALSE", "1", "0", ""])


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")


def _dates(rng: np.random.Generator, n: int) -> np.ndarray:
    return _dates_with_truth(rng, n)[0]


def _dates_with_truth(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Birthdays as written (ISO, dd/mm/yyyy, d.m.yyyy or empty) and what they mean (ISO)."""
    day = rng.integers(1, 29, n)
    month = rng.integers(1, 13, n)
    year = rng.integers(1950, 2006, n)
    fmt = rng.integers(0, 4, n)
    d, m, y = day.astype(str), month.astype(str), year.astype(str)
    d2, m2 = np.char.zfill(d, 2), np.char.zfill(m, 2)
    iso = np.char.add(np.char.add(np.char.add(np.char.add(y, "-"), m2), "-"), d2)
    slash = np.char.add(np.char.add(np.char.add(np.char.add(d2, "/"), m2), "/"), y)
    dots = np.char.add(np.char.add(np.char.add(np.char.add(d, "."), m), "."), y)
    written = np.select([fmt == 0, fmt == 1, fmt == 2], [iso, slash, dots], default="")
    return written, np.where(fmt < 3, iso, "")


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    # French mobiles 06 1x..8x are allocated (069x is not); about 3% are junk.
    digits = rng.integers(10_000_000, 89_999_999, n).astype(str)
    kind = rng.integers(0, 100, n)
    national = np.char.add("06", digits)
    spaced = np.char.add("+33 6 ", digits)
    intl = np.char.add("+336", digits)
    bad = np.char.add("12", np.char.zfill(rng.integers(0, 999, n).astype(str), 3))
    return np.select(
        [kind < 30, kind < 55, kind < 80, kind < 83], [national, spaced, intl, bad], ""
    )


def contacts_table(rows: int, *, seed: int = 7) -> dict[str, np.ndarray]:
    """Columns of a messy contact file (about 3% invalid emails, 2% duplicates)."""
    return _clean_table(rows, seed=seed)[0]


def _clean_table(rows: int, *, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The ``clean`` profile's columns, and what each birthday means (ISO, "" when empty)."""
    rng = np.random.default_rng(seed)
    idx = np.arange(rows)
    first_idx = rng.integers(0, len(FIRST), rows)
    first = FIRST[first_idx]
    last = LAST[rng.integers(0, len(LAST), rows)]
    # Local parts are ASCII, as Brevo requires (an accented first name is folded: chloé -> chloe);
    # the names themselves keep their accents.
    folded = np.array([_ascii(name) for name in FIRST])[first_idx]
    local = np.char.add(np.char.add(np.char.lower(folded.astype("U")), "."), idx.astype(str))
    domain = DOMAINS[rng.integers(0, len(DOMAINS), rows)]
    email = np.char.add(np.char.add(local, "@"), domain)
    upper = rng.random(rows) < 0.2
    email = np.where(upper, np.char.upper(email), email)
    invalid = rng.random(rows) < 0.03
    email = np.where(invalid, np.char.replace(email, "@", " at "), email)
    dup = rng.random(rows) < 0.02
    src = rng.integers(0, max(rows, 1), rows)
    email = np.where(dup & (src < idx), email[src], email)
    padded = rng.random(rows) < 0.05
    email = np.where(padded, np.char.add(np.char.add("  ", email), " "), email)
    mobile = _phones(rng, rows)
    birthday, birthday_iso = _dates_with_truth(rng, rows)
    table = {
        "Email": email,
        "First name": first,
        "Last name": last,
        "Mobile": mobile,
        "Birthday": birthday,
        "Gender": GENDER[rng.integers(0, len(GENDER), rows)],
        "Newsletter": BOOL[rng.integers(0, len(BOOL), rows)],
        "Score": np.round(rng.random(rows) * 100, 2).astype(str),
    }
    return table, birthday_iso


def _quote(values: np.ndarray, sep: str) -> np.ndarray:
    needs = np.char.find(values, sep) >= 0
    needs |= np.char.find(values, '"') >= 0
    if not needs.any():
        return values
    escaped = np.char.add(np.char.add('"', np.char.replace(values, '"', '""')), '"')
    return np.where(needs, escaped, values)


def write_contacts_csv(
    path: Path, rows: int, *, seed: int = 7, sep: str = ",", block: int = 200_000
) -> Path:
    """Write a messy contacts CSV of ``rows`` rows, in blocks (bounded memory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        header_written = False
        for start in range(0, rows, block):
            n = min(block, rows - start)
            table = contacts_table(n, seed=seed + start)
            if start:  # keep emails unique across blocks except for the planted duplicates
                table["Email"] = np.char.replace(table["Email"], ".", f".b{start}.", count=1)
            if not header_written:
                fh.write(sep.join(table) + "\r\n")
                header_written = True
            cols = [_quote(v.astype(str), sep) for v in table.values()]
            lines = cols[0]
            for col in cols[1:]:
                lines = np.char.add(np.char.add(lines, sep), col)
            fh.write("\r\n".join(lines.tolist()))
            fh.write("\r\n")
    return path


def _stamps(seconds: np.ndarray, *, utc: bool) -> np.ndarray:
    """Epoch seconds as Brevo writes them: ISO UTC with milliseconds, or dd-mm-yyyy HH:MM:SS."""
    iso = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")  # 2025-02-02T10:00:00
    if utc:
        return np.char.add(iso, ".000Z")
    day = np.char.add(np.char.add(_part(iso, 8, 10), "-"), _part(iso, 5, 7))
    day = np.char.add(np.char.add(day, "-"), _part(iso, 0, 4))
    return np.char.add(np.char.add(day, " "), _part(iso, 11, 19))


def _part(values: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Characters ``start:stop`` of each fixed-width string."""
    chars = values.astype(f"<U{values.dtype.itemsize // 4}").view("<U1").reshape(len(values), -1)
    return chars[:, start:stop].copy().view(f"<U{stop - start}").ravel()


def write_export_parts(
    out_dir: Path, rows: int, *, parts: int = 4, seed: int = 11, utc: bool = False
) -> list[Path]:
    """Brevo-style export CSV parts (the sandbox's format): `;`, `[2|7]` list ids, dated columns.

    Like a real account's export: contacts added at any second over six years and modified
    later (up to two years), birthdays from 1940 to 2006, scores with two decimals.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    per = -(-rows // parts)
    start = int(np.datetime64("2019-01-01T00:00:00", "s").astype(np.int64))
    for p in range(parts):
        n = max(0, min(per, rows - p * per))
        idx = np.arange(p * per, p * per + n)
        first = FIRST[rng.integers(0, len(FIRST), n)]
        email = np.char.add(np.char.add("user", idx.astype(str)), "@example.com")
        added_s = start + rng.integers(0, 6 * 365 * 86400, n)
        modified_s = added_s + rng.integers(0, 2 * 365 * 86400, n)
        added, modified = _stamps(added_s, utc=utc), _stamps(modified_s, utc=utc)
        lists = np.char.add(np.char.add("[", rng.integers(1, 9, n).astype(str)), "|12]")
        birth = np.datetime64("1940-01-01") + rng.integers(0, 66 * 365, n).astype("timedelta64[D]")
        birthday = np.datetime_as_string(birth, unit="D")
        gender = np.array(["Mr", "Ms"])[rng.integers(0, 2, n)]
        opt = np.array(["true", "false"])[rng.integers(0, 2, n)]
        score = np.round(rng.random(n) * 100, 2).astype(str)
        path = out_dir / f"part-{p + 1}.csv"
        header = (
            "EMAIL;ADDED_TIME;MODIFIED_TIME;FIRSTNAME;BIRTHDAY;GENDER;NEWSLETTER;SCORE;_listIds"
        )
        cols = [email, added, modified, first, birthday, gender, opt, score, lists]
        lines = cols[0]
        for col in cols[1:]:
            lines = np.char.add(np.char.add(lines, ";"), col)
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(header + "\n")
            if n:
                fh.write("\n".join(lines.tolist()))
                fh.write("\n")
        paths.append(path)
    return paths


def write_overlapping_exports(
    out_dir: Path, contacts: int, *, exports: int = 3, seed: int = 13, utc: bool = True
) -> list[Path]:
    """``exports`` list exports of one account whose lists overlap: one file per export.

    Each contact is in list ``k`` (1-based) with probability 0.6, 0.5, 0.4, ... (at least one),
    so about a third of the contacts are in several exports; a contact is written alike in
    every export that holds it, with all its list ids (as Brevo writes them). Merged, the
    exports give ``contacts`` rows.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = contacts
    idx = np.arange(n)
    member = rng.random((n, exports)) < np.linspace(0.6, 0.6 - 0.1 * (exports - 1), exports)
    member[~member.any(axis=1), 0] = True
    start = int(np.datetime64("2019-01-01T00:00:00", "s").astype(np.int64))
    added_s = start + rng.integers(0, 6 * 365 * 86400, n)
    modified_s = added_s + rng.integers(0, 2 * 365 * 86400, n)
    birth = np.datetime64("1940-01-01") + rng.integers(0, 66 * 365, n).astype("timedelta64[D]")
    lists = np.full(n, "[", dtype=object)
    for k in range(exports):
        sep = np.where(lists == "[", "", "|")
        lists = np.where(member[:, k], lists + sep + str(k + 1), lists)
    cols = [
        np.char.add(np.char.add("user", idx.astype(str)), "@example.com"),
        _stamps(added_s, utc=utc),
        _stamps(modified_s, utc=utc),
        FIRST[rng.integers(0, len(FIRST), n)],
        np.datetime_as_string(birth, unit="D"),
        np.array(["Mr", "Ms"])[rng.integers(0, 2, n)],
        np.array(["true", "false"])[rng.integers(0, 2, n)],
        np.round(rng.random(n) * 100, 2).astype(str),
        (lists + "]").astype(str),
    ]
    lines = cols[0]
    for col in cols[1:]:
        lines = np.char.add(np.char.add(lines, ";"), col)
    header = "EMAIL;ADDED_TIME;MODIFIED_TIME;FIRSTNAME;BIRTHDAY;GENDER;NEWSLETTER;SCORE;_listIds"
    paths = []
    for k in range(exports):
        path = out_dir / f"export-{k + 1}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(header + "\n")
            chosen = lines[member[:, k]]
            if len(chosen):
                fh.write("\n".join(chosen.tolist()))
                fh.write("\n")
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------- profiles and truth

PROFILES = ("clean", "mixed")
DEFAULT_PROFILE = "mixed"
DEFAULT_REGION = "FR"
IMPORT_FIELDS = ("EMAIL", "SMS", "FIRSTNAME", "LASTNAME", "BIRTHDAY", "GENDER", "NEWSLETTER")
"""Attributes every profile fills (``mixed`` adds SCORE and ADDRESS; ``clean`` SCORE)."""


@dataclass(frozen=True)
class ContactFile:
    """One generated input file and how it is written (for the baselines' readers)."""

    path: Path
    encoding: str
    """Python codec: ``utf-8``, ``utf-8-sig`` (BOM) or ``cp1252``."""
    sep: str
    skip_lines: int = 0
    """Lines before the header (an Excel ``sep=;`` line)."""
    rows: int = 0


@dataclass(frozen=True)
class TruthRow:
    """What the import must do with one data row: its values, or why it is rejected."""

    file: int
    line: int
    """The 1-based physical line where the row starts, as the rejects file reports it."""
    reason: str | None
    """The reject reason (``duplicate`` included), None when the row is sent."""
    values: dict[str, str] | None
    """Normalised attribute values of a row that passes the row checks ("" when empty)."""
    identifier: str = ""


@dataclass
class GeneratedContacts:
    """The files of one profile, and the ground truth when asked for."""

    profile: str
    files: list[ContactFile]
    rows: int
    dayfirst: bool = True
    truth: list[TruthRow] | None = None

    @property
    def paths(self) -> list[Path]:
        """The input files, in run order."""
        return [f.path for f in self.files]

    def manifest(self) -> dict[str, Any]:
        """JSON-able description (what the benchmark workers read)."""
        return {
            "profile": self.profile,
            "rows": self.rows,
            "dayfirst": self.dayfirst,
            "files": [
                {
                    "path": str(f.path),
                    "encoding": f.encoding,
                    "sep": f.sep,
                    "skip_lines": f.skip_lines,
                    "rows": f.rows,
                }
                for f in self.files
            ],
        }


CHANGE_SUFFIX = "-Martin"
"""What ``changed`` appends to a changed row's last name (ASCII: every encoding holds it)."""


def generate_contacts(
    out_dir: Path,
    rows: int,
    *,
    profile: str = DEFAULT_PROFILE,
    seed: int = 7,
    truth: bool = False,
    changed: float = 0.0,
) -> GeneratedContacts:
    """Write the contact files of ``profile`` under ``out_dir``; with ``truth``, what each row
    must become (computed while writing; costs phonenumbers calls, for small sizes).

    ``changed`` (mixed profile): the share of rows whose last name changes (``Dupont`` ->
    ``Dupont-Martin``), the rows drawn from a generator of their own, so everything else is
    byte for byte the data of ``changed=0``: the next night's export of the same CRM, for
    ``--changed-only``. Which rows change depends only on ``seed`` and ``changed``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    if changed and profile != "mixed":
        raise ValueError("changed= is only implemented for the mixed profile")
    if profile == "clean":
        path = out_dir / "contacts.csv"
        write_contacts_csv(path, rows, seed=seed)
        result = GeneratedContacts(
            profile, [ContactFile(path, "utf-8", ",", 0, rows)], rows, dayfirst=True
        )
        if truth:
            result.truth = _dedupe(_clean_truth(rows, seed=seed))
        return result
    if profile != "mixed":
        raise ValueError(f"unknown profile {profile!r}: one of {PROFILES}")
    return _write_mixed(out_dir, rows, seed=seed, truth=truth, changed=changed)


# --- reference rules of the truth (independent of etl.imports: phonenumbers and construction)

_GENDER_TRUTH = {"mr": "1", "ms": "2", "1": "1", "2": "2"}
_BOOL_TRUTH = {
    **dict.fromkeys(("yes", "y", "true", "1", "oui", "o", "vrai", "x", "t"), "true"),
    **dict.fromkeys(("no", "n", "false", "0", "non", "faux", "f"), "false"),
}
_DOMESTIC = ("RE", "YT", "GP", "BL", "MF", "GF", "MQ", "PM")


@lru_cache(maxsize=200_000)
def expected_phone(text: str, region: str = DEFAULT_REGION) -> str | None:
    """E.164 of a valid number under ``region`` ('' when empty, None when invalid).

    phonenumbers decides; a number written the national way (trunk prefix 0) that is invalid
    in France but valid in an overseas department is that department's, as dialled from France.
    """
    import phonenumbers

    text = text.strip()
    if not text:
        return ""

    def valid(region_code: str) -> str | None:
        try:
            number = phonenumbers.parse(text, region_code)
        except phonenumbers.NumberParseException:
            return None
        if not phonenumbers.is_valid_number(number):
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    found = valid(region)
    if found is None and not text.startswith("+"):
        digits = re.sub(r"\D", "", text)
        if digits.startswith("0") and not digits.startswith("00"):
            for other in _DOMESTIC:
                found = valid(other)
                if found:
                    break
    return found


def canonical_decimal(cents: int) -> str:
    """``cents / 100`` as the shortest plain decimal (1250 -> ``12.5``, 1200 -> ``12``)."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    text = f"{whole}.{frac:02d}".rstrip("0").rstrip(".")
    return sign + text if text != "0" else "0"


def _dedupe(rows: list[TruthRow]) -> list[TruthRow]:
    """Mark the run-wide duplicates (same identifier, the last one kept) as ``duplicate``."""
    last: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.reason is None:
            last[row.identifier] = i
    return [
        row
        if row.reason is not None or last[row.identifier] == i
        else TruthRow(row.file, row.line, "duplicate", row.values, row.identifier)
        for i, row in enumerate(rows)
    ]


def _clean_truth(rows: int, *, seed: int, block: int = 200_000) -> list[TruthRow]:
    """The truth of ``write_contacts_csv`` (same blocks, same draws)."""
    out: list[TruthRow] = []
    line = 1
    for start in range(0, rows, block):
        n = min(block, rows - start)
        table, birthday_iso = _clean_table(n, seed=seed + start)
        if start:
            table["Email"] = np.char.replace(table["Email"], ".", f".b{start}.", count=1)
        for i in range(n):
            line += 1
            raw = {k: str(v[i]) for k, v in table.items()}
            email = raw["Email"].strip()
            values = {
                "EMAIL": email.lower(),
                "FIRSTNAME": raw["First name"].strip(),
                "LASTNAME": raw["Last name"].strip(),
                "BIRTHDAY": str(birthday_iso[i]),
                "GENDER": _GENDER_TRUTH.get(raw["Gender"].strip().lower(), ""),
                "NEWSLETTER": _BOOL_TRUTH.get(raw["Newsletter"].strip().lower(), ""),
                "SCORE": canonical_decimal(round(float(raw["Score"]) * 100)),
            }
            phone = expected_phone(raw["Mobile"])
            reason = None
            # By construction: an address is invalid when " at " replaced its @.
            if email and " at " in email:
                reason = "invalid_email"
            elif not email and not raw["Mobile"].strip():
                reason = "missing_identifier"
            elif phone is None:
                reason = "invalid_phone"
            values["SMS"] = phone or ""
            identifier = values["EMAIL"] or values["SMS"]
            out.append(TruthRow(0, line, reason, None if reason else values, identifier))
    return out


# --- the mixed profile

_COMMON_FIRST = (
    "Marie",
    "Jean",
    "Pierre",
    "Nathalie",
    "Isabelle",
    "Sylvie",
    "Catherine",
    "Philippe",
    "Nicolas",
    "Julien",
    "Camille",
    "Léa",
    "Chloé",
    "Élodie",
    "Hélène",
    "François",
    "Jérôme",
    "Anne-Sophie",
    "Jean-Luc",
    "Zoë",
    "Inès",
    "Noé",
    "Maël",
    "Anaïs",
    "Gaëlle",
)
_RARE_FIRST = (
    "Œnone",
    "Šárka",
    "Žofie",
    "Björn",
    "Søren",
    "Jürgen",
    "Siobhán",
    "Łukasz",
    "Oğuz",
    "Dương",
    "Ærin",
    "Niamh",
    "Ångström",
    "Kateřina",
    "Małgorzata",
    "Ștefan",
    "Đorđe",
    "Yıldız",
    "Ōta",
    "Þóra",
    "Ğül",
    "Ñuño",
    "Çağla",
    "Renée",
    "Mélissandre",
)
_COMMON_LAST = (
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefèvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
)
_RARE_LAST = (
    "O'Brien",
    "Müller",
    "García",
    "Nowak",
    "Łęcki",
    "Öztürk",
    "Fernández",
    "De La Cruz",
    "Van der Berg",
    "Nguyễn",
    "Šimůnek",
    "Le Gall",
    "Saint-Exupéry",
    "Ødegaard",
    "Çelik",
    "D'Artagnan",
    "Mac Giolla Íosa",
    "Žukauskas",
    "Œhlenschläger",
    "Brontë",
)
_SYLLABLES = ("ka", "lo", "mi", "ré", "su", "ta", "vé", "no", "za", "bi", "jo", "ël", "an", "ou")
_COMMON_DOMAINS = (
    "gmail.com",
    "orange.fr",
    "hotmail.fr",
    "yahoo.fr",
    "free.fr",
    "laposte.net",
    "outlook.fr",
    "sfr.fr",
    "wanadoo.fr",
    "icloud.com",
    "live.fr",
    "bbox.fr",
    "gmx.de",
    "hotmail.com",
)
_TLDS = ("fr", "com", "net", "org", "de", "be", "ch", "io", "co.uk", "es", "it", "eu")
_STREETS = (
    "rue de la Paix",
    "avenue Jean Jaurès",
    "boulevard Voltaire",
    "place du Marché",
    "chemin des Écoliers",
    "impasse Lafayette",
    "allée des Tilleuls",
    "quai de Seine",
)
_CITIES = (
    "Paris",
    "Lyon",
    "Marseille",
    "Lille",
    "Nantes",
    "Saint-Étienne",
    "Besançon",
    "Nîmes",
    "Aix-en-Provence",
    "Orléans",
    "Brest",
    "Périgueux",
    "Montréal",
    "Genève",
)

# region, country code, trunk prefix, NSN generator (rng -> digits), national grouping
_FOREIGN: tuple[tuple[str, int, str, Any], ...] = (
    ("BE", 32, "0", lambda r: r.choice(("47", "48", "49")) + _digits(r, 7)),
    ("CH", 41, "0", lambda r: r.choice(("76", "77", "78", "79")) + _digits(r, 7)),
    (
        "DE",
        49,
        "0",
        lambda r: (
            r.choice(("151", "152", "157", "160", "170", "176"))
            + _digits(r, 7 if r.random() < 0.3 else 8)
        ),
    ),
    ("GB", 44, "0", lambda r: "7" + r.choice("4579") + _digits(r, 8)),
    ("ES", 34, "", lambda r: r.choice("67") + _digits(r, 8)),
    ("IT", 39, "", lambda r: "3" + r.choice("234789") + _digits(r, 8)),
    ("NL", 31, "0", lambda r: "6" + r.choice("12345") + _digits(r, 7)),
    ("PT", 351, "", lambda r: "9" + r.choice("1236") + _digits(r, 7)),
    ("PL", 48, "", lambda r: r.choice("5678") + r.choice("0123") + _digits(r, 7)),
    (
        "US",
        1,
        "",
        lambda r: (
            r.choice(("212", "415", "617", "312", "305", "206"))
            + r.choice("23456789")
            + _digits(r, 6)
        ),
    ),
    ("MA", 212, "0", lambda r: r.choice("67") + r.choice("0123456") + _digits(r, 7)),
    ("RE", 262, "0", lambda r: r.choice(("692", "693")) + _digits(r, 6)),
)


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randrange(10**n)).zfill(n)


def _pairs(digits: str) -> str:
    """``612345678`` -> ``6 12 34 56 78``; ``0612345678`` -> ``06 12 34 56 78``."""
    head = len(digits) % 2
    parts = ([digits[:head]] if head else []) + [
        digits[i : i + 2] for i in range(head, len(digits), 2)
    ]
    return " ".join(parts)


def _french_phone(rng: random.Random) -> tuple[str, str]:
    """(written, meant E.164) of a French number (mostly mobiles, some landlines)."""
    kind = rng.random()
    if kind < 0.75:
        nsn = "6" + rng.choice("12345678") + _digits(rng, 7)
    elif kind < 0.9:
        nsn = "7" + rng.choice("345678") + _digits(rng, 7)
    else:
        nsn = rng.choice("12345") + _digits(rng, 8)
    national = "0" + nsn
    style = rng.random()
    if style < 0.35:
        written = _pairs(national)
    elif style < 0.55:
        written = national
    elif style < 0.62:
        written = ".".join(_pairs(national).split())
    elif style < 0.65:
        written = "-".join(_pairs(national).split())
    elif style < 0.82:
        written = "+33" + nsn
    elif style < 0.95:
        written = "+33 " + _pairs(nsn)
    elif style < 0.98:
        written = "0033 " + _pairs(nsn)
    else:
        written = "+33 (0)" + _pairs(nsn)
    return written, "+33" + nsn


def _foreign_phone(rng: random.Random) -> tuple[str, str]:
    region, cc, trunk, make = rng.choice(_FOREIGN)
    nsn = make(rng)
    style = rng.random()
    if style < 0.35:
        written = f"+{cc}{nsn}"
    elif style < 0.6:
        written = f"+{cc} {_pairs(nsn)}"
    elif style < 0.7:
        written = f"00{cc} {_pairs(nsn)}"
    elif region == "US":
        written = f"({nsn[:3]}) {nsn[3:6]}-{nsn[6:]}"
    else:  # the national way: without the country code, the default region decides
        written = _pairs(trunk + nsn)
    return written, f"+{cc}{nsn}"


def _junk_phone(rng: random.Random) -> str:
    return rng.choice(
        (
            "12" + _digits(rng, 3),
            "06 12 34",
            "+33 6 12 34 56 78 90",
            "n/a",
            "0000000000",
            "+999 123 456",
            "tel: inconnu",
        )
    )


def _zipf_pick(rng: random.Random, common: tuple[str, ...], rare: tuple[str, ...]) -> str:
    """A common value 85% of the time, else a rare or made-up one (the long tail)."""
    roll = rng.random()
    if roll < 0.85:
        return common[min(int(rng.paretovariate(1.2)) - 1, len(common) - 1)]
    if roll < 0.95:
        return rng.choice(rare)
    made = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
    return made[:1].upper() + made[1:]


def _ascii_word(text: str) -> str:
    folded = _ascii(text).lower()
    return re.sub(r"[^a-z0-9']", "", folded)


def _domain(rng: random.Random) -> str:
    if rng.random() < 0.8:
        return _COMMON_DOMAINS[min(int(rng.paretovariate(1.0)) - 1, len(_COMMON_DOMAINS) - 1)]
    word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9)))
    if rng.random() < 0.2:
        word += "-" + str(rng.randint(1, 99))
    return f"{word}.{rng.choice(_TLDS)}"


_BAD_EMAILS: tuple[Any, ...] = (
    lambda local, dom: f"{local} at {dom}",
    lambda local, dom: f"{local}@@{dom}",
    lambda local, dom: f"{local}.@{dom}",
    lambda local, dom: f"{local}@{dom.split('.')[0]}",
    lambda local, dom: f"{local[:3]} {local[3:]}@{dom}",
    lambda local, dom: f"{local}@{dom}..",
    lambda local, dom: f"{local}@-{dom}",
    lambda local, dom: f"{local}@{dom},",
)


@dataclass
class _Row:
    fields: dict[str, str]
    values: dict[str, str]
    reason_by_attr: dict[str, str]  # attribute -> reject code of its invalid value
    email_state: str  # "valid", "invalid", "empty"
    malformed: bool = False
    meant_phone: str = ""
    """The E.164 number the writer meant ("" for junk or none)."""


_MIXED_FILES: tuple[dict[str, Any], ...] = (
    # share, encoding, sep, newline, quote every field, "sep=" line, header (in column order)
    {
        "share": 0.35,
        "encoding": "utf-8-sig",
        "sep": ";",
        "nl": "\r\n",
        "quote_all": False,
        "sep_line": False,
        "header": (
            "Email",
            "First name",
            "Last name",
            "Mobile",
            "Birthday",
            "Gender",
            "Newsletter",
            "Score",
            "Address",
        ),
    },
    {
        "share": 0.2,
        "encoding": "cp1252",
        "sep": ";",
        "nl": "\r\n",
        "quote_all": True,
        "sep_line": True,
        "header": (
            "E-mail",
            "Prénom",
            "Nom",
            "Portable",
            "Birthday",
            "Gender",
            "Newsletter",
            "Score",
            "Address",
        ),
    },
    {
        "share": 0.3,
        "encoding": "utf-8",
        "sep": ",",
        "nl": "\n",
        "quote_all": False,
        "sep_line": False,
        "header": (
            "FIRSTNAME",
            "LASTNAME",
            "EMAIL",
            "SCORE",
            "BIRTHDAY",
            "SMS",
            "NEWSLETTER",
            "GENDER",
            "ADDRESS",
        ),
    },
    {
        "share": 0.15,
        "encoding": "cp1252",
        "sep": ",",
        "nl": "\r\n",
        "quote_all": False,
        "sep_line": False,
        "header": (
            "email",
            "first name",
            "last name",
            "mobile phone",
            "birthday",
            "gender",
            "newsletter",
            "score",
            "address",
        ),
    },
)
_ATTRIBUTE_OF = {
    "email": "EMAIL",
    "e-mail": "EMAIL",
    "first name": "FIRSTNAME",
    "prénom": "FIRSTNAME",
    "firstname": "FIRSTNAME",
    "last name": "LASTNAME",
    "nom": "LASTNAME",
    "lastname": "LASTNAME",
    "mobile": "SMS",
    "portable": "SMS",
    "sms": "SMS",
    "mobile phone": "SMS",
    "birthday": "BIRTHDAY",
    "gender": "GENDER",
    "newsletter": "NEWSLETTER",
    "score": "SCORE",
    "address": "ADDRESS",
}


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def _mixed_row(
    rng: random.Random,
    idx: int,
    encoding: str,
    sep: str,
    earlier: list[tuple[str, str]],
    *,
    parse_phones: bool,
) -> _Row:
    """One row of the mixed profile: written fields keyed by attribute, and their truth."""
    fields: dict[str, str] = {}
    values: dict[str, str] = {}
    bad: dict[str, str] = {}

    def pick_name(common: tuple[str, ...], rare: tuple[str, ...]) -> str:
        for _ in range(5):
            name = _zipf_pick(rng, common, rare)
            if _encodable(name, encoding):
                return name
        return common[0]

    first = pick_name(_COMMON_FIRST, _RARE_FIRST)
    last = pick_name(_COMMON_LAST, _RARE_LAST)
    for attr, name in (("FIRSTNAME", first), ("LASTNAME", last)):
        written = name.upper() if attr == "LASTNAME" and rng.random() < 0.1 else name
        if rng.random() < 0.03:
            written = " " + written + "  "
        fields[attr] = written
        values[attr] = written.strip()

    # Identifiers: e-mail (most rows), phone; 5% repeat an earlier contact, written differently.
    roll = rng.random()
    dup_of = earlier[rng.randrange(len(earlier))] if earlier and roll < 0.05 else None
    email_state = "valid"
    meant_phone = ""
    if dup_of is not None:
        email, phone_text = dup_of
        if not email:
            email_state = "empty"
            fields["EMAIL"] = ""
            values["EMAIL"] = ""
    if dup_of is not None and email:
        email_text = email
        if rng.random() < 0.5:
            email_text = email.upper() if rng.random() < 0.5 else email.title()
        if rng.random() < 0.5:
            email_text = rng.choice(("  ", " ", "\t")) + email_text + rng.choice(("", " ", "  "))
        fields["EMAIL"] = email_text
        values["EMAIL"] = email
    elif dup_of is None and roll < 0.13:
        email_state = "empty"
        fields["EMAIL"] = rng.choice(("", "", "", " "))
        values["EMAIL"] = ""
    elif dup_of is None:
        sep_char = rng.choice((".", ".", "_", "-", ""))
        local = f"{_ascii_word(first)}{sep_char}{_ascii_word(last)}{idx}".strip(".'-_") or f"c{idx}"
        local = re.sub(r"\.{2,}", ".", local)
        if rng.random() < 0.02:
            local += "+news"
        domain = _domain(rng)
        problem = rng.random()
        if problem < 0.025:
            email_state = "invalid"
            text = rng.choice(_BAD_EMAILS)(local, domain)
        elif problem < 0.03:
            # Brevo refuses non-ASCII before the @: rejected, though RFC 6531 allows it.
            email_state = "invalid"
            text = f"{first.lower().replace(' ', '')}.{idx}@{domain}"
            if text.isascii():
                text = f"é{text}"
        else:
            text = f"{local}@{domain}"
            values["EMAIL"] = text.lower()
        style = rng.random()
        if style < 0.1:
            text = text.upper()
        elif style < 0.2:
            text = text[:1].upper() + text[1:]
        if rng.random() < 0.05:
            text = rng.choice((" ", "  ", "\t")) + text + rng.choice(("", " "))
        fields["EMAIL"] = text
        if email_state == "invalid":
            values["EMAIL"] = ""
            bad["EMAIL"] = "invalid_email"

    # Phone.
    if dup_of is not None and not email:
        meant_phone = phone_text
        digits = phone_text[3:]
        fields["SMS"] = rng.choice(
            (phone_text, "0" + digits, _pairs("0" + digits), "+33 " + _pairs(digits))
        )
    else:
        roll = rng.random()
        if email_state == "empty" and roll < 0.08:
            fields["SMS"] = rng.choice(("", " "))  # no identifier at all
        elif email_state != "empty" and roll < 0.15:
            fields["SMS"] = ""
        elif rng.random() < 0.015:
            fields["SMS"] = _junk_phone(rng)
        elif rng.random() < 0.2:  # 20% of the numbers are outside the default region
            fields["SMS"], meant_phone = _foreign_phone(rng)
        else:
            fields["SMS"], meant_phone = _french_phone(rng)

    # Birthday: ISO, dd/mm/yyyy, dd.mm.yyyy (day-first), a few other spellings, some invalid.
    roll = rng.random()
    if roll < 0.1:
        fields["BIRTHDAY"] = ""
        values["BIRTHDAY"] = ""
    elif roll < 0.995:
        y, m = rng.randint(1940, 2006), rng.randint(1, 12)
        d = rng.randint(
            1, [31, 29 if y % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
        )
        style = rng.random()
        if style < 0.35:
            written = f"{y}-{m:02d}-{d:02d}"
        elif style < 0.7:
            written = f"{d:02d}/{m:02d}/{y}"
        elif style < 0.9:
            written = f"{d:02d}.{m:02d}.{y}"
        elif style < 0.95:
            written = f"{d}/{m}/{y}"
        elif style < 0.98:
            written = f"{d}.{m}.{y}"
        else:
            month = (
                "janv.",
                "févr.",
                "mars",
                "avril",
                "mai",
                "juin",
                "juil.",
                "août",
                "sept.",
                "oct.",
                "nov.",
                "déc.",
            )[m - 1]
            written = f"{d} {month} {y}"
            if not _encodable(written, encoding):
                written = f"{y}-{m:02d}-{d:02d}"
        fields["BIRTHDAY"] = written
        values["BIRTHDAY"] = f"{y}-{m:02d}-{d:02d}"
    else:
        fields["BIRTHDAY"] = rng.choice(
            (
                "31/02/1990",
                "1990-13-01",
                "00/00/0000",
                "32.01.1985",
                "inconnue",
                "12/25/1990",
                "29/02/1991",
            )
        )
        values["BIRTHDAY"] = ""
        bad["BIRTHDAY"] = "invalid_value:BIRTHDAY"

    # Gender (category Mr=1, Ms=2).
    roll = rng.random()
    if roll < 0.997:
        written = rng.choice(("Mr", "Ms", "mr", "MS", " Mr ", "1", "2", "", "", "Ms"))
        fields["GENDER"] = written
        values["GENDER"] = _GENDER_TRUTH.get(written.strip().lower(), "")
    else:
        fields["GENDER"] = rng.choice(("Mme", "M.", "Dr", "x"))
        values["GENDER"] = ""
        bad["GENDER"] = "invalid_value:GENDER"

    # Newsletter (boolean).
    roll = rng.random()
    if roll < 0.997:
        written = rng.choice(
            (
                "yes",
                "no",
                "Y",
                "n",
                "true",
                "FALSE",
                "1",
                "0",
                "",
                "oui",
                "non",
                "Oui",
                "VRAI",
                "faux",
                "x",
                "O",
                "t",
                "f",
                "",
            )
        )
        fields["NEWSLETTER"] = written
        values["NEWSLETTER"] = _BOOL_TRUTH.get(written.strip().lower(), "")
    else:
        fields["NEWSLETTER"] = rng.choice(("maybe", "2", "-", "peut-être"))
        values["NEWSLETTER"] = ""
        bad["NEWSLETTER"] = "invalid_value:NEWSLETTER"

    # Score (float): decimal points and commas, thousands, exponents, a few invalid.
    roll = rng.random()
    if roll < 0.08:
        fields["SCORE"] = ""
        values["SCORE"] = ""
    elif roll < 0.997:
        cents = rng.randrange(0, 10_000) if rng.random() < 0.95 else rng.randrange(100_000, 500_000)
        whole, frac = divmod(cents, 100)
        style = rng.random()
        if style < 0.5:
            written = f"{whole}.{frac:02d}"
        elif style < 0.8:
            written = f"{whole},{frac:02d}"
        elif style < 0.9 or whole < 1000:
            written = str(whole) if frac == 0 else f"{whole}.{frac:02d}".rstrip("0")
        elif style < 0.95:
            written = f"{whole // 1000}\u00a0{whole % 1000:03d},{frac:02d}"
        else:
            written = f"{whole // 1000},{whole % 1000:03d}.{frac:02d}"
        if not _encodable(written, encoding):
            written = f"{whole}.{frac:02d}"
        fields["SCORE"] = written
        values["SCORE"] = canonical_decimal(cents)
    else:
        fields["SCORE"] = rng.choice(("n/a", "12.3.4", "abc", "--"))
        values["SCORE"] = ""
        bad["SCORE"] = "invalid_value:SCORE"

    # Address (text): separators, quotes and line breaks inside quoted fields.
    roll = rng.random()
    malformed = False
    if roll < 0.2:
        written = ""
    else:
        street = f"{rng.randint(1, 250)}, {rng.choice(_STREETS)}"
        city = f"{rng.randint(10, 95)}{rng.randint(0, 999):03d} {rng.choice(_CITIES)}"
        style = rng.random()
        if style < 0.4:
            written = f"{street}\n{city}"
        elif style < 0.5:
            written = (
                f'Résidence "{rng.choice(_CITIES)}"; bât. {rng.randint(1, 9)}\n{street}\n{city}'
            )
        else:
            written = f"{street}; {city}"
        if not _encodable(written, encoding):
            written = f"{street} {city}"
        if rng.random() < 0.0125:
            # An exporter that forgot to quote: the separator splits the field (malformed row).
            written = f"{rng.randint(1, 250)}{sep} {rng.choice(_STREETS)}"
            malformed = True
    fields["ADDRESS"] = written
    values["ADDRESS"] = written.strip()

    if parse_phones:
        phone = expected_phone(fields["SMS"])
        values["SMS"] = phone or ""
        if fields["SMS"].strip() and phone is None:
            bad["SMS"] = "invalid_phone"
    return _Row(fields, values, bad, email_state, malformed, meant_phone)


def _csv_field(value: str, sep: str, quote_all: bool) -> str:
    if quote_all or any(c in value for c in (sep, '"', "\r", "\n")):
        return '"' + value.replace('"', '""') + '"'
    return value


def _mixed_reason(row: _Row, header_attrs: list[str]) -> str | None:
    """The one reject reason of a row, in the import's documented order of checks."""
    if row.malformed:
        return "malformed_row"
    if row.email_state == "invalid":
        return "invalid_email"
    email_present = bool(row.fields["EMAIL"].strip())
    sms_present = bool(row.fields["SMS"].strip())
    if not email_present and not sms_present:
        return "missing_identifier"
    if not email_present and "SMS" in row.reason_by_attr:
        return "invalid_phone"
    for attr in header_attrs:
        if attr != "EMAIL" and attr in row.reason_by_attr:
            return row.reason_by_attr[attr]
    return None


def _change(row: _Row) -> None:
    """The next night's value of a changed contact: a new last name (a married name)."""
    last = row.values["LASTNAME"] + CHANGE_SUFFIX
    # The padding stays as written: only the name itself changes.
    row.fields["LASTNAME"] = row.fields["LASTNAME"].replace(row.values["LASTNAME"], last, 1)
    row.values["LASTNAME"] = last


def _write_mixed(
    out_dir: Path, rows: int, *, seed: int, truth: bool, changed: float = 0.0
) -> GeneratedContacts:
    rng = random.Random(seed)
    # Its own generator: drawing the changed rows leaves ``rng``'s draws, hence the rest of
    # the bytes, as they are without changes.
    change_rng = random.Random(seed * 1_000_003 + 17)
    # Only the truth needs phonenumbers; the draws are the same with or without it, so the
    # bytes are too.
    shares = [spec["share"] for spec in _MIXED_FILES]
    counts = [int(rows * s) for s in shares]
    counts[0] += rows - sum(counts)
    files: list[ContactFile] = []
    out_truth: list[TruthRow] = []
    earlier: list[tuple[str, str]] = []
    idx = 0
    for file_no, (spec, count) in enumerate(zip(_MIXED_FILES, counts, strict=True)):
        sep, nl, encoding = spec["sep"], spec["nl"], spec["encoding"]
        header = list(spec["header"])
        header_attrs = [_ATTRIBUTE_OF[h.lower()] for h in header]
        path = out_dir / f"contacts-{file_no + 1}.csv"
        line = 1
        with path.open("w", encoding=encoding, newline="") as fh:
            if spec["sep_line"]:
                fh.write(f"sep={sep}{nl}")
                line += 1
            fh.write(sep.join(_csv_field(h, sep, spec["quote_all"]) for h in header) + nl)
            buffer: list[str] = []
            for _ in range(count):
                line += 1
                row = _mixed_row(rng, idx, encoding, sep, earlier, parse_phones=truth)
                idx += 1
                if changed and change_rng.random() < changed:
                    _change(row)
                cells = []
                for attr in header_attrs:
                    value = row.fields[attr]
                    if attr == "ADDRESS" and row.malformed:
                        cells.append(value)  # unquoted on purpose
                    else:
                        cells.append(_csv_field(value, sep, spec["quote_all"]))
                text = sep.join(cells)
                buffer.append(text)
                if truth:
                    reason = _mixed_reason(row, header_attrs)
                    identifier = row.values["EMAIL"] or row.values["SMS"]
                    out_truth.append(
                        TruthRow(file_no, line, reason, None if reason else row.values, identifier)
                    )
                line += text.count("\n")
                # Remember who a later duplicate can repeat: a valid address, or a French number.
                if len(earlier) < 50_000 and not row.malformed and row.email_state == "valid":
                    earlier.append((row.values["EMAIL"], ""))
                elif (
                    len(earlier) < 50_000
                    and row.email_state == "empty"
                    and re.fullmatch(r"\+33[67]\d{8}", row.meant_phone)
                ):
                    earlier.append(("", row.meant_phone))
                if len(buffer) >= 10_000:
                    fh.write(nl.join(buffer) + nl)
                    buffer.clear()
            if buffer:
                fh.write(nl.join(buffer) + nl)
        files.append(ContactFile(path, encoding, sep, 1 if spec["sep_line"] else 0, count))
    result = GeneratedContacts("mixed", files, rows, dayfirst=True)
    if truth:
        result.truth = _dedupe(out_truth)
    return result


def main() -> None:
    """``python -m bench.generate OUT --rows N [--profile mixed|clean]``.

    ``clean`` writes OUT as one file (the old behaviour); ``mixed`` writes its files under OUT.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", choices=PROFILES, default="clean")
    parser.add_argument(
        "--changed", type=float, default=0.0, help="share of rows with a new last name (mixed)"
    )
    args = parser.parse_args()
    if args.profile == "clean":
        write_contacts_csv(args.out, args.rows, seed=args.seed)
    else:
        generate_contacts(
            args.out, args.rows, profile=args.profile, seed=args.seed, changed=args.changed
        )


if __name__ == "__main__":
    main()
