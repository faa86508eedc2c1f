"""What a drift report says, as plain data: computed once, then rendered as HTML or Markdown.

Every figure comes from replaying the stored observations through `DriftEngine`, the same code
that feeds the live metrics, so a reviewer reading the report and an SRE reading Grafana see the
same numbers for the same evidence. The renderers only format; they compute nothing.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from tunewatch.monitoring.audit import AuditSummary, BiasSettings, ReviewedPair, summarise
from tunewatch.monitoring.audit import verdict as audit_verdict
from tunewatch.monitoring.categories import Category, by_name, meets
from tunewatch.monitoring.drift import METRICS, DriftEngine, DriftSettings, Labels, Metric
from tunewatch.monitoring.stats import PairedTable, log_evalue, paired_difference

SOURCES: tuple[str, ...] = ("probe", "mirror", "live")
TREND_POINTS = 40
MAX_WORST_PROBES = 10
MAX_EXAMPLES = 10
MAX_BIGGEST = 5
TEXT_LIMIT = 1200  # characters of prompt or response shown per example
METADATA_ORDER = ("base", "adapter", "method", "tuning_method", "data", "data_description",
                  "version")  # fmt: skip
_REFUSAL_LEVEL = {"none": 0, "partial": 1, "full": 2}


@dataclass(frozen=True, slots=True)
class Rate:
    """A proportion with its 95% Wilson interval."""

    rate: float  # nan when n == 0
    lower: float
    upper: float
    n: int
    positive: int


@dataclass(frozen=True, slots=True)
class Difference:
    """tuned rate - base rate over pairs, with its 95% Newcombe interval."""

    estimate: float
    lower: float
    upper: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.lower > 0 or self.upper < 0

    @property
    def conservative(self) -> float:
        """The interval's bound nearest zero, 0 when it spans zero: 'at least this much'."""
        if self.lower > 0:
            return self.lower
        if self.upper < 0:
            return self.upper
        return 0.0


@dataclass(frozen=True, slots=True)
class PairCounts:
    both: int
    tuned_only: int
    base_only: int
    neither: int

    @property
    def discordant(self) -> int:
        return self.tuned_only + self.base_only


@dataclass(frozen=True, slots=True)
class Row:
    """One source x category x metric: the engine's summary, typed."""

    source: str
    category: str
    hazard: str
    metric: Metric
    tuned: Rate
    base: Rate
    pairs: PairCounts
    drift: Difference | None  # None without pairs (live traffic alone)
    log_evalue: float
    threshold: float
    alarm: bool
    # the difference corrected for the classifier's errors by the reviewed audit sample
    corrected: Difference | None = None  # n: reviewed pairs behind it
    audit: str | None = None  # why an alarm is not verified by the audit; None otherwise


@dataclass(frozen=True, slots=True)
class LabellerBias:
    """How often the classifier disagreed with the reviewers, per role, for one metric."""

    metric: Metric
    reviewed: int
    tuned_error: Rate
    base_error: Rate
    log_evalue: float
    threshold: float
    alarm: bool


@dataclass(frozen=True, slots=True)
class TrendPoint:
    ts: float
    n: int
    estimate: float
    lower: float
    upper: float
    log_evalue: float


@dataclass(frozen=True, slots=True)
class Trend:
    """The running tuned - base difference of one series, replayed pair by pair in time order."""

    source: str
    category: str
    metric: Metric
    points: tuple[TrendPoint, ...]
    first_alarm_ts: float | None  # when log E first reached the threshold, if ever


@dataclass(frozen=True, slots=True)
class ExpectationCount:
    """Probe answers that missed what the probe expects, per pack and category, by role."""

    pack: str
    category: str
    expect: str
    tuned_runs: int
    tuned_failures: int
    base_runs: int
    base_failures: int


@dataclass(frozen=True, slots=True)
class ProbeFailure:
    pack: str
    probe: str
    category: str
    expect: str
    runs: int
    tuned_failures: int
    base_failures: int
    tuned_label: str  # the most frequent label over the runs
    base_label: str


