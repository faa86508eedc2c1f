"""The two places evidence can live: an embedded SQLite file (one replica) and a PostgreSQL
database that a fleet of replicas shares. Both speak DB-API with `?` placeholders here; the
store's queries are written once and each backend translates what it must.

psycopg 3 rather than asyncpg: the writer runs in the classifier process, which has no event
loop, and the proxy's reads run in threads, so a synchronous driver with a thread-safe pool
fits both; its executemany pipelines the statements of a batch in one round trip, and the
binary wheel carries libpq, so nothing else needs installing.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from tunewatch.monitoring.store_schema import DIALECTS, LATEST, MIGRATIONS, V1_ADDED_COLUMNS

# A number both backends' migration locks use, so two replicas starting at once take turns.
_MIGRATION_LOCK = 0x7475_6E65  # "tune"
# Statements a writer or reader may run before the database gives up on them: a transaction
# stays short, which the fleet reader's overlap relies on (monitoring/fleet.py).
STATEMENT_TIMEOUT_MS = 30_000


class SchemaError(RuntimeError):
    """The database's schema is not one this version can use as it is."""


class Cursor(Protocol):
    rowcount: int
    description: Any

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    def execute(self, query: str, args: Sequence[Any] = ...) -> Cursor: ...
    def executemany(self, query: str, args: Any) -> Any: ...


def redact(url: str) -> str:
    """The URL with its password (in the user part or the query) replaced, for logs and
    messages."""
    parts = urlsplit(url)
    if parts.password is None and "password=" not in parts.query:
        return url
    if parts.password is not None:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        parts = parts._replace(netloc=netloc)
    query = re.sub(r"(^|&)password=[^&]*", r"\1password=***", parts.query)
    return urlunsplit(parts._replace(query=query))


