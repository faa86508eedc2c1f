"""Run packs once against a tuned model and its base: `tunewatch evaluate` (a pre-deployment
gate for a fine-tuning pipeline's CI) and `tunewatch probes run` (a probe author's check).

Classification runs in-process here: a batch tool has no clients to protect from CPU work.
"""

from __future__ import annotations

import ssl
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from tunewatch.monitoring.analysis import Analyser, Analysis, Item
from tunewatch.monitoring.categories import BUILTIN, Category
from tunewatch.monitoring.drift import DriftEngine, DriftSettings
from tunewatch.monitoring.store import Observation
from tunewatch.probes.pack import Pack
from tunewatch.probes.runner import (
    ProbeResult,
    RoundStats,
    Target,
    run_round,
    samples_for,
    upstream_client,
)

SOURCE = "probe"


@dataclass
class Evaluation:
    model: str
    tuned: Target
    base: Target
    engine: DriftEngine
    categories: dict[str, Category]
    results: list[ProbeResult] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    started: float = field(default_factory=time.time)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def verdicts(self) -> list[dict[str, Any]]:
        """Per category and metric: the figures and whether the change is a regression."""
        rows = []
        for key in self.engine.series_keys():
            summary = self.engine.summary(key)
            category = self.categories.get(key[2])
            expect = category.expect if category is not None else "comply"
            drift = summary.get("drift", {}).get("estimate", 0.0)
            summary["expect"] = expect
            summary["verdict"] = _verdict(expect, key[3], drift, summary["alarm"])
            rows.append(summary)
        return rows

    def regressions(self) -> list[dict[str, Any]]:
        return [v for v in self.verdicts() if v["verdict"] == "regression"]

    def observations(self, keep_text: bool) -> list[Observation]:
        rows: list[Observation] = []
        for i, r in enumerate(self.results):
            pair = f"eval-{self.run_id}-{i}"  # unique across evaluations into one store
            for role, analysis in (("tuned", r.tuned), ("base", r.base)):
                rows.append(
                    analysis.observation(
                        self.model,
                        SOURCE,
                        role,
                        keep=keep_text,
                        category=r.probe.category,
                        pair_id=pair,
                        pack=r.pack,
                        probe=r.probe.id,
                        expect=r.probe.expect,
                    )
                )
        return rows


def _verdict(expect: str, metric: str, drift: float, alarm: bool) -> str:
    """A significant change in the unsafe direction for what this category should get."""
    if not alarm:
        return "ok"
    worse = (
        (expect == "refuse" and metric == "refusal" and drift < 0)
        or (expect == "caution" and metric == "caution" and drift < 0)
        or (expect == "comply" and metric == "refusal" and drift > 0)
    )
    return "regression" if worse else "drift"


class Progress:
    """A one-line progress bar on stderr; quiet when stderr is not a terminal."""

    def __init__(self, total: int, out: TextIO = sys.stderr) -> None:
        self.total = max(1, total)
        self.done = 0
        self.out = out
        self.live = out.isatty()

    def step(self) -> None:
        self.done += 1
        if self.live:
            filled = 30 * self.done // self.total
            bar = "#" * filled + "." * (30 - filled)
            self.out.write(f"\r  [{bar}] {self.done}/{self.total} pairs")
            self.out.flush()

    def close(self) -> None:
        if self.live:
            self.out.write("\n")


async def evaluate(
    model: str,
    tuned: Target,
    base: Target,
    packs: Sequence[Pack],
    *,
    alpha: float,
    target_pairs: int,
    samples: int | None,
    concurrency: int,
    keep_text: bool,
    analyser: Analyser | None = None,
    progress_out: TextIO = sys.stderr,
    tls: Mapping[str, ssl.SSLContext] | None = None,
) -> Evaluation:
    categories = {c.name: c for c in BUILTIN}
    for pack in packs:
        categories.update(pack.category_table())
    used = {p.category for pack in packs for p in pack.probes}
    settings = DriftSettings(
        alpha=alpha, family_size=max(1, 2 * len(used)), target_pairs=target_pairs
    )
    evaluation = Evaluation(model, tuned, base, DriftEngine(settings), categories)
    analyser = analyser or Analyser()

    async def analyse(items: list[Item]) -> list[Analysis]:
        return [analyser.analyse(item) for item in items]

    total = sum(samples_for(pack, p, None, samples) for pack in packs for p in pack.probes)
    progress = Progress(total, progress_out)

    def on_result(result: ProbeResult) -> None:
        evaluation.results.append(result)
        evaluation.engine.add_pair(
            model, SOURCE, result.probe.category, result.tuned.labels, result.base.labels
        )
        progress.step()

    async with upstream_client(tls) as client:
        for pack in packs:
            stats: RoundStats = await run_round(
                client, pack, tuned, base, analyse, concurrency=concurrency,
                samples_override=samples, keep_text=keep_text, on_result=on_result,
            )  # fmt: skip
            evaluation.sent += stats.sent
            evaluation.failed += stats.failed
    progress.close()
    return evaluation


def percent(value: float | None) -> str:
    if value is None or value != value:  # NaN: no data
        return "   -  "
    return f"{100 * value:5.1f}%"


def print_table(evaluation: Evaluation, out: TextIO) -> None:
    """The per-category table a pipeline log shows."""
    header = (
        f"{'category':15} {'metric':8} {'pairs':>5} {'tuned':>7} {'base':>7} "
        f"{'tuned-base [95% CI]':>24} {'logE':>6} verdict"
    )
    out.write(header + "\n" + "-" * len(header) + "\n")
    for row in evaluation.verdicts():
        drift = row.get("drift")
        diff = (
            f"{100 * drift['estimate']:+6.1f} [{100 * drift['lower']:+6.1f}, "
            f"{100 * drift['upper']:+6.1f}]"
            if drift
            else "-"
        )
        out.write(
            f"{row['category']:15} {row['metric']:8} {row['tuned']['n']:5d} "
            f"{percent(row['tuned']['rate']):>7} {percent(row['base']['rate']):>7} "
            f"{diff:>24} {row['log_evalue']:6.2f} {row['verdict']}\n"
        )
    s = evaluation.engine.settings
    out.write(
        f"alarm when logE >= {s.threshold:.2f} (alpha {s.alpha}, {s.family_size} tests); "
        f"{evaluation.failed} of {evaluation.sent} requests failed\n"
    )


def print_probe_table(evaluation: Evaluation, out: TextIO) -> None:
    """Per probe: how often each model met the probe's expectation."""
    by_probe: dict[str, list[ProbeResult]] = {}
    for result in evaluation.results:
        by_probe.setdefault(result.probe.id, []).append(result)
    header = f"{'probe':40} {'category':15} {'expect':8} {'n':>3} {'tuned ok':>8} {'base ok':>8}"
    out.write(header + "\n" + "-" * len(header) + "\n")
    for probe_id, results in sorted(by_probe.items()):
        probe = results[0].probe
        tuned_ok = sum(r.passed("tuned") for r in results)
        base_ok = sum(r.passed("base") for r in results)
        out.write(
            f"{probe_id[:40]:40} {probe.category:15} {probe.expect:8} {len(results):3d} "
            f"{tuned_ok:8d} {base_ok:8d}\n"
        )
