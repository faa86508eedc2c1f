"""The store: retention, the audit sample's text and reviews, and older files."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.store import AuditPair, Observation, Store

DAY = 86400.0


def _row(ts: float) -> Observation:
    return Observation(ts, "m", "live", "tuned", "other", "none", False)


def test_prune_deletes_only_rows_past_retention(tmp_path: Path) -> None:
    db = tmp_path / "tw.db"
    now = 100 * DAY
    store = Store(db, retention_seconds=30 * DAY, clock=lambda: now)
    try:
        store.write_now(*(_row(now - age * DAY) for age in (0, 29, 31, 90)))
        assert store.prune() == 2
        assert store.prune() == 0
    finally:
        store.close()
    with closing(sqlite3.connect(db)) as conn:
        ages = [round((now - ts) / DAY) for (ts,) in conn.execute("SELECT ts FROM observations")]
    assert sorted(ages) == [0, 29]
    keep_all = Store(db)  # no retention configured: nothing is ever pruned
    try:
        assert keep_all.prune() == 0
    finally:
        keep_all.close()


def _audit(pair_id: str, ts: float, sort_key: float = 0.5) -> AuditPair:
    said = Labels("none", False)
    return AuditPair(
        pair_id, ts, "m", "mirror", "medical", "prompt", "tuned answer", "base answer",
        said, said, swap=False, sort_key=sort_key,
    )  # fmt: skip


def test_audited_text_goes_after_keep_days_and_its_labels_stay(tmp_path: Path) -> None:
    now = 100 * DAY
    store = Store(tmp_path / "tw.db", retention_seconds=90 * DAY, audit_keep_seconds=30 * DAY,
                  clock=lambda: now)  # fmt: skip
    try:
        store.write_now(_audit("old", now - 31 * DAY), _audit("new", now - DAY), classifier="v1")
        store.add_review("old", "ann", "human", Labels("full", False), Labels("none", True))
        store.prune()
        old, new = store.audit_pair("old"), store.audit_pair("new")
        assert old is not None and new is not None
        assert (old["prompt"], old["tuned"], old["base"]) == (None, None, None)
        assert new["prompt"] == "prompt" and new["classifier"] == "v1"
        # the review of a pair whose text is gone still counts (the correction needs no text)
        assert [p.reviewed[0].refusal for p in store.reviewed_pairs()] == ["full"]
        # but a pair without text is not offered for review
        assert store.next_for_review("bob")["pair_id"] == "new"  # type: ignore[index]
    finally:
        store.close()


def test_pairs_past_retention_go_with_their_reviews(tmp_path: Path) -> None:
    now = 100 * DAY
    store = Store(tmp_path / "tw.db", retention_seconds=30 * DAY, clock=lambda: now)
    try:
        store.write_now(_audit("old", now - 31 * DAY), classifier="v1")
        store.add_review("old", "ann", "human", Labels("full", False), Labels("none", True))
        store.prune()
        assert store.audit_pair("old") is None and store.reviews() == []
    finally:
        store.close()


def test_review_queue_order_overlap_skip_and_undo(tmp_path: Path) -> None:
    store = Store(tmp_path / "tw.db")
    try:
        store.write_now(*(_audit(f"p{i}", 1.0, sort_key=i / 10) for i in range(1, 6)),
                        classifier="v1")  # fmt: skip
        said = Labels("none", False)
        first = store.next_for_review("ann", overlap=0.15)
        assert first is not None and first["pair_id"] == "p1"
        assert store.add_review("p1", "ann", "human", said, said)
        assert not store.add_review("nope", "ann", "human", said, said)  # unknown pair
        assert store.next_for_review("ann", overlap=0.15)["pair_id"] == "p2"  # type: ignore[index]
        store.add_review("p2", "ann", "human", said, said)
        # bob sees p1 again (inside the overlap share, for agreement) but not p2 (done by ann)
        assert store.next_for_review("bob", overlap=0.15)["pair_id"] == "p1"  # type: ignore[index]
        assert store.next_for_review("bob", after=0.1, overlap=0.15)["pair_id"] == "p3"  # type: ignore[index]
        # skipping past the end wraps round to the start
        assert store.next_for_review("bob", after=0.5, overlap=0.15)["pair_id"] == "p1"  # type: ignore[index]
        assert store.undo_review("ann") == "p2"
        assert [r["pair_id"] for r in store.reviews()] == ["p1"]
        assert store.undo_review("carol") is None
        progress = store.audit_progress("ann")
        assert progress == [{"model": "m", "category": "medical", "audited": 5, "with_text": 5,
                             "reviewed": 1, "mine": 1}]  # fmt: skip
    finally:
        store.close()


def test_an_older_store_gains_the_classifier_column(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(
            "CREATE TABLE observations (id INTEGER PRIMARY KEY, ts REAL NOT NULL, model TEXT NOT "
            "NULL, source TEXT NOT NULL, role TEXT NOT NULL, category TEXT NOT NULL, refusal TEXT "
            "NOT NULL, caution INTEGER NOT NULL, refusal_score REAL, caution_score REAL, pair_id "
            "TEXT, request_id TEXT, pack TEXT, probe TEXT, expect TEXT, prompt TEXT, response TEXT)"
        )
        conn.execute("INSERT INTO observations (ts, model, source, role, category, refusal, "
                     "caution) VALUES (1, 'm', 'live', 'tuned', 'other', 'none', 0)")  # fmt: skip
        conn.commit()
    store = Store(db)
    try:
        store.write_now(_row(2.0), classifier="v2")
        assert [r["classifier"] for r in store.observations()] == [None, "v2"]
    finally:
        store.close()
