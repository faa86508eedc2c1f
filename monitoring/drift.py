"""The drift engine: paired tables per model, source, category and metric, since the last reset
and over a recent sliding window, with rates, differences, intervals and the sequential test.

Pure arithmetic on counters, no I/O: the proxy feeds it classified answers off the request
path, the store replays into it on restart, and the metrics collector reads it at scrape time.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from tunewatch.monitoring.stats import (
    PairedTable,
    alarm_threshold,
    log_evalue,
    mixture_rho,
    paired_difference,
    wilson,
)
from tunewatch.monitoring.wire import fast_pickle

Metric = Literal["refusal", "caution"]
METRICS: tuple[Metric, ...] = ("refusal", "caution")
Key = tuple[str, str, str, str]  # model, source, category, metric
_WINDOW_BUCKETS = 30


@fast_pickle
@dataclass(frozen=True, slots=True)
class Labels:
    """What the classifier said about one answer, reduced to the drift metrics."""

    refusal: str  # none | partial | full
    caution: bool

    def positive(self, metric: Metric) -> bool:
        return self.refusal != "none" if metric == "refusal" else self.caution


@dataclass(slots=True)
class _Single:
    positive: int = 0
    n: int = 0


@dataclass(slots=True)
class _Series:
    """One key's evidence: paired since reset, per-role singles, and windowed buckets."""

    paired: PairedTable = field(default_factory=PairedTable)
    tuned: _Single = field(default_factory=_Single)
    base: _Single = field(default_factory=_Single)
    buckets: deque[tuple[int, PairedTable]] = field(default_factory=deque)

    def bucket(self, index: int) -> PairedTable:
        """The bucket of time slot `index`, kept in slot order (`window` expires from the
        front): live pairs arrive in order, restored and merged ones need not."""
        if not self.buckets or self.buckets[-1][0] < index:
            self.buckets.append((index, PairedTable()))
            return self.buckets[-1][1]
        for position in range(len(self.buckets) - 1, -1, -1):
            held, table = self.buckets[position]
            if held == index:
                return table
            if held < index:
                break
        else:
            position = -1
        table = PairedTable()
        self.buckets.insert(position + 1, (index, table))
        return table

    def window(self, oldest: int) -> PairedTable:
        while self.buckets and self.buckets[0][0] < oldest:
            self.buckets.popleft()
        total = PairedTable()
        for _, table in self.buckets:
            total.merge(table)
        return total


@dataclass(frozen=True, slots=True)
class DriftSettings:
    alpha: float = 0.01
    family_size: int = 38  # category x metric tests per model and source
    target_pairs: int = 100  # discordant pairs where the test is most sensitive
    window_seconds: float = 3600.0

    @property
    def rho(self) -> float:
        return mixture_rho(self.target_pairs, self.alpha / self.family_size)

    @property
    def threshold(self) -> float:
        return alarm_threshold(self.alpha, self.family_size)


