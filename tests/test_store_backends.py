"""The store's two backends: migrations and their lock, one row per pair and role, pruning,
the password kept out of URLs and messages, the buffered writer through an outage, the fleet
reader's increments, and replay giving the same evidence from SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import ValidationError

from tests.support.store_rows import audit, mixed_rows, pair, single, table_rows, write
from tunewatch.monitoring.drift import DriftEngine, DriftSettings, Labels
from tunewatch.monitoring.fleet import FleetReader
from tunewatch.monitoring.store import AuditPair, Observation, Store, insert
from tunewatch.monitoring.store_backends import SchemaError, open_backend, redact
from tunewatch.monitoring.store_buffer import BufferedWriter, record_bytes
from tunewatch.monitoring.store_schema import LATEST, MIGRATIONS
from tunewatch.proxy.config import ConfigError, StoreConfig, parse_config
from tunewatch.proxy.devstack.postgres import PostgresServer

DAY = 86400.0
VERSIONS = [m.version for m in MIGRATIONS]
FULL = Labels("full", False)


# -- migrations ------------------------------------------------------------------------------
def test_a_new_store_is_at_the_latest_version_and_migrating_again_applies_nothing(
    store_url: str,
) -> None:
    backend = open_backend(store_url)
    try:
        assert backend.schema_version() == 0
        assert backend.migrate() == VERSIONS
    finally:
        backend.close()
    store = Store(store_url)
    try:
        assert store.backend.schema_version() == LATEST
        assert store.backend.migrate() == []
        assert [r[0] for r in table_rows(store, "schema_migrations", "version")] == VERSIONS
    finally:
        store.close()


def test_stores_opened_at_once_take_turns_migrating(store_url: str) -> None:
    opening = threading.Barrier(8)

    def open_store() -> Store:
        opening.wait()
        return Store(store_url)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(open_store) for _ in range(8)]
        stores = [f.result(timeout=60) for f in futures]  # each raises what its thread raised
    try:
        assert [r[0] for r in table_rows(stores[0], "schema_migrations", "version")] == VERSIONS
        for i, store in enumerate(stores):
            store.write_now(*pair(f"p{i}", 1.0))
        assert len(stores[-1].observations()) == 16
    finally:
        for store in stores:
            store.close()


def test_a_schema_newer_than_this_version_is_refused(store_url: str) -> None:
    Store(store_url).close()
    backend = open_backend(store_url)
    try:
        with backend.connect() as conn:
            conn.execute(
                "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)", (LATEST + 1, 0.0)
            )
        for migrate in (True, False):
            with pytest.raises(SchemaError) as raised:
                Store(store_url, migrate=migrate, backend=backend)
            message = str(raised.value)
            assert f"schema version {LATEST + 1}, newer than this tunewatch knows ({LATEST})" in (
                message
            )
            assert backend.describe() in message
        assert backend.schema_version() == LATEST + 1  # left as it was
    finally:
        backend.close()


def test_without_migrating_an_empty_database_is_refused_with_the_command_to_run(
    store_url: str,
) -> None:
    backend = open_backend(store_url)
    try:
        with pytest.raises(SchemaError) as raised:
            Store(store_url, migrate=False, backend=backend)
        message = str(raised.value)
        assert "`tunewatch store migrate`" in message
        assert f"schema version 0, this tunewatch needs {LATEST}" in message
        assert backend.schema_version() == 0  # it created nothing
    finally:
        backend.close()
    Store(store_url).close()
    current = Store(store_url, migrate=False)  # once migrated, it opens
    current.close()


# -- one row per pair and role ----------------------------------------------------------------
def test_a_retried_batch_stores_each_pair_once(store_url: str) -> None:
    store = Store(store_url)
    try:
        batch: list[Observation | AuditPair] = [
            *pair("p1", 1.0, tuned=FULL), *pair("p2", 2.0), audit("p1", 1.0)
        ]  # fmt: skip
        for _ in range(2):  # the first commit went unacknowledged: the writer sends it again
            with store.backend.connect() as conn:
                assert insert(conn, batch, "v1") == 5
        rows = store.observations()
        assert [(r["pair_id"], r["role"], r["refusal"]) for r in rows] == [
            ("p1", "tuned", "full"), ("p1", "base", "none"),
            ("p2", "tuned", "none"), ("p2", "base", "none"),
        ]  # fmt: skip
        assert [p["pair_id"] for p in store.audit_pairs(with_text=False)] == ["p1"]
        # a later batch repeating one pair stores only its new one
        write(store.backend, [*pair("p2", 2.0, tuned=FULL), *pair("p3", 3.0)])
        assert [(r["pair_id"], r["refusal"]) for r in store.observations(since=2.0)] == [
            ("p2", "none"), ("p2", "none"), ("p3", "none"), ("p3", "none")
        ]  # fmt: skip
        assert store.rebuild(DriftEngine(DriftSettings())) == 3
    finally:
        store.close()


# -- retention ------------------------------------------------------------------------------
def test_prune_older_than_deletes_only_older_observations(store_url: str) -> None:
    now = 100 * DAY
    store = Store(store_url, retention_seconds=30 * DAY, clock=lambda: now)
    try:
        for age in (0, 10, 40, 59, 61, 90):
            write(store.backend, pair(f"p{age}", now - age * DAY))
        write(store.backend, [audit("a10", now - 10 * DAY), audit("a90", now - 90 * DAY, 0.9)])
        assert store.prune(older_than=60 * DAY) == 4  # ages 61 and 90, two rows each
        ages = sorted({round((now - r["ts"]) / DAY) for r in store.observations()})
        assert ages == [0, 10, 40, 59]
        assert [p["pair_id"] for p in store.audit_pairs(with_text=False)] == ["a10"]
        assert store.prune(older_than=60 * DAY) == 0
        assert store.prune() == 4  # the configured 30 days: ages 40 and 59
        assert len(store.observations()) == 4
    finally:
        store.close()


# -- the password ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://tw:s3cret@db:5432/tunewatch", "postgresql://tw:***@db:5432/tunewatch"),
        (
            "postgres://tw:p%40ss%2Fw@db/tw?sslmode=require",
            "postgres://tw:***@db/tw?sslmode=require",
        ),
        ("postgresql://tw:@db/tw", "postgresql://tw:***@db/tw"),
        ("postgresql://tw@db:5432/tunewatch", "postgresql://tw@db:5432/tunewatch"),
        ("postgresql://db/tunewatch", "postgresql://db/tunewatch"),
        ("sqlite:///var/tunewatch.db", "sqlite:///var/tunewatch.db"),
    ],
)
def test_redact_hides_the_password_and_only_it(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_the_password_comes_from_the_environment_quoted_into_the_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = "p@ss/w:rd%"
    monkeypatch.setenv("TW_TEST_STORE_PASSWORD", secret)
    config = StoreConfig(
        url="postgresql://tw@db:5432/tunewatch", password_env="TW_TEST_STORE_PASSWORD"
    )
    url = config.resolved_url()
    assert url == "postgresql://tw:p%40ss%2Fw%3Ard%25@db:5432/tunewatch"
    parsed = conninfo_to_dict(url)  # what libpq reads from it
    assert (parsed["user"], parsed["password"], parsed["host"]) == ("tw", secret, "db")
    assert redact(url) == "postgresql://tw:***@db:5432/tunewatch"
    # from a mounted file, its trailing newline dropped
    (tmp_path / "pw").write_text("from-a-file\n")
    from_file = StoreConfig(url="postgresql://tw@db/tunewatch", password_file=tmp_path / "pw")
    assert from_file.resolved_url() == "postgresql://tw:from-a-file@db/tunewatch"
    # SQLite has no password to add
    sqlite = StoreConfig(url="sqlite:///var/tw.db", password_env="TW_TEST_STORE_PASSWORD")
    assert sqlite.resolved_url() == "sqlite:///var/tw.db"
    monkeypatch.delenv("TW_TEST_STORE_PASSWORD")
    with pytest.raises(ConfigError) as raised:
        config.resolved_url()
    assert "TW_TEST_STORE_PASSWORD" in str(raised.value) and "unset" in str(raised.value)


_CONFIG = """\
models:
  - name: med-assistant
    upstream: http://vllm:8000/v1
    base: {upstream: http://vllm:8000/v1, model: llama-base}
store: {url: "URL"}
"""


def test_a_url_with_its_password_inline_is_refused_without_repeating_it() -> None:
    assert parse_config(_CONFIG.replace("URL", "postgresql://tw@db/tunewatch")).store.url == (
        "postgresql://tw@db/tunewatch"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(_CONFIG.replace("URL", "postgresql://tw:hunter2-pw@db/tunewatch"))
    [error] = raised.value.errors
    assert error.startswith("<config>:5: store.url:") and "password_env" in error
    assert "hunter2-pw" not in str(raised.value)
    with pytest.raises(ValidationError):
        StoreConfig(url="postgres://tw:hunter2-pw@db/tunewatch")


# -- the buffered writer through an outage --------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stored(url: str) -> list[str]:
    store = Store(url)
    try:
        return [f"{r['pair_id']}:{r['role']}" for r in store.observations()]
    finally:
        store.close()


def _pairs(*names: str) -> list[str]:
    return [f"{name}:{role}" for name in names for role in ("tuned", "base")]


def test_the_buffered_writer_holds_rows_through_a_postgresql_outage(
    own_postgres: PostgresServer,
) -> None:
    server, clock = own_postgres, FakeClock()
    Store(server.url).close()  # migrated
    size = sum(record_bytes(r) for r in pair("b0", 1.0))
    writer = BufferedWriter(open_backend(server.url, pooled=False), "v1", 3 * size, clock)
    writer.add(pair("b0", 1.0))
    assert writer.flush() == (2, 0) and writer.up

    server.stop()
    writer.add(pair("b1", 1.0))
    assert writer.flush() == (0, 0)  # tried, failed: the rows wait
    assert not writer.up and writer.pending_rows == 2
    assert writer.due_in() == pytest.approx(0.5)
    writer.add(pair("b2", 1.0))
    writer.add(pair("b3", 1.0))  # at the bound
    clock.now = 1000.4
    assert writer.flush() == (0, 0) and writer.pending_rows == 6  # not due: no attempt
    writer.add(pair("b4", 1.0))  # over the bound: the oldest whole batch goes
    assert writer.pending_rows == 6 and writer.pending_bytes == 3 * size
    writer.add([*pair("b5", 1.0), *pair("b6", 1.0)])  # a probe round: two batches go for it
    assert writer.pending_rows == 6 and writer.pending_bytes == 3 * size
    assert writer.flush() == (0, 6)  # b1, b2, b3 counted lost
    clock.now = 1000.5
    assert writer.flush() == (0, 0) and not writer.up  # due: tried again, still down
    assert writer.due_in() == pytest.approx(1.0)  # the back-off doubled

    server.restart()
    clock.now = 1001.4
    assert writer.flush() == (0, 0) and writer.pending_rows == 6  # back, but not due yet
    assert _stored(server.url) == _pairs("b0")
    clock.now = 1001.5
    assert writer.flush() == (6, 0) and writer.up
    assert (writer.pending_rows, writer.pending_bytes, writer.due_in()) == (0, 0, None)
    assert _stored(server.url) == _pairs("b0", "b4", "b5", "b6")  # in order, none twice

    # finish(): one last attempt whatever the back-off ...
    server.stop()
    writer.add(pair("b7", 1.0))
    assert writer.flush() == (0, 0) and writer.due_in() == pytest.approx(0.5)
    server.restart()
    writer.finish()
    assert writer.flush() == (2, 0)
    # ... and with the database down, what is left is lost
    server.stop()
    writer.add(pair("b8", 1.0))
    writer.add(pair("b9", 1.0))
    writer.finish()
    assert writer.flush() == (0, 4)
    assert (writer.pending_rows, writer.pending_bytes) == (0, 0)
    server.restart()
    assert _stored(server.url) == _pairs("b0", "b4", "b5", "b6", "b7")


def test_the_buffered_writer_holds_rows_while_sqlite_cannot_take_them(tmp_path: Path) -> None:
    db, clock = tmp_path / "tw.db", FakeClock()
    Store(db).close()
    writer = BufferedWriter(open_backend(db), "v1", 1 << 20, clock)

    def rename(old: str, new: str) -> None:
        with closing(sqlite3.connect(db)) as conn:
            conn.execute(f"ALTER TABLE {old} RENAME TO {new}")

    writer.add(pair("b0", 1.0))
    assert writer.flush() == (2, 0)
    rename("observations", "observations_away")  # the table is gone for a while
    writer.add(pair("b1", 1.0))
    writer.add(pair("b2", 1.0))
    assert writer.flush() == (0, 0) and not writer.up and writer.pending_rows == 4
    rename("observations_away", "observations")
    assert writer.flush() == (0, 0)  # not due
    clock.now = 1000.5
    assert writer.flush() == (4, 0) and writer.up
    # a batch the database refuses (a NOT NULL column left empty) is lost alone
    writer.add([Observation(1.0, None, "live", "tuned", "other", "none", False)])
    assert writer.flush() == (0, 1) and writer.up
    writer.add(pair("b3", 1.0))
    assert writer.flush() == (2, 0)
    assert _stored(f"sqlite:///{db}") == _pairs("b0", "b1", "b2", "b3")


# -- the fleet reader -----------------------------------------------------------------------
NOW = 1_700_000_040.0  # a whole number of the window's buckets


def _engine() -> DriftEngine:
    return DriftEngine(DriftSettings(), clock=lambda: NOW)


def _counts(engine: DriftEngine) -> dict[Any, Any]:
    return {(s["model"], s["category"], s["metric"]): (s["pairs"], s["tuned"]["n"], s["base"]["n"])
            for s in engine.summaries()}  # fmt: skip


def test_the_fleet_reader_counts_every_committed_row_once(fresh_database: str) -> None:
    store = Store(fresh_database, clock=lambda: NOW)
    replica_a = open_backend(fresh_database, pooled=False)
    replica_b = open_backend(fresh_database, pooled=False)
    reader = FleetReader(store, _engine)
    held = _engine()  # what a replica's monitor holds
    try:
        write(replica_a, [*pair("a0", NOW - 60, tuned=FULL), *pair("a1", NOW - 50)])
        write(replica_b, [*pair("b0", NOW - 40), single(NOW - 30, role="base", labels=FULL)])
        with store.backend.connect() as conn:  # A's rows were written long before this read
            conn.execute("UPDATE observations SET written = written - 1000 WHERE pair_id LIKE 'a%'")
        whole, read, rows = reader.read()
        assert (whole, rows) == (True, 4)
        held.adopt(read)

        whole, read, rows = reader.read()
        assert (whole, rows) == (False, 0)  # nothing new

        write(replica_b, [*pair("b1", NOW - 20, model="n"), single(NOW - 10, labels=FULL)])
        write(replica_a, pair("a2", NOW - 10, base=FULL))
        whole, read, rows = reader.read()
        assert (whole, rows) == (False, 3)  # only the new rows, though B's earlier are as recent
        held.merge(read)

        # a transaction that began before a read and commits after it
        with replica_a.connect() as late:
            insert(late, pair("late", NOW - 5, tuned=FULL), "v1")
            write(replica_b, pair("b2", NOW - 4))  # begins and commits meanwhile
            whole, read, rows = reader.read()
            assert (whole, rows) == (False, 1)  # b2; the late pair is not committed yet
            held.merge(read)
        whole, read, rows = reader.read()
        assert (whole, rows) == (False, 1)  # the late pair, and b2 not again
        held.merge(read)
        assert reader.read()[2] == 0

        everything = _engine()
        assert store.rebuild(everything) == 9
        assert held.summaries() == everything.summaries()
        pairs = _counts(held)[("m", "medical", "refusal")][0]
        assert pairs == {"both": 0, "tuned_only": 2, "base_only": 1, "neither": 3}

        # a reset anywhere in the fleet: the next read is whole and drops what came before
        store.add_reset("m", "new adapter", ts=NOW - 15)
        whole, read, rows = reader.read()
        assert (whole, rows) == (True, 5)  # m's a2, single, late and b2 after it; n's b1
        held.adopt(read)
        assert held.resets == {"m": NOW - 15}
        write(replica_b, pair("b3", NOW - 1))
        whole, read, rows = reader.read()
        assert (whole, rows) == (False, 1)
        held.merge(read)
        everything = _engine()
        assert store.rebuild(everything) == 6
        assert held.summaries() == everything.summaries()
        assert _counts(held)[("m", "medical", "refusal")][0] == {
            "both": 0, "tuned_only": 1, "base_only": 1, "neither": 2
        }  # fmt: skip
    finally:
        for backend in (replica_a, replica_b):
            backend.close()
        store.close()


# -- replay on both backends ----------------------------------------------------------------
def _fed(rows: list[Observation], resets: dict[str, float]) -> DriftEngine:
    """An engine fed the rows directly, as the monitor adds them."""
    engine = _engine()
    by_pair: dict[str, dict[str, Observation]] = {}
    for row in rows:
        if row.ts < resets.get(row.model, float("-inf")):
            continue
        if row.pair_id is None:
            engine.add_single(row.model, row.source, row.category, row.role,
                              Labels(row.refusal, row.caution))  # fmt: skip
        else:
            by_pair.setdefault(row.pair_id, {})[row.role] = row
    for both in by_pair.values():
        t, b = both["tuned"], both["base"]
        engine.add_pair(t.model, t.source, t.category, Labels(t.refusal, t.caution),
                        Labels(b.refusal, b.caution), ts=t.ts)  # fmt: skip
    return engine


def test_replay_and_rebuild_give_the_same_evidence_on_both_backends(
    tmp_path: Path, fresh_database: str
) -> None:
    rows = mixed_rows(7, NOW, 60)
    resets = {"m": NOW - 3000}
    results: list[tuple[int, int, list[dict[str, Any]], list[dict[str, Any]], dict[str, float]]]
    results = []
    for url in (f"sqlite:///{tmp_path}/tw.db", fresh_database):
        store = Store(url, clock=lambda: NOW)
        try:
            for start in range(0, len(rows), 25):
                write(store.backend, rows[start : start + 25])
            store.add_reset("m", "new adapter", ts=resets["m"])
            all_rows, since_reset = _engine(), _engine()
            replayed = store.replay(all_rows, {})
            kept = store.rebuild(since_reset)
            results.append((replayed, kept, all_rows.summaries(), since_reset.summaries(),
                            since_reset.resets))  # fmt: skip
        finally:
            store.close()
    assert results[0] == results[1]
    replayed, kept, everything, rebuilt, rebuilt_resets = results[0]
    assert replayed == 80  # 60 pairs and 20 singles
    after_reset = [r for r in rows if r.model != "m" or r.ts >= resets["m"]]
    assert kept == sum(1 for r in after_reset if r.role == "tuned" or r.pair_id is None)
    assert 0 < kept < replayed and rebuilt_resets == resets
    # the totals are what the rows say; the window, only the last hour's of them
    for summaries, fed in ((everything, _fed(rows, {})), (rebuilt, _fed(rows, resets))):
        assert len(summaries) > 8
        assert [(s["pairs"], s["tuned"], s["base"]) for s in summaries] == [
            (s["pairs"], s["tuned"], s["base"]) for s in fed.summaries()
        ]
    recent = sum(1 for r in rows if r.role == "tuned" and r.pair_id and r.ts >= NOW - 3600)
    assert sum(s["window"]["n"] for s in everything if "window" in s) == 2 * recent


# -- mended after review -----------------------------------------------------------------------
def test_a_nul_in_text_is_stored_as_the_replacement_character_on_both(store_url: str) -> None:
    """PostgreSQL refuses NUL in TEXT and a client may send one (JSON allows it): the pair is
    stored, on both backends alike, rather than lost with its whole batch."""
    store = Store(store_url)
    try:
        store.write_now(*pair("a", 1.0), *pair("b", 1.0, prompt="x\x00y"))
        store.write_now(AuditPair("b", 1.0, "m", "mirror", "medical", "q\x00", "t\x00", "b",
                                  FULL, FULL, swap=False, sort_key=0.5))  # fmt: skip
        prompts = [r["prompt"] for r in store.observations() if r["pair_id"] == "b"]
        assert prompts == ["x\ufffdy", "x\ufffdy"]
        audited = store.audit_pair("b")
        assert audited is not None and (audited["prompt"], audited["tuned"]) == (
            "q\ufffd",
            "t\ufffd",
        )
    finally:
        store.close()


def test_a_refused_batch_in_a_backlog_is_lost_alone(tmp_path: Path) -> None:
    """After an outage the backlog goes in large transactions; a batch the database refuses
    must not take the good ones with it."""
    db, clock = tmp_path / "tw.db", FakeClock()
    Store(db).close()
    writer = BufferedWriter(open_backend(db), "v1", 1 << 20, clock)
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("ALTER TABLE observations RENAME TO observations_away")
    writer.add(pair("good1", 1.0))
    writer.add([Observation(1.0, None, "live", "tuned", "other", "none", False)])  # type: ignore[arg-type]
    writer.add(pair("good2", 1.0))
    assert writer.flush() == (0, 0) and writer.pending_rows == 5
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("ALTER TABLE observations_away RENAME TO observations")
    clock.now = 1000.5
    assert writer.flush() == (4, 1) and writer.up and writer.pending_bytes == 0
    assert _stored(f"sqlite:///{db}") == _pairs("good1", "good2")


def test_repeated_pair_ids_in_an_old_store_are_split_so_each_pairs_once(tmp_path: Path) -> None:
    """Two evaluations started in the same second once shared pair ids: v2 renames the repeats
    so each evaluation's rows pair up again (and its unique index can hold)."""
    db = tmp_path / "old.db"
    store = Store(db)
    store.close()
    with closing(sqlite3.connect(db)) as conn:  # back to v1, with what old versions wrote
        conn.execute("DROP INDEX observations_pair_role")
        conn.execute("DELETE FROM schema_migrations WHERE version = 2")
        conn.execute("DROP INDEX observations_written")
        conn.execute("ALTER TABLE observations DROP COLUMN written")
        for refusal in ("full", "none"):  # evaluation 1 refuses, evaluation 2 does not
            for role in ("tuned", "base"):
                conn.execute(
                    "INSERT INTO observations (ts, model, source, role, category, refusal, "
                    "caution, pair_id) VALUES (1, 'm', 'evaluate', ?, 'cyber', ?, 0, 'eval-1-0')",
                    (role, refusal if role == "tuned" else "none"),
                )
        conn.commit()
    store = Store(db)
    try:
        rows = store.observations()
        assert [(r["role"], r["pair_id"]) for r in rows] == [
            ("tuned", "eval-1-0"), ("base", "eval-1-0"),
            ("tuned", "eval-1-0#1"), ("base", "eval-1-0#1"),
        ]  # fmt: skip
        engine = _engine()
        assert store.rebuild(engine) == 2  # two pairs, not the four of a cross join
        table = engine.table(("m", "evaluate", "cyber", "refusal"))
        assert (table.tuned_only, table.neither) == (1, 1)
    finally:
        store.close()


def test_the_window_drops_old_pairs_whatever_order_they_were_restored_in() -> None:
    now = NOW
    engine = DriftEngine(DriftSettings(), clock=lambda: now)
    key = ("m", "mirror", "medical", "refusal")
    engine.add_pair("m", "mirror", "medical", FULL, Labels("none", False), ts=now - 60)
    engine.add_pair("m", "mirror", "medical", FULL, Labels("none", False), ts=now - 1800)
    assert engine.summary(key)["window"]["n"] == 2
    now += 1920  # the older pair is now past the hour's window, the newer one is not
    assert engine.summary(key)["window"]["n"] == 1


def test_a_percent_encoded_user_name_is_passed_on_as_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TW_TEST_PW", "p@ss")
    config = StoreConfig(url="postgresql://tw%40srv@h:5432/db", password_env="TW_TEST_PW")
    info = conninfo_to_dict(config.resolved_url())
    assert (info["user"], info["password"]) == ("tw@srv", "p@ss")


def test_a_password_in_the_query_is_refused_and_masked() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(_CONFIG.replace("URL", "postgresql://tw@db/tunewatch?password=secret-q"))
    [error] = raised.value.errors
    assert error.startswith("<config>:5: store.url:") and "secret-q" not in error
    assert redact("postgresql://u@h/db?sslmode=require&password=secret-q") == (
        "postgresql://u@h/db?sslmode=require&password=***"
    )
