"""Deterministic generator of realistic, messy contact CSVs (and Brevo-style export files).

Vectorised with NumPy so a 5M-row file takes seconds: names with accents, mixed-case emails,
national and international phone numbers, dates in several formats, a few percent invalid or
duplicate rows. The same ``seed`` and ``rows`` always give the same bytes.
"""

from __future__ import annotations

import argparse
import unicodedata
from pathlib import Path

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
    day = rng.integers(1, 29, n)
    month = rng.integers(1, 13, n)
    year = rng.integers(1950, 2006, n)
    fmt = rng.integers(0, 4, n)
    d, m, y = day.astype(str), month.astype(str), year.astype(str)
    d2, m2 = np.char.zfill(d, 2), np.char.zfill(m, 2)
    iso = np.char.add(np.char.add(np.char.add(np.char.add(y, "-"), m2), "-"), d2)
    slash = np.char.add(np.char.add(np.char.add(np.char.add(d2, "/"), m2), "/"), y)
    dots = np.char.add(np.char.add(np.char.add(np.char.add(d, "."), m), "."), y)
    return np.select([fmt == 0, fmt == 1, fmt == 2], [iso, slash, dots], default="")


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
    return {
        "Email": email,
        "First name": first,
        "Last name": last,
        "Mobile": _phones(rng, rows),
        "Birthday": _dates(rng, rows),
        "Gender": GENDER[rng.integers(0, len(GENDER), rows)],
        "Newsletter": BOOL[rng.integers(0, len(BOOL), rows)],
        "Score": np.round(rng.random(rows) * 100, 2).astype(str),
    }


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


def main() -> None:
    """``python -m bench.generate OUT.csv --rows N``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    write_contacts_csv(args.out, args.rows, seed=args.seed)


if __name__ == "__main__":
    main()
