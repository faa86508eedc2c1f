"""SQLite store for classified answers: the evidence a review relies on, and what the drift
engine is rebuilt from after a restart.

One writer thread owns the proxy's write connection and commits in batches, so the event loop
only ever does a non-blocking `put`. A pair's two rows are written in one transaction: a crash
leaves whole pairs or none. The classifier process writes live answers' rows on a connection of
its own (`insert`), so most rows never cross back into the proxy. WAL lets reports read while
both write.
"""

from __future__ import annotations

import functools
import logging
import operator
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitoring.drift import METRICS, DriftEngine, Labels
from monitoring.stats import PairedTable

log = logging.getLogger("tunewatch.store")

SCHEMA = """
CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    source TEXT NOT NULL,       -- live | mirror | probe
    role TEXT NOT NULL,         -- tuned | base
    category TEXT NOT NULL,
    refusal TEXT NOT NULL,      -- none | partial | full
    caution INTEGER NOT NULL,
    refusal_score REAL,
    caution_score REAL,
    pair_id TEXT,               -- shared by the tuned and base answers to the same prompt
    request_id TEXT,
    pack TEXT,
    probe TEXT,
    expect TEXT,
    prompt TEXT,                -- only as store.keep_text allows
    response TEXT
);
CREATE INDEX IF NOT EXISTS observations_model_ts ON observations (model, ts);
CREATE INDEX IF NOT EXISTS observations_pair ON observations (pair_id);
CREATE TABLE IF NOT EXISTS resets (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

COLUMNS = (
    "ts", "model", "source", "role", "category", "refusal", "caution", "refusal_score",
    "caution_score", "pair_id", "request_id", "pack", "probe", "expect", "prompt", "response",
)  # fmt: skip
_ROW = operator.attrgetter(*COLUMNS)
# Rows per INSERT statement. Python's sqlite3 releases the GIL around every statement step, and
# the writer thread then queues for it behind the event loop, so one statement per row costs
# the loop a GIL hand-off per row; one per hundred rows, one per hundred.
_ROWS_PER_INSERT = 100


@functools.cache
def _insert(rows: int) -> str:
    values = "(" + ", ".join("?" * len(COLUMNS)) + ")"
    return f"INSERT INTO observations ({', '.join(COLUMNS)}) VALUES " + ", ".join([values] * rows)


def insert(conn: sqlite3.Connection, observations: Iterable[Observation]) -> int:
    """Write rows in one transaction; returns how many."""
    rows = [o.row() for o in observations]
    with conn:
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            conn.execute(_insert(len(chunk)), [value for row in chunk for value in row])
    return len(rows)


@dataclass(frozen=True, slots=True)
class Observation:
    """One classified answer as stored."""

    ts: float
    model: str
    source: str
    role: str
    category: str
    refusal: str
    caution: bool
    refusal_score: float | None = None
    caution_score: float | None = None
    pair_id: str | None = None
    request_id: str | None = None
    pack: str | None = None
    probe: str | None = None
    expect: str | None = None
    prompt: str | None = None
    response: str | None = None

    def row(self) -> tuple[Any, ...]:
        return _ROW(self)


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes under WAL
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    return conn


class Store:
    """Batched, off-loop writes; reads on short-lived connections of their own."""

    def __init__(
        self,
        path: Path,
        *,
        queue_size: int = 20_000,
        retention_seconds: float | None = None,
        on_drop: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.retention_seconds = retention_seconds
        self.on_drop = on_drop
        self.clock = clock
        self._queue: queue.Queue[tuple[Observation, ...] | None] = queue.Queue(queue_size)
        self._conn = connect(path)
        self._thread: threading.Thread | None = None
        self.written = 0

    # -- writing -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tunewatch-store", daemon=True)
        self._thread.start()

    def submit(self, *observations: Observation) -> bool:
        """Queue rows written together (a pair's two rows); never blocks. False when dropped."""
        try:
            self._queue.put_nowait(observations)
            return True
        except queue.Full:
            self.on_drop()
            return False

    def depth(self) -> int:
        return self._queue.qsize()

    def close(self, timeout: float = 10.0) -> None:
        """Flush what is queued, then stop the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
        self._conn.close()

    def write_now(self, *observations: Observation) -> None:
        """Synchronous write for batch tools (evaluate) that have no writer thread running."""
        insert(self._conn, observations)

    def _run(self) -> None:
        last_prune = 0.0
        stopping = False
        while not stopping:
            batch: list[tuple[Observation, ...]] = []
            try:
                item = self._queue.get(timeout=0.5)
            except queue.Empty:
                item = ()
            deadline = time.monotonic() + 0.1
            while item is not None:
                if item:
                    batch.append(item)
                if len(batch) >= 500 or time.monotonic() > deadline:
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            if item is None:
                stopping = True
            if batch:
                self._write(batch)
            if self.retention_seconds and time.monotonic() - last_prune > 300:
                last_prune = time.monotonic()
                self._prune()

    def _write(self, batch: list[tuple[Observation, ...]]) -> None:
        try:
            self.written += insert(self._conn, (o for group in batch for o in group))
        except sqlite3.Error:
            log.exception("store write failed; %d rows lost", sum(map(len, batch)))

    def _prune(self) -> None:
        assert self.retention_seconds is not None
        cutoff = self.clock() - self.retention_seconds
        try:
            with self._conn:
                self._conn.execute("DELETE FROM observations WHERE ts < ?", (cutoff,))
        except sqlite3.Error:
            log.exception("store retention prune failed")

    # -- resets and metadata -----------------------------------------------------------------
    def add_reset(self, model: str, reason: str, ts: float | None = None) -> None:
        with self._reader() as conn, conn:
            conn.execute(
                "INSERT INTO resets (ts, model, reason) VALUES (?, ?, ?)",
                (ts if ts is not None else self.clock(), model, reason),
            )

    def get_meta(self, key: str) -> str | None:
        with self._reader() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._reader() as conn, conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- reading -------------------------------------------------------------------------
    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection of the caller's thread (reads, and rare small writes)."""
        with closing(sqlite3.connect(self.path, timeout=30.0)) as conn:
            conn.row_factory = sqlite3.Row
            yield conn

    def last_resets(self) -> dict[str, float]:
        with self._reader() as conn:
            rows = conn.execute("SELECT model, MAX(ts) FROM resets GROUP BY model").fetchall()
        return {r[0]: r[1] for r in rows}

    def rebuild(self, engine: DriftEngine) -> int:
        """Replay everything since each model's last reset into `engine`; returns rows read."""
        resets = self.last_resets()
        engine.resets.update(resets)
        window_start = self.clock() - engine.settings.window_seconds
        count = 0
        with self._reader() as conn:
            paired = conn.execute(
                """
                SELECT t.model, t.source, t.category, t.ts, t.refusal, t.caution,
                       b.refusal, b.caution
                FROM observations t JOIN observations b
                  ON b.pair_id = t.pair_id AND b.role = 'base'
                WHERE t.role = 'tuned' AND t.pair_id IS NOT NULL
                """
            )
            for model, source, category, ts, t_ref, t_cau, b_ref, b_cau in paired:
                if ts < resets.get(model, float("-inf")):
                    continue
                count += 1
                tuned, base = Labels(t_ref, bool(t_cau)), Labels(b_ref, bool(b_cau))
                for metric in METRICS:
                    t, b = tuned.positive(metric), base.positive(metric)
                    key = (model, source, category, metric)
                    table = PairedTable()
                    table.add(t, b)
                    engine.restore(key, table, (int(t), 1), (int(b), 1))
                    if ts >= window_start:
                        engine.restore_window(key, ts, t, b)
            singles = conn.execute(
                """
                SELECT model, source, category, role, ts, refusal, caution
                FROM observations WHERE pair_id IS NULL
                """
            )
            for model, source, category, role, ts, refusal, caution in singles:
                if ts < resets.get(model, float("-inf")):
                    continue
                count += 1
                engine.add_single(model, source, category, role, Labels(refusal, bool(caution)))
        return count

    def observations(
        self,
        model: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        *,
        source: str | None = None,
        pack: str | None = None,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        query = "SELECT * FROM observations WHERE 1=1"
        args: list[Any] = []
        for column, value in (("model", model), ("source", source), ("pack", pack)):
            if value is not None:
                query += f" AND {column} = ?"
                args.append(value)
        if since is not None:
            query += " AND ts >= ?"
            args.append(since)
        query += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._reader() as conn:
            return [dict(r) for r in conn.execute(query, args)]
