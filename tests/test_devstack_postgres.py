"""The throwaway PostgreSQL launcher the store tests, benchmarks and demo use: it serves, it
stops and comes back on the same port with its data, and it recovers from a SIGKILL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tunewatch.proxy.devstack.postgres import PostgresServer, start_postgres


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PostgresServer]:
    """A server of this test's own: these tests stop and kill it."""
    started = start_postgres(tmp_path / "pg")
    yield started
    started.remove()


def _rows(url: str) -> list[tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, note FROM notes ORDER BY id").fetchall()


def test_it_serves_stops_and_restarts_with_its_data(server: PostgresServer) -> None:
    assert server.url == f"postgresql://tunewatch@127.0.0.1:{server.port}/tunewatch"
    with psycopg.connect(server.url) as conn:
        assert conn.execute("SELECT 1, current_user").fetchone() == (1, "tunewatch")
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO notes VALUES (1, 'kept')")
    for round_ in (1, 2):  # fault tests do this over and over
        server.stop()
        assert not server.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.url, connect_timeout=2)
        server.restart()
        assert _rows(server.url) == [(1, "kept")], f"round {round_}"
    assert "database system is ready to accept connections" in server.log(50)


def test_it_recovers_from_sigkill_with_committed_rows(server: PostgresServer) -> None:
    with psycopg.connect(server.url) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, note text)")
    conn = psycopg.connect(server.url)  # committed, then the crash comes at once
    conn.execute("INSERT INTO notes VALUES (1, 'committed')")
    conn.commit()
    conn.execute("INSERT INTO notes VALUES (2, 'in flight')")
    server.kill()
    conn.close()
    assert not server.running
    server.restart()
    assert _rows(server.url) == [(1, "committed")]
    assert "was interrupted" in server.log(50)  # crash recovery ran


def test_a_paused_server_hangs_connections_until_resumed(server: PostgresServer) -> None:
    server.pause()
    try:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(server.url, connect_timeout=1)
    finally:
        server.resume()
    with psycopg.connect(server.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_fresh_databases_are_empty_and_distinct(
    fresh_database: str, postgres_server: PostgresServer
) -> None:
    assert fresh_database != postgres_server.url
    with psycopg.connect(fresh_database) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE t (x int)")  # the tunewatch user owns it


def test_store_url_names_each_backend(store_url: str, tmp_path: Path) -> None:
    assert store_url.startswith(("sqlite:///", "postgresql://tunewatch@127.0.0.1:"))
