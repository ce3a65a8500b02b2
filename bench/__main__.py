"""Benchmarks side by side with baselines: ``python -m bench [--quick] [--json PATH]``.

Every run of a pipeline happens in a fresh interpreter (``bench.worker``), so its peak RSS is
its own; baseline and candidate runs alternate (and the order rotates every round) so that a
change in machine load hits both alike. Figures are medians over the runs, with min and max;
``ratio`` is the median of the per-round ratios ours/baseline, so below 1 means ours is faster.
Entries with a ``ratio <= X`` target add rounds past the minimum while the bootstrap 95%
interval of that median still contains X, within a cap and a time budget (:func:`stop_reason`);
``--runs N`` runs exactly N rounds.

Progress goes to stderr; stdout gets the markdown table and, with ``--quick``, the JSON last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.generate import (
    DEFAULT_PROFILE,
    generate_contacts,
    write_export_parts,
    write_overlapping_exports,
)
from bench.worker import KEY_ENV

ROOT = Path(__file__).resolve().parents[1]
KEYS = (
    "import_prep",
    "import_prep_clean",
    "import_memory",
    "sync_diff",
    "export_merge",
    "export_merge_parts",
    "export_merge_multi",
    "export_vs_dlt",
    "export_vs_paginated",
    "latency_import",
    "latency_export",
    "sandbox_import",
)
IMPORT_RATIO_TARGET = 1.5
MEMORY_GROWTH_TARGET = 1.20
MEMORY_PEAK_TARGET_MB = 1024.0
EXPORT_RATIO_TARGET = 1.5
EXPORT_MULTI_RATIO_TARGET = 2.5
LATENCY_RATIO_TARGET = 1.5
LATENCY_CONTACTS = 5
SANDBOX_IMPORT_TARGET_S = 120.0
SYNC_CHANGED = 0.01
"""sync_diff: the share of rows whose values change between the two nights."""


@dataclass(frozen=True)
class RoundPolicy:
    """How many rounds a measurement runs (see :func:`stop_reason`)."""

    minimum: int
    """Rounds always run."""
    maximum: int
    """Cap on the rounds added while a ratio target is not settled; at or under ``minimum``:
    exactly ``minimum`` rounds (what ``--runs N`` asks for)."""
    budget_s: float
    """Wall seconds the rounds past ``minimum`` may take in all."""

    @property
    def adaptive(self) -> bool:
        return self.maximum > self.minimum


@dataclass(frozen=True)
class Sizes:
    """Row counts of one mode."""

    import_rows: int
    memory_rows: tuple[int, int]
    export_rows: int
    paginated_contacts: int
    sandbox_contacts: int
    runs: int
    """Rounds every entry runs at least (exactly, for entries without a ratio target)."""
    memory_runs: int
    timeout_s: float
    memory_batch_rows: int | None = None
    """Import batch size for import_memory; None: the product's default (200,000 rows)."""
    max_runs: int = 0
    """Rounds an entry with a ratio target may reach while its target is not settled; at or
    under ``runs``: always exactly ``runs`` (``--runs N``)."""
    extra_budget_s: float = 0.0
    """Wall seconds the rounds past ``runs`` may take, per measurement (per key)."""

    def policy(self) -> RoundPolicy:
        """The stopping rule of this mode's measurements."""
        return RoundPolicy(self.runs, max(self.runs, self.max_runs), self.extra_budget_s)


QUICK = Sizes(
    import_rows=100_000,
    memory_rows=(100_000, 500_000),
    export_rows=100_000,
    paginated_contacts=20_000,
    sandbox_contacts=100_000,
    runs=3,
    memory_runs=3,
    timeout_s=300,
    # 100k and 500k rows in batches of 20k are the full run's 1M and 5M in batches of 200k
    # scaled down 10x (5 and 25 batches); with 200k batches, 100k rows would fill half of one
    # and the figure would measure the batch filling up, not growth with the input.
    memory_batch_rows=20_000,
    max_runs=6,
    extra_budget_s=60,
)
FULL = Sizes(
    import_rows=1_000_000,
    memory_rows=(1_000_000, 5_000_000),
    export_rows=1_000_000,
    paginated_contacts=100_000,
    sandbox_contacts=1_000_000,
    runs=5,
    memory_runs=3,
    timeout_s=3600,
    max_runs=12,
    extra_budget_s=240,
)


def log(message: str) -> None:
    """Progress on stderr (stdout is for the table and the JSON)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class WorkerFailed(RuntimeError):
    """A measured run did not finish or printed no result."""


def run_worker(
    task: str, params: dict[str, Any], *, timeout_s: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``bench.worker TASK`` in a fresh interpreter and return its JSON result."""
    child_env = {**os.environ, **(env or {})}
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), child_env.get("PYTHONPATH", "")) if p
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.worker", task, json.dumps(params)],
            cwd=ROOT,
            env=child_env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        raise WorkerFailed(f"{task}: no result within {timeout_s:.0f} s") from None
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = " / ".join(done.stderr.strip().splitlines()[-3:])
        raise WorkerFailed(f"{task} exited with {done.returncode}: {tail}")
    return dict(json.loads(lines[-1]))


STOPPED_BY = ("max_rounds", "budget")
"""Stop reasons recorded in an entry's ``stopped_by``: the target was still not settled."""


def meets_ratio_target(ratio: float | None, target: float) -> bool:
    """Whether a ratio meets a ``ratio <= target`` target (entries pass their median ratio)."""
    return ratio is not None and ratio <= target


def target_settled(ci: Sequence[float] | None, target: float) -> bool:
    """Whether a ``ratio <= target`` target is settled: the whole 95% interval of the median
    ratio is on one side of it (every value in it meets the target, or none does)."""
    if not ci:
        return False
    low, high = ci
    return meets_ratio_target(low, target) == meets_ratio_target(high, target)


