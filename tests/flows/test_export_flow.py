"""Issue 5 end to end: exports from the sandbox to typed Parquet that DuckDB reads as-is."""

from __future__ import annotations

import json

import duckdb
import pytest
import requests

from flows.export_contacts import export_contacts
from tests._seed import create_attributes, create_lists

PEOPLE = [
    # email, first name, birthday, gender label, newsletter, score, lists (by index)
    ("ann@example.com", "Ann", "1990-03-12", "Ms", "true", "4.5", (0,)),
    ("bob@example.com", "Bob", "1985-07-01", "Mr", "false", "", (0, 1)),
    ("cy@example.com", "Cy", "", "", "", "10", (1,)),
    ("dee@example.com", "Dee", "2001-12-31", "Ms", "true", "0.25", (0,)),
]


@pytest.fixture
def seeded(brevo_env):
    sb = brevo_env
    h = {"api-key": sb.api_key}
    base = sb.url
    create_attributes(sb)
    lists = create_lists(sb, 2)
    for email, first, bday, gender, news, score, idx in PEOPLE:
        body = {
            "email": email,
            "attributes": {
                k: v
                for k, v in {
                    "FIRSTNAME": first,
                    "BIRTHDAY": bday,
                    "GENDER": gender,
                    "NEWSLETTER": news == "true" if news else None,
                    "SCORE": float(score) if score else None,
                }.items()
                if v not in ("", None)
            },
            "listIds": [lists[i] for i in idx],
        }
        requests.post(f"{base}/contacts", json=body, headers=h, timeout=5).raise_for_status()
    return {"sandbox": sb, "lists": lists}


def read_partition(partition: str):
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_parquet('{partition}/*.parquet') ORDER BY email")
    types = dict(zip(rel.columns, [str(t) for t in rel.types], strict=True))
    return rel.fetchall(), rel.columns, types


def test_export_two_lists_merges_types_and_folds_duplicates(seeded, tmp_path):
    l0, l1 = seeded["lists"]
    summary = export_contacts(
        out=str(tmp_path / "out"),
        list_ids=[l0, l1],
        attributes="FIRSTNAME,BIRTHDAY,GENDER,NEWSLETTER,SCORE",
        metadata=["_listIds", "ADDED_TIME AS _ADDED_TIME"],
        subscription_status=["email_marketing"],
        state_dir=str(tmp_path / "state"),
        secret_block=None,
    )
    assert summary["merged_rows"] == 4
    assert {e["label"] for e in summary["exports"]} == {f"list:{l0}", f"list:{l1}"}
    assert summary["validation"]["passed"], summary["validation"]
    rows, cols, types = read_partition(summary["partition"])
    assert types["email"] == "VARCHAR"
    assert types["birthday"] == "DATE"
    assert types["score"] == "DOUBLE"
    assert types["newsletter"] == "BOOLEAN"
    assert types["list_ids"] == "BIGINT[]"
    assert types["gender"] == "VARCHAR"
    assert types["gender_value"] == "BIGINT"
    assert "TIMESTAMP WITH TIME ZONE" in types["added_time"]
    by_email = {r[cols.index("email")]: dict(zip(cols, r, strict=True)) for r in rows}
    assert set(by_email) == {p[0] for p in PEOPLE}
    bob = by_email["bob@example.com"]
    assert sorted(bob["list_ids"]) == sorted([l0, l1])  # folded from both exports
    assert sorted(bob["_sources"]) == sorted([f"list:{l0}", f"list:{l1}"])
    assert bob["gender"] == "Mr"
    assert bob["gender_value"] == 1
    assert str(by_email["ann@example.com"]["birthday"]) == "1990-03-12"
    assert by_email["ann@example.com"]["score"] == 4.5
    assert by_email["ann@example.com"]["newsletter"] is True
    with open(summary["manifest"], encoding="utf-8") as fh:
        manifest = json.load(fh)
    assert manifest["rows"] == 4


def test_skip_files_merge_parts_equal_one_file(seeded, tmp_path):
    sb = seeded["sandbox"]
    l0, _ = seeded["lists"]
    sb.configure(export_part_rows=1)
    one = export_contacts(
        out=str(tmp_path / "a"), list_ids=[l0], state_dir=str(tmp_path / "s"), secret_block=None
    )
    parts = export_contacts(
        out=str(tmp_path / "b"),
        list_ids=[l0],
        skip_files_merge=True,
        state_dir=str(tmp_path / "s"),
        secret_block=None,
    )
    assert parts["exports"][0]["files"] == 3  # three contacts, one per part
    a, cols_a, _ = read_partition(one["partition"])
    b, cols_b, _ = read_partition(parts["partition"])
    strip = lambda rows, cols: sorted(  # noqa: E731 - the times differ between two exports
        tuple(v for c, v in zip(cols, r, strict=True) if c not in ("added_time", "modified_time"))
        for r in rows
    )
    assert strip(a, cols_a) == strip(b, cols_b)


def test_legacy_filter_blacklisted_per_list_and_rerun_replaces_the_partition(seeded, tmp_path):
    sb = seeded["sandbox"]
    l0, _ = seeded["lists"]
    requests.put(
        f"{sb.url}/contacts/dee@example.com",
        json={"emailBlacklisted": True},
        headers={"api-key": sb.api_key},
        timeout=5,
    ).raise_for_status()
    out = str(tmp_path / "out")
    summary = export_contacts(
        out=out,
        legacy_filter="{“blacklisted”: 1, “listid.id”: "
        + str(l0)
        + "}",  # curly quotes, as v2 docs print them
        state_dir=str(tmp_path / "s"),
        secret_block=None,
        export_date="2026-01-02",
    )
    rows, cols, _ = read_partition(summary["partition"])
    assert [r[cols.index("email")] for r in rows] == ["dee@example.com"]
    again = export_contacts(
        out=out,
        list_ids=[l0],
        state_dir=str(tmp_path / "s"),
        secret_block=None,
        export_date="2026-01-02",
    )
    assert again["partition"] == summary["partition"]
    rows, _, _ = read_partition(again["partition"])
    assert len(rows) == 3  # replaced whole, not appended


def test_incremental_keeps_only_contacts_modified_since_the_last_run(seeded, tmp_path):
    sb = seeded["sandbox"]
    l0, _ = seeded["lists"]
    out = str(tmp_path / "out")
    first = export_contacts(
        out=out,
        list_ids=[l0],
        incremental=True,
        state_dir=str(tmp_path / "s"),
        secret_block=None,
        export_date="2026-02-01",
    )
    assert first["merged_rows"] == 3
    import time

    time.sleep(1.1)  # the sandbox stamps modifications to the millisecond
    requests.put(
        f"{sb.url}/contacts/ann@example.com",
        json={"attributes": {"FIRSTNAME": "Annie"}},
        headers={"api-key": sb.api_key},
        timeout=5,
    ).raise_for_status()
    second = export_contacts(
        out=out,
        list_ids=[l0],
        incremental=True,
        state_dir=str(tmp_path / "s"),
        secret_block=None,
        export_date="2026-02-02",
        attributes="FIRSTNAME",
    )
    assert second["modified_since"] is not None
    rows, cols, _ = read_partition(second["partition"])
    assert [(r[cols.index("email")], r[cols.index("firstname")]) for r in rows] == [
        ("ann@example.com", "Annie")
    ]
    # The first day's partition is untouched.
    rows, _, _ = read_partition(first["partition"])
    assert len(rows) == 3
