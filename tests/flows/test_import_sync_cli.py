"""Issue 16 through the real CLI: --changed-only, --unlink-missing (its guard: exit 2, one line),
--verify --repair; the console says what was unchanged, unlinked and verified."""

from __future__ import annotations

import json

from tests.faults._support import api, run_import, seed_account, write_people


def cli(sandbox, tmp_path, *args):
    return run_import(sandbox, *args, "--state-dir", str(tmp_path / "s"))


def test_a_nightly_sync_through_the_cli(sandbox, tmp_path):
    sandbox.configure(other_rph=100_000, contacts_rps=1000, process_delay_s=0.05)
    list_id = str(seed_account(sandbox)["list_id"])
    src = write_people(tmp_path / "people.csv", 40, bad=False)
    sync = ["--list-id", list_id, "--changed-only", "--unlink-missing"]

    first = cli(sandbox, tmp_path, str(src), *sync, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["rows_sent"] == 40

    lines = src.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5].replace("Person 4", "Changed")
    src.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")  # p39 left, p4 changed
    second = cli(sandbox, tmp_path, str(src), *sync, "--verify", "--repair")
    assert second.returncode == 0, second.stderr
    assert "read 39 rows: sent 1, rejected 0, unchanged 38" in second.stdout
    assert "unlinked 1 contact(s) that left the input" in second.stdout
    assert "verified 1 contact(s): 1 landed, 0 differ, 0 missing" in second.stdout
    assert (
        api(sandbox, "GET", "/contacts/p4@example.com").json()["attributes"]["FIRSTNAME"]
        == "Changed"
    )

    src.write_text("\n".join(lines[:20]) + "\n", encoding="utf-8")  # half the list left
    guarded = cli(sandbox, tmp_path, str(src), *sync)
    assert guarded.returncode == 2, guarded.stderr
    err = guarded.stderr.strip().splitlines()
    assert len(err) == 1, guarded.stderr
    assert "would unlink 20 of 39 contacts" in err[0]
    assert "Traceback" not in guarded.stderr + guarded.stdout