def stop_reason(
    rounds: int,
    ratios: Sequence[float],
    target: float | None,
    policy: RoundPolicy,
    *,
    extra_s: float = 0.0,
    round_s: float = 0.0,
) -> str | None:
    """Whether a measurement stops after ``rounds`` rounds: None to run another, or why not.

    ``ratios``: the per-round ratios ours/baseline so far; ``target``: the entry's ``ratio <=
    target`` threshold (None: the entry has none); ``extra_s``: wall seconds the rounds past
    the minimum took; ``round_s``: what a round is expected to take (the median so far).

    Reasons: ``fixed`` (the minimum is all there is: no ratio target, or ``--runs N``),
    ``settled`` (the bootstrap 95% interval of the median ratio is on one side of the target),
    ``max_rounds`` (the cap), ``budget`` (another round would end past the extra time budget).
    """
    if rounds < policy.minimum:
        return None
    if target is None or not policy.adaptive:
        return "fixed"
    if target_settled(ratio_ci95(ratios), target):
        return "settled"
    if rounds >= policy.maximum:
        return "max_rounds"
    if extra_s + round_s > policy.budget_s:
        return "budget"
    return None


class Measured(dict[str, list[dict[str, Any]]]):
    """The runs of every side, by side name, and how the rounds ended."""

    def __init__(
        self, runs: dict[str, list[dict[str, Any]]], *, rounds: int, stop: str | None
    ) -> None:
        super().__init__(runs)
        self.rounds = rounds
        """Rounds run."""
        self.stop = stop
        """Why they stopped (:func:`stop_reason`)."""


Runner = Callable[..., dict[str, Any]]


def measure(
    sides: dict[str, tuple[str, dict[str, Any]]],
    *,
    runs: int | RoundPolicy,
    timeout_s: float,
    env: dict[str, str] | None = None,
    between: Callable[[str], Callable[[dict[str, Any]], None]] | None = None,
    target: float | None = None,
    runner: Runner = run_worker,
    clock: Callable[[], float] = time.perf_counter,
) -> Measured:
    """Run every side once per round, one after the other, the order rotating each round.

    ``runs``: a number of rounds (exactly that many), or a :class:`RoundPolicy`. With a
    ``target`` (``ratio <= target`` on the sides ``ours`` and ``baseline``), rounds are added
    past the policy's minimum while the target is not settled (:func:`stop_reason`).
    ``runner``: what runs one side (``run_worker``'s signature); ``clock``: for the budget.
    """
    policy = runs if isinstance(runs, RoundPolicy) else RoundPolicy(runs, runs, 0.0)
    names = list(sides)
    if target is not None and not {"ours", "baseline"} <= set(names):
        raise ValueError("a ratio target needs the sides 'ours' and 'baseline'")
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    durations: list[float] = []
    extra_s = 0.0
    round_no = 0
    while True:
        ratios = round_ratios(results["ours"], results["baseline"]) if target is not None else []
        stop = stop_reason(
            round_no,
            ratios,
            target,
            policy,
            extra_s=extra_s,
            round_s=statistics.median(durations) if durations else 0.0,
        )
        if stop is not None:
            break
        if round_no < policy.minimum:
            label = f"{round_no + 1}/{policy.minimum}"
        else:
            label = f"{round_no + 1} (added, at most {policy.maximum})"
            median = f"{statistics.median(ratios):.2f}" if ratios else "-"
            log(
                f"  ratio {median} [{_fmt_ci(ratio_ci95(ratios))}] not settled against the "
                f"target {target}: round {round_no + 1}"
            )
        started = clock()
        order = names[round_no % len(names) :] + names[: round_no % len(names)]
        for name in order:
            task, params = sides[name]
            after = between(name) if between else None
            result = runner(task, params, timeout_s=timeout_s, env=env)
            if after is not None:
                after(result)
            log(
                f"  {name} run {label}: {result['seconds']:.2f} s, "
                f"{result['rows']} rows, peak {result['peak_rss_mb']:.0f} MiB"
            )
            results[name].append(result)
        durations.append(clock() - started)
        if round_no >= policy.minimum:
            extra_s += durations[-1]
        round_no += 1
    if stop in STOPPED_BY:
        log(f"  stopped by {stop} after {round_no} rounds ({extra_s:.0f} s added), not settled")
    return Measured(results, rounds=round_no, stop=stop)


def round_fields(
    results: Measured, entry: dict[str, Any], target: float | None = None
) -> dict[str, Any]:
    """An entry's ``rounds``, ``settled`` (None without a ``ratio <= target`` target) and,
    when the cap or the budget ended the rounds before the target was settled, ``stopped_by``.
    """
    fields: dict[str, Any] = {
        "rounds": results.rounds,
        "settled": None if target is None else target_settled(entry["ratio_ci95"], target),
    }
    if target is not None and results.stop in STOPPED_BY:
        fields["stopped_by"] = results.stop
    return fields


def _rounds_rule(policy: RoundPolicy) -> str:
    if not policy.adaptive:
        return f"exactly {policy.minimum} rounds per entry"
    return (
        f"at least {policy.minimum} rounds, at most {policy.maximum} and {policy.budget_s:.0f} s "
        "of added rounds per entry with a ratio target"
    )


def _fmt_ci(ci: Sequence[float] | None) -> str:
    return "-" if not ci else f"{ci[0]:.2f}-{ci[1]:.2f}"


def spread(results: Sequence[dict[str, Any]], field: str) -> tuple[float, float, float]:
    """(median, min, max) of one field over runs."""
    values = [float(r[field]) for r in results]
    return statistics.median(values), min(values), max(values)


def ratio_ci95(
    ratios: Sequence[float], *, resamples: int = 4000, seed: int = 0
) -> list[float] | None:
    """Bootstrap 95% interval of the median of per-round ratios (None under 2 rounds).

    With few rounds the interval cannot be narrower than the rounds' own spread: at 3 rounds
    it is about [min, max].
    """
    if len(ratios) < 2:
        return None
    rng = random.Random(seed)
    medians = sorted(
        statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(resamples)
    )
    low = medians[int(0.025 * resamples)]
    high = medians[min(resamples - 1, int(0.975 * resamples))]
    return [round(low, 3), round(high, 3)]


def round_ratios(ours: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]]) -> list[float]:
    """Ours / baseline within each round (the two runs are adjacent in time)."""
    return [
        float(o["seconds"]) / float(b["seconds"])
        for o, b in zip(ours, baseline, strict=False)
        if float(b["seconds"]) > 0
    ]


