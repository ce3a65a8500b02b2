"""``POST /contacts/import`` and ``POST /contacts/export``: each starts a background process.

The parsing and the work live in ``etl.sandbox.importer`` and ``etl.sandbox.exporter``; here
the request becomes a job, and the job's files become ``/exports/{token}/{name}`` links.
"""

from __future__ import annotations

import csv
import secrets
import time
from pathlib import Path

from werkzeug.wrappers import Request, Response

from etl.sandbox.exporter import parse_export_request, run_export
from etl.sandbox.importer import (
    ImportReport,
    apply_batch,
    fetch_url,
    import_info,
    iter_csv_batches,
    iter_json_batches,
    parse_import_request,
)
from etl.sandbox.processes import JobFailed, JobResult
from etl.sandbox.routes.common import EXPORT_PREFIX, Context, json_response, object_body


def _write_rejects(
    ctx: Context, process_id: int, kind: str, header: list[str], rows: list[list[str]]
) -> str | None:
    if not rows:
        return None
    name = f"{Path(kind).name}_{process_id}.csv"
    path = ctx.files_dir / f"import_{process_id}" / Path(kind).parent / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    token = secrets.token_urlsafe(24)
    ctx.account.files.register(
        token=token,
        path=path,
        name=name,
        content_type="text/csv; charset=utf-8",
        expires_at=time.time() + ctx.config.current.export_link_ttl_s,
    )
    return f"{EXPORT_PREFIX}{token}/{name}"


def handle_import(ctx: Context, req: Request, body: bytes) -> Response:
    """``POST /contacts/import``: 202 and a ``processId``; the rows are applied in the job."""
    account = ctx.account
    spec = parse_import_request(object_body(body), account)
    list_ids = spec.list_ids
    if spec.new_list is not None:
        name, folder = spec.new_list
        list_ids = (*list_ids, account.lists.create(name, folder))

    def job(process_id: int, generation: int) -> JobResult:
        text, items = spec.file_body, spec.json_body
        if spec.file_url is not None:
            text, items = fetch_url(spec.file_url)
        report = ImportReport()
        seen: set[str] = set()
        if text is not None:
            batches = iter_csv_batches(text, account, spec, report, seen)
        else:
            batches = iter_json_batches(items or [], account, spec, report, seen)
        first = True
        for batch in batches:
            if first and not {"EMAIL", "SMS"} & {h.strip().upper() for h in report.header}:
                raise JobFailed("The file has no EMAIL or SMS column")
            first = False
            apply_batch(
                account,
                batch,
                spec=spec,
                list_ids=list_ids,
                process_id=process_id,
                generation=generation,
                report=report,
            )
        if report.header and not {"EMAIL", "SMS"} & {h.strip().upper() for h in report.header}:
            raise JobFailed("The file has no EMAIL or SMS column")

        def write(kind: str, header: list[str], rows: list[list[str]]) -> str | None:
            return _write_rejects(ctx, process_id, kind, header, rows)

        info = import_info(report, write)
        form = {
            "proc_success": "1",
            "new_emails": str(report.new),
            "emails_exists": str(report.updated + report.untouched),
            "invalid_email": str(len(report.invalid_rows)),
            "duplicates_email": str(len(report.duplicate_rows)),
            "listids": ",".join(str(i) for i in list_ids),
        }
        return JobResult(info=info, notify_form=form)

    process_id = ctx.runner.submit("IMPORTUSER", job, notify_url=spec.notify_url)
    return json_response({"processId": process_id}, 202)


def handle_export(ctx: Context, req: Request, body: bytes) -> Response:
    """``POST /contacts/export``: 202 and a ``processId``; the file is written in the job."""
    account = ctx.account
    spec = parse_export_request(object_body(body), account)

    def job(process_id: int, generation: int) -> JobResult:
        exported = run_export(
            account,
            spec,
            out_dir=ctx.files_dir / f"export_{process_id}",
            base_name=f"contacts_export_{process_id}",
            part_rows=ctx.config.current.export_part_rows,
            generation=generation,
        )
        token = secrets.token_urlsafe(24)
        account.files.register(
            token=token,
            path=exported.path,
            name=exported.name,
            content_type=exported.content_type,
            expires_at=time.time() + ctx.config.current.export_link_ttl_s,
        )
        url_path = f"{EXPORT_PREFIX}{token}/{exported.name}"
        return JobResult(
            info={"export": {"total_records": exported.total, "file_size": exported.size}},
            export_url=url_path,
            notify_form={"proc_success": "1", "url": ctx.url(url_path)},
        )

    name = ctx.config.current.export_process_name
    process_id = ctx.runner.submit(name, job, notify_url=spec.notify_url)
    return json_response({"processId": process_id}, 202)
