"""Regenerate the demo sample files: ``python data/samples/make_samples.py``.

Deterministic (fixed seed): the same bytes every time. See README.md for what each file holds.
"""

from __future__ import annotations

import codecs
import random
from collections.abc import Callable
from pathlib import Path

import phonenumbers

HERE = Path(__file__).resolve().parent
FIRST = [
    "Anne",
    "Zoé",
    "José",
    "Chloé",
    "Noah",
    "Inès",
    "Lucía",
    "Björn",
    "Amélie",
    "Kai",
    "François",
    "Siobhán",
    "Hélène",
    "Mathéo",
    "Renée",
    "Tom",
    "Sara",
    "Liam",
    "Emma",
    "Hugo",
]
LAST = [
    "Martin",
    "Bernard",
    "Dubois",
    "Müller",
    "García",
    "O'Brien",
    "Lefèvre",
    "Rossi",
    "Fernández",
    "Schmidt",
    "Moreau",
    "Petit",
    "Durand",
    "Smith",
    "Öztürk",
    "Nowak",
]
ASCII = str.maketrans("éèêëàâäïîôöûüùçñóíáøåæœšłő", "eeeeaaaiioouuucnoiaoaaeslo")


def _phone(rng: random.Random, make: Callable[[str], str]) -> str:
    """A valid number written by ``make`` from 8 random digits (invalid ones are planted)."""
    while True:
        text = make(f"{rng.randrange(10**8):08d}")
        if phonenumbers.is_valid_number(phonenumbers.parse(text, "FR")):
            return text


def _email(first: str, last: str, i: int, domain: str) -> str:
    local = f"{first}.{last}{i}".lower().translate(ASCII).replace("'", "")
    return f"{local}@{domain}"


def _date(rng: random.Random, style: str) -> str:
    y, m, d = rng.randrange(1950, 2006), rng.randrange(1, 13), rng.randrange(1, 29)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return {
        "iso": f"{y}-{m:02d}-{d:02d}",
        "dots": f"{d}.{m}.{y}",
        "named": f"{d} {months[m - 1]} {y}",
        "dmy": f"{d:02d}/{m:02d}/{y}",
    }[style]


def english(rng: random.Random) -> list[list[str]]:
    """UTF-8 with BOM, CRLF, comma: an export from a CRM."""
    rows = [
        ["Email", "First name", "Last name", "Mobile", "Birthday", "Gender", "Newsletter", "Score"]
    ]
    domains = ["example.com", "Example.org", "mail.example.net"]
    for i in range(120):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = _email(first, last, i, rng.choice(domains))
        if i % 9 == 0:
            email = email.upper()
        if i % 11 == 0:
            email = f"  {email} "
        style = rng.choice(["uk", "us", "fr", ""])
        formats = {
            "uk": lambda d: f"+44 7911 {d[:6]}",
            "us": lambda d: f"+1 (415) 555-{d[:4]}",
            "fr": lambda d: f"+33 6 {d}",
        }
        phone = _phone(rng, formats[style]) if style else ""
        rows.append(
            [
                email,
                first,
                last,
                phone,
                _date(rng, rng.choice(["iso", "dots", "named"])),
                rng.choice(["Mr", "Ms", "mr", "MS", ""]),
                rng.choice(["yes", "no", "Y", "N", ""]),
                f"{rng.random() * 100:.2f}",
            ]
        )
    rows[5][0] = "john.doe@@example.com"  # invalid
    rows[17][0] = "not an email"  # invalid
    rows[33][0] = ""  # no email and no phone: missing identifier
    rows[33][3] = ""
    rows[40][0] = rows[12][0].strip().upper()  # the same contact, only after normalising
    rows[58][1] = 'Anne "Nan"'  # quotes inside a field
    rows[77][5] = "Mrs"  # not a label of GENDER
    rows[90][3] = "+44 20 7946"  # too short: invalid phone
    return rows


