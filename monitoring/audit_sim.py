"""Monte-Carlo checks of the audit (monitoring/audit.py): the corrected drift's coverage and
width, read once and read as reviews arrive (the fixed-sample 95% interval against the anytime
one that confirms alarms), the labeller-bias test's power and its false alarms when read after
every review, and a planning table of interval widths by number of reviewed pairs.

The pairs are drawn with numpy; every figure comes from the shipped `corrected()` and
`labeller_bias()`, so the simulation checks the code that runs, not a copy of its formulas.
`python -m tunewatch.monitoring.audit_sim` prints the figures in docs/audit-planning.md;
tests/test_audit_stats.py runs the same functions at smaller sizes.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tunewatch.monitoring.audit import MIN_REVIEWED, BiasSettings, Quad, corrected, labeller_bias
from tunewatch.monitoring.drift import DriftSettings
from tunewatch.monitoring.stats import PairedTable, log_evalue

_CHUNK_CELLS = 2_000_000  # runs x pairs drawn at once: bounds memory, keeps numpy vectorised
_CHECKED_RUNS = 5  # per chunk: the anytime lookup is checked against the test on these runs


@dataclass(frozen=True, slots=True)
class Classifier:
    """The classifier against the reviewers, per answer: the share of refusals it misses on
    each model's answers, and the share of non-refusals it calls refusals (both models)."""

    miss_tuned: float
    miss_base: float
    false_positive: float

    def agreement(self, tuned_rate: float, base_rate: float) -> tuple[float, float]:
        """Share of tuned and of base answers where it agrees with the reviewer."""
        fp = self.false_positive
        return (1 - tuned_rate * self.miss_tuned - (1 - tuned_rate) * fp,
                1 - base_rate * self.miss_base - (1 - base_rate) * fp)  # fmt: skip


# Reads the tuned model's (differently worded) refusals badly: the bias scenario.
BIASED = Classifier(miss_tuned=0.40, miss_base=0.05, false_positive=0.02)
EVEN = Classifier(miss_tuned=0.20, miss_base=0.20, false_positive=0.02)  # the bias test's null
GOOD = Classifier(miss_tuned=0.08, miss_base=0.08, false_positive=0.03)  # ~95% agreement
FAIR = Classifier(miss_tuned=0.25, miss_base=0.25, false_positive=0.08)  # ~85% agreement


@dataclass(frozen=True, slots=True)
class Scenario:
    """Correlated models: the base refuses with `base_rate`; the tuned model answers as the
    base did except on a `redraw` share of prompts, where it refuses with `redraw_rate`."""

    classifier: Classifier = BIASED
    pairs: int = 5_000  # pairs in the series (the classifier labels all of them)
    reviewed: int = 300  # a uniform random sample of them, reviewed by people
    base_rate: float = 0.4
    redraw: float = 0.15
    redraw_rate: float = 0.4  # = base_rate: the true difference is 0

    @property
    def tuned_rate(self) -> float:
        return (1 - self.redraw) * self.base_rate + self.redraw * self.redraw_rate

    @property
    def discordance(self) -> float:
        """Share of pairs the reviewers label differently on the two sides: what sets the
        reviewed-only interval's width, about 1.96 * sqrt(discordance / reviewed)."""
        b, r = self.base_rate, self.redraw_rate
        return self.redraw * (b * (1 - r) + (1 - b) * r)

    @property
    def true_difference(self) -> float:
        """The population difference the corrected interval should cover."""
        return self.tuned_rate - self.base_rate


@dataclass(frozen=True, slots=True)
class Pairs:
    """Labels of runs x pairs simulated pairs: the reviewer's (y) and the classifier's (f).

    Pairs are i.i.d., so the first k of a run are a uniform random sample of its pairs, in
    the order the reviews arrive: the simulation reviews those."""

    y_t: np.ndarray
    y_b: np.ndarray
    f_t: np.ndarray
    f_b: np.ndarray

    def quads(self, run: int, reviewed: int) -> list[Quad]:
        """The first `reviewed` pairs of a run in the form corrected() takes."""
        cols = (a[run, :reviewed].tolist() for a in (self.f_t, self.f_b, self.y_t, self.y_b))
        return list(zip(*cols, strict=True))

    def tables(self) -> list[PairedTable]:
        """Per run, the classifier's paired table over all its pairs (reviewed ones too)."""
        t, b = self.f_t, self.f_b
        cells = [(t & b).sum(1), (t & ~b).sum(1), (~t & b).sum(1), (~t & ~b).sum(1)]
        return [PairedTable(*map(int, row)) for row in zip(*cells, strict=True)]


