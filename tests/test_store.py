"""The store: retention, the audit sample's text and reviews, and older files; each case on
SQLite and on PostgreSQL (`store_url`), but the file made before the schema was versioned."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from tests.support.store_rows import audit, pair, table_rows, write
from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.store import Observation, Store
from tunewatch.monitoring.store_schema import LATEST, MIGRATIONS

DAY = 86400.0


def _row(ts: float) -> Observation:
    return Observation(ts, "m", "live", "tuned", "other", "none", False)


def test_prune_deletes_only_rows_past_retention(store_url: str) -> None:
    now = 100 * DAY
    store = Store(store_url, retention_seconds=30 * DAY, clock=lambda: now)
    try:
        store.write_now(*(_row(now - age * DAY) for age in (0, 29, 31, 90)))
        assert store.prune() == 2
        assert store.prune() == 0
        ages = [round((now - r["ts"]) / DAY) for r in store.observations()]
        assert sorted(ages) == [0, 29]
    finally:
        store.close()
    keep_all = Store(store_url, clock=lambda: now + 365 * DAY)  # no retention: nothing goes
    try:
        assert keep_all.prune() == 0
        assert len(keep_all.observations()) == 2
    finally:
        keep_all.close()


def test_audited_text_goes_after_keep_days_and_its_labels_stay(store_url: str) -> None:
    now = 100 * DAY
    store = Store(store_url, retention_seconds=90 * DAY, audit_keep_seconds=30 * DAY,
                  clock=lambda: now)  # fmt: skip
    try:
        store.write_now(audit("old", now - 31 * DAY, sort_key=0.2), audit("new", now - DAY),
                        classifier="v1")  # fmt: skip
        store.add_review("old", "ann", "human", Labels("full", False), Labels("none", True))
        store.prune()
        old, new = store.audit_pair("old"), store.audit_pair("new")
        assert old is not None and new is not None
        assert (old["prompt"], old["tuned"], old["base"]) == (None, None, None)
        assert (old["tuned_refusal"], old["classifier"]) == ("none", "v1")  # labels stay
        assert new["prompt"] == "prompt" and new["classifier"] == "v1"
        # the review of a pair whose text is gone still counts (the correction needs no text)
        assert [p.reviewed[0].refusal for p in store.reviewed_pairs()] == ["full"]
        # but a pair without text is not offered for review
        assert store.next_for_review("bob")["pair_id"] == "new"  # type: ignore[index]
        assert [p["pair_id"] for p in store.audit_pairs()] == ["new"]
        assert [p["pair_id"] for p in store.audit_pairs(with_text=False)] == ["old", "new"]
    finally:
        store.close()


def test_pairs_past_retention_go_with_their_reviews(store_url: str) -> None:
    now = 100 * DAY
    store = Store(store_url, retention_seconds=30 * DAY, clock=lambda: now)
    try:
        store.write_now(audit("old", now - 31 * DAY), audit("new", now - DAY), classifier="v1")
        store.add_review("old", "ann", "human", Labels("full", False), Labels("none", True))
        store.add_review("new", "ann", "human", Labels("none", False), Labels("none", False))
        store.prune()
        assert store.audit_pair("old") is None
        assert [r["pair_id"] for r in store.reviews()] == ["new"]
    finally:
        store.close()


def test_review_queue_order_overlap_skip_and_undo(store_url: str) -> None:
    store = Store(store_url)
    try:
        store.write_now(*(audit(f"p{i}", 1.0, sort_key=i / 10) for i in range(1, 6)),
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
        # a second review by the same labeller replaces the first
        assert store.add_review("p1", "ann", "human", Labels("full", True), said)
        assert [(r["pair_id"], r["tuned_refusal"]) for r in store.reviews()] == [("p1", "full")]
        assert store.undo_review("carol") is None
        progress = store.audit_progress("ann")
        assert progress == [{"model": "m", "category": "medical", "audited": 5, "with_text": 5,
                             "reviewed": 1, "mine": 1}]  # fmt: skip
        assert [p["pair_id"] for p in store.audit_pairs(unlabelled_by="ann", limit=2)] == [
            "p2", "p3"
        ]  # fmt: skip
    finally:
        store.close()


def test_resets_and_metadata(store_url: str) -> None:
    store = Store(store_url, clock=lambda: 50.0)
    try:
        assert store.get_meta("classifier") is None and store.last_resets() == {}
        store.set_meta("classifier", "v1")
        store.set_meta("classifier", "v2")  # replaced, not added
        assert store.get_meta("classifier") == "v2" and store.meta() == {"classifier": "v2"}
        store.add_reset("m", "new adapter", ts=10.0)
        store.add_reset("m", "admin")  # the store's clock
        store.add_reset("n", "admin", ts=5.0)
        assert store.last_resets() == {"m": 50.0, "n": 5.0}
        assert [(r["model"], r["reason"], r["ts"]) for r in store.resets()] == [
            ("m", "new adapter", 10.0), ("m", "admin", 50.0), ("n", "admin", 5.0)
        ]  # fmt: skip
    finally:
        store.close()


def test_observations_filters_and_pages(store_url: str) -> None:
    store = Store(store_url)
    try:
        write(store.backend, [*pair("a", 1.0, prompt="q"), _row(2.0)], classifier="v1")
        write(store.backend, pair("b", 3.0, model="n", source="probe"), classifier="v2")
        every = store.observations()
        assert [(r["pair_id"], r["role"], r["classifier"]) for r in every] == [
            ("a", "tuned", "v1"), ("a", "base", "v1"), (None, "tuned", "v1"),
            ("b", "tuned", "v2"), ("b", "base", "v2"),
        ]  # fmt: skip
        assert every[0]["prompt"] == "q" and every[0]["caution"] == 0
        assert [r["id"] for r in every] == sorted(r["id"] for r in every)
        assert [r["pair_id"] for r in store.observations(model="n")] == ["b", "b"]
        assert [r["ts"] for r in store.observations(source="live")] == [2.0]
        assert [r["ts"] for r in store.observations(since=2.0)] == [2.0, 3.0, 3.0]
        assert store.observations(limit=1, newest_first=True)[0]["id"] == every[-1]["id"]
        assert store.observations(after_id=every[2]["id"]) == every[3:]
    finally:
        store.close()


def test_an_older_store_is_migrated_to_the_latest_and_keeps_its_rows(tmp_path: Path) -> None:
    """A SQLite file from before the schema was versioned: no schema_migrations, and an
    observations table without the `classifier` column."""
    db = tmp_path / "old.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(
            "CREATE TABLE observations (id INTEGER PRIMARY KEY, ts REAL NOT NULL, model TEXT NOT "
            "NULL, source TEXT NOT NULL, role TEXT NOT NULL, category TEXT NOT NULL, refusal TEXT "
            "NOT NULL, caution INTEGER NOT NULL, refusal_score REAL, caution_score REAL, pair_id "
            "TEXT, request_id TEXT, pack TEXT, probe TEXT, expect TEXT, prompt TEXT, response TEXT)"
        )
        conn.execute("CREATE TABLE resets (id INTEGER PRIMARY KEY, ts REAL NOT NULL, "
                     "model TEXT NOT NULL, reason TEXT NOT NULL)")  # fmt: skip
        conn.execute("INSERT INTO observations (ts, model, source, role, category, refusal, "
                     "caution, pair_id, prompt) VALUES (1, 'm', 'mirror', 'tuned', 'medical', "
                     "'full', 1, 'old', 'q'), (1, 'm', 'mirror', 'base', 'medical', 'none', 0, "
                     "'old', 'q')")  # fmt: skip
        conn.execute("INSERT INTO resets (ts, model, reason) VALUES (0.5, 'm', 'admin')")
        conn.commit()
    store = Store(db)
    try:
        assert store.backend.schema_version() == LATEST
        versions = table_rows(store, "schema_migrations", "version")
        assert [v[0] for v in versions] == [m.version for m in MIGRATIONS]
        kept = store.observations()
        assert [(r["role"], r["refusal"], r["caution"], r["pair_id"], r["prompt"],
                 r["classifier"]) for r in kept] == [
            ("tuned", "full", 1, "old", "q", None), ("base", "none", 0, "old", "q", None)
        ]  # fmt: skip
        assert [(r["model"], r["ts"]) for r in store.resets()] == [("m", 0.5)]
        store.write_now(_row(2.0), classifier="v2")
        assert [r["classifier"] for r in store.observations()] == [None, None, "v2"]
        # v2's unique pair index now holds on the old table: a repeated pair is stored once
        store.write_now(*pair("old", 1.0))
        assert len(store.observations()) == 3
        assert store.backend.migrate() == []  # nothing left to do
    finally:
        store.close()
