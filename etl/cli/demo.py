"""``contacts-etl demo``: the whole job against a local sandbox, in under a minute.

Starts the sandbox, creates attributes (a category, a date, a boolean, a float) and a folder,
imports the messy samples of ``data/samples/`` into a new list through the import flow, exports
them back with metadata through the export flow, writes Parquet under ``data/demo/exports/``, prints a
summary with a DuckDB preview, and stops the sandbox.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from etl.brevo.client import BrevoClient
from etl.brevo.models import EnumValue
from etl.cli.common import _settings, run_flow

DEMO_ATTRIBUTES: tuple[tuple[str, str, tuple[EnumValue, ...]], ...] = (
    ("GENDER", "category", (EnumValue(1, "Mr"), EnumValue(2, "Ms"))),
    ("BIRTHDAY", "date", ()),
    ("NEWSLETTER", "boolean", ()),
    ("SCORE", "float", ()),
)


@dataclass
class DemoResult:
    """What the demo did."""

    import_report: dict[str, Any]
    export_summary: dict[str, Any]
    preview: str


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def setup_account(client: BrevoClient) -> int:
    """Create the demo attributes and a folder; returns the folder id."""
    existing = {a.name for a in client.get_attributes()}
    for name, kind, enumeration in DEMO_ATTRIBUTES:
        if name in existing:
            continue
        if kind == "category":
            client.create_attribute(name, category="category", enumeration=enumeration)
        else:
            client.create_attribute(name, category="normal", type=kind)
    return client.create_folder("Demo")


def duckdb_preview(partition: str, limit: int = 5) -> str:
    """Read the Parquet back through DuckDB, as a warehouse would."""
    import duckdb

    con = duckdb.connect()
    try:
        source = f"read_parquet('{partition}/*.parquet')"
        present = {row[0] for row in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        wanted = ("email", "firstname", "sms", "birthday", "gender", "score", "list_ids")
        columns = ", ".join(c for c in wanted if c in present) or "*"
        rel = con.sql(f"SELECT {columns} FROM {source} ORDER BY 1 LIMIT {int(limit)}")
        return str(rel)
    finally:
        con.close()


def run_demo(
    *,
    samples: str = "data/samples/contacts_*",
    mapping: str | None = "data/samples/mapping.yaml",
    out: str = "data/demo/exports",
    state_dir: str = "data/demo/state",
) -> DemoResult:
    """Run the demo end to end; the sandbox lives only for the duration of the call."""
    from etl.sandbox.server import SandboxServer
    from flows.export_contacts import export_contacts
    from flows.import_contacts import import_contacts

    with SandboxServer(host="127.0.0.1", port=0) as sandbox:
        # Quick processes and a generous budget so the demo runs in seconds; the sandbox's
        # defaults mirror Brevo's limits (100 requests/hour outside /contacts).
        sandbox.configure(process_delay_s=0.1, other_rph=10_000)
        env = {
            "BREVO_API_KEY": sandbox.api_key,
            "BREVO_BASE_URL": sandbox.url,
            "BREVO_OTHER_PER_HOUR": "10000",
            "BREVO_POLL_INTERVAL_S": "0.2",
        }
        with _env(env):
            with _settings().client() as client:
                folder_id = setup_account(client)
            # Without a Prefect API the flows run untracked, as for the import and export
            # commands (no temporary Prefect server to start).
            report = run_flow(
                import_contacts,
                dict(
                    files=[samples],
                    new_list="Demo samples",
                    folder_id=folder_id,
                    mapping_file=mapping,
                    default_region="FR",
                    dayfirst=True,
                    state_dir=state_dir,
                    report_path=f"{state_dir}/import-report.json",
                    secret_block=None,
                ),
            )
            summary = run_flow(
                export_contacts,
                dict(
                    out=out,
                    list_ids=report["list_ids"],
                    attributes=[
                        "FIRSTNAME",
                        "LASTNAME",
                        "SMS",
                        "GENDER",
                        "BIRTHDAY",
                        "NEWSLETTER",
                        "SCORE",
                    ],
                    metadata=[
                        "_listIds",
                        "ADDED_TIME AS _ADDED_TIME",
                        "MODIFIED_TIME AS _MODIFIED_TIME",
                    ],
                    subscription_status=["email_marketing", "sms_marketing"],
                    state_dir=state_dir,
                    secret_block=None,
                ),
            )
    return DemoResult(
        import_report=report,
        export_summary=summary,
        preview=duckdb_preview(summary["partition"]),
    )
