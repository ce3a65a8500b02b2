"""Check an import preparation against the generator's ground truth, value by value.

``compare(generated, prepared)`` reads the chunk files (what would be sent) and the rejects file
of a finished :func:`etl.imports.prepare_import` and lists every difference from
:class:`bench.generate.TruthRow`: a row sent that should be rejected (or the reverse), a wrong
reject reason, a wrong normalised value. Sent rows are matched in run order (the chunks keep
it); rejected rows by file and line.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.generate import GeneratedContacts, TruthRow


@dataclass
class TruthReport:
    """The differences found, by kind, with a few examples each."""

    rows: int
    sent_expected: int
    sent_actual: int
    reasons_expected: dict[str, int]
    reasons_actual: dict[str, int]
    differences: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, example: str) -> None:
        """Count one difference, keep its first examples."""
        self.differences[kind] += 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < 5:
            shown.append(example)

    @property
    def ok(self) -> bool:
        """No difference at all."""
        return not self.differences

    def summary(self) -> str:
        """One line per kind of difference, with examples."""
        lines = [
            f"{self.rows} rows: sent {self.sent_actual} (truth {self.sent_expected}); "
            f"rejects {self.reasons_actual} (truth {self.reasons_expected})"
        ]
        for kind, count in self.differences.most_common():
            lines.append(f"  {kind}: {count}")
            lines.extend(f"    {e}" for e in self.examples[kind])
        return "\n".join(lines)


def read_chunks(paths: list[Path]) -> list[dict[str, str]]:
    """The rows of the ``;`` bodies, in order."""
    rows: list[dict[str, str]] = []
    for path in paths:
        text = Path(path).read_bytes().decode("utf-8")
        rows.extend(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    return rows


def read_rejects(path: Path) -> list[dict[str, str]]:
    """The rejects file's records (UTF-8 with BOM, ``,``)."""
    csv.field_size_limit(1 << 30)
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def compare(generated: GeneratedContacts, prepared: Any) -> TruthReport:
    """Every difference between the truth and what ``prepare_import`` produced."""
    truth: list[TruthRow] = generated.truth or []
    if not truth:
        raise ValueError("generate the contacts with truth=True")
    sent_rows = read_chunks([c.path for c in prepared.chunks])
    rejects = read_rejects(prepared.rejects_path)
    expected_sent = [t for t in truth if t.reason is None]
    report = TruthReport(
        rows=len(truth),
        sent_expected=len(expected_sent),
        sent_actual=len(sent_rows),
        reasons_expected=dict(Counter(t.reason for t in truth if t.reason)),
        reasons_actual=dict(prepared.rejects_by_reason),
    )
    file_index = {str(f.path): i for i, f in enumerate(generated.files)}
    actual_reason: dict[tuple[int, int], str] = {}
    for rec in rejects:
        if rec["action"] != "rejected":
            continue
        key = (file_index[rec["source_file"]], int(rec["line"]))
        actual_reason[key] = rec["reason"]
    by_key = {(t.file, t.line): t for t in truth}
    for key, reason in actual_reason.items():
        t = by_key.get(key)
        if t is None:
            report.add("rejected a line that starts no row", f"file {key[0]} line {key[1]}")
        elif t.reason is None:
            report.add(
                f"rejected ({reason}), truth: sent",
                f"file {key[0]} line {key[1]}: truth {t.values}",
            )
        elif t.reason != reason:
            report.add(
                f"reason {reason}, truth: {t.reason}",
                f"file {key[0]} line {key[1]}: truth identifier {t.identifier!r}",
            )
    for t in truth:
        if t.reason is not None and (t.file, t.line) not in actual_reason:
            report.add(
                f"sent, truth: {t.reason}",
                f"file {t.file} line {t.line}: identifier {t.identifier!r}",
            )
    # Sent rows in run order: pair them with the truth's sent rows that were not rejected.
    expected_iter = [t for t in expected_sent if (t.file, t.line) not in actual_reason]
    # Rows sent that the truth rejects break the pairing; pair by identifier then.
    by_identifier = {t.identifier: t for t in expected_iter}
    for i, row in enumerate(sent_rows):
        t = expected_iter[i] if i < len(expected_iter) else None
        ident = row.get("EMAIL") or row.get("SMS", "")
        if t is None or t.identifier != ident:
            t = by_identifier.get(ident)
        if t is None or t.values is None:
            continue  # counted above as "sent, truth: <reason>"
        for attribute, value in row.items():
            want = t.values.get(attribute)
            if want is not None and want != value:
                report.add(
                    f"value of {attribute}",
                    f"file {t.file} line {t.line}: sent {value!r}, truth {want!r}",
                )
    return report
