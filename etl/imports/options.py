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
    wait_timeout_s: float = 3600.0
    state_dir: Path = DEFAULT_STATE_DIR
    report_path: Path | None = None
    rejects_path: Path | None = None
    again: bool = False

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
