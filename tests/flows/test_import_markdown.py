"""The import's markdown artifact says what the console says: dates, footers, warnings, sync."""

from __future__ import annotations

from etl.imports import ImportReport
from flows.import_contacts import import_markdown


def report(**kw) -> ImportReport:
    base = {
        "rows_read": 10,
        "rows_sent": 6,
        "rows_rejected": 1,
        "rejects_by_reason": {"invalid_email": 1},
        "unknown_columns": [],
        "chunks": [],
        "list_ids": [3],
        "brevo": {},
        "files": [],
        "rejects_path": "r.csv",
        "validation": {"passed": True, "evaluated": 3, "successful": 3, "failures": []},
    }
    return ImportReport(**{**base, **kw})


def test_the_artifact_shows_date_orders_footers_and_warnings():
    text = import_markdown(
        report(
            date_orders={"BIRTHDAY": "day-first (settled by 25/12/2023, a.csv line 4)"},
            footer_lines={"sf.csv": ["Confidential Information - Do Not Distribute", "x"]},
            warnings=["b.csv: the file has a header but no data rows"],
            dropped_values=2,
        )
    )
    assert "`BIRTHDAY`: day-first (settled by 25/12/2023, a.csv line 4)" in text
    assert "`sf.csv`: 2 line(s), first: 'Confidential Information" in text
    assert "- b.csv: the file has a header but no data rows" in text
    assert "values dropped (contacts sent without them): 2" in text


def test_the_artifact_shows_sync_and_verify_counts():
    text = import_markdown(
        report(
            rows_unchanged=3,
            sync={"snapshot": "comparing with run r1", "unlinked": 2, "unlinked_path": "u.csv"},
            verify={
                "verify_route": "reads",
                "rows_landed": 5,
                "rows_differ": 1,
                "rows_missing": 0,
                "outcomes_path": "o.csv",
                "repaired": 1,
                "still_differing": 0,
            },
        )
    )
    assert "unchanged: **3**" in text
    assert "- changed-only: comparing with run r1" in text
    assert "unlinked from the lists: **2**" in text
    assert "landed **5**, differ **1**, missing **0**" in text
    assert "repaired **1**, still differing **0**" in text
    assert "Date columns" not in import_markdown(report())
