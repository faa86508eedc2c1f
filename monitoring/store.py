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

from tunewatch.monitoring.audit import ReviewedPair
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
    response TEXT,
    classifier TEXT             -- the classifier version that gave the labels
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
CREATE TABLE IF NOT EXISTS audit_pairs (
    pair_id TEXT PRIMARY KEY,   -- the pair's two rows in observations share it
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    source TEXT NOT NULL,
    category TEXT NOT NULL,
    prompt TEXT,                -- kept for review whatever keep_text says; NULL after keep_days
    tuned TEXT,
    base TEXT,
    tuned_refusal TEXT NOT NULL,  -- the classifier's labels, as the drift test counted them
    tuned_caution INTEGER NOT NULL,
    base_refusal TEXT NOT NULL,
    base_caution INTEGER NOT NULL,
    classifier TEXT NOT NULL,
    swap INTEGER NOT NULL,      -- 1: the base answer is shown first (blind review)
    sort_key REAL NOT NULL      -- a random review order, the same for every reviewer
);
CREATE INDEX IF NOT EXISTS audit_pairs_sort ON audit_pairs (sort_key);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY,
    pair_id TEXT NOT NULL,
    labeller TEXT NOT NULL,     -- a reviewer's name, or judge:<model>
    kind TEXT NOT NULL,         -- human | judge
    ts REAL NOT NULL,
    tuned_refusal TEXT NOT NULL,
    tuned_caution INTEGER NOT NULL,
    base_refusal TEXT NOT NULL,
    base_caution INTEGER NOT NULL,
    UNIQUE (pair_id, labeller)
);
CREATE INDEX IF NOT EXISTS reviews_labeller ON reviews (labeller, ts);
"""
# Columns added after a store was first created, with their type: `connect` adds them to an
# older file, so a new version opens yesterday's store.
_ADDED_COLUMNS = {"observations": [("classifier", "TEXT")]}

COLUMNS = (
    "ts", "model", "source", "role", "category", "refusal", "caution", "refusal_score",
    "caution_score", "pair_id", "request_id", "pack", "probe", "expect", "prompt", "response",
)  # fmt: skip
AUDIT_COLUMNS = (
    "pair_id", "ts", "model", "source", "category", "prompt", "tuned", "base", "tuned_refusal",
    "tuned_caution", "base_refusal", "base_caution", "classifier", "swap", "sort_key",
)  # fmt: skip
_ROW = operator.attrgetter(*COLUMNS)
# Rows per INSERT statement: Python's sqlite3 releases the GIL around every statement step, so a
# writer sharing a process with other threads (evaluate's, or the proxy's before the classifier
# process wrote its rows) queues for it once per statement; one per hundred rows is cheap.
_ROWS_PER_INSERT = 100


@functools.cache
def _insert(rows: int) -> str:
    values = "(" + ", ".join("?" * (len(COLUMNS) + 1)) + ")"
    return f"INSERT INTO observations ({', '.join(COLUMNS)}, classifier) VALUES " + ", ".join(
        [values] * rows
    )


_INSERT_AUDIT = (
    f"INSERT OR IGNORE INTO audit_pairs ({', '.join(AUDIT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(AUDIT_COLUMNS))})"
)


def insert(
    conn: sqlite3.Connection, records: Iterable[Observation | AuditPair], classifier: str
) -> int:
    """Write observations (and the audit pairs among them) in one transaction, each stamped
    with the `classifier` version that labelled it; returns how many records."""
    rows: list[tuple[Any, ...]] = []
    audits: list[tuple[Any, ...]] = []
    for record in records:
        if isinstance(record, AuditPair):
            audits.append((*record.row()[:12], classifier, *record.row()[12:]))
        else:
            rows.append((*record.row(), classifier))
    with conn:
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            chunk = rows[start : start + _ROWS_PER_INSERT]
            conn.execute(_insert(len(chunk)), [value for row in chunk for value in row])
        if audits:
            conn.executemany(_INSERT_AUDIT, audits)
    return len(rows) + len(audits)


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


@fast_pickle
@dataclass(frozen=True, slots=True)
class AuditPair:
    """A pair drawn for review: its text, and the classifier's labels the review checks."""

    pair_id: str
    ts: float
    model: str
    source: str
    category: str
    prompt: str | None
    tuned: str | None
    base: str | None
    tuned_labels: Labels
    base_labels: Labels
    swap: bool
    sort_key: float

    def row(self) -> tuple[Any, ...]:
        """The audit_pairs columns but `classifier`, which the writer adds after the labels."""
        t, b = self.tuned_labels, self.base_labels
        return (
            self.pair_id, self.ts, self.model, self.source, self.category, self.prompt,
            self.tuned, self.base, t.refusal, int(t.caution), b.refusal, int(b.caution),
            int(self.swap), self.sort_key,
        )  # fmt: skip


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes under WAL
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    for table, columns in _ADDED_COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in present:
                try:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                except sqlite3.OperationalError as exc:  # another process added it first
                    if "duplicate column" not in str(exc):
                        raise
    return conn


