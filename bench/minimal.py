"""The latency baselines: the least code that does the mandatory work (issue 14, item 3).

``python -m bench.minimal import CSV LIST_ID`` reads the rows, validates them with Great
Expectations (one expectation, an ephemeral context), POSTs them as ``fileBody`` and polls the
process every 0.5 s until it is completed.

``python -m bench.minimal export LIST_ID OUT_PARQUET`` POSTs an export of the list, polls every
0.5 s, downloads the file, reads it with pyarrow, writes Parquet and validates it with Great
Expectations (one expectation).

The key and base URL come from ``BREVO_API_KEY`` and ``BREVO_BASE_URL``, as for the CLI. No
retries, no rate budget, no ledger, no report: what ``contacts-etl`` does beyond this is what
``latency_import`` and ``latency_export`` weigh.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path
from typing import Any

import requests

POLL_S = 0.5
TIMEOUT_S = 30.0


def _session() -> tuple[requests.Session, str]:
    session = requests.Session()
    session.headers["api-key"] = os.environ["BREVO_API_KEY"]
    return session, os.environ["BREVO_BASE_URL"].rstrip("/")


def _wait(session: requests.Session, url: str, process_id: int) -> dict[str, Any]:
    while True:
        resp = session.get(f"{url}/processes/{process_id}", timeout=TIMEOUT_S)
        resp.raise_for_status()
        process: dict[str, Any] = resp.json()
        if process["status"] == "completed":
            return process
        if process["status"] in ("failed", "cancelled", "error", "aborted"):
            raise SystemExit(f"process {process_id}: {process['status']}")
        time.sleep(POLL_S)


def _expect_not_null(frame: Any, column: str) -> None:
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("minimal")
        .add_dataframe_asset("rows")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    result = batch.validate(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
    if not result.success:
        raise SystemExit(f"validation failed: {column} has nulls")


def run_import(csv_path: Path, list_id: int) -> None:
    """Read, validate (GX, one expectation), POST fileBody, poll every 0.5 s."""
    import pandas as pd

    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    _expect_not_null(frame, "EMAIL")
    session, url = _session()
    body = frame.to_csv(sep=";", index=False)
    resp = session.post(
        f"{url}/contacts/import",
        json={"fileBody": body, "listIds": [list_id], "updateExistingContacts": True},
        timeout=TIMEOUT_S,
    )
    resp.raise_for_status()
    _wait(session, url, int(resp.json()["processId"]))


def run_export(list_id: int, out_path: Path) -> None:
    """POST an export, poll every 0.5 s, download, pyarrow read + write Parquet, GX check."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    session, url = _session()
    resp = session.post(
        f"{url}/contacts/export",
        json={
            "customContactFilter": {"actionForContacts": "allContacts", "listId": list_id},
            "disableNotification": True,
            "exportDateInUTC": True,
        },
        timeout=TIMEOUT_S,
    )
    resp.raise_for_status()
    process = _wait(session, url, int(resp.json()["processId"]))
    download = session.get(process["export_url"], timeout=TIMEOUT_S)
    download.raise_for_status()
    table = pcsv.read_csv(
        io.BytesIO(download.content), parse_options=pcsv.ParseOptions(delimiter=";")
    )
    pq.write_table(table, out_path)
    _expect_not_null(pq.read_table(out_path).to_pandas(), "EMAIL")


def main(argv: list[str] | None = None) -> int:
    """``import CSV LIST_ID`` or ``export LIST_ID OUT``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 3 and args[0] == "import":
        run_import(Path(args[1]), int(args[2]))
        return 0
    if len(args) == 3 and args[0] == "export":
        run_export(int(args[1]), Path(args[2]))
        return 0
    print("usage: python -m bench.minimal import CSV LIST_ID | export LIST_ID OUT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
