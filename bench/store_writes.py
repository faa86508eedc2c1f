"""Store writes per second on both backends, side by side in one run: the classifier process's
writer path (`monitoring.store.insert`, one transaction per batch, on the connection the
writer uses) into a SQLite file and into a throwaway PostgreSQL (`start_postgres`).

Two batch sizes: 100 rows a transaction, about what a busy proxy's classifier batch carries
(its live rows and the pairs handed down with it), and 2,000, the most the writer puts in one
transaction when it empties its buffer after an outage (monitoring/store_buffer.py). The
rows are a mirrored pair's two observations without text (`store.keep_text: none`, the
default). Rounds alternate between the backends, and the figures are medians over rounds.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunewatch.monitoring.classifier_version import weights_version
from tunewatch.monitoring.store import Observation, Store, insert
from tunewatch.monitoring.store_backends import Backend, open_backend
from tunewatch.proxy.devstack.postgres import postgres_bindir, start_postgres

BATCHES = (100, 2_000)  # rows per transaction
CATEGORIES = ("medical", "legal", "benign", "cyber", "other")


def pairs(n: int) -> list[Observation]:
    """`n` mirrored pairs' rows, tuned then base, as `Monitor.record_pair` makes them."""
    rows = []
    now = time.time()
    for i in range(n):
        pair_id = uuid.uuid4().hex
        for role in ("tuned", "base"):
            row = Observation(
                ts=now + i * 1e-3, model="bench", source="mirror", role=role,
                category=CATEGORIES[i % len(CATEGORIES)],
                refusal=("none", "partial", "full")[(i + (role == "base")) % 3],
                caution=bool(i % 2), refusal_score=0.1, caution_score=0.9,
                pair_id=pair_id, request_id=f"req-{pair_id}",
            )  # fmt: skip
            rows.append(row)
    return rows


def _write(backend: Backend, rows: list[Observation], batch: int, classifier: str) -> float:
    """Seconds to write `rows`, `batch` to a transaction, as the classifier process does."""
    t0 = time.perf_counter()
    for start in range(0, len(rows), batch):
        with backend.connect() as conn:
            insert(conn, rows[start : start + batch], classifier)
    return time.perf_counter() - t0


def _stored(backend: Backend) -> int:
    with backend.connect() as conn:
        return int(conn.execute("SELECT count(*) FROM observations").fetchone()[0])


def measure(work: Path, n_pairs: int = 10_000, rounds: int = 3) -> dict[str, Any]:
    """Rows and pairs written per second on each backend, for each batch size."""
    classifier = weights_version(None)
    targets: dict[str, Callable[[], str]] = {}
    sqlite_path = work / "store-bench.db"
    targets["sqlite"] = lambda: f"sqlite:///{sqlite_path}"
    server = None
    if postgres_bindir() is not None:
        server = start_postgres(work / "store-bench-pg")
        targets["postgresql"] = lambda: server.url if server is not None else ""
    else:
        print("  store: PostgreSQL server binaries not found, its rows skipped", file=sys.stderr)
    out: dict[str, Any] = {"pairs": n_pairs, "rounds": rounds, "backends": {}}
    try:
        backends: dict[str, Backend] = {}
        for name, url in targets.items():
            Store(url()).close()  # the schema, migrated as a proxy's start-up does
            # the writer's own connection: unpooled, as the classifier process opens it
            backends[name] = open_backend(url(), pooled=False)
        seconds: dict[tuple[str, int], list[float]] = {}
        for r in range(rounds):
            for batch in BATCHES:
                for name, backend in backends.items():
                    rows = pairs(n_pairs)
                    before = _stored(backend)
                    elapsed = _write(backend, rows, batch, classifier)
                    assert _stored(backend) - before == len(rows), "rows went missing"
                    seconds.setdefault((name, batch), []).append(elapsed)
                    print(f"  round {r + 1} {name:10s} {batch:5d} rows/transaction "
                          f"{len(rows) / elapsed:9.0f} rows/s", file=sys.stderr)  # fmt: skip
        for backend in backends.values():
            backend.close()
    finally:
        if server is not None:
            server.remove()
    for (name, batch), times in seconds.items():
        best = statistics.median(times)
        out["backends"].setdefault(name, {})[str(batch)] = {
            "rows_per_transaction": batch,
            "rows_per_s": 2 * n_pairs / best,
            "pairs_per_s": n_pairs / best,
            "transactions_per_s": 2 * n_pairs / batch / best,
        }
    return out


def print_table(result: dict[str, Any], write: Callable[[str], Any]) -> None:
    write(
        f"\nStore writes ({result['pairs']:,} pairs a run, the classifier process's writer; "
        f"medians of {result['rounds']} rounds)\n"
    )
    write(f"{'backend':12s}{'rows/txn':>10s}{'rows/s':>10s}{'pairs/s':>10s}{'txn/s':>9s}\n")
    for name, by_batch in result["backends"].items():
        for row in by_batch.values():
            write(f"{name:12s}{row['rows_per_transaction']:10d}{row['rows_per_s']:10.0f}"
                  f"{row['pairs_per_s']:10.0f}{row['transactions_per_s']:9.1f}\n")  # fmt: skip


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tw-store-bench-") as tmp:
        print_table(measure(Path(tmp)), sys.stdout.write)