class Store:
    """Reads, resets, metadata and retention, each on a short-lived connection of the caller's
    thread; observations are written by the classifier process (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        *,
        retention_seconds: float | None = None,
        audit_keep_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.retention_seconds = retention_seconds
        self.audit_keep_seconds = audit_keep_seconds
        self.clock = clock
        self._conn = connect(path)  # creates the file and the schema at start-up

    def close(self) -> None:
        self._conn.close()

    def write_now(self, *records: Observation | AuditPair, classifier: str = "") -> None:
        """Synchronous write for batch tools (evaluate) that run no classifier process."""
        insert(self._conn, records, classifier)

    def prune(self) -> int:
        """Delete rows older than the retention period, and the audited pairs' text older than
        audit.keep_days; returns how many observations were deleted."""
        now = self.clock()
        deleted = 0
        with self._reader() as conn, conn:
            if self.audit_keep_seconds:
                conn.execute(
                    "UPDATE audit_pairs SET prompt = NULL, tuned = NULL, base = NULL "
                    "WHERE ts < ? AND prompt IS NOT NULL",
                    (now - self.audit_keep_seconds,),
                )
            if self.retention_seconds:
                cutoff = now - self.retention_seconds
                deleted = conn.execute("DELETE FROM observations WHERE ts < ?", (cutoff,)).rowcount
                conn.execute("DELETE FROM audit_pairs WHERE ts < ?", (cutoff,))
                conn.execute(
                    "DELETE FROM reviews WHERE pair_id NOT IN (SELECT pair_id FROM audit_pairs)"
                )
        return deleted

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

    # -- the audit sample and its reviews ------------------------------------------------
    def audit_pair(self, pair_id: str) -> dict[str, Any] | None:
        with self._reader() as conn:
            row = conn.execute("SELECT * FROM audit_pairs WHERE pair_id = ?", (pair_id,)).fetchone()
        return None if row is None else dict(row)

    def next_for_review(
        self, labeller: str, *, after: float = -1.0, overlap: float = 0.0
    ) -> dict[str, Any] | None:
        """The next pair in the shared random order that `labeller` has not labelled and that
        still has its text: pairs nobody has reviewed, and the first `overlap` share of the
        order for everyone (a second review there measures agreement between people). Wraps
        around to the start once past the end, so skipped pairs come back."""
        query = """
            SELECT * FROM audit_pairs a
            WHERE a.prompt IS NOT NULL AND a.sort_key > ?
              AND NOT EXISTS (SELECT 1 FROM reviews r
                              WHERE r.pair_id = a.pair_id AND r.labeller = ?)
              AND (a.sort_key < ? OR NOT EXISTS (
                   SELECT 1 FROM reviews r WHERE r.pair_id = a.pair_id AND r.kind = 'human'))
            ORDER BY a.sort_key LIMIT 1
        """
        with self._reader() as conn:
            row = conn.execute(query, (after, labeller, overlap)).fetchone()
            if row is None and after >= 0.0:
                row = conn.execute(query, (-1.0, labeller, overlap)).fetchone()
        return None if row is None else dict(row)

    def add_review(
        self, pair_id: str, labeller: str, kind: str, tuned: Labels, base: Labels,
        ts: float | None = None,
    ) -> bool:  # fmt: skip
        """Record (or replace) one labeller's labels for a pair; False for an unknown pair."""
        with self._reader() as conn, conn:
            if conn.execute("SELECT 1 FROM audit_pairs WHERE pair_id = ?", (pair_id,)).fetchone():
                conn.execute(
                    """INSERT INTO reviews (pair_id, labeller, kind, ts, tuned_refusal,
                           tuned_caution, base_refusal, base_caution)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (pair_id, labeller) DO UPDATE SET kind = excluded.kind,
                           ts = excluded.ts, tuned_refusal = excluded.tuned_refusal,
                           tuned_caution = excluded.tuned_caution,
                           base_refusal = excluded.base_refusal,
                           base_caution = excluded.base_caution""",
                    (pair_id, labeller, kind, ts if ts is not None else self.clock(),
                     tuned.refusal, int(tuned.caution), base.refusal, int(base.caution)),
                )  # fmt: skip
                return True
        return False

    def undo_review(self, labeller: str) -> str | None:
        """Delete `labeller`'s latest review; returns its pair id (None when there was none)."""
        with self._reader() as conn, conn:
            row = conn.execute(
                "SELECT id, pair_id FROM reviews WHERE labeller = ? ORDER BY ts DESC, id DESC "
                "LIMIT 1",
                (labeller,),
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM reviews WHERE id = ?", (row["id"],))
            return str(row["pair_id"])

    def audit_progress(self, labeller: str | None = None) -> list[dict[str, Any]]:
        """Per model and category: pairs drawn, pairs with text left to review, pairs reviewed
        by a person, and by `labeller`."""
        with self._reader() as conn:
            rows = conn.execute(
                """
                SELECT a.model, a.category, COUNT(*) AS audited,
                       SUM(a.prompt IS NOT NULL) AS with_text,
                       SUM(EXISTS (SELECT 1 FROM reviews r
                                   WHERE r.pair_id = a.pair_id AND r.kind = 'human'))
                           AS reviewed,
                       SUM(EXISTS (SELECT 1 FROM reviews r
                                   WHERE r.pair_id = a.pair_id AND r.labeller = ?)) AS mine
                FROM audit_pairs a GROUP BY a.model, a.category ORDER BY a.model, a.category
                """,
                (labeller or "",),
            ).fetchall()
        return [dict(r) for r in rows]

    def reviewed_pairs(self, kind: str = "human") -> list[ReviewedPair]:
        """Each audited pair with the classifier's labels and the first review of `kind`."""
        with self._reader() as conn:
            rows = conn.execute(
                """
                SELECT a.model, a.source, a.category, a.ts, a.classifier,
                       a.tuned_refusal, a.tuned_caution, a.base_refusal, a.base_caution,
                       r.tuned_refusal, r.tuned_caution, r.base_refusal, r.base_caution
                FROM audit_pairs a JOIN reviews r ON r.id = (
                    SELECT MIN(id) FROM reviews WHERE pair_id = a.pair_id AND kind = ?)
                ORDER BY a.ts
                """,
                (kind,),
            ).fetchall()
        return [
            ReviewedPair(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                (Labels(r[5], bool(r[6])), Labels(r[7], bool(r[8]))),
                (Labels(r[9], bool(r[10])), Labels(r[11], bool(r[12]))),
            )
            for r in rows
        ]

    def reviews(self, kind: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM reviews" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
        with self._reader() as conn:
            return [dict(r) for r in conn.execute(query, (kind,) if kind else ())]

    def audit_pairs(self, *, with_text: bool = True, unlabelled_by: str | None = None,
                    limit: int | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """Audited pairs in review order; those with text only, by default; `unlabelled_by`
        leaves out the pairs that labeller has labelled (a judge's backlog)."""
        query = "SELECT * FROM audit_pairs a WHERE 1=1"
        args: list[Any] = []
        if with_text:
            query += " AND a.prompt IS NOT NULL"
        if unlabelled_by is not None:
            query += (
                " AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.pair_id = a.pair_id"
                " AND r.labeller = ?)"
            )
            args.append(unlabelled_by)
        query += " ORDER BY a.sort_key"
        if limit is not None:
            query += " LIMIT ?"
            args.append(limit)
        with self._reader() as conn:
            return [dict(r) for r in conn.execute(query, args)]
