"""`tunewatch store migrate | prune | copy` on real SQLite and PostgreSQL, through the CLI's
own entry point."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.store import AuditPair, Observation, Store
from tunewatch.monitoring.store_schema import LATEST
from tunewatch.proxy.cli import main

DAY = 86400.0


def _fill(store: Store, now: float) -> None:
    """Pairs 0..90 days old under two classifier versions, an audited pair with a review, a
    reset and the classifier's metadata."""
    for age in range(0, 100, 10):
        store.write_now(
            *(
                Observation(now - age * DAY, "m", "mirror", role, "medical", "none", role == "base",
                            pair_id=f"p{age}", prompt="q" if age == 0 else None)
                for role in ("tuned", "base")
            ),
            classifier="v1" if age < 50 else "v0",
        )  # fmt: skip
    store.write_now(
        AuditPair("p0", now, "m", "mirror", "medical", "q", "a", "b", Labels("none", False),
                  Labels("full", True), swap=True, sort_key=0.25),
        classifier="v1",
    )  # fmt: skip
    store.add_review("p0", "ann", "human", Labels("partial", False), Labels("full", True))
    store.add_reset("m", "admin", ts=now - 5 * DAY)
    store.set_meta("classifier", "v1")


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["store", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_copy_moves_every_row_from_sqlite_to_postgresql(
    tmp_path: Path, fresh_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "old.db"
    old = Store(source)
    _fill(old, time.time())
    before = old.observations()
    old.close()

    code, out, err = _run(capsys, "copy", "--from", f"sqlite:///{source}", "--to", fresh_database)
    assert (code, err) == (0, ""), err
    assert "20 observations, 1 audit pairs, 1 reviews, 1 resets" in out

    copied = Store(fresh_database)
    try:
        after = copied.observations()
        keys = ("ts", "model", "role", "caution", "pair_id", "prompt", "classifier")
        assert [{k: r[k] for k in keys} for r in after] == [{k: r[k] for k in keys} for r in before]
        pair = copied.audit_pair("p0")
        assert pair is not None and pair["swap"] == 1 and pair["tuned"] == "a"
        [reviewed] = copied.reviewed_pairs()
        assert reviewed.reviewed[0] == Labels("partial", False)
        assert copied.meta() == {"classifier": "v1"}
        assert [(r["model"], r["reason"]) for r in copied.resets()] == [("m", "admin")]
    finally:
        copied.close()

    # a second copy would count everything twice: refused, nothing written
    code, out, err = _run(capsys, "copy", "--from", f"sqlite:///{source}", "--to", fresh_database)
    assert code == 2 and "already holds observations" in err and out == ""


def test_migrate_reports_what_it_applied_on_both_backends(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "migrate", "--url", store_url)
    assert code == 0 and f"-> {LATEST}" in out
    code, out, _ = _run(capsys, "migrate", "--url", store_url)
    assert code == 0 and "current; nothing to do" in out


def test_prune_deletes_only_what_is_older_on_both_backends(
    store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()
    store = Store(store_url)
    _fill(store, now)
    store.close()
    code, out, err = _run(capsys, "prune", "--url", store_url, "--older-than", "45d")
    assert code == 0, err
    assert "deleted 10 observations older than 45 days" in out
    store = Store(store_url)
    try:
        ages = sorted({round((now - r["ts"]) / DAY) for r in store.observations()})
        assert ages == [0, 10, 20, 30, 40]
    finally:
        store.close()


def test_errors_name_the_store_but_never_its_password(
    tmp_path: Path, postgres_server: object, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "prune", "--db", str(tmp_path / "none.db"), "--older-than", "1d")
    assert code == 2 and "no database at" in err
    dead = "postgresql://tunewatch:s3cret-pw@127.0.0.1:1/tunewatch"
    code, out, err = _run(capsys, "migrate", "--url", dead)
    assert code == 2 and "tunewatch:***@127.0.0.1:1/tunewatch" in err
    assert "s3cret-pw" not in out + err