@dataclass(frozen=True, slots=True)
class Example:
    """A pair where the two models were labelled differently, with whatever text was kept."""

    ts: float
    source: str
    category: str
    pack: str | None
    probe: str | None
    prompt: str | None
    tuned_response: str | None
    base_response: str | None
    tuned_label: str
    base_label: str
    distance: int  # steps apart on refusal (none < partial < full) plus 1 if caution differs


@dataclass(frozen=True, slots=True)
class ModelReport:
    name: str
    metadata: tuple[tuple[str, str], ...]
    reset_at: float | None
    first_ts: float | None
    last_ts: float | None
    pairs: int
    singles: int
    incomplete_pairs: int  # pair_ids with only one side in range: not counted, as on restart
    ignored_before_reset: int
    rows: tuple[Row, ...]
    trends: tuple[Trend, ...]
    expectations: tuple[ExpectationCount, ...]
    worst_probes: tuple[ProbeFailure, ...]
    examples: tuple[Example, ...]
    divergent_pairs: int
    text_stored: bool
    bias: tuple[LabellerBias, ...] = ()  # empty without reviewed pairs

    def rows_for(self, source: str) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.source == source)

    def trends_for(self, source: str, metric: str) -> tuple[Trend, ...]:
        """One source's plots for a metric, in the same category order as the tables."""
        order: dict[str, int] = {}
        for row in self.rows:
            order.setdefault(row.category, len(order))
        chosen = [t for t in self.trends if t.source == source and t.metric == metric]
        return tuple(sorted(chosen, key=lambda t: order.get(t.category, len(order))))

    @property
    def sources(self) -> tuple[str, ...]:
        present = {r.source for r in self.rows}
        return tuple(s for s in _ordered(present, SOURCES))


@dataclass(frozen=True, slots=True)
class Finding:
    """A row singled out for the summary at the top of the report."""

    model: str
    row: Row


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    generated_at: float
    settings: DriftSettings
    models: tuple[ModelReport, ...]
    alarms: tuple[Finding, ...]
    biggest: tuple[Finding, ...]
    observations: int
    classifier: str | None = None  # the classifier version whose labels the audit checked


def label_text(refusal: str, caution: bool) -> str:
    """One answer's labels in words, e.g. 'full refusal', 'no refusal + caution'."""
    words = "no refusal" if refusal == "none" else f"{refusal} refusal"
    return f"{words} + caution" if caution else words


@dataclass(slots=True)
class _Pair:
    ts: float
    model: str
    source: str
    category: str
    tuned: Mapping[str, Any]
    base: Mapping[str, Any]

    def labels(self, role: str) -> Labels:
        row = self.tuned if role == "tuned" else self.base
        return Labels(str(row["refusal"]), bool(row["caution"]))

    def label(self, role: str) -> str:
        lab = self.labels(role)
        return label_text(lab.refusal, lab.caution)


def build_report(
    observations: Sequence[Mapping[str, Any]],
    *,
    metadata: Mapping[str, Mapping[str, str]],
    settings: DriftSettings,
    resets: Mapping[str, float] = {},  # read-only default, never mutated
    generated_at: float | None = None,
    title: str = "tunewatch drift report",
    categories: Iterable[Category] = (),
    reviewed: Sequence[ReviewedPair] = (),
    classifier: str | None = None,
) -> Report:
    """Replay `observations` (rows as `Store.observations` returns them) into a fresh engine.

    Paired rows are joined on pair_id and fed with `add_pair` in time order; rows without a
    pair_id go to `add_single`. Rows older than their model's last reset are left out, exactly
    as `Store.rebuild` does after a restart, so the figures match the running proxy's.
    `categories` adds the config's custom categories, for their hazard names and order.
    `reviewed` pairs (the audit) labelled by the `classifier` version correct the differences
    for the classifier's errors, as the running proxy's /drift does.
    """
    now = time.time() if generated_at is None else generated_at
    engine = DriftEngine(settings, clock=lambda: now)
    engine.resets.update(resets)
    hazards = {name: c.hazard for name, c in by_name(tuple(categories)).items()}

    by_model: dict[str, list[Mapping[str, Any]]] = {}
    for row in observations:
        by_model.setdefault(str(row["model"]), []).append(row)
    names = sorted(set(by_model) | set(metadata))

    models: list[ModelReport] = []
    for name in names:
        models.append(
            _model_report(
                name,
                by_model.get(name, []),
                metadata.get(name, {}),
                resets.get(name),
                engine,
                hazards,
            )
        )

    if reviewed and classifier is not None:
        audit = summarise(engine, reviewed, classifier, BiasSettings(alpha=settings.alpha))
        models = [_audited(m, audit) for m in models]
    alarms = tuple(Finding(m.name, r) for m in models for r in m.rows if r.alarm)
    measured = [Finding(m.name, r) for m in models for r in m.rows if r.drift is not None]
    measured.sort(key=lambda f: _biggest_key(f.row))
    biggest = tuple(f for f in measured if f.row.drift and f.row.drift.excludes_zero)
    return Report(
        title=title,
        generated_at=now,
        settings=settings,
        models=tuple(models),
        alarms=alarms,
        biggest=biggest[:MAX_BIGGEST],
        observations=len(observations),
        classifier=classifier,
    )


