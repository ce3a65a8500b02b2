from __future__ import annotations

import threading

from etl.imports.ledger import Ledger


def test_submission_lifecycle_survives_reopen(tmp_path):
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as ledger:
        sent_at = ledger.begin_submission(
            chunk_key="k1", body_sha256="b1", target="t", rows=10, size=100
        )
        assert ledger.get("k1").status == "submitting"
        assert ledger.get("k1").submitted_at == sent_at
        ledger.record_submitted("k1", 42)
    with Ledger(path) as ledger:  # durable across processes
        entry = ledger.get("k1")
        assert (entry.status, entry.process_id, entry.rows, entry.bytes) == (
            "submitted",
            42,
            10,
            100,
        )
        assert ledger.claimed_process_ids() == {42}
        ledger.record_finished("k1", status="completed", info={"invalid_emails": 3})
        assert ledger.get("k1").info == {"invalid_emails": 3}
        assert [e.chunk_key for e in ledger.entries("completed")] == ["k1"]
        assert ledger.entries("failed") == []


def test_resubmission_counts_attempts_and_clears_process(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.begin_submission(chunk_key="k", body_sha256="b", target="t", rows=1, size=1)
        ledger.record_submitted("k", 7)
        ledger.record_finished("k", status="failed", error="boom")
        ledger.begin_submission(chunk_key="k", body_sha256="b", target="t", rows=1, size=1)
        entry = ledger.get("k")
        assert (entry.status, entry.process_id, entry.error, entry.attempts) == (
            "submitting",
            None,
            None,
            2,
        )
        ledger.forget("k")
        assert ledger.get("k") is None


def test_new_list_memory(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:
        assert ledger.new_list_id("Leads", 1) is None
        ledger.record_new_list("Leads", 1, 17)
        assert ledger.new_list_id("Leads", 1) == 17
        assert ledger.new_list_id("Leads", 2) is None


def test_threads_share_one_ledger(tmp_path):
    with Ledger(tmp_path / "l.sqlite") as ledger:

        def work(i: int) -> None:
            key = f"k{i}"
            ledger.begin_submission(chunk_key=key, body_sha256=key, target="t", rows=i, size=i)
            ledger.record_submitted(key, 1000 + i)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ledger.claimed_process_ids() == {1000 + i for i in range(20)}


def test_stale_work_dirs_of_killed_runs_are_removed(tmp_path):
    import os
    import time

    from flows._common import clean_stale_work_dirs

    old = tmp_path / "import-abc"
    (old / "chunks").mkdir(parents=True)
    (old / "chunks" / "chunk-00001.csv").write_text("EMAIL\na@example.com\n", encoding="utf-8")
    fresh = tmp_path / "import-def"
    fresh.mkdir()
    (fresh / "spill.arrow").write_bytes(b"x")
    other = tmp_path / "export-old"
    other.mkdir()
    past = time.time() - 7 * 3600
    for p in [old, old / "chunks", old / "chunks" / "chunk-00001.csv", other]:
        os.utime(p, (past, past))
    assert clean_stale_work_dirs(tmp_path, "import-") == 1
    assert not old.exists()
    assert fresh.exists()
    assert other.exists()  # another prefix


def test_chunks_belong_to_their_run_and_claims_are_account_wide(tmp_path):
    from etl.imports.ledger import Ledger

    with Ledger(tmp_path / "l.sqlite") as ledger:
        first = ledger.start_run("fp")
        ledger.begin_submission(
            chunk_key="k", body_sha256="b", target="t", rows=1, size=1, after_process_id=5
        )
        assert ledger.get("k").after_process_id == 5
        ledger.record_submitted("k", 9)
        ledger.record_finished("k", status="completed")
        ledger.finish_run(status="completed", rows_sent=1)
        second = ledger.start_run("fp")  # --again: same command, a new run
        assert second.run_id != first.run_id
        assert ledger.get("k") is None  # the new run has sent nothing yet
        assert ledger.claimed_process_ids() == {9}  # but process 9 stays claimed
        assert ledger.newest_claimed_process_id() == 9
        latest = ledger.latest_run("fp")
        assert latest.run_id == second.run_id
        assert latest.status == "running"
        ledger.use_run(first.run_id)
        assert ledger.get("k").status == "completed"
        assert ledger.run_process_ids(first.run_id) == [9]
        assert ledger.get_run(first.run_id).describe()["rows_sent"] == 1
        assert ledger.latest_run("other") is None


def test_account_keys_differ_by_account_and_base_url_and_hold_no_secret():
    from etl.imports.ledger import account_key, ledger_path

    a = account_key(base_url="https://api.brevo.com/v3", email="Ops@Example.com")
    assert a == account_key(base_url="https://api.brevo.com/v3/", email="ops@example.com")
    assert a != account_key(base_url="http://127.0.0.1:8787/v3", email="ops@example.com")
    assert a != account_key(base_url="https://api.brevo.com/v3", email="other@example.com")
    assert a != account_key(
        base_url="https://api.brevo.com/v3", email="ops@example.com", organization_id="org-2"
    )
    assert len(a) == 16
    assert "example" not in a
    from pathlib import Path

    assert ledger_path(Path("s"), a) == Path("s") / "accounts" / a / "ledger.sqlite"
