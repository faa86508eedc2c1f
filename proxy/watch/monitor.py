"""Everything that happens after the client has its answer: mirroring to the base model,
classification in a worker process, drift statistics, storage and metrics.

The request path touches this module twice, through `started` and `finished`, and each is a
hash or a non-blocking queue put. Full queues drop and count; nothing here can fail a request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from tunewatch.monitoring.analysis import Analysis, Item, LiveRow
from tunewatch.monitoring.drift import DriftEngine, Labels
from tunewatch.monitoring.metrics import Children, Metrics
from tunewatch.monitoring.store import Store
from tunewatch.proxy import http1
from tunewatch.proxy.config import Config
from tunewatch.proxy.forward import Exchange
from tunewatch.proxy.upstreams import ModelRoute, served_entry
from tunewatch.proxy.watch.classifier_process import ClassifierProcess

log = logging.getLogger("tunewatch.monitor")

MIRROR_HEADER = "x-tunewatch-mirror"
CATEGORY_HEADER = "x-tunewatch-category"
_BATCH = 64


# Salted so the live classification sample is independent of the mirror sample.
_CLASSIFY_SALT = "classify:"
_PRUNE_EVERY = 300.0  # seconds between deletions of rows past store.retention


def sampled(request_id: str, rate: float) -> bool:
    """Deterministic per request id, so retries and replicas agree on what was mirrored."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    digest = hashlib.blake2b(request_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < rate * 2**64


