"""Rows for the store tests: pairs and singles with chosen labels, written the way the
classifier process writes them (`insert` on a backend's connection, one transaction)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from typing import Any

from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.store import AuditPair, Observation, Store, insert
from tunewatch.monitoring.store_backends import Backend

REFUSALS = ("none", "partial", "full")
NONE = Labels("none", False)


def pair(
    pair_id: str,
    ts: float,
    *,
    model: str = "m",
    source: str = "mirror",
    category: str = "medical",
    tuned: Labels = NONE,
    base: Labels = NONE,
    prompt: str | None = None,
) -> list[Observation]:
    """A pair's two rows, tuned first."""
    return [
        Observation(ts, model, source, role, category, labels.refusal, labels.caution,
                    pair_id=pair_id, prompt=prompt)
        for role, labels in (("tuned", tuned), ("base", base))
    ]  # fmt: skip


def single(
    ts: float, *, role: str = "tuned", model: str = "m", labels: Labels = NONE
) -> Observation:
    """An answer without a partner (live traffic)."""
    return Observation(ts, model, "live", role, "other", labels.refusal, labels.caution)


def audit(pair_id: str, ts: float, sort_key: float = 0.5) -> AuditPair:
    said = Labels("none", False)
    return AuditPair(
        pair_id, ts, "m", "mirror", "medical", "prompt", "tuned answer", "base answer",
        said, said, swap=False, sort_key=sort_key,
    )  # fmt: skip


def write(
    backend: Backend, records: Iterable[Observation | AuditPair], classifier: str = "v1"
) -> None:
    """One batch in one transaction, as the classifier process's writer commits it."""
    with backend.connect() as conn:
        insert(conn, list(records), classifier)


def mixed_rows(
    seed: int, now: float, count: int, *, prefix: str = "p", models: Sequence[str] = ("m", "n")
) -> list[Observation]:
    """`count` pairs and about a third as many singles with varied labels, models, sources,
    categories and times in the last two hours: well inside or well outside a one-hour
    window, none at its edge (DriftEngine's oldest bucket there goes by row order)."""
    rng = random.Random(seed)

    def ts() -> float:
        return now - (rng.uniform(0, 3300) if rng.random() < 0.5 else rng.uniform(3900, 7200))

    rows: list[Observation] = []
    for i in range(count):
        labels = [Labels(rng.choice(REFUSALS), rng.random() < 0.4) for _ in range(2)]
        rows += pair(
            f"{prefix}{i}", ts(), model=rng.choice(models),
            source=rng.choice(("mirror", "probe")), category=rng.choice(("medical", "legal")),
            tuned=labels[0], base=labels[1],
        )  # fmt: skip
        if i % 3 == 0:
            rows.append(
                single(ts(), role=rng.choice(("tuned", "base")),
                       model=rng.choice(models),
                       labels=Labels(rng.choice(REFUSALS), rng.random() < 0.4))
            )  # fmt: skip
    return rows


def table_rows(store: Store, table: str, order: str) -> list[tuple[Any, ...]]:
    """Every row of `table` in `order`, read on the store's own connection."""
    with store.backend.connect() as conn:
        return [tuple(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")]