def summarise(
    ours: Sequence[dict[str, Any]], baseline: Sequence[dict[str, Any]] | None
) -> dict[str, Any]:
    """The common fields of an entry: medians with min/max; ratio = median of per-round
    ratios, with its bootstrap 95% interval."""
    seconds, s_min, s_max = spread(ours, "seconds")
    rss, r_min, r_max = spread(ours, "peak_rss_mb")
    entry: dict[str, Any] = {
        "seconds": round(seconds, 3),
        "seconds_min": round(s_min, 3),
        "seconds_max": round(s_max, 3),
        "baseline_seconds": None,
        "ratio": None,
        "ratio_ci95": None,
        "rows": int(ours[0]["rows"]),
        "peak_rss_mb": round(rss, 1),
        "peak_rss_mb_min": round(r_min, 1),
        "peak_rss_mb_max": round(r_max, 1),
        "runs": len(ours),
    }
    if baseline:
        b_seconds, b_min, b_max = spread(baseline, "seconds")
        b_rss, b_rss_min, b_rss_max = spread(baseline, "peak_rss_mb")
        # Runs of one round are adjacent in time, so their ratio cancels slow load drift.
        per_round = round_ratios(ours, baseline)
        entry.update(
            baseline_seconds=round(b_seconds, 3),
            baseline_seconds_min=round(b_min, 3),
            baseline_seconds_max=round(b_max, 3),
            ratio=round(statistics.median(per_round), 3) if per_round else None,
            ratio_ci95=ratio_ci95(per_round),
            ratio_of_medians=round(seconds / b_seconds, 3) if b_seconds > 0 else None,
            ratio_per_round=[round(r, 3) for r in per_round],
            baseline_rows=int(baseline[0]["rows"]),
            baseline_peak_rss_mb=round(b_rss, 1),
            baseline_peak_rss_mb_min=round(b_rss_min, 1),
            baseline_peak_rss_mb_max=round(b_rss_max, 1),
        )
        cpu_ratios = [
            float(o["cpu_seconds"]) / float(b["cpu_seconds"])
            for o, b in zip(ours, baseline, strict=False)
            if o.get("cpu_seconds") is not None and float(b.get("cpu_seconds") or 0) > 0
        ]
        if cpu_ratios:
            # Less sensitive to other work on the machine than wall time; targets use wall.
            entry.update(
                cpu_seconds=round(statistics.median(float(o["cpu_seconds"] or 0) for o in ours), 3),
                baseline_cpu_seconds=round(
                    statistics.median(float(b["cpu_seconds"] or 0) for b in baseline), 3
                ),
                cpu_ratio=round(statistics.median(cpu_ratios), 3),
                cpu_ratio_per_round=[round(r, 3) for r in cpu_ratios],
            )
    return entry


# ---------------------------------------------------------------------------- data


def contacts_data(
    data_dir: Path, rows: int, profile: str = DEFAULT_PROFILE, *, changed: float = 0.0
) -> dict[str, Any]:
    """The contact files of a profile (generated once per data directory): their manifest.

    ``changed``: the same files with that share of rows given a new value (``sync_diff``).
    """
    name = f"contacts-{profile}-{rows}" + (f"-changed{changed:g}" if changed else "")
    out = data_dir / name
    manifest = out / "manifest.json"
    if not manifest.exists():
        log(f"generating {rows} contacts, profile {profile} -> {out.name}/")
        partial = data_dir / f"{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        generated = generate_contacts(partial, rows, profile=profile, seed=7, changed=changed)
        shutil.rmtree(out, ignore_errors=True)
        partial.replace(out)
        data = generated.manifest()
        for spec in data["files"]:
            spec["path"] = str(out / Path(spec["path"]).name)
        manifest.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return dict(json.loads(manifest.read_text(encoding="utf-8")))


def export_parts(data_dir: Path, rows: int, parts: int = 4) -> list[Path]:
    """Brevo-style export parts (UTC dates) holding ``rows`` contacts in all."""
    out = data_dir / f"export-v2-{rows}-{parts}"
    if not out.exists():
        log(f"generating {rows} exported contacts in {parts} part(s) -> {out.name}/")
        partial = data_dir / f"export-v2-{rows}-{parts}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        write_export_parts(partial, rows, parts=parts, utc=True)
        partial.replace(out)
    return sorted(out.glob("part-*.csv"))


# ---------------------------------------------------------------------------- entries