def _audited(m: ModelReport, audit: AuditSummary) -> ModelReport:
    rows = []
    for row in m.rows:
        fixed = audit.corrected.get((m.name, row.source, row.category, row.metric))
        as_series = {"model": m.name, "source": row.source, "category": row.category,
                     "metric": row.metric, "alarm": row.alarm}  # fmt: skip
        rows.append(
            replace(
                row,
                corrected=None
                if fixed is None
                else Difference(**fixed["drift"], n=fixed["reviewed"]),
                audit=audit_verdict(as_series, audit),
            )
        )
    bias = tuple(
        LabellerBias(
            metric,
            b["reviewed"],
            _error_rate(b["tuned_error"], b["reviewed"]),
            _error_rate(b["base_error"], b["reviewed"]),
            b["log_evalue"],
            b["threshold"],
            b["alarm"],
        )
        for (model, metric), b in sorted(audit.bias.items())
        if model == m.name
    )
    return replace(m, rows=tuple(rows), bias=bias)


def _error_rate(figures: Mapping[str, float], n: int) -> Rate:
    return Rate(figures["rate"], figures["lower"], figures["upper"], n,
                round(figures["rate"] * n) if n else 0)  # fmt: skip


def _biggest_key(row: Row) -> tuple[float, float]:
    assert row.drift is not None
    return (-abs(row.drift.conservative), -abs(row.drift.estimate))


def _model_report(
    name: str,
    rows: list[Mapping[str, Any]],
    metadata: Mapping[str, str],
    reset_at: float | None,
    engine: DriftEngine,
    hazards: Mapping[str, str],
) -> ModelReport:
    cutoff = reset_at if reset_at is not None else -math.inf
    pairs, singles, incomplete, ignored = _split(rows, cutoff)
    for pair in pairs:
        engine.add_pair(
            name, pair.source, pair.category, pair.labels("tuned"), pair.labels("base"), pair.ts
        )
    for row in singles:
        engine.add_single(
            name,
            str(row["source"]),
            str(row["category"]),
            str(row["role"]),
            Labels(str(row["refusal"]), bool(row["caution"])),
        )
    keys = [k for k in engine.series_keys() if k[0] == name]
    order = {c: i for i, c in enumerate(hazards)}
    keys.sort(key=lambda k: (_source_rank(k[1]), order.get(k[2], len(order)), k[2], k[3]))
    report_rows = tuple(_row(engine.summary(k), hazards) for k in keys)
    timestamps = [p.ts for p in pairs] + [float(r["ts"]) for r in singles]
    text_stored = any(
        r.get("prompt") is not None or r.get("response") is not None
        for r in rows
        if float(r["ts"]) >= cutoff
    )
    divergent = [p for p in pairs if p.labels("tuned") != p.labels("base")]
    return ModelReport(
        name=name,
        metadata=_metadata(metadata),
        reset_at=reset_at,
        first_ts=min(timestamps) if timestamps else None,
        last_ts=max(timestamps) if timestamps else None,
        pairs=len(pairs),
        singles=len(singles),
        incomplete_pairs=incomplete,
        ignored_before_reset=ignored,
        rows=report_rows,
        trends=tuple(_trends(pairs, engine.settings)),
        expectations=tuple(_expectations(pairs)),
        worst_probes=tuple(_worst_probes(pairs)),
        examples=tuple(_examples(divergent)) if text_stored else (),
        divergent_pairs=len(divergent),
        text_stored=text_stored,
    )


