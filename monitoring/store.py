"""SQLite store for classified answers: the evidence a review relies on, and what the drift
engine is rebuilt from after a restart.

The proxy's classifier process is the one writer of observations (`insert`, one transaction
per batch, so a crash leaves a pair's two rows whole or absent); the proxy process itself
writes none, so no thread of its own takes the GIL from the event loop for them. `Store` is
the proxy's side: the schema, reads, resets, metadata and retention. WAL lets reports read
while the classifier writes.
"""

from __future__ import annotations

import functools
import logging
import operator
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewatch.monitoring.drift import METRICS, DriftEngine, Labels
from tunewatch.monitoring.stats import PairedTable
from tunewatch.monitoring.wire import fast_pickle

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
# Rows per INSERT statement: Python's sqlite3 releases the GIL around every statement step, so a
# writer sharing a process with other threads (evaluate's, or the proxy's before the classifier
# process wrote its rows) queues for it once per statement; one per hundred rows is cheap.
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


@fast_pickle
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
    """Reads, resets, metadata and retention, each on a short-lived connection of the caller's
    thread; observations are written by the classifier process (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        retention_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.retention_seconds = retention_seconds
        self.clock = clock
        self._conn = connect(path)  # creates the file and the schema at start-up

    def close(self) -> None:
        self._conn.close()

    def write_now(self, *observations: Observation) -> None:
        """Synchronous write for batch tools (evaluate) that run no classifier process."""
        insert(self._conn, observations)

    def prune(self) -> int:
        """Delete rows older than the retention period; returns how many."""
        if not self.retention_seconds:
            return 0
        cutoff = self.clock() - self.retention_seconds
        with self._reader() as conn, conn:
            return conn.execute("DELETE FROM observations WHERE ts < ?", (cutoff,)).rowcount

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
