"""The audit's statistics: the corrected drift and the labeller-bias test checked by simulation
(monitoring/audit_sim.py, which calls the shipped code), and their edge cases."""

from __future__ import annotations

import math

import pytest

from tunewatch.monitoring.audit import (
    MIN_REVIEWED,
    NOT_CONFIRMED,
    UNVERIFIED,
    AuditSummary,
    BiasSettings,
    Quad,
    ReviewedPair,
    corrected,
    ppi_mean,
    sequence_z,
    summarise,
    verdict,
)
from tunewatch.monitoring.audit_sim import (
    EVEN,
    Scenario,
    audit_runs,
    bias_alarm_reviews,
    ever_excludes_truth,
)
from tunewatch.monitoring.drift import DriftEngine, DriftSettings, Labels
from tunewatch.monitoring.stats import Z95, PairedTable, paired_difference, wilson

REFUSE, COMPLY = Labels("full", False), Labels("none", False)


def _margin(p: float, runs: int) -> float:
    """Three binomial standard errors: the Monte-Carlo slack on a share over `runs` runs."""
    return 3 * math.sqrt(p * (1 - p) / runs)


# --- the bars, by simulation ------------------------------------------------------


def test_bias_scenario_raw_alarm_is_corrected_and_flagged() -> None:
    """No true drift, a classifier that misses 40% of the tuned model's refusals and 5% of the
    base's, 300 of 5,000 pairs reviewed (docs/audit-planning.md, table (a))."""
    runs = audit_runs(Scenario(), runs=4000, seed=1)
    assert runs.truth == 0.0
    assert runs.raw_alarm.mean() >= 0.99  # the classifier's bias alone looks like drift
    # The bar is >= 95% of 1,000 runs. Measured: 0.959 +- 0.0014 (one SE) over 20,000
    # runs (seed 20000). 4,000 runs against the same bar (seed fixed beforehand; it gives
    # 0.960) have one SE of 0.003: a true 0.959 falls below 0.95 with odds about 0.2%.
    assert runs.covered.mean() >= 0.95
    assert runs.width.mean() < runs.reviewed_width.mean()
    assert (runs.width < runs.reviewed_width).mean() >= 0.85
    assert runs.bias_alarm.mean() >= 0.90


@pytest.mark.parametrize(
    "settings", [BiasSettings(), BiasSettings(alpha=0.05, family_size=1)], ids=["shipped", "5%"]
)
def test_labeller_bias_alarm_read_after_every_review_stays_under_alpha(
    settings: BiasSettings,
) -> None:
    """Equal error rates on both models: Ville's bound per test, however often it is read."""
    runs, looks = 2000, 1000
    first = bias_alarm_reviews(Scenario(EVEN), runs, looks, seed=2, settings=settings)
    per_test = settings.alpha / settings.family_size
    assert (first <= looks).mean() <= per_test + _margin(per_test, runs)