class Bench:
    """One benchmark session: sizes, data directory, results."""

    def __init__(self, sizes: Sizes, data_dir: Path, tmp_dir: Path, only: set[str]) -> None:
        self.sizes = sizes
        self.data_dir = data_dir
        self.tmp_dir = tmp_dir
        self.only = only
        self.entries: dict[str, dict[str, Any]] = {}
        self._import_runs: dict[tuple[str, int], list[dict[str, Any]]] = {}

    def _params(self, **params: Any) -> dict[str, Any]:
        return {**params, "tmp_dir": str(self.tmp_dir)}

    def run(self) -> dict[str, dict[str, Any]]:
        """Run every selected entry; a failing entry is recorded, the others still run."""
        steps: list[tuple[tuple[str, ...], Callable[[], None]]] = [
            (("import_prep",), self.import_prep),
            (("import_prep_clean",), self.import_prep_clean),
            (("import_memory",), self.import_memory),
            (("sync_diff",), self.sync_diff),
            (("export_merge",), self.export_merge),
            (("export_merge_parts", "export_vs_dlt"), self.export_merge_parts),
            (("export_merge_multi",), self.export_merge_multi),
            (("export_vs_paginated",), self.export_vs_paginated),
            (("latency_import", "latency_export"), self.latency),
            (("sandbox_import",), self.sandbox_import),
        ]
        for keys, step in steps:
            if not self.only & set(keys):
                continue
            started = time.perf_counter()
            try:
                step()
            except Exception as exc:  # one broken entry must not hide the others' figures
                reason = (
                    str(exc) if isinstance(exc, WorkerFailed) else f"{type(exc).__name__}: {exc}"
                )
                log(f"FAILED: {reason}")
                for key in keys:
                    if key in self.only and key not in self.entries:
                        self.entries[key] = {"error": reason}
            log(f"{step.__name__} took {time.perf_counter() - started:.0f} s in all")
        return {key: self.entries[key] for key in KEYS if key in self.entries}

    def _import_params(self, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return self._params(files=data["files"], dayfirst=data["dayfirst"], **extra)

    def _import_entry(self, key: str, profile: str) -> None:
        """Ours (plan + prepare) against pandas and the Arrow floor, same files, same rounds."""
        rows = self.sizes.import_rows
        data = contacts_data(self.data_dir, rows, profile)
        log(f"{key}: {rows} rows, profile {profile}, {len(data['files'])} file(s)")
        params = self._import_params(data)
        results = measure(
            {
                "ours": ("import_prep", params),
                "baseline": ("pandas_csv", params),
                "arrow": ("arrow_csv", params),
            },
            runs=self.sizes.policy(),
            timeout_s=self.sizes.timeout_s,
            target=IMPORT_RATIO_TARGET,
        )
        # import_memory reuses these runs when its small size is this size.
        self._import_runs[(profile, rows)] = results["ours"]
        entry = summarise(results["ours"], results["baseline"])
        floor = summarise(results["ours"], results["arrow"])
        last = results["ours"][-1]
        entry.update(
            target=f"ratio <= {IMPORT_RATIO_TARGET} vs pandas",
            meets_target=meets_ratio_target(entry["ratio"], IMPORT_RATIO_TARGET),
            **round_fields(results, entry, IMPORT_RATIO_TARGET),
            profile=profile,
            files=len(data["files"]),
            dayfirst=data["dayfirst"],
            rows_sent=last["rows_sent"],
            rows_rejected=last["rows_rejected"],
            rejects_by_reason=last["rejects_by_reason"],
            chunks=last["chunks"],
            rss_after_imports_mb=round(last["rss_after_imports_mb"], 1),
            baseline="pandas.read_csv(dtype=str, keep_default_na=False, sep, encoding, "
            "on_bad_lines='skip') + to_csv(sep=';'), per file",
            baseline_rows=entry.get("baseline_rows"),
            arrow_floor={
                "seconds": floor["baseline_seconds"],
                "seconds_min": floor["baseline_seconds_min"],
                "seconds_max": floor["baseline_seconds_max"],
                "ratio": floor["ratio"],
                "ratio_ci95": floor["ratio_ci95"],
                "ratio_per_round": floor["ratio_per_round"],
                "rows": floor["baseline_rows"],
                "peak_rss_mb": floor["baseline_peak_rss_mb"],
                "baseline": "pyarrow.csv.read_csv (all columns text, invalid rows skipped) + "
                "pyarrow.csv.write_csv(delimiter=';'), per file",
            },
        )
        self.entries[key] = entry

    def import_prep(self) -> None:
        """The default profile (mixed)."""
        self._import_entry("import_prep", DEFAULT_PROFILE)

    def import_prep_clean(self) -> None:
        """Today's data: one UTF-8 file, French mobiles, nothing quoted."""
        self._import_entry("import_prep_clean", "clean")

    def _import_only(self, rows: int, runs: int) -> list[dict[str, Any]]:
        """Runs of the import alone (fixed rounds: memory growth has no ratio target)."""
        batch_rows = self.sizes.memory_batch_rows
        key = (DEFAULT_PROFILE, rows)
        if batch_rows is None and key in self._import_runs:
            return self._import_runs[key]
        data = contacts_data(self.data_dir, rows, DEFAULT_PROFILE)
        log(f"import_memory: {rows} rows" + (f" in batches of {batch_rows}" if batch_rows else ""))
        params = self._import_params(data)
        if batch_rows is not None:
            params["batch_rows"] = batch_rows
        results = measure(
            {"ours": ("import_prep", params)},
            runs=runs,
            timeout_s=self.sizes.timeout_s,
        )["ours"]
        if batch_rows is None:
            self._import_runs[key] = results
        return results

    def import_memory(self) -> None:
        """Peak RSS of the import preparation at two sizes (5x apart), net of the imports."""
        small_rows, large_rows = self.sizes.memory_rows
        small = self._import_only(small_rows, self.sizes.memory_runs)
        large = self._import_only(large_rows, self.sizes.memory_runs)
        entry = summarise(large, None)
        small_rss, small_min, small_max = spread(small, "peak_rss_mb")
        small_s = spread(small, "seconds")[0]
        # What the work itself holds: the peak minus the RSS right after the module imports
        # (~300 MiB of pandas, pyarrow and great_expectations, the same at any size).
        small_net = statistics.median(r["peak_rss_mb"] - r["rss_after_imports_mb"] for r in small)
        large_net = statistics.median(r["peak_rss_mb"] - r["rss_after_imports_mb"] for r in large)
        growth = large_net / small_net if small_net > 0 else float("inf")
        total_growth = entry["peak_rss_mb"] / small_rss
        entry.update(
            ratio=round(growth, 3),
            ratio_is="net peak (peak - RSS after imports) at rows / the same at small_rows",
            profile=DEFAULT_PROFILE,
            small_rows=small_rows,
            small_seconds=round(small_s, 3),
            small_peak_rss_mb=round(small_rss, 1),
            small_peak_rss_mb_min=round(small_min, 1),
            small_peak_rss_mb_max=round(small_max, 1),
            small_net_mb=round(small_net, 1),
            net_mb=round(large_net, 1),
            batch_rows=self.sizes.memory_batch_rows or 200_000,
            growth_pct=round((growth - 1) * 100, 1),
            total_growth_pct=round((total_growth - 1) * 100, 1),
            rss_after_imports_mb=round(large[-1]["rss_after_imports_mb"], 1),
            target=f"net growth < {MEMORY_GROWTH_TARGET - 1:.0%}, 1M peak <= 1 GB",
            meets_target=growth < MEMORY_GROWTH_TARGET
            and (small_rows != 1_000_000 or small_rss <= MEMORY_PEAK_TARGET_MB),
            rounds=len(large),
            settled=None,
        )
        self.entries["import_memory"] = entry

    def sync_diff(self) -> None:
        """``--changed-only`` on the next night's files (1% changed) against ``import_prep``.

        Setup, once and untimed in the ratio: a first ``--changed-only`` run over the unchanged
        files commits its snapshot (``first_run`` reports its cost). Then, every round, ours
        compares the changed files with that snapshot and the baseline is ``import_prep`` (no
        ``--changed-only``) of the same changed files.
        """
        rows = self.sizes.import_rows
        base = contacts_data(self.data_dir, rows, DEFAULT_PROFILE)
        changed = contacts_data(self.data_dir, rows, DEFAULT_PROFILE, changed=SYNC_CHANGED)
        state_dir = self.tmp_dir / "sync-state"
        shutil.rmtree(state_dir, ignore_errors=True)
        log(f"sync_diff: {rows} rows, first run (setup: the snapshot to compare with)")
        first = run_worker(
            "sync_base",
            self._params(
                base_files=base["files"], dayfirst=base["dayfirst"], state_dir=str(state_dir)
            ),
            timeout_s=self.sizes.timeout_s,
        )
        log(
            f"  first run: {first['seconds']:.2f} s, snapshot of {first['snapshot_rows']} "
            f"contacts, peak {first['peak_rss_mb']:.0f} MiB"
        )
        params = self._import_params(changed)
        log(f"sync_diff: {rows} rows, {SYNC_CHANGED:.0%} changed, against import_prep")
        results = measure(
            {
                "ours": ("sync_diff", {**params, "state_dir": str(state_dir)}),
                "baseline": ("import_prep", params),
            },
            runs=self.sizes.runs,
            timeout_s=self.sizes.timeout_s,
        )
        if not all(r["accounted"] for r in results["ours"]):
            raise WorkerFailed("sync_diff: rows_unchanged + rows sent != rows kept")
        entry = summarise(results["ours"], results["baseline"])
        last = results["ours"][-1]
        commit_s = spread(results["ours"], "commit_seconds")
        entry.update(
            target="report the ratio (no target)",
            meets_target=None,
            **round_fields(results, entry),
            profile=DEFAULT_PROFILE,
            changed_share=SYNC_CHANGED,
            rows_kept=last["rows_kept"],
            rows_unchanged=last["rows_unchanged"],
            rows_sent=last["rows_sent"],
            rows_rejected=last["rows_rejected"],
            baseline_rows_sent=results["baseline"][-1]["rows_sent"],
            chunks=last["chunks"],
            baseline_chunks=results["baseline"][-1]["chunks"],
            snapshot_rows=last["snapshot_rows"],
            commit_seconds=round(commit_s[0], 3),
            commit_seconds_min=round(commit_s[1], 3),
            commit_seconds_max=round(commit_s[2], 3),
            first_run={
                "seconds": round(first["seconds"], 3),
                "commit_seconds": round(first["commit_seconds"], 3),
                "rows_sent": first["rows_sent"],
                "snapshot_rows": first["snapshot_rows"],
                "peak_rss_mb": round(first["peak_rss_mb"], 1),
                "is": "setup, one run: --changed-only without a snapshot (sends every kept row) "
                "+ committing its snapshot",
            },
            includes="plan_import + check_previous + normalise_file per file + "
            "finish_prepare(previous=snapshot), as the import flow runs them with --changed-only",
            excludes="Brevo calls (check_previous's GET /processes/{id} answered locally, no "
            "chunk sent); the new snapshot's commit (commit_seconds, apart)",
            baseline="import_prep of the same changed files, without --changed-only",
        )
        self.entries["sync_diff"] = entry

    def _export_sides(self, paths: list[Path]) -> dict[str, tuple[str, dict[str, Any]]]:
        return {
            "ours": ("export_merge", self._params(paths=[str(p) for p in paths])),
            "baseline": ("pyarrow_csv", self._params(paths=[str(p) for p in paths])),
        }

    def _export_entry(
        self,
        results: Measured,
        parts: int,
        *,
        target: float = EXPORT_RATIO_TARGET,
    ) -> dict[str, Any]:
        entry = summarise(results["ours"], results["baseline"])
        last = results["ours"][-1]
        if any(r["work_dir_left"] for r in results["ours"]):
            raise WorkerFailed("publish_export left files in the merge's work directory")
        if not all(r["validation_passed"] for r in results["ours"]):
            raise WorkerFailed(f"validation failed: {last['validation_failures']}")
        entry.update(
            target=f"ratio <= {target}",
            meets_target=meets_ratio_target(entry["ratio"], target),
            **round_fields(results, entry, target),
            parts=parts,
            strategy=last["strategy"],
            validation=last["validation"],
            validation_passed=last["validation_passed"],
            parquet_mb=last["parquet_mb"],
            includes="etl.exports.publish_export, the export flow's merge task: merge + "
            "write_partition + validate_merged (Arrow engine) + the merge's clean-up",
            baseline="pyarrow.csv.read_csv + pyarrow.parquet.write_table per file (untyped)",
        )
        if "gx" in results:
            reference = summarise(results["gx"], results["baseline"])
            entry["gx_reference"] = {
                "seconds": reference["seconds"],
                "ratio": reference["ratio"],
                "ratio_ci95": reference["ratio_ci95"],
                "peak_rss_mb": reference["peak_rss_mb"],
                "is": "the same step validated by the Great Expectations reference engine",
            }
        return entry

    def export_merge(self) -> None:
        """One export file (the default export), validation included, against pyarrow."""
        rows = self.sizes.export_rows
        paths = export_parts(self.data_dir, rows, parts=1)
        log(f"export_merge: {rows} rows in one file (and the GX reference engine)")
        sides = self._export_sides(paths)
        gx_params = {**sides["ours"][1], "validation": "gx"}
        sides["gx"] = ("export_merge_gx", gx_params)
        results = measure(
            sides,
            runs=self.sizes.policy(),
            timeout_s=self.sizes.timeout_s,
            target=EXPORT_RATIO_TARGET,
        )
        self.entries["export_merge"] = self._export_entry(results, 1)

    def export_merge_multi(self) -> None:
        """Three exports of overlapping lists (the DuckDB merge) against pyarrow, same files."""
        from etl.exports.merge_duckdb import MEMORY_MERGE_BYTES

        contacts = self.sizes.export_rows
        out = self.data_dir / f"export-multi-{contacts}"
        if not out.exists():
            log(f"generating 3 overlapping exports of {contacts} contacts -> {out.name}/")
            partial = self.data_dir / f"export-multi-{contacts}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            write_overlapping_exports(partial, contacts, exports=3, utc=True)
            partial.replace(out)
        paths = sorted(out.glob("export-*.csv"))
        sources = [f"list:{i + 1}" for i in range(len(paths))]
        log(f"export_merge_multi: {contacts} contacts in {len(paths)} overlapping exports")
        sides = self._export_sides(paths)
        sides["ours"] = ("export_merge", {**sides["ours"][1], "sources": sources})
        # The same step with the grouping forced through DuckDB, the engine past
        # MEMORY_MERGE_BYTES of CSV (what larger exports get).
        forced = {**sides["ours"][1], "memory_merge_bytes": 0}
        sides["duckdb_engine"] = ("export_merge", forced)
        results = measure(
            sides,
            runs=self.sizes.policy(),
            timeout_s=self.sizes.timeout_s,
            target=EXPORT_MULTI_RATIO_TARGET,
        )
        entry = self._export_entry(results, len(paths), target=EXPORT_MULTI_RATIO_TARGET)
        if entry["strategy"] != "duckdb":
            raise WorkerFailed(f"export_merge_multi merged with {entry['strategy']}, not duckdb")
        forced_runs = results["duckdb_engine"]
        if {r["rows"] for r in forced_runs} != {entry["rows"]}:
            raise WorkerFailed("export_merge_multi: the DuckDB engine gave another row count")
        reference = summarise(forced_runs, results["baseline"])
        entry.update(
            grouping=results["ours"][-1]["grouping"],
            duckdb_engine={
                "seconds": reference["seconds"],
                "seconds_min": reference["seconds_min"],
                "seconds_max": reference["seconds_max"],
                "ratio": reference["ratio"],
                "ratio_ci95": reference["ratio_ci95"],
                "ratio_per_round": reference["ratio_per_round"],
                "cpu_ratio": reference.get("cpu_ratio"),
                "peak_rss_mb": reference["peak_rss_mb"],
                "is": "the same step with the grouping forced through DuckDB "
                "(memory_merge_bytes=0), the engine of exports past "
                f"{MEMORY_MERGE_BYTES >> 20} MiB of CSV",
            },
            exports=len(paths),
            rows_read=sum(int(r["rows"]) for r in results["baseline"][:1]),
            rows_note="rows: contacts after the merge; rows_read: rows of the 3 files, which "
            "the baseline reads and writes",
        )
        self.entries["export_merge_multi"] = entry

    def export_merge_parts(self) -> None:
        """One export in 4 parts against pyarrow, and against dlt, same files."""
        rows = self.sizes.export_rows
        paths = export_parts(self.data_dir, rows, parts=4)
        sides = self._export_sides(paths)
        dlt_missing = _dlt_missing() if "export_vs_dlt" in self.only else "not selected"
        if dlt_missing is None:
            sides["dlt"] = ("dlt", self._params(dir=str(paths[0].parent), reader="duckdb"))
        log(f"export_merge_parts: {rows} rows in {len(paths)} parts ({', '.join(sides)})")
        # The rounds serve export_vs_dlt too; only export_merge_parts has a target.
        parts_target = EXPORT_RATIO_TARGET if "export_merge_parts" in self.only else None
        results = measure(
            sides,
            runs=self.sizes.policy() if parts_target is not None else self.sizes.runs,
            timeout_s=self.sizes.timeout_s,
            target=parts_target,
        )
        if "export_merge_parts" in self.only:
            self.entries["export_merge_parts"] = self._export_entry(results, len(paths))
        if "export_vs_dlt" not in self.only:
            return
        if dlt_missing is not None:
            self.entries["export_vs_dlt"] = {"skipped": True, "reason": dlt_missing}
            return
        entry = summarise(results["ours"], results["dlt"])
        entry.update(
            target="report the ratio",
            meets_target=None,
            **round_fields(results, entry),
            parts=len(paths),
            baseline="dlt: filesystem source | read_csv_duckdb(use_pyarrow=True) -> filesystem "
            "destination, loader_file_format=parquet (no validation step)",
            dlt_version=_dlt_version(),
        )
        self.entries["export_vs_dlt"] = entry

    def export_vs_paginated(self) -> None:
        """The export path against paging GET /contacts, from one loaded sandbox."""
        from etl.sandbox.server import SandboxServer

        contacts = self.sizes.paginated_contacts
        log(f"export_vs_paginated: loading {contacts} contacts into a sandbox")
        with SandboxServer(host="127.0.0.1", port=0) as server:
            # Generous limits and no artificial process delay, for both sides alike.
            server.configure(contacts_rps=100_000, other_rph=100_000_000, process_delay_s=0)
            list_id = _load_sandbox(server, contacts)
            params = self._params(url=server.url, list_id=list_id)
            counts: dict[str, list[int]] = {"ours": [], "baseline": []}

            def between(name: str) -> Callable[[dict[str, Any]], None]:
                before = len(server.requests_log())

                def after(result: dict[str, Any]) -> None:
                    counts[name].append(len(server.requests_log()) - before)

                return after

            results = measure(
                {"ours": ("export_flow", params), "baseline": ("paginate", params)},
                runs=self.sizes.runs,
                timeout_s=self.sizes.timeout_s,
                env={KEY_ENV: server.api_key},
                between=between,
            )
        entry = summarise(results["ours"], results["baseline"])
        entry.update(
            target="report the wall ratio and request counts",
            meets_target=None,
            **round_fields(results, entry),
            requests=max(counts["ours"]),
            baseline_requests=max(counts["baseline"]),
            requests_are="HTTP requests the sandbox received per run (requests_log())",
            baseline="client.iter_contacts(page_size=1000) -> pyarrow Table -> Parquet",
            excluded="Prefect start-up (the tasks' etl calls are run directly)",
            sandbox="contacts_rps=100000, other_rph=100000000, process_delay_s=0; client "
            "RateLimits(100000/s, 1e8/h), default loopback poll interval",
        )
        self.entries["export_vs_paginated"] = entry

    def latency(self) -> None:
        """CLI end to end for 5 contacts against the sandbox, against the minimal scripts.

        One sandbox for every round: its pessimistic defaults (``process_delay_s`` 0.5 s), but
        an hourly budget large enough that the rounds never meet a 429; each command keeps its
        own client defaults. ``latency_export`` exports the list that the import runs filled.
        """
        from etl.sandbox.server import SandboxServer

        rows = LATENCY_CONTACTS
        csv_path = self.tmp_dir / "latency-contacts.csv"
        lines = ["EMAIL,FIRSTNAME,LASTNAME"]
        lines += [f"latency{i}@example.com,Person,Number {i}" for i in range(rows)]
        csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with SandboxServer(host="127.0.0.1", port=0) as server:
            server.configure(other_rph=100_000_000, contacts_rps=100_000)
            list_id = _new_list(server, "latency")
            env = {KEY_ENV: server.api_key}
            if "latency_import" not in self.only:  # the export needs the 5 contacts in the list
                seed = {"kind": "import", "url": server.url, "list_id": list_id, "rows": rows}
                seed.update(side="script", csv=str(csv_path))
                run_worker("latency", self._params(**seed), timeout_s=600, env=env)
            for kind in ("import", "export"):
                key = f"latency_{kind}"
                if key not in self.only:
                    continue
                common = {"kind": kind, "url": server.url, "list_id": list_id, "rows": rows}
                common["csv"] = str(csv_path)
                log(
                    f"{key}: {rows} contacts, CLI vs the minimal script, "
                    f"{self.sizes.runs} rounds or more"
                )
                results = measure(
                    {
                        "ours": ("latency", self._params(side="cli", **common)),
                        "baseline": ("latency", self._params(side="script", **common)),
                    },
                    runs=self.sizes.policy(),
                    timeout_s=self.sizes.timeout_s,
                    env=env,
                    target=LATENCY_RATIO_TARGET,
                )
                entry = summarise(results["ours"], results["baseline"])
                entry.update(
                    target=f"ratio <= {LATENCY_RATIO_TARGET} vs the minimal script",
                    meets_target=meets_ratio_target(entry["ratio"], LATENCY_RATIO_TARGET),
                    **round_fields(results, entry, LATENCY_RATIO_TARGET),
                    ours=f"python -m etl.cli {kind} (contacts-etl), interpreter start to exit, "
                    "Prefect as it starts by default",
                    baseline=f"python -m bench.minimal {kind}: "
                    + (
                        "read, GX (1 expectation, ephemeral), POST fileBody, poll every 0.5 s"
                        if kind == "import"
                        else "POST, poll every 0.5 s, download, pyarrow read + write Parquet, "
                        "GX (1 expectation)"
                    ),
                    sandbox="defaults (process_delay_s 0.5) with other_rph=100000000, "
                    "contacts_rps=100000",
                )
                self.entries[key] = entry

    def sandbox_import(self) -> None:
        """The sandbox importing N contacts of fileBody in ~8 MB chunks."""
        contacts = self.sizes.sandbox_contacts
        log(f"sandbox_import: {contacts} contacts in 8 MB chunks")
        measured = measure(
            {"ours": ("sandbox_import", self._params(contacts=contacts, chunk_mb=8))},
            runs=self.sizes.runs,
            timeout_s=self.sizes.timeout_s,
        )
        results = measured["ours"]
        entry = summarise(results, None)
        last = results[-1]
        entry.update(
            target=f"under {SANDBOX_IMPORT_TARGET_S:.0f} s for 1M contacts",
            target_seconds=SANDBOX_IMPORT_TARGET_S,
            meets_target=entry["seconds"] < SANDBOX_IMPORT_TARGET_S,
            **round_fields(measured, entry),
            chunks=last["chunks"],
            body_mb=last["body_mb"],
            peak_rss_is="the sandbox process's peak",
        )
        self.entries["sandbox_import"] = entry


NOT_MEASURED: dict[str, str] = {}
"""Keys of issue 14 this version does not measure, and why (never a made-up figure)."""


def _dlt_missing() -> str | None:
    try:
        import dlt
        import dlt.sources.filesystem  # noqa: F401
    except ImportError as exc:
        return f"dlt is not importable ({exc}); pip install dlt"
    return None


def _dlt_version() -> str:
    from importlib.metadata import version

    return version("dlt")


def _new_list(server: Any, name: str) -> int:
    """A folder and a list in the sandbox; the list's id."""
    import requests

    session = requests.Session()
    session.headers["api-key"] = server.api_key
    folder = session.post(f"{server.url}/contacts/folders", json={"name": name}, timeout=30)
    folder.raise_for_status()
    created = session.post(
        f"{server.url}/contacts/lists",
        json={"name": name, "folderId": folder.json()["id"]},
        timeout=30,
    )
    created.raise_for_status()
    return int(created.json()["id"])


def _load_sandbox(server: Any, contacts: int) -> int:
    """Create the attributes and a list, import ``contacts`` contacts; return the list id."""
    import requests

    from bench.sandbox_speed import make_chunks

    url = server.url
    session = requests.Session()
    session.headers["api-key"] = server.api_key
    for name, type_ in (("BIRTHDAY", "date"), ("SCORE", "float"), ("VIP", "boolean")):
        session.post(
            f"{url}/contacts/attributes/normal/{name}", json={"type": type_}, timeout=30
        ).raise_for_status()
    session.post(
        f"{url}/contacts/attributes/normal/CITY", json={"type": "text"}, timeout=30
    ).raise_for_status()
    folder = session.post(f"{url}/contacts/folders", json={"name": "bench"}, timeout=30)
    folder.raise_for_status()
    created = session.post(
        f"{url}/contacts/lists", json={"name": "bench", "folderId": folder.json()["id"]}, timeout=30
    )
    created.raise_for_status()
    list_id = int(created.json()["id"])
    ids = []
    for chunk in make_chunks(contacts, 8 * 2**20):
        resp = session.post(
            f"{url}/contacts/import", json={"fileBody": chunk, "listIds": [list_id]}, timeout=300
        )
        resp.raise_for_status()
        ids.append(resp.json()["processId"])
    deadline = time.monotonic() + 600
    for process_id in ids:
        while True:
            status = session.get(f"{url}/processes/{process_id}", timeout=30).json()["status"]
            if status == "completed":
                break
            if status == "failed" or time.monotonic() > deadline:
                raise WorkerFailed(f"loading the sandbox: import process {process_id} {status}")
            time.sleep(0.05)
    count = session.get(f"{url}/contacts", params={"limit": 1}, timeout=30).json()["count"]
    if count != contacts:
        raise WorkerFailed(f"loading the sandbox: {count} contacts instead of {contacts}")
    return list_id


# ---------------------------------------------------------------------------- output


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    mem_gb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 2**20, 1)
    versions: dict[str, str | None] = {}
    from importlib.metadata import PackageNotFoundError, version

    for name in ("pandas", "pyarrow", "duckdb", "dlt"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
    }


