"""The classifier process's writer: batches go to the store in order, and wait in a buffer
bounded in bytes while the database cannot take them (PostgreSQL restarting, unreachable, a
SQLite file locked), so an outage costs rows only once it outlasts the buffer. The oldest
batches go first when it overflows, each counted; a batch (a pair's two rows, or a whole
probe round's) is written or dropped whole.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from tunewatch.monitoring.store import AuditPair, Observation, insert
from tunewatch.monitoring.store_backends import Backend

log = logging.getLogger("tunewatch.store")

Record = Observation | AuditPair
_ROW_OVERHEAD = 200  # bytes a row's labels, ids and Python objects take besides its text
_ROWS_PER_TRANSACTION = 2_000  # after an outage the backlog goes in bounded transactions
_RETRY_FIRST, _RETRY_MOST = 0.5, 8.0  # seconds between attempts, doubling while it fails


def record_bytes(record: Record) -> int:
    """An estimate of a record's memory, the unit of `store.buffer_bytes`."""
    texts: tuple[str | None, ...] = (
        (record.prompt, record.tuned, record.base)
        if isinstance(record, AuditPair)
        else (record.prompt, record.response)
    )
    return _ROW_OVERHEAD + sum(len(t) for t in texts if t)


class BufferedWriter:
    def __init__(
        self,
        backend: Backend,
        classifier: str,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.classifier = classifier
        self.max_bytes = max_bytes
        self.clock = clock
        self.batches: deque[tuple[Sequence[Record], int]] = deque()
        self.pending_bytes = 0
        self.up = True  # the last attempt reached the database
        self._retry_at = 0.0
        self._backoff = _RETRY_FIRST
        self._written = 0
        self._lost = 0

    def add(self, records: Sequence[Record]) -> None:
        """Queue a batch; drop (and count) the oldest batches beyond the byte bound."""
        if not records:
            return
        size = sum(record_bytes(r) for r in records)
        self.batches.append((records, size))
        self.pending_bytes += size
        while self.pending_bytes > self.max_bytes and self.batches:
            dropped, dropped_size = self.batches.popleft()
            self.pending_bytes -= dropped_size
            self._lost += len(dropped)

    @property
    def pending_rows(self) -> int:
        return sum(len(records) for records, _ in self.batches)

    def due_in(self) -> float | None:
        """Seconds until the next attempt is due; None with nothing to write."""
        if not self.batches:
            return None
        return max(0.0, self._retry_at - self.clock())

    def flush(self) -> tuple[int, int]:
        """Write what is queued unless a retry is not due yet; returns (rows written, rows
        lost) since the last call."""
        if self.batches and self.clock() >= self._retry_at:
            self._write()
        counts, self._written, self._lost = (self._written, self._lost), 0, 0
        return counts

    def finish(self) -> None:
        """At exit: one last attempt whatever the back-off, then count what is left as lost
        (the next `flush` reports it)."""
        self.flush_now()
        self._lost += sum(len(records) for records, _ in self.batches)
        self.batches.clear()
        self.pending_bytes = 0

    def flush_now(self) -> None:
        if self.batches:
            self._write()

    def _write(self) -> None:
        while self.batches:
            taken: list[tuple[Sequence[Record], int]] = []
            rows = 0
            while self.batches and (not taken or rows < _ROWS_PER_TRANSACTION):
                taken.append(self.batches.popleft())
                rows += len(taken[-1][0])
            try:
                self._insert(taken)
            except self.backend.unreachable as exc:
                self.batches.extendleft(reversed(taken))
                self._failed(exc)
                return
            except self.backend.errors:  # some batch's data is refused: find it, keep the rest
                if len(taken) == 1:
                    log.exception("the store refused %d rows; they are lost", rows)
                    self._lost += rows
                else:
                    self.batches.extendleft(reversed(taken))
                    if not self._one_by_one(len(taken)):
                        return
                    continue
            else:
                self._written += rows
            self.pending_bytes -= sum(size for _, size in taken)
            self._reached()

    def _insert(self, batches: list[tuple[Sequence[Record], int]]) -> None:
        with self.backend.connect() as conn:
            for records, _ in batches:
                insert(conn, records, self.classifier)

    def _one_by_one(self, count: int) -> bool:
        """Write the first `count` queued batches each in its own transaction, so a batch the
        store refuses is lost alone; False when the store became unreachable meanwhile."""
        for _ in range(count):
            records, size = self.batches.popleft()
            try:
                self._insert([(records, size)])
            except self.backend.unreachable as exc:
                self.batches.appendleft((records, size))
                self._failed(exc)
                return False
            except self.backend.errors:
                log.exception("the store refused %d rows; they are lost", len(records))
                self._lost += len(records)
            else:
                self._written += len(records)
            self.pending_bytes -= size
            self._reached()
        return True

    def _reached(self) -> None:
        """The store answered (took the rows, or refused their data)."""
        if not self.up:
            log.warning("the store is reachable again", extra={"store": self.backend.describe()})
        self.up, self._backoff = True, _RETRY_FIRST

    def _failed(self, exc: BaseException) -> None:
        if self.up:
            log.error(
                "the store is unreachable; rows wait in the buffer (store.buffer_bytes)",
                extra={"store": self.backend.describe(), "error": type(exc).__name__},
            )
        self.up = False
        self._retry_at = self.clock() + self._backoff
        self._backoff = min(self._backoff * 2, _RETRY_MOST)