def _read(rng: np.random.Generator, truth: np.ndarray, miss: float, fp: float) -> np.ndarray:
    """The classifier's labels of answers whose reviewed labels are `truth`."""
    u = rng.random(truth.shape)
    labels: np.ndarray = np.where(truth, u >= miss, u < fp)
    return labels


def draw(rng: np.random.Generator, scenario: Scenario, runs: int) -> Pairs:
    """`runs` independent series of `scenario.pairs` pairs each, in one numpy pass."""
    shape = (runs, scenario.pairs)
    y_b = rng.random(shape) < scenario.base_rate
    y_t = np.where(rng.random(shape) < scenario.redraw, rng.random(shape) < scenario.redraw_rate,
                   y_b)  # fmt: skip
    c = scenario.classifier
    return Pairs(y_t, y_b, _read(rng, y_t, c.miss_tuned, c.false_positive),
                 _read(rng, y_b, c.miss_base, c.false_positive))  # fmt: skip


def _chunks(rng: np.random.Generator, scenario: Scenario, runs: int) -> Iterator[Pairs]:
    size = max(1, _CHUNK_CELLS // scenario.pairs)
    for start in range(0, runs, size):
        yield draw(rng, scenario, min(size, runs - start))


@dataclass(frozen=True, slots=True)
class AuditRuns:
    """Per run: the raw drift alarm, the corrected interval on the drift (the fixed-sample 95%
    one and the anytime one that confirms alarms), the reviewed-only interval, and the
    labeller-bias alarm, each read once with all reviews in."""

    truth: float
    raw_alarm: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    anytime_lower: np.ndarray
    anytime_upper: np.ndarray
    reviewed_lower: np.ndarray
    reviewed_upper: np.ndarray
    bias_alarm: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        hit: np.ndarray = (self.lower <= self.truth) & (self.truth <= self.upper)
        return hit

    @property
    def width(self) -> np.ndarray:
        width: np.ndarray = self.upper - self.lower
        return width

    @property
    def anytime_width(self) -> np.ndarray:
        width: np.ndarray = self.anytime_upper - self.anytime_lower
        return width

    @property
    def reviewed_width(self) -> np.ndarray:
        width: np.ndarray = self.reviewed_upper - self.reviewed_lower
        return width


def audit_runs(
    scenario: Scenario,
    runs: int,
    seed: int = 0,
    drift: DriftSettings | None = None,
    bias: BiasSettings | None = None,
) -> AuditRuns:
    """Simulate `runs` series and audit each with the shipped code."""
    if scenario.reviewed < MIN_REVIEWED or scenario.reviewed > scenario.pairs:
        raise ValueError(f"reviewed pairs must be in [{MIN_REVIEWED}, {scenario.pairs}]")
    drift, bias = drift or DriftSettings(), bias or BiasSettings()
    rng = np.random.default_rng(seed)
    fields = ("raw", "lo", "hi", "alo", "ahi", "rlo", "rhi", "bias")
    out: dict[str, list[float]] = {k: [] for k in fields}
    for pairs in _chunks(rng, scenario, runs):
        for run, table in enumerate(pairs.tables()):
            quads = pairs.quads(run, scenario.reviewed)
            result = corrected(table, quads)
            assert result is not None  # reviewed >= MIN_REVIEWED
            raw = log_evalue(table.tuned_only, table.base_only, drift.rho) >= drift.threshold
            out["raw"].append(raw)
            out["lo"].append(result["drift"]["lower"])
            out["hi"].append(result["drift"]["upper"])
            out["alo"].append(result["drift_anytime"]["lower"])
            out["ahi"].append(result["drift_anytime"]["upper"])
            out["rlo"].append(result["reviewed_only"]["lower"])
            out["rhi"].append(result["reviewed_only"]["upper"])
            out["bias"].append(labeller_bias(quads, bias)["alarm"])
    a = {k: np.asarray(v) for k, v in out.items()}
    return AuditRuns(scenario.true_difference, a["raw"].astype(bool), a["lo"], a["hi"], a["alo"],
                     a["ahi"], a["rlo"], a["rhi"], a["bias"].astype(bool))  # fmt: skip


def ever_excludes_truth(
    scenario: Scenario,
    runs: int,
    every: int,
    seed: int = 0,
    intervals: tuple[str, ...] = ("drift", "drift_anytime"),
) -> dict[str, np.ndarray]:
    """Per interval, per run: does the corrected interval exclude the true difference at any
    read, when it is read after every `every` reviews (MIN_REVIEWED at the earliest) up to
    `scenario.reviewed`? The intervals are read on the same runs.

    "drift" is the fixed-sample one (95% at any single read); "drift_anytime" is the confidence
    sequence that `verdict()` confirms alarms with, valid at every read."""
    reads = [k for k in range(every, scenario.reviewed + 1, every) if k >= MIN_REVIEWED]
    truth = scenario.true_difference
    rng = np.random.default_rng(seed)
    missed: dict[str, list[bool]] = {name: [] for name in intervals}
    for pairs in _chunks(rng, scenario, runs):
        for run, table in enumerate(pairs.tables()):
            quads = pairs.quads(run, scenario.reviewed)
            miss = dict.fromkeys(intervals, False)
            for k in reads:
                d = corrected(table, quads[:k])
                assert d is not None
                for name in intervals:
                    miss[name] |= not d[name]["lower"] <= truth <= d[name]["upper"]
                if all(miss.values()):
                    break
            for name in intervals:
                missed[name].append(miss[name])
    return {name: np.asarray(m, dtype=bool) for name, m in missed.items()}


def bias_alarm_reviews(
    scenario: Scenario,
    runs: int,
    looks: int,
    seed: int = 0,
    settings: BiasSettings | None = None,
) -> np.ndarray:
    """Reviewed pairs until the labeller-bias alarm first fires, read after every review
    (looks + 1 where it never fired within `looks`).

    Calling `labeller_bias()` on every prefix of every run would cost runs x looks^2. Instead,
    which kinds of reviewed pair move its statistic, and which way, is read off the test itself
    (`_steps`); its alarm is then taken once per (up, down) count pair that occurs, and checked
    against the test on the first runs' own reviews at the last look."""
    settings = settings or BiasSettings()
    steps, up, down = _steps(settings)
    rng = np.random.default_rng(seed)
    alarms: dict[tuple[int, int], bool] = {}
    first: list[np.ndarray] = []
    for pairs in _chunks(rng, replace(scenario, pairs=looks), runs):
        kind = (pairs.f_t * 8 + pairs.f_b * 4 + pairs.y_t * 2 + pairs.y_b).astype(np.intp)
        step = steps[kind]
        ups, downs = np.cumsum(step == 1, axis=1), np.cumsum(step == -1, axis=1)
        hit = _lookup(
            alarms, ups, downs, lambda a, b: labeller_bias([up] * a + [down] * b, settings)
        )
        for run in range(min(_CHECKED_RUNS, len(hit))):
            shipped = labeller_bias(pairs.quads(run, looks), settings)
            counted = labeller_bias(
                [up] * int(ups[run, -1]) + [down] * int(downs[run, -1]), settings
            )
            if (shipped["alarm"], shipped["log_evalue"]) != (hit[run, -1], counted["log_evalue"]):
                raise RuntimeError("the bias test is not a count of up and down pairs")
        first.append(np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, looks + 1))
    return np.concatenate(first)