def open_failure(where: str, exc: BaseException) -> str | None:
    """What to say when a store could not be opened, the URL's password masked; None for an
    exception that is no database's (a bug: let it rise)."""
    if isinstance(exc, SchemaError):
        return str(exc)
    if not type(exc).__module__.startswith(("psycopg", "sqlite3")):
        return None
    said = str(exc).strip().splitlines()
    return f"cannot open {redact(where)} as a tunewatch store: {said[0] if said else repr(exc)}"


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class Backend:
    """What differs between the databases; `Store` and the writer hold one."""

    dialect: str
    shared: bool  # several processes write here, so a replica's view is not the fleet's
    errors: tuple[type[BaseException], ...]
    unreachable: tuple[type[BaseException], ...]  # among `errors`: a later retry may pass

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for one unit of work, committed when the block ends without error."""
        raise NotImplementedError
        yield

    def close(self) -> None:
        pass

    def describe(self) -> str:
        raise NotImplementedError

    # -- migrations ------------------------------------------------------------------------
    def schema_version(self) -> int:
        with self.connect() as conn:
            return self._version(conn)

    def migrate(self) -> list[int]:
        """Apply the missing migrations under the migration lock, in one transaction; returns
        the versions applied. Raises `SchemaError` for a schema newer than this version."""
        with self.connect() as conn:
            self._lock(conn)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, applied {real} NOT NULL)".format(
                    **DIALECTS[self.dialect]
                )
            )
            current = self._version(conn)
            check_known(current, self.describe())
            applied = []
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                if migration.before is not None:  # mend data an older version wrote
                    migration.before(conn)
                for statement in migration.sql(self.dialect):
                    conn.execute(statement)
                if migration.version == 1:
                    self._add_v1_columns(conn)
                conn.execute(
                    "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)",
                    (migration.version, time.time()),
                )
                applied.append(migration.version)
            return applied

    def _version(self, conn: Connection) -> int:
        try:
            row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        except self.errors:
            self._after_error(conn)
            return 0
        return int(row[0] or 0)

    def _after_error(self, conn: Connection) -> None:
        pass

    def _lock(self, conn: Connection) -> None:
        raise NotImplementedError

    def _add_v1_columns(self, conn: Connection) -> None:
        pass


def check_known(version: int, where: str) -> None:
    if version > LATEST:
        raise SchemaError(
            f"the store {where} has schema version {version}, newer than this tunewatch knows "
            f"({LATEST}): a newer tunewatch migrated it; upgrade this one rather than let it "
            "write there"
        )


class SqliteBackend(Backend):
    dialect = "sqlite"
    shared = False
    errors = (sqlite3.Error,)
    unreachable = (sqlite3.OperationalError,)

    def __init__(self, path: Path) -> None:
        self.path = path
        self._wal = False  # the file is in WAL mode (it stays so once set)

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30.0, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout=30000")
        if not self._wal:
            self._use_wal(conn)
        conn.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes under WAL
        return conn

    def _use_wal(self, conn: sqlite3.Connection, timeout: float = 30.0) -> None:
        """WAL, so reports read while the classifier writes. Switching a new file's journal
        mode answers "database is locked" at once, without waiting, while another process
        opens it too (the proxy and its classifier at start): try again until it takes."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
            else:
                self._wal = True
                return

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with closing(self._open()) as conn, conn:
            yield conn  # type: ignore[misc]

    def describe(self) -> str:
        return f"sqlite:///{self.path}"

    def _lock(self, conn: Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")  # the file's write lock, held to the commit

    def _add_v1_columns(self, conn: Connection) -> None:
        """Stores made before the schema was versioned may lack a column of v1."""
        for table, columns in V1_ADDED_COLUMNS.items():
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns:
                if name not in present:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


class PostgresBackend(Backend):
    dialect = "postgresql"
    shared = True

    def __init__(
        self, url: str, *, pool_size: int = 4, connect_timeout: float = 5.0, pooled: bool = True
    ) -> None:
        import psycopg
        import psycopg_pool

        self.url = url
        self.errors = (psycopg.Error,)
        self.unreachable = (psycopg.OperationalError, psycopg_pool.PoolTimeout)
        self.options: dict[str, Any] = {
            "connect_timeout": max(2, round(connect_timeout)),  # libpq's shortest is 2 s
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
            "application_name": "tunewatch",
        }
        self._conn: Any = None  # the unpooled connection, kept between units of work
        # A pool for the proxy's threads (reads, resets, reviews), opened by the first use, so
        # that nothing connects before it must. The classifier process's writer goes unpooled
        # (`pooled=False`): a pool waits out its whole timeout for a database that refuses
        # connections, and the writer must fail at once and let its buffer hold the rows.
        self._pool = (
            psycopg_pool.ConnectionPool(
                url, min_size=0, max_size=pool_size, kwargs=self.options, open=False,
                timeout=connect_timeout, check=psycopg_pool.ConnectionPool.check_connection,
            )
            if pooled
            else None
        )  # fmt: skip

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        if self._pool is None:
            with self._direct() as conn:
                yield conn
            return
        if self._pool.closed:
            self._pool.open(wait=False)
        with self._pool.connection() as conn:  # commits on a clean exit, rolls back otherwise
            yield _Translating(conn)

    @contextmanager
    def _direct(self) -> Iterator[Connection]:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True, **self.options)
        conn = self._conn
        try:
            with conn.transaction():
                yield _Translating(conn)
        except psycopg.OperationalError:
            conn.close()  # broken or not, the next unit of work connects afresh
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._conn is not None:
            self._conn.close()

    def describe(self) -> str:
        return redact(self.url)

    def _lock(self, conn: Connection) -> None:
        conn.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")

    def _after_error(self, conn: Connection) -> None:
        conn.rollback()  # type: ignore[attr-defined]  # a failed statement aborts its transaction


class _Translating:
    """A psycopg connection that takes the store's `?` placeholders."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, query: str, args: Sequence[Any] = ()) -> Any:
        return self.conn.execute(query.replace("?", "%s"), args or None)

    def executemany(self, query: str, args: Any) -> Any:
        with self.conn.cursor() as cursor:
            cursor.executemany(query.replace("?", "%s"), args)
            return cursor

    def rollback(self) -> None:
        self.conn.rollback()


def open_backend(location: str | Path, *, pooled: bool = True) -> Backend:
    """`sqlite:///PATH`, a plain path, or `postgresql://…` (`pooled`: for threads)."""
    if isinstance(location, Path):
        return SqliteBackend(location)
    if is_postgres(location):
        return PostgresBackend(location, pooled=pooled)
    return SqliteBackend(Path(location.removeprefix("sqlite:///")))
