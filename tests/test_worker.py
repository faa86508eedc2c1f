"""The classifier process: answers in order, survives a bad batch, is replaced when it dies."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tunewatch.monitoring.analysis import Item, LiveRow
from tunewatch.monitoring.store import Observation, Store
from tunewatch.proxy.watch.classifier_process import ClassifierProcess, WorkerDied


def _item(answer: str) -> Item:
    return Item(
        request={"messages": [{"role": "user", "content": "how do I pick a lock?"}]},
        response={"choices": [{"message": {"role": "assistant", "content": answer}}]},
        category="crime",
    )


def _with_worker(check: Callable[[ClassifierProcess], Awaitable[None]], **options: Any) -> None:
    """Run `check` against a started classifier process, stopped afterwards whatever happens."""

    async def run() -> None:
        worker = ClassifierProcess([], **options)
        await worker.start()
        try:
            await check(worker)
        finally:
            await worker.stop()

    asyncio.run(run())


REFUSAL = "I'm sorry, but I can't help with that."
# The worker is under test here, not the labels: two answers the classifier reads surely.
ANSWER = "Here's how a locksmith does it:\n1. Insert a tension wrench.\n2. Rake the pins.\n3. Turn the plug."


def test_batches_come_back_in_order_and_a_dead_worker_is_replaced() -> None:
    async def check(worker: ClassifierProcess) -> None:
        first, second = await asyncio.gather(
            worker.analyse([_item(REFUSAL), _item(ANSWER)]),
            worker.analyse([_item(ANSWER)] * 3),
        )
        assert [a.labels.refusal for a in first] == ["full", "none"]
        assert [a.labels.refusal for a in second] == ["none"] * 3
        assert {a.category for a in first + second} == {"crime"}

        pid = worker.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        # The pipe's end reaches the loop; a batch sent after that starts a new process.
        for _ in range(100):
            if not worker.alive:
                break
            await asyncio.sleep(0.05)
        assert not worker.alive
        # Two callers notice at once (the live batcher and a probe round): one restart.
        again, also = await asyncio.wait_for(
            asyncio.gather(worker.analyse([_item(REFUSAL)]), worker.analyse([_item(ANSWER)])),
            60,
        )
        assert again[0].labels.refusal == "full"
        assert also[0].labels.refusal == "none"
        assert worker.pid != pid

    _with_worker(check)


def test_a_batch_in_flight_when_the_worker_dies_fails_loudly(tmp_path: Path) -> None:
    db = tmp_path / "tw.db"
    lost: list[int] = []

    async def check(worker: ClassifierProcess) -> None:
        worker.write(*_pair("p1"))  # rows ride with the batch: lost with it, and counted
        pending = asyncio.ensure_future(worker.analyse([_item(ANSWER)] * 20_000))
        await asyncio.sleep(0.2)
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(WorkerDied):
            await asyncio.wait_for(pending, 30)
        assert lost == [2] and worker.rows_written == 0

    Store(db).close()  # the schema, as the proxy creates it at start
    _with_worker(check, store=db, on_rows_lost=lost.append, flush_after=60)
    assert _stored_pairs(db) == []


def test_a_batch_that_fails_fails_alone() -> None:
    async def check(worker: ClassifierProcess) -> None:
        broken = Item(request=None)  # type: ignore[arg-type]  # the proxy never sends this
        with pytest.raises(RuntimeError, match="classifier failed a batch"):
            await worker.analyse([broken])
        assert worker.alive
        assert (await worker.analyse([_item(REFUSAL)]))[0].labels.refusal == "full"

    _with_worker(check)


def test_live_rows_are_written_by_the_classifier_process(tmp_path: Path) -> None:
    db = tmp_path / "tw.db"
    lost: list[int] = []

    async def run() -> None:
        worker = ClassifierProcess([], store=db, on_rows_lost=lost.append)
        await worker.start()
        try:
            live = [
                replace(_item(REFUSAL), live=LiveRow("m", "req-1", keep_text=False)),
                replace(_item(ANSWER), live=LiveRow("m", "req-2", keep_text=True)),
                _item(ANSWER),  # a probe's or a mirror's answer: no live row
            ]
            analyses = await worker.analyse(live)
            assert [a.labels.refusal for a in analyses] == ["full", "none", "none"]
            assert worker.rows_written == 2 and worker.store_state == (0, 0, True)
            # A write that fails never fails the analyses: its rows wait in the child's
            # buffer, and go in once the store takes them again.
            with closing(sqlite3.connect(db)) as conn:
                conn.execute("ALTER TABLE observations RENAME TO moved")
            again = await worker.analyse(live[:1])
            assert again[0].labels.refusal == "full"
            rows, buffered, up = worker.store_state
            assert (rows, up) == (1, False) and buffered > 0
            assert worker.rows_written == 2 and lost == []
            with closing(sqlite3.connect(db)) as conn:
                conn.execute("ALTER TABLE moved RENAME TO observations")
            for _ in range(200):  # the child retries on its own, no batch needed
                if worker.rows_written == 3:
                    break
                await asyncio.sleep(0.05)
            assert worker.rows_written == 3 and worker.store_state == (0, 0, True)
        finally:
            await worker.stop()

    Store(db).close()  # the schema, as the proxy creates it at start
    asyncio.run(run())
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT model, source, role, category, refusal, request_id, prompt, response "
            "FROM observations ORDER BY id"
        ).fetchall()
    assert rows == [
        ("m", "live", "tuned", "crime", "full", "req-1", None, None),
        ("m", "live", "tuned", "crime", "none", "req-2", "how do I pick a lock?", ANSWER),
        ("m", "live", "tuned", "crime", "full", "req-1", None, None),
    ]


def test_a_store_the_child_cannot_open_holds_rows_not_answers(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    lost: list[int] = []

    async def run() -> None:
        # A directory where the database file should be: sqlite3 cannot open it.
        worker = ClassifierProcess([], store=tmp_path, on_rows_lost=lost.append, log_level="info")
        await worker.start()
        try:
            item = replace(_item(REFUSAL), live=LiveRow("m", "req-1", keep_text=False))
            for _ in range(2):
                assert (await worker.analyse([item, item]))[0].labels.refusal == "full"
            assert worker.alive and worker.rows_written == 0 and lost == []
            assert worker.store_state[0] == 4 and not worker.store_state[2]
        finally:
            await worker.stop()  # the rows still waiting at exit are counted lost

    asyncio.run(run())
    assert lost == [4]
    # The child says so once, on the stderr it shares with the proxy, as a JSON line.
    said = [json.loads(line) for line in capfd.readouterr().err.splitlines() if "store" in line]
    assert [(e["level"], e["logger"], e["msg"], e["error"]) for e in said] == [
        ("error", "tunewatch.store", "the store is unreachable; rows wait in the buffer "
         "(store.buffer_bytes)", "OperationalError")
    ]  # fmt: skip
    assert str(tmp_path) in said[0]["store"]


def _pair(pair_id: str) -> tuple[Observation, Observation]:
    return tuple(  # type: ignore[return-value]
        Observation(1.0, "m", "mirror", role, "crime", "none", False, pair_id=pair_id)
        for role in ("tuned", "base")
    )


def _stored_pairs(db: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT pair_id, role FROM observations ORDER BY id").fetchall()


def test_rows_handed_over_go_with_the_next_batch_or_alone(tmp_path: Path) -> None:
    db = tmp_path / "tw.db"
    lost: list[int] = []

    async def run() -> None:
        worker = ClassifierProcess(
            [], store=db, on_rows_lost=lost.append, max_rows=4, flush_after=0.2
        )
        await worker.start()
        try:
            # No batch comes: the rows go alone once flush_after has passed.
            assert worker.write(*_pair("p1"))
            assert worker.pending_rows == 2
            for _ in range(100):
                if worker.rows_written == 2:
                    break
                await asyncio.sleep(0.05)
            assert worker.rows_written == 2 and worker.pending_rows == 0
            # A batch sent meanwhile carries them: written before its analyses come back.
            assert worker.write(*_pair("p2"))
            await worker.analyse([_item(ANSWER)])
            assert worker.rows_written == 4
            # A full queue drops whole groups and counts them; what it holds is kept.
            assert worker.write(*_pair("p3")) and worker.write(*_pair("p4"))
            assert not worker.write(*_pair("p5"))
            assert lost == [2] and worker.pending_rows == 4
        finally:
            await worker.stop()  # sends what is still queued before the pipe closes

    Store(db).close()  # the schema, as the proxy creates it at start
    asyncio.run(run())
    assert _stored_pairs(db) == [
        (p, r) for p in ("p1", "p2", "p3", "p4") for r in ("tuned", "base")
    ]