def _steps(settings: BiasSettings) -> tuple[np.ndarray, Quad, Quad]:
    """+1, -1 or 0 for each of the 16 kinds of reviewed pair (indexed f_t f_b y_t y_b as
    bits), as `labeller_bias()` counts them: a kind it ignores leaves log E at 0; two kinds
    that count the same way give the same log E as one kind twice. Also one kind of each sign."""
    kinds: list[Quad] = list(itertools.product((False, True), repeat=4))  # type: ignore[arg-type]

    def log_e(quads: list[Quad]) -> float:
        value: float = labeller_bias(quads, settings)["log_evalue"]
        return value

    moving = [q for q in kinds if log_e([q]) != 0.0]
    if not moving:
        raise RuntimeError("no reviewed pair moves the bias test")
    up = moving[0]
    twice = log_e([up, up])
    steps = np.zeros(len(kinds), dtype=np.int8)
    for i, q in enumerate(kinds):
        if q in moving:
            steps[i] = 1 if log_e([up, q]) == twice else -1
    down = next((q for i, q in enumerate(kinds) if steps[i] == -1), up)
    return steps, up, down


def _lookup(
    alarms: dict[tuple[int, int], bool],
    ups: np.ndarray,
    downs: np.ndarray,
    alarm: Callable[[int, int], dict[str, Any]],
) -> np.ndarray:
    """The alarm for each (ups, downs) count pair in the arrays, from `alarm` once per pair."""
    width = int(downs.max()) + 1
    codes = ups.astype(np.int64) * width + downs
    unique, inverse = np.unique(codes, return_inverse=True)
    values = np.empty(len(unique), dtype=bool)
    for i, code in enumerate(unique.tolist()):
        a, b = divmod(code, width)
        if (a, b) not in alarms:
            alarms[(a, b)] = bool(alarm(a, b)["alarm"])
        values[i] = alarms[(a, b)]
    hit: np.ndarray = values[inverse.reshape(codes.shape)]
    return hit


