"""`contacts-etl import` through the real CLI: what the console says of runs and refusals."""

from __future__ import annotations

from tests.faults._support import run_import, seed_account


def cli(sandbox, tmp_path, *args):
    return run_import(sandbox, *args, "--state-dir", str(tmp_path / "s"))


def test_the_console_never_shows_a_refused_or_earlier_row_as_sent(sandbox, tmp_path):
    sandbox.configure(other_rph=100_000, contacts_rps=1000, process_delay_s=0.05)
    list_id = seed_account(sandbox)["list_id"]
    src = tmp_path / "people.csv"
    src.write_text(
        "Email,Mobile\na@example.com,+33612345678\nb@example.com,+33612345678\n"
        "chloé.sato14@example.com,\n",
        encoding="utf-8",
    )
    first = cli(sandbox, tmp_path, str(src), "--list-id", str(list_id))
    assert first.returncode == 0, first.stderr
    assert "read 3 rows: sent 1, rejected 1, refused by Brevo 1" in first.stdout
    assert "warning: Brevo refused 1 row(s)" in first.stderr
    assert "duplicate_phone_id: 1" in first.stderr

    second = cli(sandbox, tmp_path, str(src), "--list-id", str(list_id))
    assert second.returncode == 0, second.stderr
    assert "nothing sent: run " in second.stdout
    assert "(--again sends them again)" in second.stdout
    assert "sent 0," in second.stdout

    third = cli(sandbox, tmp_path, str(src), "--list-id", str(list_id), "--again")
    assert third.returncode == 0, third.stderr
    assert "nothing sent" not in third.stdout
    assert "sent 1, rejected 1, refused by Brevo 1" in third.stdout