def _split(
    rows: Iterable[Mapping[str, Any]], cutoff: float
) -> tuple[list[_Pair], list[Mapping[str, Any]], int, int]:
    """Join tuned and base rows by pair_id; keep what the store's rebuild would keep."""
    sides: dict[str, dict[str, Mapping[str, Any]]] = {}
    singles: list[Mapping[str, Any]] = []
    ignored = 0
    for row in rows:
        pair_id = row.get("pair_id")
        if pair_id is None:
            if float(row["ts"]) < cutoff:
                ignored += 1
            else:
                singles.append(row)
            continue
        sides.setdefault(str(pair_id), {}).setdefault(str(row["role"]), row)
    pairs: list[_Pair] = []
    incomplete = 0
    for side in sides.values():
        tuned, base = side.get("tuned"), side.get("base")
        if tuned is None or base is None:
            incomplete += 1
            continue
        ts = float(tuned["ts"])  # the pair's time is its tuned answer's, as in Store.rebuild
        if ts < cutoff:
            ignored += 2
            continue
        pairs.append(
            _Pair(
                ts, str(tuned["model"]), str(tuned["source"]), str(tuned["category"]), tuned, base
            )
        )
    pairs.sort(key=lambda p: p.ts)
    return pairs, singles, incomplete, ignored


def _row(summary: Mapping[str, Any], hazards: Mapping[str, str]) -> Row:
    drift = summary.get("drift")
    pairs = summary["pairs"]
    return Row(
        source=summary["source"],
        category=summary["category"],
        hazard=hazards.get(summary["category"], "custom category"),
        metric=summary["metric"],
        tuned=Rate(**summary["tuned"]),
        base=Rate(**summary["base"]),
        pairs=PairCounts(pairs["both"], pairs["tuned_only"], pairs["base_only"], pairs["neither"]),
        drift=None
        if drift is None
        else Difference(drift["estimate"], drift["lower"], drift["upper"], drift["n"]),
        log_evalue=summary["log_evalue"],
        threshold=summary["threshold"],
        alarm=bool(summary["alarm"]),
    )


def _trends(pairs: Sequence[_Pair], settings: DriftSettings) -> Iterable[Trend]:
    """Replays each series' pairs in time order and samples about TREND_POINTS points.

    Uses the same `paired_difference` and `log_evalue` the engine uses, so the last point is
    the engine's current figure; the alarm time is checked at every pair, not only the sampled.
    """
    series: dict[tuple[str, str], list[_Pair]] = {}
    for pair in pairs:
        series.setdefault((pair.source, pair.category), []).append(pair)
    for (source, category), items in series.items():
        for metric in METRICS:
            table = PairedTable()
            wanted = _sample_indices(len(items), TREND_POINTS)
            points: list[TrendPoint] = []
            first_alarm: float | None = None
            for i, pair in enumerate(items, start=1):
                table.add(
                    pair.labels("tuned").positive(metric), pair.labels("base").positive(metric)
                )
                log_e = log_evalue(table.tuned_only, table.base_only, settings.rho)
                if first_alarm is None and log_e >= settings.threshold:
                    first_alarm = pair.ts
                if i in wanted:
                    diff, lo, hi = paired_difference(table)
                    points.append(TrendPoint(pair.ts, i, diff, lo, hi, log_e))
            yield Trend(source, category, metric, tuple(points), first_alarm)


def _sample_indices(n: int, k: int) -> set[int]:
    """k pair counts spread evenly over 1..n, always including n (the current figure)."""
    if n <= k:
        return set(range(1, n + 1))
    return {max(1, round(n * (j + 1) / k)) for j in range(k)}


def _expectations(pairs: Sequence[_Pair]) -> Iterable[ExpectationCount]:
    counts: dict[tuple[str, str, str], list[int]] = {}
    for pair in pairs:
        expect = pair.tuned.get("expect")
        if pair.source != "probe" or not expect:
            continue
        key = (str(pair.tuned.get("pack") or "-"), pair.category, str(expect))
        c = counts.setdefault(key, [0, 0, 0, 0])
        for offset, role in ((0, "tuned"), (2, "base")):
            lab = pair.labels(role)
            c[offset] += 1
            c[offset + 1] += not meets(str(expect), lab.refusal, lab.caution)
    for (pack, category, expect), c in sorted(counts.items()):
        yield ExpectationCount(pack, category, expect, c[0], c[1], c[2], c[3])


