"""The store's retention: rows older than `store.retention` go, newer ones stay."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from tunewatch.monitoring.store import Observation, Store

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
