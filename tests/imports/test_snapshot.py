"""The --changed-only snapshot: lookups agree with a plain dict, commits are atomic and complete."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from etl.imports.dedupe import hash_identifiers
from etl.imports.snapshot import (
    SnapshotBuilder,
    check_snapshot,
    commit_snapshot,
    load_snapshot,
    missing_contacts,
    unchanged_mask,
    value_hashes,
)

BASIS = {"mapping": "m", "attributes": "a", "options": "o", "hash": "h"}


def frame(n: int, *, start: int = 0, name: str = "N") -> pd.DataFrame:
    ids = [f"c{i}@example.com" for i in range(start, start + n)]
    return pd.DataFrame(
        {"EMAIL": ids, "FIRSTNAME": [f"{name}{i}" for i in range(start, start + n)]}
    ).assign(_identifier=lambda f: f["EMAIL"])


def commit(tmp_path, df: pd.DataFrame, run_id: str = "r1", **kw):
    builder = SnapshotBuilder(tmp_path / f"work-{run_id}")
    ids = hash_identifiers(df["_identifier"])
    values = value_hashes(df, ["EMAIL", "FIRSTNAME"])
    builder.add(df["_identifier"], ids, values, np.ones(len(df), dtype=bool))
    pending = builder.close()
    return commit_snapshot(
        pending, tmp_path / "snap", run_id=run_id, basis=BASIS, process_id=7, **kw
    ), pending


def test_unchanged_mask_agrees_with_a_dict(tmp_path):
    old = frame(1000)
    snapshot, _ = commit(tmp_path, old)
    new = pd.concat([frame(500, start=500), frame(600, start=1000)], ignore_index=True)
    new.loc[new.index % 7 == 0, "FIRSTNAME"] = "changed"
    ids = hash_identifiers(new["_identifier"])
    values = value_hashes(new, ["EMAIL", "FIRSTNAME"])
    got = unchanged_mask(snapshot, ids, values)
    reference = dict(zip(old["EMAIL"], old["FIRSTNAME"], strict=True))
    expected = [reference.get(e) == f for e, f in zip(new["EMAIL"], new["FIRSTNAME"], strict=True)]
    assert got.tolist() == expected
    assert 0 < got.sum() < 500


def test_value_hashes_depend_on_the_columns_and_on_every_value():
    df = frame(3)
    a = value_hashes(df, ["EMAIL", "FIRSTNAME"])
    b = value_hashes(df, ["FIRSTNAME", "EMAIL"])
    assert (a != b).all()
    other = df.copy()
    other.loc[1, "FIRSTNAME"] = "x"
    c = value_hashes(other, ["EMAIL", "FIRSTNAME"])
    assert (a == c).tolist() == [True, False, True]


def test_missing_contacts_counts_rejected_rows_as_present(tmp_path):
    snapshot, _ = commit(tmp_path, frame(10))
    builder = SnapshotBuilder(tmp_path / "work-r2")
    now = frame(6)  # c6..c9 left the input, but c8 is only rejected this time
    builder.add(
        now["_identifier"],
        hash_identifiers(now["_identifier"]),
        value_hashes(now, ["EMAIL", "FIRSTNAME"]),
        np.zeros(6, dtype=bool),
    )
    builder.protect(hash_identifiers(pd.Series(["c8@example.com"])))
    plan = missing_contacts(snapshot, builder.close())
    assert plan.identifiers == ("c6@example.com", "c7@example.com", "c9@example.com")
    assert plan.previous_rows == 10
    assert plan.share == pytest.approx(0.3)


def test_commit_replaces_the_pointer_and_leaves_excluded_rows_out(tmp_path):
    first, _ = commit(tmp_path, frame(5))
    excluded = hash_identifiers(pd.Series(["c1@example.com"]))
    second, _ = commit(tmp_path, frame(5, name="M"), run_id="r2", exclude=excluded)
    loaded = load_snapshot(tmp_path / "snap")
    assert loaded is not None
    assert loaded.run_id == "r2"
    assert loaded.rows == 4
    assert not first.folder.exists()  # older versions are removed once the pointer moved
    names = [n for b in loaded.iter_identifiers() for n in b.column(0).to_pylist()]
    assert sorted(names) == [f"c{i}@example.com" for i in (0, 2, 3, 4)]
    pointer = json.loads((tmp_path / "snap" / "current.json").read_text(encoding="utf-8"))
    assert pointer["version"] == second.folder.name


def test_exclude_sent_keeps_only_unchanged_rows(tmp_path):
    builder = SnapshotBuilder(tmp_path / "work")
    df = frame(4)
    sent = np.array([True, False, True, False])
    builder.add(
        df["_identifier"],
        hash_identifiers(df["_identifier"]),
        value_hashes(df, ["EMAIL", "FIRSTNAME"]),
        sent,
    )
    snap = commit_snapshot(
        builder.close(), tmp_path / "s", run_id="r", basis=BASIS, process_id=None, exclude_sent=True
    )
    assert snap.rows == 2


def test_check_snapshot_says_why_it_is_not_used(tmp_path):
    commit(tmp_path, frame(3))
    root = tmp_path / "snap"
    ok = check_snapshot(root, BASIS, lambda pid: True)
    assert ok.snapshot is not None
    assert "comparing with run r1" in ok.message
    changed = check_snapshot(root, {**BASIS, "mapping": "other"}, lambda pid: True)
    assert changed.snapshot is None
    assert changed.message.startswith("the column mapping changed since run r1")
    gone = check_snapshot(root, BASIS, lambda pid: False)
    assert gone.snapshot is None
    assert "no longer knows process 7" in gone.message
    none = check_snapshot(tmp_path / "nothing", BASIS, lambda pid: True)
    assert none.snapshot is None
    assert none.previous is None


def test_a_pointer_without_its_files_is_ignored(tmp_path):
    snapshot, _ = commit(tmp_path, frame(3))
    (snapshot.folder / "ids.u64").unlink()
    assert load_snapshot(tmp_path / "snap") is None


def test_refused_identifiers_read_back_what_the_refusals_part_holds(tmp_path):
    from etl.imports.submit import ChunkOutcome, _write_refusals
    from etl.imports.sync import refused_identifiers, siphash_list

    part = tmp_path / "chunk-00001.csv"
    _write_refusals(part, 1, [("a", "=X@example.com", "r1"), ("b", "b@example.com", "r2")])
    outcome = ChunkOutcome(
        index=1,
        rows=5,
        bytes=1,
        sha256="s",
        chunk_key="k",
        status="completed",
        info={"refused": 2, "refusals_part": str(part)},
    )
    hashes, unnamed = refused_identifiers([outcome])
    assert hashes.tolist() == siphash_list(["=x@example.com", "b@example.com"]).tolist()
    assert not unnamed
    outcome.info = {"refused": 3, "refusals_part": str(part)}
    assert refused_identifiers([outcome])[1]  # one refused row not named: unnamed
