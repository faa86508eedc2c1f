"""Everything that happens after the client has its answer, wired together: the mirror, the
classification backlog, drift statistics, storage and metrics.

The request path touches this module twice, through `started` and `finished`, and each is a
hash or a non-blocking queue put. Full queues drop and count; nothing here can fail a request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from typing import Any

import httpx

from tunewatch.monitoring.analysis import Analysis, Item, LiveRow
from tunewatch.monitoring.audit import AuditSummary, BiasSettings, summarise
from tunewatch.monitoring.classifier_version import weights_version
from tunewatch.monitoring.drift import METRICS, DriftEngine, Labels
from tunewatch.monitoring.fleet import FleetReader
from tunewatch.monitoring.metrics import Children, Metrics
from tunewatch.monitoring.openai_text import follows_a_tool
from tunewatch.monitoring.store import AuditPair, Observation, Store
from tunewatch.proxy import http1
from tunewatch.proxy.config import Config
from tunewatch.proxy.forward import Exchange
from tunewatch.proxy.upstreams import ModelRoute
from tunewatch.proxy.watch.backlog import Backlog, Done, classify_loop
from tunewatch.proxy.watch.classifier_process import ClassifierProcess
from tunewatch.proxy.watch.identity import watch_identity
from tunewatch.proxy.watch.judge import judge_loop
from tunewatch.proxy.watch.mirror import MIRROR_HEADER, Mirror, MirrorJob, sampled

__all__ = ["CATEGORY_HEADER", "MIRROR_HEADER", "Monitor"]

log = logging.getLogger("tunewatch.monitor")

CATEGORY_HEADER = "x-tunewatch-category"
# Salted so the live classification sample is independent of the mirror sample.
_CLASSIFY_SALT = "classify:"
_PRUNE_EVERY = 300.0  # seconds between deletions of rows past store.retention
_AUDIT_EVERY = 15.0  # seconds between recomputations of the audit's corrected figures


class Monitor:
    def __init__(
        self,
        config: Config,
        routes: dict[str, ModelRoute],
        metrics: Metrics,
        engine: DriftEngine,
        store: Store | None,
        known_categories: list[str],
        rules: list[tuple[str, str]],
    ) -> None:
        self.config = config
        self.routes = routes
        self.metrics = metrics
        self.engine = engine
        self.store = store
        # With a shared store the engine holds the fleet's evidence, read back from the store
        # (`_fleet_loop`): adding this replica's pairs directly too would count them twice.
        self.fleet = (
            FleetReader(store, lambda: DriftEngine(engine.settings))
            if store is not None and store.shared
            else None
        )
        self.known_categories = set(known_categories)
        self.keep_text = config.store.keep_text
        self.classify_rate = config.monitor.classify_rate
        self.backlog = Backlog(config.monitor.queue_size, config.monitor.queue_bytes)
        self.mirror = Mirror(
            metrics,
            queue_size=config.monitor.mirror_queue_size,
            queue_bytes=config.monitor.queue_bytes,
            keep_text=self.keep_text != "none",
            audit_rate=config.audit.rate,
            enqueue=lambda item, done, nbytes: self._enqueue(item, done, nbytes, pair=True),
            on_pair=self._mirrored_pair,
        )
        self.classifier = ClassifierProcess(
            rules,
            store=store.location if store is not None else None,
            weights=config.classifier.weights,
            on_rows_lost=metrics.dropped.labels("store").inc,
            log_level=config.server.log_level,
            max_rows=config.monitor.store_queue_size,
            buffer_bytes=config.store.buffer_bytes,
        )
        self.classifier_version = weights_version(config.classifier.weights)
        self.bias_settings = BiasSettings(alpha=config.drift.alpha)
        self.audit = AuditSummary({}, {}, {}, 0)  # human reviews
        self.judged = AuditSummary({}, {}, {}, 0)  # the judge's labels, kept apart
        self._tasks: list[asyncio.Task[None]] = []
        self._responses = Children(metrics.responses)
        self._unlabelled = Children(metrics.unlabelled)
        self._audited = Children(metrics.audit_pairs)
        metrics.watch_drift(engine, "fleet" if self.fleet is not None else "replica")
        metrics.watch_audit(lambda: self.audit)

    # -- the request path: O(1), never blocks, never raises ------------------------------
    def started(self, exchange: Exchange) -> None:
        """The tuned model is answering: decide whether to mirror, and queue the copy."""
        if follows_a_tool(exchange.request):  # an agent's follow-up round: seen once already
            return
        exchange.ticket = self.mirror.offer(exchange, self._category(exchange))

    def finished(self, exchange: Exchange) -> None:
        """The client has its answer: queue it for classification."""
        job: MirrorJob | None = exchange.ticket
        if not exchange.complete:  # failed or abandoned: nothing to classify, nothing to pair
            if job is not None and not job.tuned.done():
                job.tuned.set_result(None)
            return
        if job is None and follows_a_tool(exchange.request):
            return
        if (
            job is None
            and self.classify_rate < 1.0
            and not sampled(_CLASSIFY_SALT + exchange.request_id, self.classify_rate)
        ):
            return
        model = exchange.route.name
        item = Item(
            request=exchange.request,
            response=exchange.response,
            chunks=tuple(exchange.chunks),
            category=self._category(exchange),
            keep_text=self.keep_text == "all"
            or (job is not None and (self.keep_text == "divergent" or job.audited)),
            live=LiveRow(model, exchange.request_id, self.keep_text == "all")
            if self.store is not None
            else None,
        )

        def done(analysis: Analysis | None) -> None:
            if analysis is not None:
                self._record_live(model, analysis)
            if job is not None and not job.tuned.done():
                job.tuned.set_result(analysis)

        self._enqueue(
            item, done, exchange.request_bytes + exchange.answer_bytes, pair=job is not None
        )

    def _category(self, exchange: Exchange) -> str | None:
        named = exchange.headers.get(CATEGORY_HEADER)
        return named if named in self.known_categories else None

    def _enqueue(self, item: Item, done: Done, nbytes: int, *, pair: bool) -> None:
        if not self.backlog.put((item, done), nbytes, pair=pair):
            self.metrics.dropped.labels("classify").inc()
            done(None)

    # -- background work -----------------------------------------------------------------
    async def start(self, upstreams: httpx.AsyncClient, client: http1.Client) -> None:
        """`upstreams` reads model listings; `client` carries the mirror's base calls."""
        await self.classifier.start()
        loops = [
            classify_loop(self.backlog, self.analyse),
            self._gauges(),
            watch_identity(
                self.routes, upstreams, self.store, self.reset, self.config.drift.check_identity
            ),
            *(self.mirror.worker(client) for _ in range(self.config.monitor.mirror_concurrency)),
        ]
        if self.fleet is not None:
            loops.append(self._fleet_loop(self.fleet))
        if self.store is not None:
            loops.append(self._audit_loop())
            loops.append(self._retention(self.store))
            judge = self.config.audit.judge
            # On a shared store the audited pairs are the fleet's: one process asks the judge,
            # the one that runs the probes, rather than every replica asking about every pair.
            if judge is not None and (not self.store.shared or self.config.probes.enabled):
                loops.append(judge_loop(judge, self.store, self.metrics, upstreams))
        self._tasks = [asyncio.create_task(loop) for loop in loops]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.classifier.stop()
        if self.store is not None:
            self.store.close()

    async def analyse(self, items: list[Item]) -> list[Analysis]:
        """Classify items in the worker process (used by probes, which can wait)."""
        return await self.classifier.analyse(items)

    async def _gauges(self) -> None:
        while True:
            self.metrics.queue_depth.labels("classify").set(len(self.backlog))
            self.metrics.queue_depth.labels("mirror").set(self.mirror.queue.qsize())
            self.metrics.queue_depth.labels("store").set(self.classifier.pending_rows)
            _, buffered, up = self.classifier.store_state
            self.metrics.store_buffered_bytes.set(buffered)
            self.metrics.store_up.set(int(up))
            await asyncio.sleep(1.0)

    async def _retention(self, store: Store) -> None:
        while True:
            try:
                await asyncio.to_thread(store.prune)
            except store.backend.errors:
                log.exception("store retention prune failed")
            await asyncio.sleep(_PRUNE_EVERY)

    async def _audit_loop(self) -> None:
        assert self.store is not None
        errors = self.store.backend.errors
        while True:
            try:
                await self.refresh_audit()
            except errors:
                log.exception("reading the audit's reviews failed")
            await asyncio.sleep(_AUDIT_EVERY)

    async def read_fleet(self) -> int:
        """Bring the engine up to the shared store's evidence; returns the rows read. The rows
        are read and counted in a thread, and merged here in time proportional to the series,
        so the event loop never walks them."""
        assert self.fleet is not None
        whole, read, rows = await asyncio.to_thread(self.fleet.read)
        if whole:
            self.engine.adopt(read)
        else:
            self.engine.merge(read)
        return rows

    async def _fleet_loop(self, fleet: FleetReader) -> None:
        errors = fleet.store.backend.errors  # unreachable ones among them
        failing = False
        while True:
            await asyncio.sleep(self.config.store.fleet_refresh)
            try:
                await self.read_fleet()
            except errors as exc:  # the next read covers what this one missed
                if not failing:
                    log.error(
                        "reading the fleet's evidence failed", extra={"error": type(exc).__name__}
                    )
                failing = True
            else:
                failing = False

    async def refresh_audit(self) -> None:
        """Recompute the corrected drift and the labeller-bias tests from the stored reviews
        (also called after a review is stored, so the page and /drift agree at once)."""
        if self.store is None:
            return
        human = await asyncio.to_thread(self.store.reviewed_pairs, "human")
        judged = await asyncio.to_thread(self.store.reviewed_pairs, "judge")
        self.audit = summarise(self.engine, human, self.classifier_version, self.bias_settings)
        judge = self.config.audit.judge
        # a guard model says only whether an answer refused: its caution is no label
        metrics = ("refusal",) if judge is not None and judge.style == "guard" else METRICS
        self.judged = summarise(
            self.engine, judged, self.classifier_version, self.bias_settings, metrics
        )

    async def adopt_classifier(self) -> None:
        """Start new evidence when the classifier changed since the store was last written:
        evidence from two classifier versions is never mixed in one test."""
        store = self.store
        if store is None:
            return
        previous = await asyncio.to_thread(store.get_meta, "classifier")
        if previous == self.classifier_version:
            return
        earlier = await asyncio.to_thread(store.observations, limit=1)
        if previous is not None or earlier:
            log.warning(
                "the classifier changed (%s -> %s): drift evidence starts again",
                previous or "unknown", self.classifier_version,
            )  # fmt: skip
            for name in self.routes:
                self.metrics.resets.labels(name, "classifier").inc()
                await asyncio.to_thread(store.add_reset, name, "classifier")
        await asyncio.to_thread(store.set_meta, "classifier", self.classifier_version)

    async def reset(self, model: str | None, reason: str) -> list[str]:
        """Forget a model's drift evidence (all models when None), durably."""
        models = [model] if model is not None else list(self.routes)
        for name in models:
            self.engine.reset(name)  # at once here; the other replicas on their next read
            self.metrics.resets.labels(name, reason).inc()
            if self.store is not None:
                await asyncio.to_thread(self.store.add_reset, name, reason)
        return models

    # -- recording -----------------------------------------------------------------------
    def _record_live(self, model: str, analysis: Analysis) -> None:
        """The row is already stored: the classifier process wrote it (`LiveRow`)."""
        if not analysis.labelled:
            self._unlabelled(model, "tuned", "live", analysis.unlabelled or "empty").inc()
            return
        labels = analysis.labels
        if self.fleet is None:
            self.engine.add_single(model, "live", analysis.category, "tuned", labels)
        self._count(model, "tuned", "live", analysis.category, labels)

    def _mirrored_pair(self, job: MirrorJob, tuned: Analysis, base: Analysis) -> bool:
        return self.record_pair(
            job.route.name,
            "mirror",
            tuned.category,
            tuned,
            base,
            request_id=job.request_id,
            audited=job.audited,
        )

    def _count(self, model: str, role: str, source: str, category: str, labels: Labels) -> None:
        self._responses(model, role, source, category, labels.refusal, _bool(labels.caution)).inc()

    def record_pair(
        self,
        model: str,
        source: str,
        category: str,
        tuned: Analysis,
        base: Analysis,
        *,
        request_id: str | None = None,
        pack: str | None = None,
        probe: str | None = None,
        expect: str | None = None,
        audited: bool = False,
    ) -> bool:
        """One prompt answered by both models: the unit of evidence for drift. False when a
        side had nothing to label (a tool call, an empty answer): that is no pair. An
        `audited` pair (drawn before the answers came, so the draw is uniform over pairs)
        is also kept whole for review."""
        if not (tuned.labelled and base.labelled):
            for role, analysis in (("tuned", tuned), ("base", base)):
                if not analysis.labelled:
                    self._unlabelled(model, role, source, analysis.unlabelled or "empty").inc()
            return False
        if self.fleet is None:
            self.engine.add_pair(model, source, category, tuned.labels, base.labels)
        self._count(model, "tuned", source, category, tuned.labels)
        self._count(model, "base", source, category, base.labels)
        if self.store is None:
            return True
        keep = self.keep_text == "all" or (
            self.keep_text == "divergent" and tuned.labels != base.labels
        )
        pair_id = uuid.uuid4().hex
        extra: dict[str, Any] = {
            "pair_id": pair_id, "request_id": request_id, "pack": pack, "probe": probe,
            "expect": expect, "category": category, "keep": keep,
        }  # fmt: skip
        rows: list[Observation | AuditPair] = [
            tuned.observation(model, source, "tuned", **extra),
            base.observation(model, source, "base", **extra),
        ]
        if audited:
            self._audited(model, source).inc()
            rows.append(
                AuditPair(
                    pair_id,
                    time.time(),
                    model,
                    source,
                    category,
                    tuned.prompt,
                    tuned.response,
                    base.response,
                    tuned.labels,
                    base.labels,
                    swap=random.random() < 0.5,
                    sort_key=random.random(),
                )
            )
        self.classifier.write(*rows)
        return True


def _bool(value: bool) -> str:
    return "true" if value else "false"
