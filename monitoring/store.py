"""The store of classified answers: the evidence a review relies on, and what the drift
engine is rebuilt from after a restart. One interface over two backends
(monitoring/store_backends.py): an embedded SQLite file, or a PostgreSQL database a fleet
shares.

Each proxy's classifier process writes its observations (`insert`, one transaction per
batch, so a crash leaves a pair's two rows whole or absent); the proxy process itself writes
none, so no thread of its own takes the GIL from the event loop for them. `Store` is the
proxy's side: the schema's migrations, reads, resets, metadata and retention.
"""

from __future__ import annotations

import functools
import logging
import operator
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunewatch.monitoring.audit import ReviewedPair
from tunewatch.monitoring.drift import METRICS, DriftEngine, Labels
from tunewatch.monitoring.stats import PairedTable
from tunewatch.monitoring.store_backends import (
    Backend,
    Connection,
    SchemaError,
    check_known,
    open_backend,
)
from tunewatch.monitoring.store_schema import LATEST
from tunewatch.monitoring.wire import fast_pickle

log = logging.getLogger("tunewatch.store")

# Columns of observations as the writers give them (`classifier` follows, `written` is the
# database's to fill).
COLUMNS = (
    "ts", "model", "source", "role", "category", "refusal", "caution", "refusal_score",
    "caution_score", "pair_id", "request_id", "pack", "probe", "expect", "prompt", "response",
)  # fmt: skip
AUDIT_COLUMNS = (
    "pair_id", "ts", "model", "source", "category", "prompt", "tuned", "base", "tuned_refusal",
    "tuned_caution", "base_refusal", "base_caution", "classifier", "swap", "sort_key",
)  # fmt: skip
_ROW = operator.attrgetter(*COLUMNS)
# The rows that `replay` reads: a tuned answer with its base's labels (keyed by the tuned row's
# id), and answers without a pair (live rates). `t` names the row in both, for the filter.
_PAIRED = """
    SELECT t.id, t.written, t.model, t.source, t.category, t.ts, t.refusal, t.caution,
           b.refusal, b.caution
    FROM observations t JOIN observations b ON b.pair_id = t.pair_id AND b.role = 'base'
    WHERE t.role = 'tuned' AND t.pair_id IS NOT NULL"""
_SINGLES = """
    SELECT t.id, t.written, t.model, t.source, t.category, t.role, t.ts, t.refusal, t.caution
    FROM observations t WHERE t.pair_id IS NULL"""

# Rows per INSERT statement: Python's sqlite3 releases the GIL around every statement step, so a
# writer sharing a process with other threads (evaluate's) queues for it once per statement;
# one per hundred rows is cheap, and PostgreSQL takes a batch's statements in one round trip.
_ROWS_PER_INSERT = 100


@functools.cache
def _insert(rows: int) -> str:
    values = "(" + ", ".join("?" * (len(COLUMNS) + 1)) + ")"
    return (
        f"INSERT INTO observations ({', '.join(COLUMNS)}, classifier) VALUES "
        + ", ".join([values] * rows)
        + " ON CONFLICT DO NOTHING"  # a retried batch whose commit went unacknowledged
    )


_INSERT_AUDIT = (
    f"INSERT INTO audit_pairs ({', '.join(AUDIT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(AUDIT_COLUMNS))}) ON CONFLICT DO NOTHING"
)


def insert(conn: Connection, records: Iterable[Observation | AuditPair], classifier: str) -> int:
    """Write observations (and the audit pairs among them) on `conn`, inside the caller's
    transaction, each stamped with the `classifier` version that labelled it; returns how
    many records."""
    rows: list[tuple[Any, ...]] = []
    audits: list[tuple[Any, ...]] = []
    for record in records:
        if isinstance(record, AuditPair):
            audits.append((*record.row()[:12], classifier, *record.row()[12:]))
        else:
            rows.append((*record.row(), classifier))
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        conn.execute(_insert(len(chunk)), [value for row in chunk for value in row])
    if audits:
        conn.executemany(_INSERT_AUDIT, audits)
    return len(rows) + len(audits)


def _text(value: str | None) -> str | None:
    """Text as both backends store it: PostgreSQL refuses NUL, which JSON lets a client send,
    so it is kept as U+FFFD (the replacement character) in either."""
    return value.replace("\x00", "\ufffd") if value and "\x00" in value else value


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
        row = _ROW(self)
        # PostgreSQL takes no bool for an INTEGER, and no NUL in TEXT
        return (*row[:6], int(row[6]), *row[7:14], _text(row[14]), _text(row[15]))


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
            self.pair_id, self.ts, self.model, self.source, self.category, _text(self.prompt),
            _text(self.tuned), _text(self.base), t.refusal, int(t.caution), b.refusal,
            int(b.caution), int(self.swap), self.sort_key,
        )  # fmt: skip