def test_labeller_bias_alarm_fires_quickly_on_a_biased_classifier() -> None:
    """The anytime reading has power too: the bias scenario's alarm comes within 300 reviews."""
    first = bias_alarm_reviews(Scenario(), runs=500, looks=300, seed=3)
    assert (first <= 300).mean() >= 0.95
    assert 50 < float(sorted(first)[len(first) // 2]) < 250


def test_labeller_bias_alarm_stays_quiet_on_a_real_drift_read_evenly() -> None:
    """Both models' refusals missed alike, but the tuned model refuses 30 points less: the
    classifier does not read the two models differently, so the bias alarm stays quiet. (On all
    reviewed pairs it would not: the model that refuses more gives an even-handed classifier
    more refusals to miss. The test counts only pairs the reviewer labelled alike.)"""
    drift = Scenario(EVEN, base_rate=0.6, redraw=0.5, redraw_rate=0.0)
    first = bias_alarm_reviews(drift, runs=300, looks=2000, seed=4)
    assert (first <= 2000).mean() <= 0.005 + _margin(0.005, 300)


def test_anytime_interval_holds_at_every_read_where_the_fixed_one_does_not() -> None:
    """Read after every 10 reviews up to 300 (the bias scenario, no true drift): the corrected
    95% interval holds at each read but excludes the true 0 at *some* read far more often than
    5%; the anytime interval that confirms alarms stays within 5% however often it is read."""
    runs = 400
    ever = ever_excludes_truth(Scenario(), runs, every=10, seed=5)
    bar = 0.05 + _margin(0.05, runs)
    assert ever["drift_anytime"].mean() <= bar
    assert ever["drift"].mean() > bar  # why the sequence exists


# --- ppi_mean and corrected: edge cases -----------------------------------------------------


def _quads(both: int, tuned_only: int, base_only: int, neither: int) -> list[Quad]:
    """Reviewed pairs where the classifier agrees with the reviewer on both sides."""
    cells = ((True, True), (True, False), (False, True), (False, False))
    out: list[Quad] = []
    for (t, b), k in zip(cells, (both, tuned_only, base_only, neither), strict=True):
        out += [(t, b, t, b)] * k
    return out


def test_fewer_than_min_reviewed_pairs_give_no_correction() -> None:
    table = PairedTable(40, 10, 5, 45)
    quads = _quads(4, 1, 1, 4)
    assert len(quads) == MIN_REVIEWED
    assert corrected(table, quads[:-1]) is None
    assert corrected(table, quads) is not None


def test_a_perfect_classifier_lends_the_reviews_every_pair() -> None:
    """The reviewed sample happens to show twice the drift of the classifier's 1,000 pairs;
    with a classifier that agrees with every review, the corrected figures follow all pairs."""
    table = PairedTable(300, 95, 45, 560)  # drift 0.05 over all pairs, the reviews included
    quads = _quads(30, 15, 5, 50)  # drift 0.10 over the 100 reviewed pairs
    result = corrected(table, quads)
    assert result is not None and result["pairs"] == 1000 and result["reviewed"] == 100
    drift, alone = result["drift"], result["reviewed_only"]
    assert alone["estimate"] == pytest.approx(0.10)
    assert drift["estimate"] == pytest.approx(0.05, abs=0.01)
    assert result["tuned"]["estimate"] == pytest.approx(table.tuned_rate, abs=0.005)
    assert result["base"]["estimate"] == pytest.approx(table.base_rate, abs=0.005)
    # The rates' intervals are as narrow as Wilson's over all 1,000 pairs.
    for side, k in (("tuned", 395), ("base", 345)):
        lo, hi = wilson(k, 1000)
        assert result[side]["upper"] - result[side]["lower"] <= 1.05 * (hi - lo)
    # The drift's: Newcombe's over all pairs, widened only by the two pseudo pairs' floor
    # (their residual +-1 adds about 2/n^2 to the variance).
    _, lo, hi = paired_difference(table)
    floor = Z95 * math.sqrt(2) / len(quads)
    half = (drift["upper"] - drift["lower"]) / 2
    assert half <= 1.05 * math.hypot((hi - lo) / 2, floor)
    assert half < 0.5 * (alone["upper"] - alone["lower"]) / 2


def test_a_table_without_the_reviews_falls_back_to_the_reviews_alone() -> None:
    """Evidence reset since the reviews: the remainder would be negative, so the classifier's
    table is ignored rather than subtracted into nonsense."""
    quads = _quads(12, 3, 1, 4)  # 20 reviews, 12 of them 'both'
    table = PairedTable(both=5, tuned_only=400, base_only=0, neither=400)
    result = corrected(table, quads)
    assert result is not None and result["pairs"] == len(quads)
    assert result["tuned"]["estimate"] == pytest.approx(15 / 20)
    assert result["base"]["estimate"] == pytest.approx(13 / 20)
    assert result["drift"]["estimate"] == pytest.approx(0.1, abs=0.01)  # pseudo pairs shrink it


def test_the_anytime_interval_widens_the_one_read_interval_by_sequence_z() -> None:
    """Same estimate, a standard error times sequence_z(n) instead of 1.96: wider at every n,
    least so near the 300 reviews it is tuned for."""
    quads = _quads(30, 15, 5, 50)
    result = corrected(PairedTable(300, 95, 45, 560), quads)
    assert result is not None
    fixed, anytime = result["drift"], result["drift_anytime"]
    assert anytime["lower"] < fixed["lower"] and fixed["upper"] < anytime["upper"]
    ratio = (anytime["upper"] - anytime["lower"]) / (fixed["upper"] - fixed["lower"])
    assert ratio == pytest.approx(sequence_z(len(quads)) / Z95)
    factors = {n: sequence_z(n) / Z95 for n in (MIN_REVIEWED, 100, 300, 1000, 10_000)}
    assert min(factors.values()) == factors[300] > 1.5


def test_ppi_mean_ignores_a_classifier_that_predicts_the_opposite() -> None:
    """A negatively correlated classifier gets weight 0: the reviewed mean, Wald's interval."""
    labelled = [(1.0, 0.0)] * 30 + [(0.0, 1.0)] * 70
    est = ppi_mean(labelled, 0.7, 0.21, 1000, bounds=(0.0, 1.0))
    assert est.estimate == pytest.approx(0.3)
    half = Z95 * math.sqrt(0.3 * 0.7 / 99)
    assert (est.lower, est.upper) == pytest.approx((0.3 - half, 0.3 + half))


def test_ppi_mean_without_unlabelled_units_is_the_reviewed_mean_within_bounds() -> None:
    est = ppi_mean([(1.0, 1.0)] * 9 + [(0.0, 1.0)], 0.0, 0.0, 0, bounds=(0.0, 1.0))
    assert est.estimate == pytest.approx(0.9)
    assert 0.0 <= est.lower < 0.9 < est.upper == 1.0


# --- summarise and verdict ------------------------------------------------------------------


def _review(model: str, ts: float, classifier: str = "v1") -> ReviewedPair:
    """A pair the classifier read as a tuned refusal only, and the reviewer agreed."""
    return ReviewedPair(
        model, "mirror", "cyber", ts, classifier, (REFUSE, COMPLY), (REFUSE, COMPLY)
    )


def test_summarise_counts_only_this_classifier_since_the_reset() -> None:
    now = [100.0]
    engine = DriftEngine(DriftSettings(), clock=lambda: now[0])
    for model in ("m", "other"):
        for _ in range(50):
            engine.add_pair(model, "mirror", "cyber", REFUSE, COMPLY)
    now[0] = 200.0
    engine.reset("m")
    now[0] = 300.0
    for _ in range(40):
        engine.add_pair("m", "mirror", "cyber", REFUSE, COMPLY)
        engine.add_pair("m", "mirror", "cyber", COMPLY, COMPLY)
    reviews = (
        [_review("m", 300.0)] * 12  # counted
        + [_review("m", 100.0)] * 5  # before m's reset
        + [_review("m", 300.0, classifier="v0")] * 3  # another classifier version
        + [_review("other", 100.0)] * 11  # other was not reset: counted
    )
    audit = summarise(engine, reviews, "v1", BiasSettings())
    assert audit.excluded == 8
    assert audit.reviewed == {"m": 12, "other": 11}
    fixed = audit.corrected[("m", "mirror", "cyber", "refusal")]
    assert fixed["reviewed"] == 12 and fixed["pairs"] == 80
    assert audit.corrected[("other", "mirror", "cyber", "refusal")]["pairs"] == 50
    assert set(audit.bias) == {
        (m, metric) for m in ("m", "other") for metric in ("refusal", "caution")
    }
    assert audit.bias[("m", "caution")]["reviewed"] == 12
    # The bias test counts the pairs the reviewer labelled alike on both sides: none of these
    # for refusal (tuned refuses, base does not), all of them for caution (neither cautious).
    assert audit.bias[("m", "refusal")]["tested"] == 0
    assert audit.bias[("m", "caution")]["tested"] == 12


def _summary(
    anytime: tuple[float, float],
    bias_alarm: bool,
    bias_model: str = "m",
    fixed: tuple[float, float] | None = None,
) -> AuditSummary:
    """One corrected series: `anytime` the interval that confirms alarms, `fixed` the one-read
    95% interval (by default the anytime one narrowed by the factor at 300 reviews)."""
    key = ("m", "mirror", "cyber", "refusal")
    centre, half = (anytime[0] + anytime[1]) / 2, (anytime[1] - anytime[0]) / 2
    if fixed is None:
        half *= Z95 / sequence_z(300)
        fixed = (centre - half, centre + half)
    series = {
        "drift": {"estimate": centre, "lower": fixed[0], "upper": fixed[1]},
        "drift_anytime": {"lower": anytime[0], "upper": anytime[1]},
    }
    return AuditSummary(
        {key: series}, {(bias_model, "caution"): {"alarm": bias_alarm}}, {"m": 50}, 0
    )


def _series(alarm: bool, metric: str = "refusal") -> dict[str, object]:
    return {"model": "m", "source": "mirror", "category": "cyber", "metric": metric, "alarm": alarm}


def test_verdict_marks_an_alarm_unverified_or_not_confirmed() -> None:
    assert verdict(_series(False), _summary((-0.1, 0.1), bias_alarm=True)) is None
    # A bias alarm on any of the model's metrics outranks the corrected interval.
    assert verdict(_series(True), _summary((0.1, 0.2), bias_alarm=True)) == UNVERIFIED
    assert verdict(_series(True), _summary((-0.05, 0.1), bias_alarm=False)) == NOT_CONFIRMED
    assert verdict(_series(True), _summary((0.02, 0.1), bias_alarm=False)) is None
    assert verdict(_series(True), _summary((-0.1, -0.02), bias_alarm=False)) is None
    # Another model's bias alarm, or no correction for this series: nothing to say.
    assert verdict(_series(True), _summary((0.02, 0.1), bias_alarm=True, bias_model="x")) is None
    assert verdict(_series(True, "caution"), _summary((-0.1, 0.1), bias_alarm=False)) is None


def test_verdict_confirms_with_the_anytime_interval_not_the_one_read_one() -> None:
    """The one-read 95% interval excludes 0 but the anytime one does not: read continuously,
    that is not yet evidence, so the alarm stays not confirmed."""
    narrow_excludes = _summary((-0.01, 0.09), bias_alarm=False, fixed=(0.01, 0.07))
    assert verdict(_series(True), narrow_excludes) == NOT_CONFIRMED
    # The other way round cannot come from corrected(), but shows which one is read.
    wide_excludes = _summary((0.01, 0.09), bias_alarm=False, fixed=(-0.01, 0.07))
    assert verdict(_series(True), wide_excludes) is None


def test_verdict_end_to_end_on_a_classifier_that_misreads_the_tuned_model() -> None:
    """Both models refuse; the classifier misses the tuned model's refusals: a raw alarm that
    the reviews show is the classifier's, not the model's."""
    engine = DriftEngine(DriftSettings())
    for _ in range(200):
        engine.add_pair("m", "mirror", "cyber", COMPLY, REFUSE)
    misread = ReviewedPair("m", "mirror", "cyber", 1.0, "v1", (COMPLY, REFUSE), (REFUSE, REFUSE))
    audit = summarise(engine, [misread] * 30, "v1", BiasSettings())
    series = engine.summary(("m", "mirror", "cyber", "refusal"))
    assert series["alarm"] is True
    assert audit.bias[("m", "refusal")]["alarm"] is True
    assert verdict(series, audit) == UNVERIFIED