def _fmt_s(entry: dict[str, Any], prefix: str = "") -> str:
    value = entry.get(f"{prefix}seconds")
    if value is None:
        return "-"
    return f"{value:.2f} ({entry[f'{prefix}seconds_min']:.2f}-{entry[f'{prefix}seconds_max']:.2f})"


def markdown_table(entries: dict[str, dict[str, Any]]) -> str:
    """The results as a markdown table."""
    lines = [
        "| key | rows | ours s (min-max) | baseline s (min-max) | ratio | rounds | peak RSS MiB "
        "(baseline) | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for key, entry in entries.items():
        if "error" in entry or entry.get("skipped"):
            why = entry.get("error") or f"skipped: {entry.get('reason')}"
            why = why.replace("|", "/").replace("\n", " ")
            lines.append(f"| {key} | | | | | | | {why} | |")
            continue
        ratio = "-" if entry["ratio"] is None else f"{entry['ratio']:.2f}"
        if entry.get("ratio_ci95"):
            low, high = entry["ratio_ci95"]
            ratio += f" [{low:.2f}-{high:.2f}]"
        floor = entry.get("arrow_floor")
        if floor and floor.get("ratio") is not None:
            ratio += f"; {floor['ratio']:.2f} vs Arrow"
        if entry.get("cpu_ratio") is not None:
            ratio += f"; CPU {entry['cpu_ratio']:.2f}"
        rss = f"{entry['peak_rss_mb']:.0f}"
        if entry.get("baseline_peak_rss_mb") is not None:
            rss += f" ({entry['baseline_peak_rss_mb']:.0f})"
        rows = f"{entry['rows']:,}"
        baseline = _fmt_s(entry, "baseline_")
        target = entry.get("target", "")
        if key == "import_memory":
            rows = f"{entry['small_rows']:,} -> {entry['rows']:,}"
            rss = f"{entry['small_peak_rss_mb']:.0f} -> {entry['peak_rss_mb']:.0f}"
            ratio = f"{entry['ratio']:.2f} ({entry['growth_pct']:+.0f}% net)"
        if key == "export_vs_paginated":
            target = f"requests {entry['requests']} vs {entry['baseline_requests']}"
        if key == "sync_diff":
            target = (
                f"report: {entry['rows_unchanged']:,} unchanged, {entry['rows_sent']:,} sent "
                f"(vs {entry['baseline_rows_sent']:,})"
            )
        met = entry.get("meets_target")
        mark = "" if met is None else ("yes" if met else "**no**")
        if met is not None and entry.get("settled") is False:
            mark += " (median), not settled"
        rounds = str(entry.get("rounds", entry.get("runs", "")))
        if entry.get("stopped_by"):
            rounds += f" ({entry['stopped_by'].replace('_', ' ')})"
        cells = [key, rows, _fmt_s(entry), baseline, ratio, rounds, rss, target, mark]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def mode_sizes(*, quick: bool, runs: int | None = None) -> Sizes:
    """The sizes of a mode; ``runs`` (``--runs N``): exactly N rounds, none added."""
    sizes = QUICK if quick else FULL
    if runs:
        sizes = replace(sizes, runs=runs, memory_runs=runs, max_runs=0, extra_budget_s=0.0)
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks, print the table (and JSON with --quick), write --json."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (under 3 minutes)")
    parser.add_argument("--json", type=Path, help="write the results as JSON to this path")
    parser.add_argument(
        "--only", default=",".join(KEYS), help=f"comma-separated keys (default: all of {KEYS})"
    )
    parser.add_argument(
        "--runs",
        type=int,
        help="exactly N rounds per entry (default: 3 quick, 5 full, and entries with a ratio "
        "target add rounds while it is not settled, up to 6 quick, 12 full)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep generated input here and reuse it (default: a temporary directory)",
    )
    args = parser.parse_args(argv)
    only = {k.strip() for k in args.only.split(",") if k.strip()}
    unknown = only - set(KEYS)
    if unknown:
        parser.error(f"unknown keys: {', '.join(sorted(unknown))}")
    sizes = mode_sizes(quick=args.quick, runs=args.runs)

    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        data_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tmp) / "work"
        work.mkdir()
        entries = Bench(sizes, data_dir, work, only).run()
    elapsed = time.perf_counter() - started

    report: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "started_at": started_at,
        "total_seconds": round(elapsed, 1),
        "machine": machine(),
        "figures": "seconds: median of runs (min/max alongside); ratio: median of per-round "
        "ratios ours/baseline, ratio_ci95: its bootstrap 95% interval; rounds: rounds run "
        "(entries with a ratio target add rounds while the interval contains the target, "
        f"settled: it does not; stopped_by: max_rounds or budget when it still did); "
        f"{_rounds_rule(sizes.policy())}",
        **entries,
        "not_measured": NOT_MEASURED,
    }
    print(f"\n## Benchmarks ({report['mode']}, {elapsed:.0f} s in all)\n")
    print(markdown_table(entries))
    if NOT_MEASURED:
        print("\nNot measured: " + "; ".join(f"{k} ({v})" for k, v in NOT_MEASURED.items()))
    m = report["machine"]
    print(
        f"\nMachine: {m['nproc']} CPUs, {m['memory_gb']} GB RAM, Python {m['python']}, "
        f"pandas {m['pandas']}, pyarrow {m['pyarrow']}, dlt {m['dlt'] or 'not installed'}.\n"
    )
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    if args.quick:
        print(text)
    return 1 if any("error" in e for e in entries.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
