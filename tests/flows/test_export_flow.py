"""Issue 5 end to end: exports from the sandbox to typed Parquet that DuckDB reads as-is."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
import requests

from etl.brevo.client import BrevoClient
from flows.export_contacts import export_contacts
from tests._seed import create_attributes, create_lists

GENDER_VALUES = {
    "Mr": 1,
    "Ms": 2,
}  # labels are ignored on update by real Brevo (docs/brevo/FACTS.md F10)

PEOPLE = [
    # email, first name, birthday, gender label, newsletter, score, lists (by index)
    ("ann@example.com", "Ann", "1990-03-12", "Ms", "true", "4.5", (0,)),
    ("bob@example.com", "Bob", "1985-07-01", "Mr", "false", "", (0, 1)),
    ("cy@example.com", "Cy", "", "", "", "10", (1,)),
    ("dee@example.com", "Dee", "2001-12-31", "Ms", "true", "0.25", (0,)),
]


@pytest.fixture
def seeded(brevo_env, brevo_profile):
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
                    "GENDER": GENDER_VALUES.get(gender),
                    "NEWSLETTER": news == "true" if news else None,
                    "SCORE": float(score) if score else None,
                }.items()
                if v not in ("", None)
            },
            "listIds": [lists[i] for i in idx],
        }
        requests.post(f"{base}/contacts", json=body, headers=h, timeout=5).raise_for_status()
    return {"sandbox": sb, "lists": lists, "profile": brevo_profile}


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
        tuple(
            v
            for c, v in zip(cols, r, strict=True)
            if c not in ("added_time", "modified_time", "run")
        )
        for r in rows
    )
    assert strip(a, cols_a) == strip(b, cols_b)


def test_legacy_filter_per_list_and_a_rerun_adds_a_run_beside_the_first(seeded, tmp_path):
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
    assert again["day_partition"] == summary["day_partition"]
    assert again["partition"] != summary["partition"]
    assert again["run_id"] > summary["run_id"]  # run ids sort in run order
    rows, _, _ = read_partition(again["partition"])
    assert len(rows) == 3
    rows, _, _ = read_partition(summary["partition"])
    assert len(rows) == 1  # the first run is still there
    with open(f"{out}/contacts/_current/export_date=2026-01-02.json", encoding="utf-8") as fh:
        day = json.load(fh)
    assert [r["run_id"] for r in day["runs"]] == [summary["run_id"], again["run_id"]]
    assert day["rows"] == 4


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
    got = [(r[cols.index("email")], r[cols.index("firstname")]) for r in rows]
    if seeded["profile"] == "minimal":
        # Day-only MODIFIED_TIME: the filter keeps the whole day of the previous run's start,
        # so the change is there (with the day's other contacts, exported again).
        assert ("ann@example.com", "Annie") in got
        assert [e for e, _ in got] == ["ann@example.com", "bob@example.com", "dee@example.com"]
        assert second["date_times"]["day_only_columns"] == ["added_time", "modified_time"]
        assert any("no time of day" in n for n in second["notes"])
    else:
        # Real times: the window starts at the previous run's start, to the second (Brevo's
        # precision), so a contact modified in that same second may come again; Annie is there.
        assert ("ann@example.com", "Annie") in got
        assert ("ann@example.com", "Ann") not in got
        assert len(got) <= 3
        assert second["date_times"]["day_only_columns"] == []
    # The first day's partition is untouched.
    rows, _, _ = read_partition(first["partition"])
    assert len(rows) == 3


def test_a_contact_modified_later_on_the_previous_runs_start_day_is_exported(
    seeded, tmp_path, monkeypatch
):
    # The previous run started at 23:59:59 today (account timezone); the contact is modified
    # "earlier" by the clock but, its MODIFIED_TIME being day-only, on that same day.
    sb = seeded["sandbox"]
    l0, _ = seeded["lists"]
    out = str(tmp_path / "out")
    zone = ZoneInfo("America/New_York" if seeded["profile"] == "minimal" else "UTC")
    requests.put(
        f"{sb.url}/contacts/bob@example.com",
        json={"attributes": {"FIRSTNAME": "Robert"}},
        headers={"api-key": sb.api_key},
        timeout=5,
    ).raise_for_status()
    today = datetime.now(zone).date()
    late = datetime(today.year, today.month, today.day, 23, 59, 59, tzinfo=zone)
    summary = export_contacts(
        out=out,
        list_ids=[l0],
        modified_since=late.astimezone(UTC),
        state_dir=str(tmp_path / "s"),
        secret_block=None,
        export_date="2026-02-03",
        attributes="FIRSTNAME",
    )
    rows, cols, _ = read_partition(summary["partition"])
    emails = [r[cols.index("email")] for r in rows]
    if seeded["profile"] == "minimal":
        assert "bob@example.com" in emails  # same day: kept, never silently dropped
        assert len(emails) == 3
    else:
        assert emails == []  # real times: modified before the bound


@pytest.mark.parametrize("utc", [True, False])
def test_export_dates_follow_the_account_preferences(seeded, tmp_path, utc):
    l0, _ = seeded["lists"]
    before = datetime.now(UTC)
    summary = export_contacts(
        out=str(tmp_path / "out"),
        list_ids=[l0],
        utc=utc,
        metadata=["ADDED_TIME AS _ADDED_TIME"],
        state_dir=str(tmp_path / "s"),
        secret_block=None,
    )
    rows, cols, types = read_partition(summary["partition"])
    assert "TIMESTAMP WITH TIME ZONE" in types["added_time"]  # same type in both profiles
    assert "TIMESTAMP WITH TIME ZONE" in types["modified_time"]
    added = [r[cols.index("added_time")].astimezone(UTC) for r in rows]
    dates = summary["date_times"]
    with open(summary["manifest"], encoding="utf-8") as fh:
        manifest = json.load(fh)
    if seeded["profile"] == "minimal":
        assert dates == {
            "source": "account",
            "date_format": "mm-dd-yyyy",
            "time_format": "12",
            "timezone": "America/New_York",
            "day_only_columns": ["added_time", "modified_time", "_added_time"],
        }
        zone = ZoneInfo("America/New_York")
        day = before.astimezone(zone).date()
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        assert set(added) <= {midnight, midnight + timedelta(days=1)}  # a run at midnight
        assert manifest["day_only_columns"] == ["added_time", "modified_time", "_added_time"]
        assert any("without a time of day" in n for n in manifest["notes"])
    else:
        assert dates["day_only_columns"] == []
        assert dates["date_format"] == "dd-mm-yyyy"
        assert all(before - timedelta(minutes=5) <= a <= datetime.now(UTC) for a in added)
        assert manifest["day_only_columns"] == []


def test_without_account_preferences_dates_are_read_as_before(seeded, tmp_path):
    sb = seeded["sandbox"]
    l0, _ = seeded["lists"]
    if seeded["profile"] == "minimal":
        # Keep the files readable as dd-mm-yyyy: what the pipeline assumes without GET /account.
        sb.configure(
            account={
                "dateTimePreferences": {
                    "dateFormat": "dd-mm-yyyy",
                    "timeFormat": "24",
                    "timezone": "UTC",
                }
            }
        )
    sb.add_fault(path_prefix="/v3/account", method="GET", kind="status", status=500)
    summary = export_contacts(
        out=str(tmp_path / "out"), list_ids=[l0], state_dir=str(tmp_path / "s"), secret_block=None
    )
    assert summary["merged_rows"] == 3
    assert summary["date_times"]["source"] == "default"
    assert any("GET /account failed" in n for n in summary["notes"])


def test_brevo_counts_that_disagree_are_warnings_not_failures(seeded, tmp_path, monkeypatch):
    l0, _ = seeded["lists"]
    real_wait = BrevoClient.wait_for_process

    def wait_with_wrong_counts(self, process_id, **kw):
        from dataclasses import replace

        from etl.brevo.models import ExportInfo

        process = real_wait(self, process_id, **kw)
        return replace(process, export_info=ExportInfo(total_records=99, file_size=7))

    monkeypatch.setattr(BrevoClient, "wait_for_process", wait_with_wrong_counts)
    summary = export_contacts(
        out=str(tmp_path / "out"), list_ids=[l0], state_dir=str(tmp_path / "s"), secret_block=None
    )
    assert summary["merged_rows"] == 3
    assert summary["validation"]["passed"], summary["validation"]
    label = f"list:{l0}"
    assert summary["warnings"] == [
        f"export {label}: downloaded {_size(summary)} bytes, Brevo's info.export.file_size says 7",
        f"export {label}: its file held 3 row(s), Brevo's info.export.total_records says 99",
    ]
    assert summary["exports"][0]["total_records"] == 99


def _size(summary) -> int:
    return int(summary["exports"][0]["bytes"])


def _put(sb, email, body):
    requests.put(
        f"{sb.url}/contacts/{email}", json=body, headers={"api-key": sb.api_key}, timeout=5
    ).raise_for_status()


def loader_sql(out) -> str:
    """The DuckDB query of docs/exports.md, exactly as documented, pointed at ``out``."""
    text = (Path(__file__).parents[2] / "docs" / "exports.md").read_text(encoding="utf-8")
    block = text.split("<!-- loader-sql -->", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    return block.replace("'OUT/", f"'{out}/")


def current_state(out):
    con = duckdb.connect()
    rel = con.sql(loader_sql(out))
    return {
        r[rel.columns.index("email")]: dict(zip(rel.columns, r, strict=True))
        for r in rel.fetchall()
    }


def test_two_incremental_runs_on_one_day_leave_every_contacts_latest_values(seeded, tmp_path):
    sb = seeded["sandbox"]
    out = str(tmp_path / "out")
    run = dict(
        out=out,
        all_contacts=True,
        incremental=True,
        state_dir=str(tmp_path / "s"),
        secret_block=None,
        export_date="2026-02-10",
    )
    first = export_contacts(**run)
    assert first["merged_rows"] == 4
    time.sleep(1.1)  # Brevo's best precision is the second
    _put(sb, "ann@example.com", {"attributes": {"FIRSTNAME": "Annie"}})
    _put(sb, "cy@example.com", {"attributes": {"SCORE": 99.0}})
    requests.post(
        f"{sb.url}/contacts",
        json={"email": "eve@example.com", "attributes": {"FIRSTNAME": "Eve"}},
        headers={"api-key": sb.api_key},
        timeout=5,
    ).raise_for_status()
    second = export_contacts(**run)
    assert second["day_partition"] == first["day_partition"]
    day = Path(first["day_partition"])
    assert sorted(p.name for p in day.iterdir()) == [
        f"run={first['run_id']}",
        f"run={second['run_id']}",
    ]
    rows, _, _ = read_partition(first["partition"])
    assert len(rows) == 4  # never deleted by the second run
    state = current_state(out)
    assert set(state) == {p[0] for p in PEOPLE} | {"eve@example.com"}
    assert state["ann@example.com"]["firstname"] == "Annie"
    assert state["cy@example.com"]["score"] == 99.0
    assert state["eve@example.com"]["firstname"] == "Eve"
    assert state["bob@example.com"]["firstname"] == "Bob"
    assert state["dee@example.com"]["score"] == 0.25
    # A re-run of the same window adds the same rows again: the loader's state is unchanged.
    third = export_contacts(
        **{
            **run,
            "incremental": False,
            "modified_since": datetime.fromisoformat(second["modified_since"]),
        }
    )
    assert third["merged_rows"] == second["merged_rows"]
    again = current_state(out)
    strip = lambda rows: {e: {k: v for k, v in r.items() if k != "run"} for e, r in rows.items()}  # noqa: E731
    assert strip(again) == strip(state)


def test_the_default_export_has_every_account_attribute_as_typed_columns(seeded, tmp_path):
    l0, _ = seeded["lists"]
    summary = export_contacts(
        out=str(tmp_path / "out"),
        list_ids=[l0],
        metadata=["_listIds", "ADDED_TIME AS _ADDED_TIME", "MODIFIED_TIME AS _MODIFIED_TIME"],
        state_dir=str(tmp_path / "s"),
        secret_block=None,
    )
    rows, cols, types = read_partition(summary["partition"])
    for name in ("firstname", "lastname", "sms", "ext_id", "whatsapp", "landline_number"):
        assert types[name] == "VARCHAR", name
    assert types["birthday"] == "DATE"
    assert types["newsletter"] == "BOOLEAN"
    assert types["score"] == "DOUBLE"
    assert types["gender"] == "VARCHAR"
    assert types["gender_value"] == "BIGINT"
    # Aliases: one column each, under the name chosen.
    assert "TIMESTAMP WITH TIME ZONE" in types["_added_time"]
    assert "TIMESTAMP WITH TIME ZONE" in types["_modified_time"]
    assert not [c for c in cols if c.endswith("_2")]
    ann = next(
        dict(zip(cols, r, strict=True)) for r in rows if r[cols.index("email")] == "ann@example.com"
    )
    assert (ann["firstname"], ann["gender"], ann["score"]) == ("Ann", "Ms", 4.5)


def test_a_whole_account_export_includes_contacts_in_no_list(seeded, tmp_path):
    sb = seeded["sandbox"]
    requests.post(
        f"{sb.url}/contacts",
        json={"email": "zed@example.com", "emailBlacklisted": True},
        headers={"api-key": sb.api_key},
        timeout=5,
    ).raise_for_status()
    _put(sb, "dee@example.com", {"emailBlacklisted": True})
    everyone = export_contacts(
        out=str(tmp_path / "a"),
        all_contacts=True,
        created_since="2000-01-01",
        state_dir=str(tmp_path / "s"),
        secret_block=None,
    )
    rows, cols, _ = read_partition(everyone["partition"])
    assert [r[cols.index("email")] for r in rows] == sorted(
        [p[0] for p in PEOPLE] + ["zed@example.com"]
    )
    assert [e["label"] for e in everyone["exports"]] == ["all-contacts:since:2000-01-01"]
    blacklisted = export_contacts(
        out=str(tmp_path / "b"),
        legacy_filter='{"blacklisted":1}',
        state_dir=str(tmp_path / "s"),
        secret_block=None,
    )
    rows, cols, _ = read_partition(blacklisted["partition"])
    assert [r[cols.index("email")] for r in rows] == ["dee@example.com", "zed@example.com"]
    assert all("email_marketing" in r[cols.index("blocklisted")] for r in rows)
    assert any("contacts in no list are included" in n for n in blacklisted["notes"])