def require_current(backend: Backend) -> None:
    """For `store.migrate_on_start: false`: refuse a schema that is not the one this version
    writes, naming the command that migrates it."""
    version = backend.schema_version()
    check_known(version, backend.describe())
    if version < LATEST:
        raise SchemaError(
            f"the store {backend.describe()} has schema version {version}, this tunewatch "
            f"needs {LATEST}: run `tunewatch store migrate` (store.migrate_on_start is false)"
        )


class Store:
    """Reads, resets, metadata and retention, each on a short-lived connection of the caller's
    thread (SQLite) or from a small pool (PostgreSQL); observations are written by the
    classifier process (see the module docstring)."""

    def __init__(
        self,
        location: str | Path,
        *,
        retention_seconds: float | None = None,
        audit_keep_seconds: float | None = None,
        clock: Callable[[], float] = time.time,
        migrate: bool = True,
        backend: Backend | None = None,
    ) -> None:
        owned = backend is None  # a backend handed in stays its owner's to close
        self.backend = backend or open_backend(location)
        self.location = location
        self.retention_seconds = retention_seconds
        self.audit_keep_seconds = audit_keep_seconds
        self.clock = clock
        try:
            if migrate:
                applied = self.backend.migrate()
                if applied:
                    log.info("store schema migrated", extra={"store": self.backend.describe(),
                                                             "versions": applied})  # fmt: skip
            else:
                require_current(self.backend)
        except BaseException:
            if owned:
                self.backend.close()
            raise

    @property
    def shared(self) -> bool:
        """Several replicas write here: what it holds is the fleet's, not this process's."""
        return self.backend.shared

    def close(self) -> None:
        self.backend.close()

    def write_now(self, *records: Observation | AuditPair, classifier: str = "") -> None:
        """Synchronous write for batch tools (evaluate, store copy) that run no classifier
        process."""
        with self.backend.connect() as conn:
            insert(conn, records, classifier)

    def prune(self, older_than: float | None = None) -> int:
        """Delete rows older than the retention period (or `older_than` seconds), and the
        audited pairs' text older than audit.keep_days; returns how many observations were
        deleted."""
        now = self.clock()
        retention = older_than if older_than is not None else self.retention_seconds
        deleted = 0
        with self.backend.connect() as conn:
            if self.audit_keep_seconds:
                conn.execute(
                    "UPDATE audit_pairs SET prompt = NULL, tuned = NULL, base = NULL "
                    "WHERE ts < ? AND prompt IS NOT NULL",
                    (now - self.audit_keep_seconds,),
                )
            if retention:
                cutoff = now - retention
                deleted = conn.execute("DELETE FROM observations WHERE ts < ?", (cutoff,)).rowcount
                conn.execute("DELETE FROM audit_pairs WHERE ts < ?", (cutoff,))
                conn.execute(
                    "DELETE FROM reviews WHERE pair_id NOT IN (SELECT pair_id FROM audit_pairs)"
                )
        return deleted

    # -- resets and metadata -----------------------------------------------------------------
    def add_reset(self, model: str, reason: str, ts: float | None = None) -> None:
        with self.backend.connect() as conn:
            conn.execute(
                "INSERT INTO resets (ts, model, reason) VALUES (?, ?, ?)",
                (ts if ts is not None else self.clock(), model, reason),
            )

    def get_meta(self, key: str) -> str | None:
        with self.backend.connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.backend.connect() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- reading -------------------------------------------------------------------------
    def _dicts(self, query: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.backend.connect() as conn:
            cursor = conn.execute(query, args)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def resets(self) -> list[dict[str, Any]]:
        return self._dicts("SELECT * FROM resets ORDER BY id")

    def meta(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self._dicts("SELECT key, value FROM meta")}

    def last_resets(self) -> dict[str, float]:
        with self.backend.connect() as conn:
            rows = conn.execute("SELECT model, MAX(ts) FROM resets GROUP BY model").fetchall()
        return {r[0]: r[1] for r in rows}

    def rebuild(self, engine: DriftEngine) -> int:
        """Replay everything since each model's last reset into `engine`; returns rows read."""
        resets = self.last_resets()
        engine.resets.update(resets)
        return self.replay(engine, resets)

    def replay(
        self,
        engine: DriftEngine,
        resets: dict[str, float],
        *,
        written_since: float | None = None,
        fresh: Callable[[int, float | None], bool] = lambda row_id, written: True,
    ) -> int:
        """Add stored evidence to `engine`: every row after its model's reset, or only rows
        whose transaction began at `written_since` or later; either way only rows that
        `fresh(id, written)` admits (the fleet reader's de-duplication). Returns how many rows
        (pairs count once) it added."""
        window_start = self.clock() - engine.settings.window_seconds
        since = "" if written_since is None else " AND t.written >= ?"
        args = () if written_since is None else (written_since,)
        count = 0
        with self.backend.connect() as conn:
            paired = conn.execute(_PAIRED + since, args)
            for row_id, written, model, source, category, ts, t_ref, t_cau, b_ref, b_cau in paired:
                if ts < resets.get(model, float("-inf")) or not fresh(row_id, written):
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
            singles = conn.execute(_SINGLES + since, args)
            for row_id, written, model, source, category, role, ts, refusal, caution in singles:
                if ts < resets.get(model, float("-inf")) or not fresh(row_id, written):
                    continue
                count += 1
                engine.add_single(model, source, category, role, Labels(refusal, bool(caution)))
        return count

    def clock_now(self) -> float:
        """The database's clock (the fleet reader compares it with `written`)."""
        if self.backend.dialect == "sqlite":
            return self.clock()
        with self.backend.connect() as conn:
            return float(conn.execute("SELECT extract(epoch FROM now())").fetchone()[0])

    def observations(
        self,
        model: str | None = None,
        since: float | None = None,
        limit: int | None = None,
        *,
        source: str | None = None,
        pack: str | None = None,
        newest_first: bool = False,
        after_id: int | None = None,
    ) -> list[dict[str, Any]]:
        query = "SELECT * FROM observations WHERE 1=1"
        args: list[Any] = []
        if after_id is not None:  # paging through a large store (store copy)
            query += " AND id > ?"
            args.append(after_id)
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
        return self._dicts(query, args)

    # -- the audit sample and its reviews ------------------------------------------------
    def audit_pair(self, pair_id: str) -> dict[str, Any] | None:
        rows = self._dicts("SELECT * FROM audit_pairs WHERE pair_id = ?", (pair_id,))
        return rows[0] if rows else None

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
        rows = self._dicts(query, (after, labeller, overlap))
        if not rows and after >= 0.0:
            rows = self._dicts(query, (-1.0, labeller, overlap))
        return rows[0] if rows else None

    def add_review(
        self, pair_id: str, labeller: str, kind: str, tuned: Labels, base: Labels,
        ts: float | None = None,
    ) -> bool:  # fmt: skip
        """Record (or replace) one labeller's labels for a pair; False for an unknown pair."""
        with self.backend.connect() as conn:
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
        with self.backend.connect() as conn:
            row = conn.execute(
                "SELECT id, pair_id FROM reviews WHERE labeller = ? ORDER BY ts DESC, id DESC "
                "LIMIT 1",
                (labeller,),
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM reviews WHERE id = ?", (row[0],))
            return str(row[1])

    def audit_progress(self, labeller: str | None = None) -> list[dict[str, Any]]:
        """Per model and category: pairs drawn, pairs with text left to review, pairs reviewed
        by a person, and by `labeller`."""
        rows = self._dicts(
            """
            SELECT a.model, a.category, COUNT(*) AS audited, COUNT(a.prompt) AS with_text,
                   SUM(CASE WHEN EXISTS (SELECT 1 FROM reviews r WHERE r.pair_id = a.pair_id
                                         AND r.kind = 'human') THEN 1 ELSE 0 END) AS reviewed,
                   SUM(CASE WHEN EXISTS (SELECT 1 FROM reviews r WHERE r.pair_id = a.pair_id
                                         AND r.labeller = ?) THEN 1 ELSE 0 END) AS mine
            FROM audit_pairs a GROUP BY a.model, a.category ORDER BY a.model, a.category
            """,
            (labeller or "",),
        )
        return [{**r, "reviewed": int(r["reviewed"]), "mine": int(r["mine"])} for r in rows]

    def reviewed_pairs(self, kind: str = "human") -> list[ReviewedPair]:
        """Each audited pair with the classifier's labels and the first review of `kind`."""
        with self.backend.connect() as conn:
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
        return self._dicts(query, (kind,) if kind else ())

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
        return self._dicts(query, args)
