"""Issue 17: the read step's progress has a total (no more ``200000/?``), ending at the rows read."""

from __future__ import annotations

from etl.brevo.models import Attribute
from etl.imports import ImportOptions, normalise_file, plan_import
from etl.imports.prepare import count_lines

ATTRIBUTES = [Attribute("FIRSTNAME", "normal", "text")]


def test_count_lines_counts_a_last_line_without_newline(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"a\nb\nc")
    assert count_lines(path) == 3
    path.write_bytes(b"a\nb\n")
    assert count_lines(path, block=1) == 2
    path.write_bytes(b"")
    assert count_lines(path) == 0


def test_the_read_progress_has_a_total_that_ends_at_the_rows_read(tmp_path):
    path = tmp_path / "people.csv"
    rows = [f"p{i}@example.com,Person {i}" for i in range(250)]
    rows[10] = 'p10@example.com,"two\nlines"'  # one row over two lines: the total starts high
    path.write_text("Email,First name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    options = ImportOptions(
        paths=(str(path),), list_ids=(1,), batch_rows=100, state_dir=tmp_path / "state"
    )
    plan = plan_import(options, ATTRIBUTES)
    seen: list[tuple[int, int]] = []
    work = tmp_path / "work"
    work.mkdir()
    normalise_file(plan, 0, options, work_dir=work, progress=lambda s, d, t: seen.append((d, t)))
    assert seen[0] == (100, 251)  # 252 lines, less the header
    assert all(total >= done > 0 for done, total in seen)
    assert seen[-1] == (250, 250)
