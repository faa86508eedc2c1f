"""Drift corrected for the classifier's errors, from a reviewed random sample of pairs.

Every drift figure counts the classifier's labels, and the classifier's errors need not be the
same on the tuned model's answers as on the base's: a model that words its refusals
differently is read differently, and that difference looks like drift. People (or a judge
model) label a uniform random sample of pairs; prediction-powered inference (Angelopoulos et
al., Science 2023) uses those labels to remove the classifier's bias from the estimate over
*all* pairs, while the classifier's many labels keep the interval narrow. The power-tuned form
(PPI++, Angelopoulos, Duchi and Zrnic 2023) weighs the classifier by how well it predicts the
people, so the interval is never wider (asymptotically) than the reviewed labels' alone; at
under about 100 reviews the small-sample adjustment below can make it a little wider.

Stratified by model and role: each model's pairs are corrected with that model's reviewed
pairs, per source and category, and the tuned and base answers each get their own correction.

The corrected 95% interval holds for one read. What confirms a drift alarm is a wider
interval that holds at every read as reviews arrive (`sequence_z`), since /drift and the
metrics are read continuously.

The labeller-bias test asks whether the classifier is wrong more often on one model's answers
than on the other's. Per reviewed pair, each side is right or wrong: paired binary outcomes,
so the same anytime-valid mixture e-value as the drift test applies to the discordant ones,
and the verdict stays valid however often it is read as reviews arrive.

Pure arithmetic, no I/O: the proxy reads the reviews from the store and hands them in.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tunewatch.monitoring.drift import METRICS, DriftEngine, DriftSettings, Key, Labels, Metric
from tunewatch.monitoring.stats import (
    Z95,
    PairedTable,
    log_evalue,
    paired_difference,
    wilson,
)

MIN_REVIEWED = 10  # fewer reviewed pairs in a series give no corrected interval
UNVERIFIED = "unverified: the classifier reads the two models differently"
NOT_CONFIRMED = "not confirmed by the audit: the corrected difference may be 0"
# One pair where only the tuned side is positive and one where only the base is, neither
# predicted: measured by `python -m tunewatch.monitoring.audit_sim`, they lift the corrected
# difference's coverage from about 94-95% to 96% at 300 reviewed pairs.
_PSEUDO_PAIRS = ((1.0, 0.0), (-1.0, 0.0))
_SEQUENCE_TARGET = 300  # reviewed pairs where the confirming interval is tightest
_BIAS_TARGET = 30  # discordant (one side wrong) reviewed pairs where the bias test is sharpest


@dataclass(frozen=True, slots=True)
class ReviewedPair:
    """An audited pair as the classifier labelled it and as a reviewer did."""

    model: str
    source: str
    category: str
    ts: float
    classifier: str  # the classifier version that gave `predicted`
    predicted: tuple[Labels, Labels]  # tuned, base
    reviewed: tuple[Labels, Labels]


# One reviewed pair reduced to one metric: classifier tuned, base; reviewer tuned, base.
Quad = tuple[bool, bool, bool, bool]


@dataclass(frozen=True, slots=True)
class Estimate:
    estimate: float
    lower: float
    upper: float
    se: float  # the estimate's standard error

    def as_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "lower": self.lower, "upper": self.upper}


def sequence_z(n: int, alpha: float = 0.05, target: int = _SEQUENCE_TARGET) -> float:
    """The multiple of the standard error that makes an interval valid at every read.

    The fixed-sample interval holds for one read; recomputed as each review arrives, it
    excludes the truth at some read far more often than 5% (measured by
    `python -m tunewatch.monitoring.audit_sim`). The asymptotic confidence sequence of
    Waudby-Smith, Arbour, Sinha, Kennedy and Ramdas (time-uniform central limit theory, 2024)
    with Robbins' normal mixture widens it to stay valid however often it is read; `target`
    is the number of reviews where it is tightest.
    """
    rho2 = (-2.0 * math.log(alpha) + math.log1p(-2.0 * math.log(alpha))) / target
    grown = n * rho2 + 1.0
    return math.sqrt(grown / (n * rho2) * math.log(grown / (alpha * alpha)))


def ppi_mean(
    labelled: Sequence[tuple[float, float]],
    unlabelled_mean: float,
    unlabelled_var: float,
    unlabelled_n: int,
    *,
    bounds: tuple[float, float],
    pseudo: Sequence[tuple[float, float]] = (),
    z: float = Z95,
) -> Estimate:
    """The power-tuned prediction-powered estimate of a mean, with its normal interval.

    `labelled` holds (reviewer's value, classifier's value) for the reviewed units; the
    unlabelled units are summarised by the classifier's mean and variance over them. The
    estimate is mean(Y) + lam * (mean_N(f) - mean_n(f)); lam = 0 is the reviewed labels alone,
    lam = 1 plain PPI; the variance-minimising lam is estimated and clipped to [0, 1].
    `pseudo` units join the reviewed ones: a small-sample adjustment in the manner of
    Agresti and Caffo (2000), which keeps the normal interval's coverage at its level when the
    reviewed sample holds few nonzero values.
    """
    labelled = [*labelled, *pseudo]
    n, big_n = len(labelled), unlabelled_n
    ys = [y for y, _ in labelled]
    fs = [f for _, f in labelled]
    my, mf = sum(ys) / n, sum(fs) / n
    var_y = sum((y - my) ** 2 for y in ys) / (n - 1)
    var_f = sum((f - mf) ** 2 for f in fs) / (n - 1)
    cov = sum((y - my) * (f - mf) for y, f in zip(ys, fs, strict=True)) / (n - 1)
    lam = 0.0
    if big_n > 0:
        pooled = (var_f * (n - 1) + unlabelled_var * big_n) / (n - 1 + big_n)
        if pooled > 0:
            lam = min(1.0, max(0.0, cov / ((1.0 + n / big_n) * pooled)))
    estimate = my + lam * (unlabelled_mean - mf) if big_n else my
    variance = (var_y - 2 * lam * cov + lam * lam * var_f) / n
    if big_n:
        variance += lam * lam * unlabelled_var / big_n
    se = math.sqrt(max(variance, 0.0))
    low, high = bounds
    return Estimate(estimate, max(low, estimate - z * se), min(high, estimate + z * se), se)


def corrected(table: PairedTable, quads: Sequence[Quad]) -> dict[str, Any] | None:
    """Corrected tuned rate, base rate and difference for one series.

    `table` counts the classifier's labels on every pair of the series (the reviewed ones
    included); `quads` are the reviewed pairs. None below MIN_REVIEWED reviewed pairs.
    """
    n = len(quads)
    if n < MIN_REVIEWED:
        return None
    rest = PairedTable(table.both, table.tuned_only, table.base_only, table.neither)
    for f_t, f_b, _, _ in quads:
        rest.add(f_t, f_b, count=-1)
    big_n = max(rest.n, 0)
    if min(rest.both, rest.tuned_only, rest.base_only, rest.neither) < 0:
        big_n = 0  # the table does not hold these reviews (evidence reset since): reviews only

    def rate(positive: int) -> tuple[float, float]:
        p = positive / big_n if big_n else 0.0
        return p, p * (1 - p)

    t_mean, t_var = rate(rest.both + rest.tuned_only)
    b_mean, b_var = rate(rest.both + rest.base_only)
    d_mean = (rest.tuned_only - rest.base_only) / big_n if big_n else 0.0
    d_var = (rest.tuned_only + rest.base_only) / big_n - d_mean**2 if big_n else 0.0
    tuned = ppi_mean([(y_t, f_t) for f_t, _, y_t, _ in quads], t_mean, t_var, big_n,
                     bounds=(0.0, 1.0))  # fmt: skip
    base = ppi_mean([(y_b, f_b) for _, f_b, _, y_b in quads], b_mean, b_var, big_n,
                    bounds=(0.0, 1.0))  # fmt: skip
    drift = ppi_mean(
        [(int(y_t) - int(y_b), int(f_t) - int(f_b)) for f_t, f_b, y_t, y_b in quads],
        d_mean, d_var, big_n, bounds=(-1.0, 1.0), pseudo=_PSEUDO_PAIRS,
    )  # fmt: skip
    anytime = sequence_z(n) * drift.se
    reviewed_only = PairedTable()
    for _, _, y_t, y_b in quads:
        reviewed_only.add(y_t, y_b)
    diff, lo, hi = paired_difference(reviewed_only)
    return {
        "tuned": tuned.as_dict(),
        "base": base.as_dict(),
        "drift": drift.as_dict(),
        # valid at every read, as reviews arrive: what confirms (or not) a drift alarm
        "drift_anytime": {
            "lower": max(-1.0, drift.estimate - anytime),
            "upper": min(1.0, drift.estimate + anytime),
        },
        "reviewed_only": {"estimate": diff, "lower": lo, "upper": hi},
        "reviewed": n,
        "pairs": big_n + n,
    }


@dataclass(frozen=True, slots=True)
class BiasSettings(DriftSettings):
    """The drift test's settings for the labeller-bias test: one test per metric for each
    model, sharpest near a few dozen pairs where exactly one side was misread."""

    family_size: int = len(METRICS)
    target_pairs: int = _BIAS_TARGET


def labeller_bias(quads: Iterable[Quad], settings: BiasSettings) -> dict[str, Any]:
    """Is the classifier wrong more often on the tuned model's answers than on the base's?

    The test counts only the reviewed pairs whose two answers the reviewer labelled alike:
    there both sides share one truth, so a classifier that reads the two models alike misreads
    either side equally often, even when the models really drift apart (on all pairs, a real
    drift alone changes the error rates of an even-handed classifier). The error rates shown
    are over every reviewed pair.
    """
    errors = PairedTable()  # "positive" = the classifier got that side wrong
    alike = PairedTable()
    for f_t, f_b, y_t, y_b in quads:
        errors.add(f_t != y_t, f_b != y_b)
        if y_t == y_b:
            alike.add(f_t != y_t, f_b != y_b)
    n = errors.n
    log_e = log_evalue(alike.tuned_only, alike.base_only, settings.rho)
    tuned_wrong, base_wrong = errors.both + errors.tuned_only, errors.both + errors.base_only
    return {
        "reviewed": n,
        "tested": alike.n,
        "tuned_error": _rate(tuned_wrong, n),
        "base_error": _rate(base_wrong, n),
        "log_evalue": log_e,
        "threshold": settings.threshold,
        "alarm": log_e >= settings.threshold,
    }


def _rate(k: int, n: int) -> dict[str, float]:
    lo, hi = wilson(k, n)
    return {"rate": k / n if n else math.nan, "lower": lo, "upper": hi}


def quad(pair: ReviewedPair, metric: Metric) -> Quad:
    (f_t, f_b), (y_t, y_b) = pair.predicted, pair.reviewed
    return (f_t.positive(metric), f_b.positive(metric), y_t.positive(metric),
            y_b.positive(metric))  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditSummary:
    """What the audit says about every series and model, for /drift, metrics and reports."""

    corrected: dict[Key, dict[str, Any]]  # per series: corrected rates and difference
    bias: dict[tuple[str, Metric], dict[str, Any]]  # per (model, metric)
    reviewed: dict[str, int]  # per model: reviewed pairs counted (this classifier, since reset)
    excluded: int  # reviews of pairs older than a reset or labelled by another classifier


def summarise(
    engine: DriftEngine,
    pairs: Iterable[ReviewedPair],
    classifier: str,
    settings: BiasSettings,
    metrics: Sequence[Metric] = METRICS,
) -> AuditSummary:
    """Correct every series of `engine` with the reviewed pairs that belong to its evidence:
    since the model's last reset and labelled by the running `classifier` version (evidence
    from two classifier versions is never mixed in one test). `metrics` leaves out what the
    labeller cannot say (a guard model judges refusal only)."""
    by_series: dict[tuple[str, str, str], list[ReviewedPair]] = defaultdict(list)
    by_model: dict[str, list[ReviewedPair]] = defaultdict(list)
    excluded = 0
    for pair in pairs:
        if pair.classifier != classifier or pair.ts < engine.resets.get(pair.model, -math.inf):
            excluded += 1
            continue
        by_series[(pair.model, pair.source, pair.category)].append(pair)
        by_model[pair.model].append(pair)
    out: dict[Key, dict[str, Any]] = {}
    for model, source, category in by_series:
        for metric in metrics:
            key = (model, source, category, metric)
            table = engine.table(key)
            quads = [quad(p, metric) for p in by_series[(model, source, category)]]
            result = corrected(table, quads)
            if result is not None:
                out[key] = result
    bias = {
        (model, metric): labeller_bias((quad(p, metric) for p in reviewed), settings)
        for model, reviewed in by_model.items()
        for metric in metrics
    }
    return AuditSummary(out, bias, {m: len(r) for m, r in by_model.items()}, excluded)


def verdict(series: dict[str, Any], summary: AuditSummary) -> str | None:
    """What the audit says about a drift alarm: None when there is no alarm or the audit
    confirms it; else why the alarm is not verified."""
    if not series.get("alarm"):
        return None
    if any(b["alarm"] for (model, _), b in summary.bias.items() if model == series["model"]):
        return UNVERIFIED
    key = (series["model"], series["source"], series["category"], series["metric"])
    fixed = summary.corrected.get(key)
    if (
        fixed is not None
        and fixed["drift_anytime"]["lower"] <= 0.0 <= fixed["drift_anytime"]["upper"]
    ):
        return NOT_CONFIRMED
    return None


def annotate(
    series: list[dict[str, Any]], audit: AuditSummary, judged: AuditSummary | None = None
) -> list[dict[str, Any]]:
    """Add the audit's word to each series summary (as /drift shows them): `corrected` from
    people's reviews, `corrected_by_judge` apart from it, and `audit` for an unverified alarm."""
    for item in series:
        key = (item["model"], item["source"], item["category"], item["metric"])
        if key in audit.corrected:
            item["corrected"] = audit.corrected[key]
        if judged is not None and key in judged.corrected:
            item["corrected_by_judge"] = judged.corrected[key]
        note = verdict(item, audit)
        if note is not None:
            item["audit"] = note
    return series


def audit_overview(audit: AuditSummary, classifier: str) -> dict[str, Any]:
    return {
        "classifier": classifier,
        "reviewed_pairs": audit.reviewed,
        "excluded_reviews": audit.excluded,
        "labeller_bias": [
            {"model": model, "metric": metric, **figures}
            for (model, metric), figures in sorted(audit.bias.items())
        ],
    }
