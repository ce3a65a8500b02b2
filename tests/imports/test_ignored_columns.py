"""Issue 17: columns the run ignores cost nothing in the bodies and little in the rejects file."""

from __future__ import annotations

import json

from etl.brevo.models import Attribute
from etl.imports import ImportOptions, plan_import, prepare_import
from etl.imports.body import parse_body
from etl.imports.rejects import MAX_CELL_CHARS, read_rejects

ATTRIBUTES = [Attribute("FIRSTNAME", "normal", "text")]


def test_a_huge_ignored_cell_is_not_sent_and_not_carried_whole_into_rejects(tmp_path):
    huge = "n" * (3 << 20)  # 3 MiB: far over the 64 KiB chunk budget below
    path = tmp_path / "big.csv"
    path.write_text(
        "Email,First name,Notes,\n"  # Notes mapped to nothing, the last column has no header
        f"a@x.io,Ann,{huge},{huge}\n"
        f"not an email,Bob,{huge},\n"
        "c@x.io,Cy,,\n",
        encoding="utf-8",
    )
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("Notes: ''\n", encoding="utf-8")
    options = ImportOptions(
        paths=(str(path),),
        list_ids=(1,),
        mapping_file=mapping,
        chunk_bytes=64 * 1024,
        state_dir=tmp_path / "state",
        report_path=tmp_path / "report.json",
    )
    plan = plan_import(options, ATTRIBUTES)
    assert set(plan.files[0].mapping.ignored) == {"Notes", "_unnamed_4"}
    prepared = prepare_import(plan, options, work_dir=tmp_path / "work")
    # No row_too_large: the body holds the mapped columns only.
    assert prepared.rejects_by_reason == {"invalid_email": 1}
    [chunk] = prepared.chunks
    assert chunk.bytes < 100
    body = parse_body(chunk.path.read_text(encoding="utf-8"))
    assert [r["EMAIL"] for r in body] == ["a@x.io", "c@x.io"]
    [reject] = read_rejects(prepared.rejects_path)
    assert len(json.loads(reject["original"])["Notes"]) < MAX_CELL_CHARS + 50
    assert "truncated in this file: Notes" in reject["message"]
    assert prepared.rejects_path.stat().st_size < 3 * MAX_CELL_CHARS