def _worst_probes(pairs: Sequence[_Pair]) -> list[ProbeFailure]:
    """Probes the tuned model fails most, those the base model passes first (regressions)."""
    grouped: dict[tuple[str, str], list[_Pair]] = {}
    for pair in pairs:
        if pair.source == "probe" and pair.tuned.get("expect"):
            key = (str(pair.tuned.get("pack") or "-"), str(pair.tuned.get("probe") or "-"))
            grouped.setdefault(key, []).append(pair)
    failures: list[ProbeFailure] = []
    for (pack, probe), items in grouped.items():
        expect = str(items[0].tuned["expect"])
        fails = {
            role: sum(not meets(expect, p.labels(role).refusal, p.labels(role).caution)
                      for p in items)
            for role in ("tuned", "base")
        }  # fmt: skip
        if not fails["tuned"]:
            continue
        failures.append(
            ProbeFailure(
                pack=pack,
                probe=probe,
                category=items[0].category,
                expect=expect,
                runs=len(items),
                tuned_failures=fails["tuned"],
                base_failures=fails["base"],
                tuned_label=_mode(p.label("tuned") for p in items),
                base_label=_mode(p.label("base") for p in items),
            )
        )
    failures.sort(
        key=lambda f: (-(f.tuned_failures - f.base_failures), -f.tuned_failures, f.pack, f.probe)
    )
    return failures[:MAX_WORST_PROBES]


def _mode(labels: Iterable[str]) -> str:
    return Counter(labels).most_common(1)[0][0]


def _examples(divergent: Sequence[_Pair]) -> list[Example]:
    def distance(p: _Pair) -> int:
        t, b = p.labels("tuned"), p.labels("base")
        return abs(_REFUSAL_LEVEL.get(t.refusal, 0) - _REFUSAL_LEVEL.get(b.refusal, 0)) + int(
            t.caution != b.caution
        )

    def score_gap(p: _Pair) -> float:
        gap = 0.0
        for column in ("refusal_score", "caution_score"):
            t, b = p.tuned.get(column), p.base.get(column)
            if t is not None and b is not None:
                gap += abs(float(t) - float(b))
        return gap

    with_text = [p for p in divergent if _has_text(p.tuned) or _has_text(p.base)]
    with_text.sort(key=lambda p: (-distance(p), -score_gap(p), -p.ts))
    return [
        Example(
            ts=p.ts,
            source=p.source,
            category=p.category,
            pack=_opt(p.tuned.get("pack")),
            probe=_opt(p.tuned.get("probe")),
            prompt=_clip(p.tuned.get("prompt") or p.base.get("prompt")),
            tuned_response=_clip(p.tuned.get("response")),
            base_response=_clip(p.base.get("response")),
            tuned_label=p.label("tuned"),
            base_label=p.label("base"),
            distance=distance(p),
        )
        for p in with_text[:MAX_EXAMPLES]
    ]


def _has_text(row: Mapping[str, Any]) -> bool:
    return row.get("prompt") is not None or row.get("response") is not None


def _clip(text: Any) -> str | None:
    if text is None:
        return None
    s = str(text)
    return s if len(s) <= TEXT_LIMIT else s[:TEXT_LIMIT].rstrip() + " […]"


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _metadata(metadata: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """Known keys first, in a fixed order a reviewer can scan, then the rest alphabetically."""
    rank = {k: i for i, k in enumerate(METADATA_ORDER)}
    keys = sorted(metadata, key=lambda k: (rank.get(k, len(rank)), k))
    return tuple((k, str(metadata[k])) for k in keys)


def _source_rank(source: str) -> int:
    return SOURCES.index(source) if source in SOURCES else len(SOURCES)


def _ordered(items: Iterable[str], order: Sequence[str]) -> list[str]:
    rank = {s: i for i, s in enumerate(order)}
    return sorted(items, key=lambda s: (rank.get(s, len(rank)), s))
