"""A seeded sandbox account and an import made without the flow's own re-apply of booleans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from etl.brevo.client import BrevoClient
from etl.brevo.models import ImportRequest
from etl.brevo.ratelimit import RateLimits
from etl.brevo.retry import RetryPolicy
from etl.imports import ImportOptions, plan_import, prepare_import
from tests._seed import create_attributes, create_lists

HEADER = "Email,First name,Newsletter,Birthday,Score,Gender"


def api(sandbox: Any, method: str, path: str, **kw: Any) -> requests.Response:
    resp = requests.request(
        method, f"{sandbox.url}{path}", headers={"api-key": sandbox.api_key}, timeout=10, **kw
    )
    resp.raise_for_status()
    return resp


@pytest.fixture
def account(sandbox, brevo_profile):
    """Attributes (GENDER category, BIRTHDAY, NEWSLETTER, SCORE), two lists, a client."""
    sandbox.configure(profile=brevo_profile)
    sandbox.configure(other_rph=100000, contacts_rps=1000, process_delay_s=0.02)
    create_attributes(sandbox)
    lists = create_lists(sandbox, 2)
    client = BrevoClient(
        sandbox.api_key,
        base_url=sandbox.url,
        limits=RateLimits(contacts_per_second=1000, other_per_hour=100000),
        retry=RetryPolicy(base_s=0),
        poll_interval_s=0.02,
    )
    yield {"sandbox": sandbox, "client": client, "lists": lists, "profile": brevo_profile}
    client.close()
    sandbox.clear_faults()


def import_rows(
    account: dict[str, Any], tmp_path: Path, rows: list[str], *, list_ids=None, header=HEADER
):
    """Plan, prepare and import ``rows`` (CSV lines under ``header``) chunk by chunk.

    Straight through the import functions and ``POST /contacts/import``: no re-apply of false
    booleans afterwards (the flow's ``apply_false_booleans``), so what Brevo keeps shows.
    Returns ``(chunks, specs, list_ids)``.
    """
    client: BrevoClient = account["client"]
    list_ids = tuple(list_ids or account["lists"][:1])
    path = tmp_path / "people.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    options = ImportOptions(
        paths=(str(path),),
        list_ids=list_ids,
        state_dir=tmp_path / "state",
        report_path=tmp_path / "report.json",
        chunk_bytes=2048,
    )
    plan = plan_import(options, client.get_attributes())
    prepared = prepare_import(plan, options, work_dir=tmp_path / "work")
    assert prepared.rows_rejected == 0
    for chunk in prepared.chunks:
        process_id = client.start_import(
            ImportRequest(file_body=chunk.path.read_text(encoding="utf-8"), list_ids=list_ids)
        )
        client.wait_for_process(process_id, timeout_s=30)
    return prepared.chunks, plan.specs, list_ids
