"""The whole fleet's drift evidence, read from a shared store: with PostgreSQL every replica's
`/drift`, alarm, audit correction and exported counts rest on the same rows, its own and the
other replicas' and the probe runner's.

Rows arrive out of id order (replicas commit concurrently), so the reader does not follow ids.
Each row carries `written`, the database's clock when its transaction began; a transaction
that began before `LAG` seconds ago has committed or failed (the writers' statements time out
well before, store_backends.STATEMENT_TIMEOUT_MS). Each read asks for the rows written since
`LAG` before the last successful read and skips the ids it has already counted, so every
committed row is counted once, however late its commit, and a read that fails only widens
the next one.
"""

from __future__ import annotations

from collections.abc import Callable

from tunewatch.monitoring.drift import DriftEngine
from tunewatch.monitoring.store import Store

LAG = 120.0  # seconds: longer than any write transaction may take


class FleetReader:
    """Reads the increments; the caller applies them where the engine lives (the event loop)."""

    def __init__(self, store: Store, new_engine: Callable[[], DriftEngine]) -> None:
        self.store = store
        self.new_engine = new_engine
        self.resets: dict[str, float] | None = None
        self.floor: float | None = None  # rows written before this were all counted
        self.seen: dict[int, float] = {}  # ids counted with `written` at or after the floor

    def read(self) -> tuple[bool, DriftEngine, int]:
        """(whole, engine, rows): the whole evidence to adopt in place of what the caller
        holds (at the first read, and after a reset anywhere in the fleet), or an increment
        to merge; rows is how many rows it holds. Blocking: run it in a thread."""
        now = self.store.clock_now()
        resets = self.store.last_resets()
        engine = self.new_engine()
        engine.resets.update(resets)
        whole = self.floor is None or resets != self.resets
        if whole:
            self.seen.clear()
        cutoff = now - LAG

        def fresh(row_id: int, written: float | None) -> bool:
            if written is None or (written < cutoff and whole):
                return True  # old enough to be read once, by this whole read
            if row_id in self.seen:
                return False
            self.seen[row_id] = written
            return True

        rows = self.store.replay(
            engine, resets, written_since=None if whole else self.floor, fresh=fresh
        )
        self.seen = {i: w for i, w in self.seen.items() if w >= cutoff}
        self.resets, self.floor = resets, cutoff
        return whole, engine, rows
