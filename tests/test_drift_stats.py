"""The drift statistics: intervals, the sequential test's error rates checked by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunewatch.monitoring.drift import DriftEngine, DriftSettings, Labels
from tunewatch.monitoring.simulate import (
    false_alarm_rate,
    independent,
    naive_false_alarm_rate,
    nested,
    pairs_to_alarm,
)
from tunewatch.monitoring.stats import PairedTable, log_evalue, paired_difference, wilson

RUNS = 600
LOOKS = 10_000


def test_no_drift_false_alarms_stay_under_alpha_across_ten_categories() -> None:
    alpha = 0.05
    settings = DriftSettings(alpha=alpha, family_size=10, target_pairs=100)
    rate = false_alarm_rate(settings, categories=10, looks=LOOKS, runs=RUNS, seed=1)
    monte_carlo_error = 3 * math.sqrt(alpha * (1 - alpha) / RUNS)
    assert rate <= alpha + monte_carlo_error


def test_fixed_sample_test_rerun_at_every_look_exceeds_alpha() -> None:
    """Why the design uses an e-value: McNemar re-run per scrape alarms far above its level."""
    alpha = 0.05
    rate = naive_false_alarm_rate(alpha, categories=10, looks=LOOKS, runs=RUNS, seed=1)
    assert rate > 4 * alpha


@pytest.mark.parametrize("joint", [independent(0.7, 0.8), nested(0.7, 0.8)])
def test_a_ten_point_refusal_drop_is_found(joint: object) -> None:
    settings = DriftSettings(alpha=0.01, family_size=38, target_pairs=100)
    first = pairs_to_alarm(settings, joint, runs=300, max_pairs=5000, seed=2)  # type: ignore[arg-type]
    assert (first <= 5000).mean() >= 0.99
    assert 50 < np.median(first) < 2000  # documented in docs/statistics.md


def test_wilson_interval() -> None:
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and 0.25 < hi < 0.35
    lo, hi = wilson(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)


def test_paired_difference_interval_covers_the_truth() -> None:
    """Newcombe's interval for paired proportions keeps close to 95% coverage."""
    rng = np.random.default_rng(3)
    joint = independent(0.7, 0.8)
    truth = 0.7 - 0.8
    covered = 0
    trials = 2000
    probs = [joint.both, joint.tuned_only, joint.base_only, joint.neither]
    for _ in range(trials):
        counts = rng.multinomial(80, probs)
        table = PairedTable(*map(int, counts))
        _, lo, hi = paired_difference(table)
        covered += lo <= truth <= hi
    assert 0.93 <= covered / trials <= 0.975


def test_paired_difference_edges() -> None:
    diff, lo, hi = paired_difference(PairedTable(both=0, tuned_only=0, base_only=0, neither=20))
    assert diff == 0.0 and lo < 0 < hi and lo >= -1 and hi <= 1
    diff, lo, hi = paired_difference(PairedTable(tuned_only=30))
    assert diff == 1.0 and hi == 1.0 and 0.8 < lo < 1.0
    assert math.isnan(paired_difference(PairedTable())[0])


def test_evalue_is_one_without_evidence_and_grows_with_imbalance() -> None:
    assert log_evalue(0, 0, 0.2) == 0.0
    assert log_evalue(10, 10, 0.2) < 0  # balanced discordance is evidence for the null
    assert log_evalue(30, 5, 0.2) > log_evalue(20, 5, 0.2) > 0
    assert log_evalue(30, 5, 0.2) == log_evalue(5, 30, 0.2)  # two-sided


def test_engine_paired_rates_and_alarm() -> None:
    now = [1000.0]
    engine = DriftEngine(DriftSettings(alpha=0.01, family_size=38), clock=lambda: now[0])
    refuse, comply = Labels("full", False), Labels("none", True)
    for _ in range(60):
        engine.add_pair("m", "mirror", "cyber", tuned=comply, base=refuse)
    for _ in range(40):
        engine.add_pair("m", "mirror", "cyber", tuned=refuse, base=refuse)
    refusal = engine.summary(("m", "mirror", "cyber", "refusal"))
    assert refusal["tuned"]["rate"] == pytest.approx(0.4)
    assert refusal["base"]["rate"] == pytest.approx(1.0)
    assert refusal["drift"]["estimate"] == pytest.approx(-0.6)
    assert refusal["drift"]["lower"] < -0.6 < refusal["drift"]["upper"]
    assert refusal["pairs"] == {"both": 40, "tuned_only": 0, "base_only": 60, "neither": 0}
    assert refusal["alarm"] is True
    caution = engine.summary(("m", "mirror", "cyber", "caution"))
    assert caution["drift"]["estimate"] == pytest.approx(0.6)
    assert caution["window"]["n"] == 100


def test_engine_window_forgets_old_evidence_and_reset_forgets_all() -> None:
    now = [0.0]
    engine = DriftEngine(DriftSettings(window_seconds=3600), clock=lambda: now[0])
    a, b = Labels("full", False), Labels("none", False)
    for _ in range(10):
        engine.add_pair("m", "probe", "cyber", a, b)
    now[0] = 7200.0
    for _ in range(5):
        engine.add_pair("m", "probe", "cyber", a, a)
    summary = engine.summary(("m", "probe", "cyber", "refusal"))
    assert summary["drift"]["n"] == 15
    assert summary["window"]["n"] == 5 and summary["window"]["estimate"] == 0.0
    assert engine.reset("m") == ["m"]
    assert engine.series_keys() == []
    assert engine.resets["m"] == 7200.0


def test_live_singles_have_rates_but_no_drift() -> None:
    engine = DriftEngine(DriftSettings())
    engine.add_single("m", "live", "medical", "tuned", Labels("none", True))
    engine.add_single("m", "live", "medical", "tuned", Labels("none", False))
    summary = engine.summary(("m", "live", "medical", "caution"))
    assert summary["tuned"]["rate"] == 0.5 and summary["tuned"]["n"] == 2
    assert "drift" not in summary and summary["alarm"] is False
