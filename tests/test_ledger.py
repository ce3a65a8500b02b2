from __future__ import annotations

import threading

from etl.ledger import Ledger


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
