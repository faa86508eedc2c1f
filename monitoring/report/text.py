"""Number formatting and the explanatory prose shared by the HTML and Markdown renderers.

One place for wording, so the two formats never disagree about what a figure means.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from tunewatch.monitoring.drift import DriftSettings
from tunewatch.monitoring.report.model import Difference, Rate, Row

SOURCE_TITLES = {
    "probe": "Canary probes",
    "mirror": "Mirrored live traffic",
    "live": "Live traffic (tuned only)",
}
SOURCE_BLURBS = {
    "probe": "Scheduled probe prompts answered by both models: curated, labelled with what a "
    "well-behaved model should do.",
    "mirror": "A sample of real requests, answered by the tuned model for the client and "
    "replayed to the base model off the request path.",
    "live": "Requests answered only by the tuned model: rates without a paired base answer, "
    "so no difference and no test.",
}
METRIC_TITLES = {"refusal": "Refusal", "caution": "Caution"}
EXPECT_FAILURE = {
    "refuse": "answered without refusing",
    "caution": "answered without caution",
    "comply": "refused a safe request",
}


def pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{100 * value:.1f}%"


def signed_pp(value: float) -> str:
    """A difference of rates in percentage points, always signed."""
    if math.isnan(value):
        return "–"
    points = 100 * value
    return f"{points:+.1f} pp" if abs(points) >= 0.05 else "0.0 pp"


def rate_text(rate: Rate) -> str:
    if not rate.n:
        return "–"
    return f"{pct(rate.rate)} [{pct(rate.lower)}, {pct(rate.upper)}]"


def diff_text(diff: Difference | None) -> str:
    if diff is None:
        return "–"
    return f"{signed_pp(diff.estimate)} [{signed_pp(diff.lower)}, {signed_pp(diff.upper)}]"


def evidence_text(row: Row) -> str:
    """log E against the alarm threshold, e.g. '12.40 / 8.24'."""
    if row.drift is None:
        return "–"
    return f"{row.log_evalue:.2f} / {row.threshold:.2f}"


def verdict(row: Row) -> str:
    if row.drift is None:
        return "no pairs"
    if row.alarm and row.audit:
        return f"ALARM ({row.audit})"
    return "ALARM" if row.alarm else "no alarm"


def corrected_text(row: Row) -> str:
    """The audit-corrected difference with the reviewed pairs behind it, or a dash."""
    if row.corrected is None:
        return "–"
    return f"{diff_text(row.corrected)} ({row.corrected.n} reviewed)"


AUDIT_BLURB = (
    "People reviewed a uniform random sample of pairs blind (without being told which answer "
    "was the tuned model's). 'Corrected' differences remove the classifier's errors, as "
    "measured on that sample, from the difference over all pairs (prediction-powered "
    "inference, power-tuned; 95% intervals). The labeller-bias test asks whether the "
    "classifier is wrong more often on one model's answers than on the other's; while it "
    "alarms, that model's drift alarms are unverified."
)


def when(ts: float | None) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def short_when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%m-%d %H:%M")


def finding_text(model: str, row: Row) -> str:
    """A one-line summary of a row, for the top of the report."""
    assert row.drift is not None
    direction = "more" if row.drift.estimate > 0 else "less"
    return (
        f"{model} · {row.source} · {row.category} · {row.metric}: the tuned model shows "
        f"{row.metric} {direction} often than its base, {diff_text(row.drift)} "
        f"over {row.drift.n} pairs"
    )


def settings_text(settings: DriftSettings) -> str:
    return (
        f"α = {settings.alpha:g} per model and source, family of {settings.family_size} "
        f"category × metric tests, alarm when log E ≥ {settings.threshold:.2f} "
        f"(= ln({settings.family_size}/{settings.alpha:g})), mixture ρ = {settings.rho:.4f} "
        f"(most sensitive near {settings.target_pairs} discordant pairs)"
    )


def how_to_read(settings: DriftSettings) -> list[tuple[str, str]]:
    """(heading, paragraph) pairs: the statistics in plain words."""
    return [
        (
            "Pairs",
            "A pair is one prompt answered by the tuned model and by its base model. Comparing "
            "answers to the same prompts removes the difference in what was asked; only the "
            "discordant pairs (one model refuses or hedges, the other does not) carry evidence "
            "of a difference. Rates count an answer as a refusal when the classifier labelled "
            "it a full or a partial refusal, and as cautious when it hedged or referred the "
            "user to a professional.",
        ),
        (
            "Rates and intervals",
            "Each rate comes with a 95% Wilson score interval. The difference (tuned − base, "
            "in percentage points) comes with Newcombe's 95% interval for paired proportions "
            "(1998, method 10), which accounts for the two answers sharing a prompt and stays "
            "accurate near 0% and 100%. An interval that excludes zero is a difference "
            "measured with confidence; a wide interval means too few pairs to say.",
        ),
        (
            "The sequential test and the alarm",
            "The verdict uses an anytime-valid sequential test: a normal-mixture e-value E on "
            "the discordant pairs. Under 'no drift' each discordant pair goes either way with "
            "probability ½, and E is then a test supermartingale, so by Ville's inequality the "
            "chance that E ever reaches 1/α is at most α, however often it is read (dashboards "
            "read it every 15 seconds). The threshold is Bonferroni-corrected across the "
            f"{settings.family_size} category × metric tests of a model and source, so the "
            f"chance of any false alarm among them stays at most α = {settings.alpha:g}. "
            "The tables show log E next to the threshold; ALARM means log E is at or above it "
            "now: the evidence rejects 'no drift' for that series. No alarm does not prove "
            "there is no drift: read the interval to see how large a drift is still possible.",
        ),
        (
            "Drift over time",
            "The plots replay the pairs in time order and draw the running difference "
            "(line) with its 95% interval (band) against zero (dashed). A band that moves "
            "away from zero and stays there is a lasting change; a red marker shows when the "
            "test first reached its threshold. Plots in one row share their vertical scale.",
        ),
        (
            "Expectation failures",
            "Probes say what a well-behaved model should do: refuse (any refusal passes), "
            "answer with caution, or comply (any refusal fails: over-refusal). Failures of the "
            "base model show how hard a probe is; failures of the tuned model that its base "
            "passes are regressions.",
        ),
        (
            "Resets",
            "When a model or its base changes, its evidence is reset: everything before a "
            "model's last reset is left out of its figures, as in the running proxy.",
        ),
    ]
