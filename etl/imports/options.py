"""The options of one import run (one model for the CLI, the flow and the tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from etl.errors import InputError
from etl.imports.body import DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES
from etl.imports.ledger import DEFAULT_STATE_DIR
from etl.imports.presets import PRESET_NAMES

Via = Literal["body", "url", "auto"]
Keep = Literal["first", "last"]
Progress = Callable[[str, int, int], None]
"""progress(step, done, total): total 0 when unknown."""


def no_progress(step: str, done: int, total: int) -> None:
    """The default progress callback: report nothing."""
    return None


@dataclass(frozen=True)
class ImportOptions:
    """Everything a user can choose for one import run."""

    paths: tuple[str, ...]
    list_ids: tuple[int, ...] = ()
    new_list: str | None = None
    folder_id: int | None = None
    mapping_file: Path | None = None
    mapping_preset: str | None = None
    """A shipped mapping preset (:mod:`etl.imports.presets`); ``mapping_file`` wins over it."""
    strict: bool = False
    default_region: str | None = None
    dayfirst: bool | None = None
    """How to read ``03/02/2024`` in a date column whose values do not settle the order:
    day-first (True), month-first (False), or not at all (None: rejected as ambiguous)."""
    drop_invalid_values: bool = False
    keep: Keep = "last"
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    via: Via = "auto"
    update_existing: bool = True
    empty_attributes: bool = False
    email_blacklist: bool = False
    sms_blacklist: bool = False
    disable_notification: bool = False
    notify_url: str | None = None
    # GX has a fixed cost per validation call (~0.15 s): large batches amortise it; memory
    # stays bounded by the batch, not the file.
    batch_rows: int = 200_000
    workers: int | None = None
    """Processes normalising the batches of a file of more than one batch, beside the run's
    own (:mod:`etl.imports.workers`); None: ``$CONTACTS_ETL_WORKERS``, else one fewer than the
    CPUs (at least 1, at most 4); 0: none. Results do not depend on it."""
    wait_timeout_s: float = 3600.0
    state_dir: Path = DEFAULT_STATE_DIR
    report_path: Path | None = None
    rejects_path: Path | None = None
    again: bool = False
    changed_only: bool = False
    """Send only rows new or changed since the last successful run to this account and target
    (:mod:`etl.imports.snapshot`)."""
    unlink_missing: bool = False
    """Unlink from the target lists the contacts of the last successful run's snapshot that
    this run's input no longer holds."""
    max_unlink: str = "5%"
    """The most ``unlink_missing`` may unlink: a share of the snapshot (``5%``) or a count."""
    verify: bool = False
    """Read back what Brevo holds for the run's contacts and write per-row outcomes."""
    repair: bool = False
    """With ``verify``: re-apply differing values through the update endpoints, then verify."""

    @property
    def keeps_snapshot(self) -> bool:
        """Whether the run reads and leaves a snapshot (``--changed-only``, ``--unlink-missing``)."""
        return self.changed_only or self.unlink_missing

    def unlink_limit(self, snapshot_rows: int) -> int:
        """How many contacts ``--max-unlink`` allows for a snapshot of ``snapshot_rows``."""
        text = self.max_unlink.strip()
        if text.endswith("%"):
            return int(snapshot_rows * float(text[:-1]) / 100)
        return int(text)

    def check(self) -> None:
        """Refuse contradictory options (exit 2) before any work."""
        if not self.paths:
            raise InputError("no input files given")
        if bool(self.list_ids) == bool(self.new_list):
            raise InputError("give either --list-id (one or more) or --new-list with --folder-id")
        if self.new_list and self.folder_id is None:
            raise InputError("--new-list needs --folder-id (Brevo requires a folder for a list)")
        if not 0 < self.chunk_bytes <= MAX_CHUNK_BYTES:
            raise InputError(
                f"--chunk-bytes must be between 1 and {MAX_CHUNK_BYTES} (Brevo's 10 MB limit)"
            )
        if self.mapping_preset is not None and self.mapping_preset not in PRESET_NAMES:
            raise InputError(
                f"unknown mapping preset {self.mapping_preset!r}: choose one of "
                + ", ".join(PRESET_NAMES)
            )
        if self.keep not in ("first", "last"):
            raise InputError("--keep must be first or last")
        if self.via not in ("body", "url", "auto"):
            raise InputError("--via must be body, url or auto")
        try:
            limit = self.unlink_limit(100)
        except ValueError:
            limit = -1
        if limit < 0 or (self.max_unlink.strip().endswith("%") and limit > 100):
            raise InputError(
                f"--max-unlink must be a share like 5% or a count like 200, not {self.max_unlink!r}"
            )
        if self.workers is not None and self.workers < 0:
            raise InputError("--workers must be 0 or more")
        if self.repair and not self.verify:
            raise InputError("--repair needs --verify (it re-applies what verification found)")
        if self.repair and not self.update_existing:
            raise InputError(
                "--repair would overwrite existing contacts that --no-update-existing leaves alone"
            )
        if self.empty_attributes and not self.update_existing:
            raise InputError(
                "--empty-attributes only works when existing contacts are updated "
                "(drop --no-update-existing)"
            )

    def paths_for_reports(self) -> tuple[Path, Path]:
        """Where the report and the rejects file go."""
        report = self.report_path or self.state_dir / "import-report.json"
        rejects = self.rejects_path or report.with_name(report.stem + ".rejects.csv")
        return report, rejects

    def refusals_path(self) -> Path:
        """Where the rows Brevo refused are listed (beside the report)."""
        report, _ = self.paths_for_reports()
        return report.with_name(report.stem + ".refusals.csv")
