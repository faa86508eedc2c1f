"""The mirror: a sampled copy of live requests sent to the base model, off the request path.

`offer` runs on the request path and is a hash plus a non-blocking queue put; the workers send
the copies from a queue bounded in requests and bytes; full queues drop and count.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tunewatch.monitoring.analysis import Analysis, Item
from tunewatch.monitoring.metrics import Children, Metrics
from tunewatch.proxy import http1
from tunewatch.proxy.forward import UPSTREAM_PATHS, Endpoint, Exchange
from tunewatch.proxy.upstreams import ModelRoute
from tunewatch.proxy.watch.backlog import Done

log = logging.getLogger("tunewatch.monitor")

MIRROR_HEADER = "x-tunewatch-mirror"
# What the base copy leaves out: one answer is all a pair needs, without log-probabilities,
# and the Responses API's server-side state stays with the client's own calls.
_COSTLY = ("n", "best_of", "logprobs", "top_logprobs", "stream_options", "include")


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
    endpoint: Endpoint
    request_id: str
    request: dict[str, Any]
    category: str | None
    nbytes: int  # the request's size on the wire, held while the job waits
    audited: bool = False  # drawn for the audit sample: both answers' text kept for review
    tuned: asyncio.Future[Analysis | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


# (item, its callback, its size in bytes) -> queued for classification as a pair's half
Enqueue = Callable[[Item, Done, int], None]
# (job, tuned's labels, base's labels): both halves classified; False when they make no pair
OnPair = Callable[[MirrorJob, Analysis, Analysis], bool]


class Mirror:
    def __init__(
        self,
        metrics: Metrics,
        *,
        queue_size: int,
        queue_bytes: int,
        keep_text: bool,
        audit_rate: float = 0.0,
        enqueue: Enqueue,
        on_pair: OnPair,
    ) -> None:
        self.metrics = metrics
        self.queue: asyncio.Queue[MirrorJob] = asyncio.Queue(queue_size)
        self.queue_bytes = queue_bytes
        self.nbytes = 0  # held by the jobs in `queue`
        self.keep_text = keep_text
        self.audit_rate = audit_rate
        self.enqueue = enqueue
        self.on_pair = on_pair
        self._outcomes = Children(metrics.mirror)

    # -- the request path: O(1), never blocks, never raises ------------------------------
    def offer(self, exchange: Exchange, category: str | None) -> MirrorJob | None:
        """Queue a copy of the request for the base model when it is sampled; the job's
        `tuned` future is to be resolved with the tuned answer's labels."""
        route = exchange.route
        if route.config.base is None or exchange.endpoint == "embeddings":
            return None
        if exchange.request.get("previous_response_id"):  # the base has no such conversation
            return None
        if exchange.headers.get(MIRROR_HEADER, "").lower() == "off":
            return None
        if not sampled(exchange.request_id, route.config.mirror.rate):
            return None
        self._outcomes(route.name, "sampled").inc()
        job = MirrorJob(
            route, exchange.endpoint, exchange.request_id, exchange.request, category,
            exchange.request_bytes, self.audit_rate > 0.0 and random.random() < self.audit_rate,
        )  # fmt: skip
        if self.queue.full() or self.nbytes + job.nbytes > self.queue_bytes:
            self._outcomes(route.name, "dropped").inc()
            self.metrics.dropped.labels("mirror").inc()
            return None
        self.queue.put_nowait(job)
        self.nbytes += job.nbytes
        return job

    # -- background ----------------------------------------------------------------------
    async def worker(self, client: http1.Client) -> None:
        while True:
            job = await self.queue.get()
            self.nbytes -= job.nbytes
            try:
                await self._send(client, job)
            except Exception:
                log.exception("mirror failed")
                self._outcomes(job.route.name, "failed").inc()

    async def _send(self, client: http1.Client, job: MirrorJob) -> None:
        route, base, upstreams = job.route, job.route.config.base, job.route.base
        assert base is not None and upstreams is not None
        body = {k: v for k, v in job.request.items() if k not in _COSTLY}
        body["model"] = base.model
        body["stream"] = False
        if job.endpoint == "responses":
            body["store"] = False  # nobody will fetch the base copy's answer by id
        path = UPSTREAM_PATHS[job.endpoint]
        try:
            resp = await upstreams.post(  # round-robin and failover over the base's upstreams
                client,
                path,
                orjson.dumps(body),
                http1.with_request_id(route.base_header_lines, job.request_id),
                read_timeout=base.timeout,  # unary: the answer comes whole, so this bounds it
            )
            raw = resp.body
            answer = orjson.loads(raw) if resp.status == 200 else None
        except (http1.UpstreamError, TimeoutError, orjson.JSONDecodeError) as exc:
            self.metrics.upstream_errors.labels(route.name, "base", http1.failure_kind(exc)).inc()
            self._outcomes(route.name, "failed").inc()
            return
        if not isinstance(answer, dict):
            self.metrics.upstream_errors.labels(route.name, "base", "status").inc()
            self._outcomes(route.name, "failed").inc()
            return
        item = Item(
            body, response=answer, category=job.category, keep_text=self.keep_text or job.audited
        )

        # The pair is recorded when both answers are classified; this worker moves on, so its
        # slot bounds only the calls to the base model.
        def base_classified(base: Analysis | None) -> None:
            job.tuned.add_done_callback(lambda tuned: self._joined(job, tuned, base))

        self.enqueue(item, base_classified, job.nbytes + len(raw))

    def _joined(
        self, job: MirrorJob, tuned_done: asyncio.Future[Analysis | None], base: Analysis | None
    ) -> None:
        name = job.route.name
        tuned = None if tuned_done.cancelled() else tuned_done.result()
        if base is None or tuned is None:
            self._outcomes(name, "dropped").inc()
            return
        self._outcomes(name, "completed" if self.on_pair(job, tuned, base) else "unlabelled").inc()
