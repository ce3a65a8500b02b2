"""How many rounds a benchmark entry runs: the stopping rule, with a fake side runner.

No subprocess, no real benchmark: the runner returns scripted seconds and a fake clock
advances by them, so the budget is tested without waiting.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import cycle
from typing import Any

import pytest

from bench.__main__ import (
    FULL,
    QUICK,
    Measured,
    RoundPolicy,
    markdown_table,
    measure,
    meets_ratio_target,
    mode_sizes,
    ratio_ci95,
    round_fields,
    stop_reason,
    summarise,
    target_settled,
)

TARGET = 1.5
POLICY = RoundPolicy(minimum=3, maximum=12, budget_s=1_000.0)


class FakeSides:
    """Runs the sides ``ours`` and ``baseline``: the baseline takes 1 s, ours ``ratio`` s, the
    ratios taken in turn (the last one repeated); each run advances the fake clock by
    ``round_s / 2`` (so a round of two runs takes ``round_s``)."""

    def __init__(self, ratios: Sequence[float], *, round_s: float = 1.0) -> None:
        self.ratios = list(ratios)
        self.round_s = round_s
        self.now = 0.0
        self.calls: list[str] = []
        self._ours = 0

    def clock(self) -> float:
        return self.now

    def run(
        self, task: str, params: dict[str, Any], *, timeout_s: float, env: Any = None
    ) -> dict[str, Any]:
        self.calls.append(task)
        self.now += self.round_s / 2
        if task == "ours":
            seconds = self.ratios[min(self._ours, len(self.ratios) - 1)]
            self._ours += 1
        else:
            seconds = 1.0
        return {"seconds": seconds, "rows": 10, "peak_rss_mb": 100.0}

    def measure(self, runs: int | RoundPolicy, target: float | None = TARGET) -> Measured:
        return measure(
            {"ours": ("ours", {}), "baseline": ("baseline", {})},
            runs=runs,
            timeout_s=10,
            target=target,
            runner=self.run,
            clock=self.clock,
        )


def _alternating(n: int = 40) -> list[float]:
    """Per-round ratios that never settle a 1.5 target: 1.0, 2.0, 1.0, 2.0, ..."""
    return [r for r, _ in zip(cycle([1.0, 2.0]), range(n), strict=False)]


# ---------------------------------------------------------------- the pure decision


def test_settled_means_the_whole_interval_on_one_side_of_the_target():
    assert target_settled([1.1, 1.4], TARGET)  # met, whatever the resampling
    assert target_settled([1.6, 2.0], TARGET)  # missed, whatever the resampling
    assert target_settled([1.2, 1.5], TARGET)  # 1.5 meets "ratio <= 1.5"
    assert not target_settled([1.4, 1.6], TARGET)
    assert not target_settled([1.5, 1.6], TARGET)
    assert not target_settled(None, TARGET)  # under 2 rounds: no interval
    # The same comparison as meets_target.
    assert meets_ratio_target(1.5, TARGET)
    assert not meets_ratio_target(1.51, TARGET)
    assert not meets_ratio_target(None, TARGET)


def test_stop_reason_runs_the_minimum_first():
    for rounds in range(POLICY.minimum):
        assert stop_reason(rounds, [2.0] * rounds, TARGET, POLICY) is None


def test_stop_reason_at_the_minimum_when_settled():
    assert stop_reason(3, [2.0, 2.1, 1.9], TARGET, POLICY) == "settled"
    assert stop_reason(3, [1.0, 1.1, 0.9], TARGET, POLICY) == "settled"


def test_stop_reason_adds_a_round_while_the_interval_straddles_the_target():
    ratios = [1.0, 2.0, 1.4]
    assert not target_settled(ratio_ci95(ratios), TARGET)
    assert stop_reason(3, ratios, TARGET, POLICY) is None


def test_stop_reason_at_the_cap():
    ratios = _alternating(12)
    assert stop_reason(11, ratios[:11], TARGET, POLICY) is None
    assert stop_reason(12, ratios, TARGET, POLICY) == "max_rounds"


def test_stop_reason_on_the_budget():
    policy = RoundPolicy(minimum=3, maximum=12, budget_s=25.0)
    ratios = _alternating(5)
    # A round is started only if, at the expected duration, it ends within the budget.
    assert stop_reason(3, ratios[:3], TARGET, policy, extra_s=0.0, round_s=10.0) is None
    assert stop_reason(4, ratios[:4], TARGET, policy, extra_s=10.0, round_s=10.0) is None
    assert stop_reason(5, ratios, TARGET, policy, extra_s=20.0, round_s=10.0) == "budget"
    # A round longer than the whole budget is never added.
    assert stop_reason(3, ratios[:3], TARGET, policy, round_s=30.0) == "budget"


def test_stop_reason_fixed_without_a_target_or_when_not_adaptive():
    ratios = _alternating(3)
    assert stop_reason(3, ratios, None, POLICY) == "fixed"
    exact = RoundPolicy(minimum=3, maximum=3, budget_s=1_000.0)
    assert stop_reason(3, ratios, TARGET, exact) == "fixed"
    assert stop_reason(2, ratios[:2], TARGET, exact) is None


# ---------------------------------------------------------------- measure with a fake runner


def test_measure_stops_at_the_minimum_when_settled():
    sides = FakeSides([2.0, 2.1, 1.9])
    results = sides.measure(POLICY)
    assert results.rounds == 3
    assert results.stop == "settled"
    assert [len(runs) for runs in results.values()] == [3, 3]
    entry = summarise(results["ours"], results["baseline"])
    fields = round_fields(results, entry, TARGET)
    assert fields == {"rounds": 3, "settled": True}
    assert not meets_ratio_target(entry["ratio"], TARGET)


def test_measure_adds_rounds_while_the_interval_straddles_the_target():
    ratios = [1.0, 2.0, 1.4] + [1.2] * 20
    sides = FakeSides(ratios)
    results = sides.measure(POLICY)
    assert POLICY.minimum < results.rounds < POLICY.maximum
    assert results.stop == "settled"
    # It stopped at the first round count whose interval is on one side of the target.
    for n in range(POLICY.minimum, results.rounds):
        assert not target_settled(ratio_ci95(ratios[:n]), TARGET)
    assert target_settled(ratio_ci95(ratios[: results.rounds]), TARGET)
    entry = summarise(results["ours"], results["baseline"])
    assert entry["ratio_ci95"] == ratio_ci95(ratios[: results.rounds])
    assert round_fields(results, entry, TARGET) == {"rounds": results.rounds, "settled": True}
    assert meets_ratio_target(entry["ratio"], TARGET)


def test_measure_keeps_rotating_the_order_in_added_rounds():
    sides = FakeSides(_alternating())
    results = sides.measure(RoundPolicy(minimum=3, maximum=6, budget_s=1_000.0))
    assert results.rounds == 6
    assert sides.calls == ["ours", "baseline", "baseline", "ours"] * 3


def test_measure_stops_at_the_cap():
    sides = FakeSides(_alternating())
    results = sides.measure(POLICY)
    assert results.rounds == POLICY.maximum
    assert results.stop == "max_rounds"
    entry = summarise(results["ours"], results["baseline"])
    assert round_fields(results, entry, TARGET) == {
        "rounds": 12,
        "settled": False,
        "stopped_by": "max_rounds",
    }


def test_measure_stops_on_the_budget():
    # Rounds of 10 s (fake clock), 25 s for the added rounds: two fit, a third would not.
    sides = FakeSides(_alternating(), round_s=10.0)
    results = sides.measure(RoundPolicy(minimum=3, maximum=12, budget_s=25.0))
    assert results.rounds == 5
    assert results.stop == "budget"
    entry = summarise(results["ours"], results["baseline"])
    fields = round_fields(results, entry, TARGET)
    assert fields == {"rounds": 5, "settled": False, "stopped_by": "budget"}


def test_entries_without_a_ratio_target_keep_the_fixed_rounds():
    sides = FakeSides(_alternating())
    results = sides.measure(POLICY, target=None)
    assert results.rounds == POLICY.minimum
    assert results.stop == "fixed"
    entry = summarise(results["ours"], results["baseline"])
    # No settled verdict and no stopped_by without a target.
    assert round_fields(results, entry) == {"rounds": 3, "settled": None}


def test_a_target_needs_ours_and_a_baseline():
    with pytest.raises(ValueError, match="baseline"):
        measure({"ours": ("ours", {})}, runs=POLICY, timeout_s=1, target=TARGET)


# ---------------------------------------------------------------- --runs N: exactly N


def test_runs_given_means_exactly_that_many_rounds():
    for quick in (True, False):
        sizes = mode_sizes(quick=quick, runs=4)
        policy = sizes.policy()
        assert (policy.minimum, policy.maximum) == (4, 4)
        assert not policy.adaptive
        assert sizes.memory_runs == 4
        sides = FakeSides(_alternating())  # would never settle
        results = sides.measure(policy)
        assert results.rounds == 4
        assert results.stop == "fixed"
        entry = summarise(results["ours"], results["baseline"])
        fields = round_fields(results, entry, TARGET)
        assert fields == {"rounds": 4, "settled": False}  # not settled, but no stopped_by
    # A plain number of runs is exact too.
    assert FakeSides(_alternating()).measure(2).rounds == 2


def test_mode_defaults_are_adaptive_with_the_old_counts_as_minimum():
    assert mode_sizes(quick=True) is QUICK
    assert mode_sizes(quick=False) is FULL
    assert QUICK.policy() == RoundPolicy(minimum=3, maximum=6, budget_s=60)
    assert FULL.policy() == RoundPolicy(minimum=5, maximum=12, budget_s=240)


def test_the_table_shows_rounds_and_unsettled_targets():
    sides = FakeSides(_alternating())
    results = sides.measure(RoundPolicy(minimum=3, maximum=4, budget_s=1_000.0))
    entry = summarise(results["ours"], results["baseline"])
    entry.update(
        target=f"ratio <= {TARGET}",
        meets_target=meets_ratio_target(entry["ratio"], TARGET),
        **round_fields(results, entry, TARGET),
    )
    table = markdown_table({"export_merge": entry})
    row = table.splitlines()[-1]
    assert "| 4 (max rounds) |" in row
    assert "(median), not settled" in row