class DriftEngine:
    def __init__(self, settings: DriftSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self._series: dict[Key, _Series] = {}
        self._bucket_seconds = settings.window_seconds / _WINDOW_BUCKETS
        self.resets: dict[str, float] = {}

    def _get(self, key: Key) -> _Series:
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series()
        return series

    def add_pair(
        self,
        model: str,
        source: str,
        category: str,
        tuned: Labels,
        base: Labels,
        ts: float | None = None,
    ) -> None:
        index = int((ts if ts is not None else self.clock()) // self._bucket_seconds)
        for metric in METRICS:
            t, b = tuned.positive(metric), base.positive(metric)
            series = self._get((model, source, category, metric))
            series.paired.add(t, b)
            series.bucket(index).add(t, b)
            _count(series.tuned, t)
            _count(series.base, b)

    def add_single(self, model: str, source: str, category: str, role: str, labels: Labels) -> None:
        """An answer without a partner (live traffic): rates, no difference."""
        for metric in METRICS:
            series = self._get((model, source, category, metric))
            _count(series.tuned if role == "tuned" else series.base, labels.positive(metric))

    def restore(
        self, key: Key, table: PairedTable, tuned: tuple[int, int], base: tuple[int, int]
    ) -> None:
        """Load since-reset totals rebuilt from the store (a restart loses nothing)."""
        series = self._get(key)
        series.paired.merge(table)
        series.tuned.positive += tuned[0]
        series.tuned.n += tuned[1]
        series.base.positive += base[0]
        series.base.n += base[1]

    def restore_window(self, key: Key, ts: float, tuned: bool, base: bool) -> None:
        self._get(key).bucket(int(ts // self._bucket_seconds)).add(tuned, base)

    def merge(self, other: DriftEngine) -> None:
        """Add another engine's evidence to this one: a fleet reader builds each increment off
        the event loop and merges it here in time proportional to the series, not the rows."""
        for key, theirs in other._series.items():
            mine = self._get(key)
            mine.paired.merge(theirs.paired)
            for own, add in ((mine.tuned, theirs.tuned), (mine.base, theirs.base)):
                own.positive += add.positive
                own.n += add.n
            for index, table in theirs.buckets:
                mine.bucket(index).merge(table)

    def adopt(self, other: DriftEngine) -> None:
        """Take another engine's evidence and resets in place of this one's (a full re-read)."""
        self._series = other._series
        self.resets = other.resets

    def reset(self, model: str | None = None) -> list[str]:
        """Forget the evidence for one model (or all): its tuned or base model changed."""
        models = {k[0] for k in self._series} if model is None else {model}
        for key in [k for k in self._series if k[0] in models]:
            del self._series[key]
        now = self.clock()
        for name in models:
            self.resets[name] = now
        return sorted(models)

    def table(self, key: Key) -> PairedTable:
        """A series' paired counts since reset (a copy; empty for an unknown series)."""
        series = self._series.get(key)
        total = PairedTable()
        if series is not None:
            total.merge(series.paired)
        return total

    def series_keys(self) -> list[Key]:
        return sorted(self._series)

    def summary(self, key: Key) -> dict[str, Any]:
        """Everything known about one series, in plain numbers (JSON- and metrics-ready)."""
        series = self._series[key]
        s = self.settings
        paired = series.paired
        oldest = int(self.clock() // self._bucket_seconds) - _WINDOW_BUCKETS + 1
        window = series.window(oldest)
        log_e = log_evalue(paired.tuned_only, paired.base_only, s.rho)
        out: dict[str, Any] = {
            "model": key[0],
            "source": key[1],
            "category": key[2],
            "metric": key[3],
            "tuned": _rate(series.tuned),
            "base": _rate(series.base),
            "pairs": {
                "both": paired.both,
                "tuned_only": paired.tuned_only,
                "base_only": paired.base_only,
                "neither": paired.neither,
            },
            "log_evalue": log_e,
            "threshold": s.threshold,
            "alarm": log_e >= s.threshold,
        }
        if paired.n:
            diff, lo, hi = paired_difference(paired)
            out["drift"] = {"estimate": diff, "lower": lo, "upper": hi, "n": paired.n}
        if window.n:
            diff, lo, hi = paired_difference(window)
            out["window"] = {
                "seconds": s.window_seconds,
                "estimate": diff,
                "lower": lo,
                "upper": hi,
                "n": window.n,
            }
        return out

    def summaries(self) -> list[dict[str, Any]]:
        return [self.summary(k) for k in self.series_keys()]


def _count(single: _Single, positive: bool) -> None:
    single.n += 1
    single.positive += positive


def _rate(single: _Single) -> dict[str, float | int]:
    lo, hi = wilson(single.positive, single.n)
    rate = single.positive / single.n if single.n else math.nan
    return {"rate": rate, "lower": lo, "upper": hi, "n": single.n, "positive": single.positive}


def keys_for(model: str, source: str, categories: Iterable[str]) -> list[Key]:
    return [(model, source, c, m) for c in categories for m in METRICS]