@dataclass(frozen=True, slots=True)
class PlanRow:
    reviewed: int
    half_width: float  # mean half-width of the corrected 95% interval on the drift
    coverage: float
    anytime_half_width: float  # the same for the anytime interval, which confirms alarms
    reviewed_half_width: float  # the same for the reviewed labels alone (Newcombe)


def planning(scenario: Scenario, reviewed: tuple[int, ...], runs: int, seed: int = 0
             ) -> list[PlanRow]:  # fmt: skip
    """Interval widths by number of reviewed pairs, to choose how many to review."""
    rows = []
    for n in reviewed:
        r = audit_runs(replace(scenario, reviewed=n), runs, seed)
        rows.append(PlanRow(n, float(r.width.mean() / 2), float(r.covered.mean()),
                            float(r.anytime_width.mean() / 2),
                            float(r.reviewed_width.mean() / 2)))  # fmt: skip
    return rows


def _share(hits: np.ndarray) -> str:
    return f"{hits.mean():.3f}"


def _pm(half_width: float) -> str:
    return f"±{half_width:.4f}"


def _print_bias_scenario(runs: int, seed: int) -> None:
    s = Scenario()
    c = s.classifier
    agree_t, agree_b = c.agreement(s.tuned_rate, s.base_rate)
    print(f"(a) bias scenario: no true drift (refusal {s.tuned_rate:.2f} both), {s.pairs} pairs, "
          f"{s.reviewed} reviewed; classifier misses {c.miss_tuned:.0%} of tuned and "
          f"{c.miss_base:.0%} of base refusals, {c.false_positive:.0%} false refusals "
          f"(agreement {agree_t:.1%} tuned, {agree_b:.1%} base); {runs} runs")  # fmt: skip
    r = audit_runs(s, runs, seed)
    print(f"  raw drift alarm fires:                  {_share(r.raw_alarm)}")
    print(f"  corrected interval covers 0:            {_share(r.covered)}")
    print(
        f"  mean width: corrected {r.width.mean():.4f}, reviewed-only {r.reviewed_width.mean():.4f}"
    )
    print(f"  corrected narrower than reviewed-only:  {_share(r.width < r.reviewed_width)}")
    print(f"  labeller-bias alarm fires:              {_share(r.bias_alarm)}")
    every = 10
    ever = ever_excludes_truth(s, max(1, runs // 4), every, seed)
    fixed, anytime = ever["drift"], ever["drift_anytime"]
    print(f"  read after every {every} reviews up to {s.reviewed}, ever excludes 0 "
          f"({len(fixed)} runs): corrected 95% interval {_share(fixed)}, "
          f"anytime interval {_share(anytime)}")  # fmt: skip
    ratio = r.anytime_width.mean() / r.width.mean()
    print(f"  mean width at {s.reviewed} reviews: anytime {r.anytime_width.mean():.4f}, "
          f"corrected 95% {r.width.mean():.4f} (x{ratio:.2f})")  # fmt: skip


def _print_bias_null(runs: int, seed: int) -> None:
    settings = BiasSettings()
    per_test = settings.alpha / settings.family_size
    print(f"(b) bias test's null: both models' refusals missed 20%, 2% false refusals; read after "
          f"every review; alpha={settings.alpha}, family {settings.family_size} "
          f"(per test {per_test:.4f}); {runs} runs")  # fmt: skip
    first = bias_alarm_reviews(Scenario(EVEN), runs, 1000, seed)
    for k in (300, 1000):
        print(f"  ever fires within {k:4d} reviewed pairs: {_share(first <= k)}")
    loose = BiasSettings(alpha=0.05, family_size=1)
    first = bias_alarm_reviews(Scenario(EVEN), runs, 1000, seed, loose)
    print(f"  at alpha=0.05, family 1: ever fires within 1000: {_share(first <= 1000)}")


def _print_real_drift(runs: int, seed: int) -> None:
    s = Scenario(EVEN, base_rate=0.6, redraw=0.5, redraw_rate=0.0)
    print(f"(d) a real drift ({s.base_rate:.2f} -> {s.tuned_rate:.2f}) read by an even-handed "
          f"classifier (both miss 20%, 2% false refusals); bias alarm read after every review; "
          f"{runs} runs")  # fmt: skip
    first = bias_alarm_reviews(s, runs, 3000, seed)
    for k in (300, 1000, 3000):
        print(f"  ever fires within {k:4d}: {_share(first <= k)}")


def _print_planning(runs: int, seed: int) -> None:
    reviewed = (50, 100, 200, 300, 500, 1000)
    print(f"(c) planning: 5000 pairs, no true drift, {runs} runs per cell; half-widths of "
          f"intervals on tuned - base: corrected 95% (one read), anytime (confirms alarms), "
          f"reviewed-only 95%")  # fmt: skip
    classifiers = (("95% (misses 8%, 3% false)", GOOD), ("85% (misses 25%, 8% false)", FAIR),
                   ("bias scenario's", BIASED))  # fmt: skip
    for redraw, kinds in ((0.15, classifiers), (0.5, classifiers[:2])):
        s = Scenario(redraw=redraw)
        print(f"  models answer differently on {s.discordance:.1%} of prompts "
              f"(the tuned model redraws {redraw:.0%} of answers)")  # fmt: skip
        print(f"  {'classifier (agreement tuned/base)':37s} {'reviewed':>8s}  {'corrected':>9s}  "
              f"{'coverage':>8s}  {'anytime':>8s}  {'reviewed-only':>13s}")  # fmt: skip
        for name, classifier in kinds:
            t, b = classifier.agreement(s.tuned_rate, s.base_rate)
            label = f"{name} {t:.1%}/{b:.1%}"
            for row in planning(replace(s, classifier=classifier), reviewed, runs, seed):
                print(f"  {label:37s} {row.reviewed:8d}  {_pm(row.half_width):>9s}  "
                      f"{row.coverage:8.3f}  {_pm(row.anytime_half_width):>8s}  "
                      f"{_pm(row.reviewed_half_width):>13s}")  # fmt: skip
                label = ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    _print_bias_scenario(args.runs, args.seed)
    _print_bias_null(args.runs, args.seed)
    _print_planning(max(1, args.runs // 2), args.seed)
    _print_real_drift(max(1, args.runs // 2), args.seed)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