def french(rng: random.Random) -> list[list[str]]:
    """Windows-1252, Excel's sep=; line, French headers, national numbers, day-first dates."""
    rows = [
        [
            "E-mail",
            "Prénom",
            "Nom",
            "Portable",
            "Date de naissance",
            "Civilité",
            "Newsletter",
            "Score",
        ]
    ]
    for i in range(100):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = _email(
            first, last, 1000 + i, rng.choice(["exemple.fr", "orange.example", "Exemple.FR"])
        )
        phone = _phone(
            rng,
            rng.choice(
                [
                    lambda d: f"06 {d[:2]} {d[2:4]} {d[4:6]} {d[6:]}",
                    lambda d: f"07{d}",
                    lambda d: f"+33 6 {d}",
                    lambda d: f"06.{d[:2]}.{d[2:4]}.{d[4:6]}.{d[6:]}",
                ]
            ),
        )
        rows.append(
            [
                email,
                first,
                last,
                phone,
                _date(rng, "dmy"),
                rng.choice(["Mr", "Ms", "1", "2"]),
                rng.choice(["oui", "non", "1", "0"]),
                f"{rng.random() * 20:.1f}".replace(".", ","),
            ]
        )
    rows[8][0] = ""  # identified by the mobile alone
    rows[21][3] = "12 34"  # invalid phone
    rows[30][0] = "jean.dupont@exemple"  # invalid (no top-level domain)
    rows[44][0] = " " + rows[9][0].upper()  # duplicate after normalising
    rows[52][4] = "31/02/1990"  # no such date
    rows[61] = rows[61][:4]  # ragged: short row, padded
    return rows


def unicode_tabs(rng: random.Random, english_rows: list[list[str]]) -> list[list[str]]:
    """UTF-16 with BOM, tab-separated: Excel's "Unicode text"."""
    rows = [
        [
            "Email Address",
            "FirstName",
            "LastName",
            "Cell",
            "Birthday",
            "Gender",
            "Newsletter",
            "Score",
        ]
    ]
    for i in range(80):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = _email(first, last, 2000 + i, "example.net")
        rows.append(
            [
                email,
                first,
                last,
                _phone(rng, lambda d: f"+33 7 {d}"),
                _date(rng, rng.choice(["iso", "named"])),
                rng.choice(["Mr", "Ms"]),
                rng.choice(["true", "false", "1", "0"]),
                str(rng.randrange(0, 100)),
            ]
        )
    rows[3][0] = english_rows[20][0].strip().title()  # also in the first file
    rows[10] = [*rows[10], "unexpected", "extra"]  # ragged: more fields than the header
    rows[15][0] = "ali@exa mple.net"  # invalid
    rows[27][3] = ""
    rows[27][0] = ""  # missing identifier
    rows[40][7] = "n/a"  # not a number
    rows[50][3] = "0033 7 12"  # invalid phone
    return rows


def _text(rows: list[list[str]], sep: str, newline: str) -> str:
    def cell(value: str) -> str:
        if any(c in value for c in (sep, '"', "\r", "\n")):
            return '"' + value.replace('"', '""') + '"'
        return value

    return "".join(sep.join(cell(v) for v in row) + newline for row in rows)


def main() -> None:
    """Write the three sample files next to this script."""
    rng = random.Random(2026)
    en = english(rng)
    (HERE / "contacts_crm_utf8.csv").write_bytes(codecs.BOM_UTF8 + _text(en, ",", "\r\n").encode())
    fr = _text(french(rng), ";", "\r\n")
    (HERE / "contacts_excel_fr.csv").write_bytes(("sep=;\r\n" + fr).encode("cp1252"))
    uni = _text(unicode_tabs(rng, en), "\t", "\r\n")
    (HERE / "contacts_unicode.txt").write_bytes(codecs.BOM_UTF16_LE + uni.encode("utf-16-le"))


if __name__ == "__main__":
    main()
