"""Answers waiting for the classifier process, and the loop that feeds them to it in batches."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tunewatch.monitoring.analysis import Analysis, Item

log = logging.getLogger("tunewatch.monitor")

Done = Callable[[Analysis | None], None]
Pending = tuple[Item, Done]
BATCH = 64


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


async def classify_loop(
    backlog: Backlog, analyse: Callable[[list[Item]], Awaitable[list[Analysis]]]
) -> None:
    """Hand the backlog to the classifier in batches; each answer's callback gets its labels
    (None when classification failed)."""
    while True:
        await backlog.wait()
        if len(backlog) < BATCH:
            # Gather a batch: one pipe round trip per answer would cost the request path more
            # CPU than the wait costs the monitoring.
            await asyncio.sleep(0.02)
        batch = backlog.take(BATCH)
        try:
            results: list[Analysis | None] = list(await analyse([i for i, _ in batch]))
        except Exception:
            log.exception("classification failed for a batch of %d", len(batch))
            results = [None] * len(batch)
        for (_, done), analysis in zip(batch, results, strict=True):
            try:
                done(analysis)
            except Exception:
                log.exception("recording a classified answer failed")
