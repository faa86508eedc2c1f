"""A throwaway PostgreSQL server (Debian's `postgresql` package) for the store tests, the
benchmarks and the demo: a fresh cluster in a work directory, tuned for speed rather than for
surviving a power cut, that fault tests can stop, pause, kill and bring back on the same port.

Durability against a *process* crash is kept on purpose: `fsync=off` and `full_page_writes=off`
only matter when the machine itself goes down, but `synchronous_commit` stays on, because with
it off a SIGKILL loses commits that the client was already told about, and crash tests check
exactly that those rows survive.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg import sql

from tunewatch.proxy.devstack.service import free_port

__all__ = ["PostgresServer", "free_port", "postgres_bindir", "start_postgres"]

DEBIAN_ROOT = Path("/usr/lib/postgresql")
REQUIRED = ("initdb", "pg_ctl", "postgres")
USER = "tunewatch"  # the cluster's bootstrap superuser, trusted without a password
DATABASE = "tunewatch"
SYSTEM_ACCOUNT = "postgres"  # Debian's package creates it; initdb and postgres refuse root
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the terminating NUL


def postgres_bindir() -> Path | None:
    """`TUNEWATCH_PG_BINDIR` when set, else the newest /usr/lib/postgresql/<version>/bin; None
    unless it holds the server binaries (a client-only version directory lacks initdb)."""
    override = os.environ.get("TUNEWATCH_PG_BINDIR")
    if override:
        candidates = [Path(override)]
    else:
        candidates = sorted(DEBIAN_ROOT.glob("*/bin"), key=_version, reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in REQUIRED):
            return bindir
    return None


def _version(bindir: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in bindir.parent.name.split("."))
    except ValueError:
        return (-1,)


@dataclass
class PostgresServer:
    """One cluster and, while it runs, its postmaster. The postmaster leads its own process
    group, so `kill()` takes every backend down with it, as a real crash (or OOM kill) would."""

    bindir: Path
    data_dir: Path
    socket_dir: Path
    port: int
    log_path: Path
    account: tuple[int, int] | None  # (uid, gid) to run as when we are root
    scratch: Path | None = None  # a directory of our own outside the workdir, removed by remove()
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.url_for(DATABASE)

    def url_for(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self, lines: int | None = None) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return text if lines is None else "\n".join(text.splitlines()[-lines:])

    def create_database(self, name: str) -> str:
        """A new empty database owned by the tunewatch user; returns its URL."""
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(USER)
                )
            )
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop `name`, ending any sessions a test left open on it."""
        with psycopg.connect(self.url_for("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def stop(self, timeout: float = 30.0) -> int | None:
        """Fast shutdown (SIGINT: end sessions, checkpoint, exit), then SIGKILL what lingers.
        The data stays for `restart()`. Returns the postmaster's exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self._signal_group(signal.SIGCONT)  # a paused server could not act on it
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend, with no shutdown checkpoint: the next start
        runs crash recovery."""
        if self.process is None:
            return
        self._signal_group(signal.SIGKILL)
        self.process.wait(10)
        self._wait_group_gone(5.0)

    def pause(self) -> None:
        """SIGSTOP the whole server: connections hang (the kernel still accepts them) instead of
        being refused, like a database behind a dead network link."""
        self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal_group(signal.SIGCONT)

    def restart(self, startup_timeout: float = 60.0) -> None:
        """Start again on the same data directory and port (stopping first if running) and
        wait until it accepts connections."""
        if self.running:
            self.stop()
        self._launch(startup_timeout)

    def remove(self) -> None:
        """Stop the server and delete the cluster's files (tens of MB per cluster)."""
        self.stop()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    def _signal_group(self, sig: int) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def _wait_group_gone(self, timeout: float) -> None:
        """Backends die a moment after the postmaster; one still attached to the old shared
        memory makes the next postmaster refuse to start. (An init that never reaps orphans
        leaves zombies here, which hold nothing: then this just waits out the timeout.)"""
        if self.process is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def _launch(self, startup_timeout: float) -> None:
        cmd = [
            str(self.bindir / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(self.port),
            "-h", "127.0.0.1",
            # No unix socket when its path would be too long (clients use TCP anyway).
            "-k", _socket_setting(self.socket_dir, self.port),
            "-c", "fsync=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(cmd, start_new_session=True, **self._run_as(log))
        self._wait_ready(startup_timeout)

    def _run_as(self, log: IO[bytes]) -> dict[str, Any]:
        """How its programs run: logging to `log`, in the data directory, as the account that
        owns the cluster (postgres refuses root) without root's supplementary groups."""
        uid, gid = self.account or (None, None)
        return {
            "stdout": log, "stderr": subprocess.STDOUT, "cwd": self.data_dir, "user": uid,
            "group": gid, "extra_groups": [] if self.account else None,
        }  # fmt: skip

    def _wait_ready(self, timeout: float) -> None:
        """Connect until it works; fail early, with the log, if the postmaster dies."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with {self.process.returncode}:\n{self.log(40)}"
                )
            try:
                with psycopg.connect(self.url_for("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"postgres not ready after {timeout:.0f}s:\n{self.log(40)}")


def start_postgres(
    workdir: Path, *, port: int | None = None, startup_timeout: float = 60.0
) -> PostgresServer:
    """A fresh cluster in `workdir/data` serving database `tunewatch` to user `tunewatch` (no
    password) on 127.0.0.1:`port` (a free one by default); its log is `workdir/postgres.log`."""
    bindir = postgres_bindir()
    if bindir is None:
        raise FileNotFoundError(
            "PostgreSQL server binaries not found (Debian: apt-get install postgresql; "
            "or point TUNEWATCH_PG_BINDIR at a directory holding initdb and postgres)"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    account = _system_account() if os.geteuid() == 0 else None
    home, scratch = _cluster_home(workdir, account)
    data_dir, socket_dir = home / "data", home / "run"
    for directory in (data_dir, socket_dir):
        directory.mkdir(mode=0o700)
        if account is not None:
            os.chown(directory, *account)
    if scratch is not None:  # keep the layout the docstring promises
        (workdir / "data").symlink_to(data_dir, target_is_directory=True)
    server = PostgresServer(
        bindir, data_dir, socket_dir, port or free_port(), workdir / "postgres.log", account,
        scratch,
    )  # fmt: skip
    try:
        _initdb(server)
        server._launch(startup_timeout)
        server.create_database(DATABASE)
    except BaseException:
        server.stop()
        if scratch is not None:  # nobody else knows where it is; the log in workdir stays
            shutil.rmtree(scratch, ignore_errors=True)
        raise
    return server


def _initdb(server: PostgresServer) -> None:
    cmd = [
        str(server.bindir / "initdb"),
        "-D", str(server.data_dir),
        "-U", USER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",  # C collation: no dependence on the machine's generated locales
        "--no-sync",
        "--no-instructions",
    ]  # fmt: skip
    with server.log_path.open("ab") as log:
        done = subprocess.run(cmd, check=False, **server._run_as(log))
    if done.returncode != 0:
        raise RuntimeError(f"initdb failed ({done.returncode}):\n{server.log(40)}")


def _system_account() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(SYSTEM_ACCOUNT)
    except KeyError:
        raise RuntimeError(
            f"running as root, and PostgreSQL refuses root: no `{SYSTEM_ACCOUNT}` account to run "
            "it as (Debian's postgresql package creates one)"
        ) from None
    return entry.pw_uid, entry.pw_gid


def _cluster_home(workdir: Path, account: tuple[int, int] | None) -> tuple[Path, Path | None]:
    """(where data/ and the socket go, a scratch directory to delete afterwards or None).
    `workdir` itself unless the `postgres` account cannot reach it, as under pytest's
    tmp_path (/tmp/pytest-of-root is 0700): then a private directory in the system temp dir."""
    if account is None or _reachable(workdir, account):
        return workdir, None
    scratch = Path(tempfile.mkdtemp(prefix="tunewatch-postgres-"))
    os.chown(scratch, *account)
    if not _reachable(scratch, account):
        shutil.rmtree(scratch, ignore_errors=True)
        raise RuntimeError(
            f"the {SYSTEM_ACCOUNT} account can reach neither {workdir} nor {scratch}: "
            "point TMPDIR at a directory it can traverse"
        )
    return scratch, scratch


def _reachable(directory: Path, account: tuple[int, int]) -> bool:
    """Whether `account` may enter `directory`: every parent must let it through too, which
    access(2) run as that account checks (ACLs included)."""
    uid, gid = account
    done = subprocess.run(
        ["test", "-x", str(directory)], user=uid, group=gid, extra_groups=[], check=False
    )
    return done.returncode == 0


def _socket_setting(socket_dir: Path, port: int) -> str:
    """The `unix_socket_directories` value: `socket_dir`, or none at all when the socket's path
    would not fit in a sockaddr_un (a deep tmp dir) and the postmaster would refuse to start."""
    return "" if len(f"{socket_dir}/.s.PGSQL.{port}") > SOCKET_PATH_MAX else str(socket_dir)
