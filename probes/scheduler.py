"""The probe scheduler that `serve` runs (once per fleet: switch it off on other replicas).

Every pack runs on its interval, with jitter so replicas restarted together don't probe in
lock-step, against every configured model that has a base. Files are rescanned every few
seconds, so dropped-in packs start without a restart.

Every loaded pack's series exist from the moment it is loaded, so alerts see a pack that never
succeeds: its round counters at zero for each model and outcome, and its last-success timestamp
set to when it was loaded. `TunewatchProbesStale` (time since the last success over twice the
interval) then fires for a pack whose first rounds never succeed, as for one that stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from prometheus_client import Gauge

from tunewatch.monitoring.metrics import Metrics
from tunewatch.probes.pack import Pack
from tunewatch.probes.registry import PackRegistry, ReloadOutcome
from tunewatch.probes.runner import Analyse, ProbeResult, RoundStats, Target, run_round

log = logging.getLogger("tunewatch.probes")

OUTCOMES = ("success", "failure")  # tunewatch_probe_runs_total's outcome label


@dataclass(frozen=True, slots=True)
class ModelPair:
    name: str
    tuned: Target
    base: Target


@dataclass(frozen=True, slots=True)
class ScheduleSettings:
    interval: float  # seconds, unless a pack sets its own
    samples: int
    concurrency: int
    jitter: float  # share of the interval
    rescan: float = 5.0
    keep_text: bool = False
    audit_rate: float = 0.0


class Scheduler:
    def __init__(
        self,
        registry: PackRegistry,
        models: list[ModelPair],
        settings: ScheduleSettings,
        metrics: Metrics,
        analyse: Analyse,
        record: Callable[[str, ProbeResult], None],
        rng: random.Random | None = None,
    ) -> None:
        self.registry = registry
        self.models = models
        self.settings = settings
        self.metrics = metrics
        self.analyse = analyse
        self.record = record
        self.rng = rng or random.Random()
        self._due: dict[str, float] = {}
        self._series: set[str] = set()  # packs whose metric series exist
        self.last_rounds: dict[tuple[str, str], dict[str, object]] = {}

    def interval(self, pack: Pack) -> float:
        if "interval" in pack.defaults.model_fields_set:
            return pack.defaults.interval.total_seconds()
        return self.settings.interval

    def reload(self) -> ReloadOutcome:
        outcome = self.registry.reload()
        if outcome.errors:
            self.metrics.pack_errors.inc(len({e.split(":", 1)[0] for e in outcome.errors}))
        packs = self.registry.packs
        self.metrics.packs_loaded.set(len(packs))
        for pid in outcome.removed:
            self._due.pop(pid, None)
        for pid in outcome.added + outcome.changed:
            self._due[pid] = time.monotonic()  # new or changed packs run at once
        for pid, pack in packs.items():
            self.metrics.probe_interval.labels(pid).set(self.interval(pack))
        self._track_series(packs)
        return outcome

    def _track_series(self, packs: dict[str, Pack]) -> None:
        """Series for newly loaded packs, at zero and "last succeeded when loaded"; the gauges
        of packs gone from disk removed, so a deleted pack does not read as stale forever."""
        now = time.time()
        for pid in packs.keys() - self._series:
            for model in self.models:
                for outcome in OUTCOMES:
                    self.metrics.probe_runs.labels(pid, model.name, outcome)
                self.metrics.probe_last_success.labels(pid, model.name).set(now)
        for pid in self._series - packs.keys():
            for model in self.models:
                _remove(self.metrics.probe_last_success, pid, model.name)
            _remove(self.metrics.probe_interval, pid)
        self._series = set(packs)

    async def run(self, client: httpx.AsyncClient) -> None:
        running: set[asyncio.Task[None]] = set()
        try:
            await self._schedule(client, running)
        finally:  # stopped (shutdown, or a test standing in for a crash): no round outlives it
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _schedule(self, client: httpx.AsyncClient, running: set[asyncio.Task[None]]) -> None:
        next_scan = 0.0
        while True:
            now = time.monotonic()
            if now >= next_scan:
                try:
                    self.reload()
                except Exception:
                    log.exception("probe pack rescan failed")
                next_scan = now + self.settings.rescan
            for pid, pack in self.registry.packs.items():
                due = self._due.setdefault(pid, now)
                if due > now or any(t.get_name() == pid for t in running):
                    continue
                spread = self.interval(pack) * self.settings.jitter
                self._due[pid] = now + self.interval(pack) + self.rng.uniform(-spread, spread)
                task = asyncio.create_task(self.run_pack(client, pack), name=pid)
                running.add(task)
                task.add_done_callback(running.discard)
            await asyncio.sleep(0.5)

    async def run_pack(self, client: httpx.AsyncClient, pack: Pack) -> None:
        for model in self.models:
            try:
                stats = await self._round(client, pack, model)
            except Exception:
                log.exception("probe round failed", extra={"pack": pack.id, "model": model.name})
                stats = RoundStats()
            outcome = "success" if stats.ok else "failure"
            self.metrics.probe_runs.labels(pack.id, model.name, outcome).inc()
            if stats.ok:
                self.metrics.probe_last_success.labels(pack.id, model.name).set(time.time())
            self.last_rounds[(pack.id, model.name)] = {
                "pack": pack.id, "version": pack.version, "model": model.name,
                "finished": time.time(), "outcome": outcome, "requests": stats.sent,
                "failed": stats.failed, "pairs": len(stats.results),
                "unlabelled": stats.unlabelled,
                "tuned_passed": sum(r.passed("tuned") for r in stats.results),
                "base_passed": sum(r.passed("base") for r in stats.results),
            }  # fmt: skip

    async def _round(self, client: httpx.AsyncClient, pack: Pack, model: ModelPair) -> RoundStats:
        def on_result(result: ProbeResult) -> None:
            for role in ("tuned", "base"):
                self.metrics.probe_expectations.labels(
                    pack.id, model.name, result.probe.category, role,
                    "pass" if result.passed(role) else "fail",
                ).inc()  # fmt: skip
            self.record(model.name, result)

        return await run_round(
            client, pack, model.tuned, model.base, self.analyse,
            concurrency=self.settings.concurrency, default_samples=self.settings.samples,
            keep_text=self.settings.keep_text, audit_rate=self.settings.audit_rate,
            on_result=on_result,
        )  # fmt: skip


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # never created
        gauge.remove(*labels)