@dataclass
class MirrorJob:
    route: ModelRoute
    endpoint: str
    request_id: str
    request: dict[str, Any]
    category: str | None
    nbytes: int  # the request's size on the wire, held while the job waits
    tuned: asyncio.Future[Analysis | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


Pending = tuple[Item, Callable[[Analysis | None], None]]


class Backlog:
    """Answers waiting for the classifier: mirrored pairs' answers first, then live singles.

    A pair is the unit of drift evidence and costs a base-model call, so under overload the
    singles wait and drop, not the pairs. Each side is bounded in answers and in bytes (the
    request and answer as they crossed the wire: one long-context request weighs as much as a
    thousand short ones); `put` never blocks.
    """

    def __init__(self, size: int, max_bytes: int) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._pairs = _Side()
        self._singles = _Side()
        self._ready = asyncio.Event()

    def put(self, pending: Pending, nbytes: int, *, pair: bool) -> bool:
        side = self._pairs if pair else self._singles
        if len(side.items) >= self.size or side.nbytes + nbytes > self.max_bytes:
            return False
        side.items.append((pending, nbytes))
        side.nbytes += nbytes
        self._ready.set()
        return True

    def __len__(self) -> int:
        return len(self._pairs.items) + len(self._singles.items)

    @property
    def nbytes(self) -> int:
        return self._pairs.nbytes + self._singles.nbytes

    async def wait(self) -> None:
        while not self:
            self._ready.clear()
            await self._ready.wait()

    def take(self, n: int) -> list[Pending]:
        out: list[Pending] = []
        for side in (self._pairs, self._singles):
            while side.items and len(out) < n:
                pending, nbytes = side.items.popleft()
                side.nbytes -= nbytes
                out.append(pending)
        return out


@dataclass
class _Side:
    items: deque[tuple[Pending, int]] = field(default_factory=deque)
    nbytes: int = 0


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
        self.known_categories = set(known_categories)
        self.keep_text = config.store.keep_text
        self.classify_rate = config.monitor.classify_rate
        self.queue_bytes = config.monitor.queue_bytes
        self.backlog = Backlog(config.monitor.queue_size, self.queue_bytes)
        self.mirror_bytes = 0  # held by the jobs in `mirror_queue`
        self.mirror_queue: asyncio.Queue[MirrorJob] = asyncio.Queue(
            config.monitor.mirror_queue_size
        )
        self.session: aiohttp.ClientSession | None = None
        self.client: http1.Client | None = None
        self.classifier = ClassifierProcess(
            rules,
            store=store.path if store is not None else None,
            on_rows_lost=metrics.dropped.labels("store").inc,
            log_level=config.server.log_level,
            max_rows=config.monitor.store_queue_size,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._responses = Children(metrics.responses)
        self._mirrored = Children(metrics.mirror)
        metrics.watch_drift(engine)

    # -- the request path: O(1), never blocks, never raises ------------------------------
    def started(self, exchange: Exchange) -> None:
        """The tuned model is answering: decide whether to mirror, and queue the copy."""
        route = exchange.route
        base = route.config.base
        if base is None or exchange.endpoint == "embeddings":
            return
        if exchange.headers.get(MIRROR_HEADER, "").lower() == "off":
            return
        if not sampled(exchange.request_id, route.config.mirror.rate):
            return
        self._mirrored(route.name, "sampled").inc()
        job = MirrorJob(
            route,
            exchange.endpoint,
            exchange.request_id,
            exchange.request,
            self._category(exchange),
            exchange.request_bytes,
        )
        if self.mirror_queue.full() or self.mirror_bytes + job.nbytes > self.queue_bytes:
            self._mirrored(route.name, "dropped").inc()
            self.metrics.dropped.labels("mirror").inc()
            return
        self.mirror_queue.put_nowait(job)
        self.mirror_bytes += job.nbytes
        exchange.ticket = job

    def finished(self, exchange: Exchange) -> None:
        """The client has its answer: queue it for classification."""
        job: MirrorJob | None = exchange.ticket
        if not exchange.complete:  # failed or abandoned: nothing to classify, nothing to pair
            if job is not None and not job.tuned.done():
                job.tuned.set_result(None)
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
            or (self.keep_text == "divergent" and job is not None),
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

    def _enqueue(
        self, item: Item, done: Callable[[Analysis | None], None], nbytes: int, *, pair: bool
    ) -> None:
        if not self.backlog.put((item, done), nbytes, pair=pair):
            self.metrics.dropped.labels("classify").inc()
            done(None)

    # -- background work -----------------------------------------------------------------
    async def start(self, session: aiohttp.ClientSession, client: http1.Client) -> None:
        self.session = session
        self.client = client
        await self.classifier.start()
        if self.store is not None and self.store.retention_seconds:
            self._tasks.append(asyncio.create_task(self._retention_worker(), name="tw-retention"))
        self._tasks.append(asyncio.create_task(self._classify_worker(), name="tw-classify"))
        self._tasks += [
            asyncio.create_task(self._mirror_worker(), name=f"tw-mirror-{i}")
            for i in range(self.config.monitor.mirror_concurrency)
        ]
        self._tasks.append(asyncio.create_task(self._gauge_worker(), name="tw-gauges"))
        self._tasks.append(asyncio.create_task(self._identity_worker(), name="tw-identity"))

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

    async def _classify_worker(self) -> None:
        while True:
            await self.backlog.wait()
            if len(self.backlog) < _BATCH:
                # Gather a batch: one pipe round trip per answer would cost the request path
                # more CPU than the wait costs the monitoring.
                await asyncio.sleep(0.02)
            batch = self.backlog.take(_BATCH)
            try:
                results: list[Analysis | None] = list(await self.analyse([i for i, _ in batch]))
            except Exception:
                log.exception("classification failed for a batch of %d", len(batch))
                results = [None] * len(batch)
            for (_, done), analysis in zip(batch, results, strict=True):
                try:
                    done(analysis)
                except Exception:
                    log.exception("recording a classified answer failed")

    async def _mirror_worker(self) -> None:
        while True:
            job = await self.mirror_queue.get()
            self.mirror_bytes -= job.nbytes
            try:
                await self._mirror(job)
            except Exception:
                log.exception("mirror failed")
                self._mirrored(job.route.name, "failed").inc()

    async def _mirror(self, job: MirrorJob) -> None:
        route, base = job.route, job.route.config.base
        assert base is not None and self.client is not None
        body = dict(job.request)
        body["model"] = base.model
        body["stream"] = False
        body.pop("stream_options", None)
        path = "/chat/completions" if job.endpoint == "chat" else "/completions"
        try:
            resp = await self.client.post(
                base.upstream,
                path,
                orjson.dumps(body),
                http1.with_request_id(route.base_header_lines, job.request_id),
                connect_timeout=base.timeout,
                read_timeout=base.timeout,  # unary: the answer comes whole, so this bounds it
            )
            raw = resp.body
            answer = orjson.loads(raw) if resp.status == 200 else None
        except (http1.UpstreamError, TimeoutError, orjson.JSONDecodeError) as exc:
            kind = http1.failure_kind(exc)
            self.metrics.upstream_errors.labels(route.name, "base", kind).inc()
            self._mirrored(route.name, "failed").inc()
            return
        if not isinstance(answer, dict):
            self.metrics.upstream_errors.labels(route.name, "base", "status").inc()
            self._mirrored(route.name, "failed").inc()
            return
        item = Item(
            body, response=answer, category=job.category, keep_text=self.keep_text != "none"
        )

        # The pair is recorded when both answers are classified; this worker moves on, so its
        # slot bounds only the calls to the base model.
        def base_classified(base: Analysis | None) -> None:
            job.tuned.add_done_callback(lambda tuned: self._pair_classified(job, tuned, base))

        self._enqueue(item, base_classified, job.nbytes + len(raw), pair=True)

    def _pair_classified(
        self, job: MirrorJob, tuned_done: asyncio.Future[Analysis | None], base: Analysis | None
    ) -> None:
        name = job.route.name
        tuned = None if tuned_done.cancelled() else tuned_done.result()
        if base is None or tuned is None:
            self._mirrored(name, "dropped").inc()
            return
        self.record_pair(name, "mirror", tuned.category, tuned, base, request_id=job.request_id)
        self._mirrored(name, "completed").inc()

    async def _gauge_worker(self) -> None:
        while True:
            self.metrics.queue_depth.labels("classify").set(len(self.backlog))
            self.metrics.queue_depth.labels("mirror").set(self.mirror_queue.qsize())
            self.metrics.queue_depth.labels("store").set(self.classifier.pending_rows)
            await asyncio.sleep(1.0)

    async def _retention_worker(self) -> None:
        assert self.store is not None
        while True:
            try:
                await asyncio.to_thread(self.store.prune)
            except sqlite3.Error:
                log.exception("store retention prune failed")
            await asyncio.sleep(_PRUNE_EVERY)

    async def _identity_worker(self) -> None:
        """Reset a model's evidence when vLLM starts serving different weights under its names."""
        seen: dict[str, str] = {}
        while True:
            for route in self.routes.values():
                try:
                    identity = await self._identity(route)
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                    log.debug(
                        "upstream identity unknown",
                        extra={"model": route.name, "error": type(exc).__name__},
                    )
                    continue
                if identity is None:
                    continue
                key = f"identity:{route.name}"
                previous = seen.get(route.name)
                if previous is None and self.store is not None:
                    previous = await asyncio.to_thread(self.store.get_meta, key)
                if previous is not None and previous != identity:
                    log.warning("model identity changed; drift evidence reset",
                                extra={"model": route.name})  # fmt: skip
                    await self.reset(route.name, "model_changed")
                if previous != identity and self.store is not None:
                    await asyncio.to_thread(self.store.set_meta, key, identity)
                seen[route.name] = identity
            await asyncio.sleep(self.config.drift.check_identity)

    async def _identity(self, route: ModelRoute) -> str | None:
        """What the upstreams say they serve under the tuned and base names (root and parent)."""
        assert self.session is not None
        parts = []
        for _, url, served, headers in route.targets():
            _, entry = await served_entry(self.session, url, served, headers, timeout=5.0)
            if entry is None:
                return None
            parts.append(f"{served}={entry.get('root')}<{entry.get('parent')}")
        return "|".join(parts)

    async def reset(self, model: str | None, reason: str) -> list[str]:
        """Forget a model's drift evidence (all models when None), durably."""
        models = [model] if model is not None else list(self.routes)
        for name in models:
            self.engine.reset(name)
            self.metrics.resets.labels(name, reason).inc()
            if self.store is not None:
                await asyncio.to_thread(self.store.add_reset, name, reason)
        return models

    # -- recording -----------------------------------------------------------------------
    def _record_live(self, model: str, analysis: Analysis) -> None:
        """The row is already stored: the classifier process wrote it (`LiveRow`)."""
        labels = analysis.labels
        self.engine.add_single(model, "live", analysis.category, "tuned", labels)
        self._count(model, "tuned", "live", analysis.category, labels)

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
    ) -> None:
        """One prompt answered by both models: the unit of evidence for drift."""
        self.engine.add_pair(model, source, category, tuned.labels, base.labels)
        self._count(model, "tuned", source, category, tuned.labels)
        self._count(model, "base", source, category, base.labels)
        if self.store is None:
            return
        keep = self.keep_text == "all" or (
            self.keep_text == "divergent" and tuned.labels != base.labels
        )
        pair_id = uuid.uuid4().hex
        extra: dict[str, Any] = {
            "pair_id": pair_id, "request_id": request_id, "pack": pack, "probe": probe,
            "expect": expect, "category": category, "keep": keep,
        }  # fmt: skip
        self.classifier.write(
            tuned.observation(model, source, "tuned", **extra),
            base.observation(model, source, "base", **extra),
        )


def _bool(value: bool) -> str:
    return "true" if value else "false"
