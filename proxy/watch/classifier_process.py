"""The classifier's process: batches go down one pipe and analyses come back up another, both
driven by the event loop.

Why not `ProcessPoolExecutor`: it moves every batch through two helper threads in the proxy
process (a manager and a queue feeder), and each of their wake-ups takes the GIL from the event
loop. Here the loop pickles a batch and hands the bytes to a pipe transport, and a protocol
unpickles the answer; the proxy process runs no thread for classification at all.

The child is also the proxy's only writer of observations: the live answers' rows, which it
builds itself, and the rows the proxy hands it (mirrored and probed pairs), which ride down the
pipe with the next batch. A writer thread in the proxy took the GIL from the event loop at
every wake-up and every statement (measured in docs/performance.md); here the database work
runs at the classifier's idle priority, and rows the database cannot take yet wait in the
child's byte-bounded buffer (monitoring/store_buffer.py) while classification goes on.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import pickle
import struct
from collections import deque
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from tunewatch.monitoring.analysis import Analysis, Item, analyse_batch, init_worker, live_rows
from tunewatch.monitoring.classifier_version import weights_version
from tunewatch.monitoring.store import AuditPair, Observation
from tunewatch.monitoring.store_backends import open_backend
from tunewatch.monitoring.store_buffer import BufferedWriter
from tunewatch.proxy.logs import setup_logging

log = logging.getLogger("tunewatch.worker")

_HEADER = struct.Struct("!i")  # multiprocessing.Connection's frame: a signed 32-bit length


def _file(conn: Connection, mode: str) -> Any:
    """The connection's pipe as an unbuffered file, for the event loop's pipe transports."""
    fd = os.dup(conn.fileno())
    conn.close()
    return os.fdopen(fd, mode, buffering=0)


class WorkerDied(RuntimeError):
    """The classifier process exited; the batches it held are lost."""


def _serve(
    requests: Connection,
    results: Connection,
    rules: list[tuple[str, str]],
    store: str | Path | None,
    log_level: str | None,
    weights: str | None,
    buffer_bytes: int,
) -> None:
    """The child: classify each batch in arrival order until the parent closes its pipe, and
    write the rows sent with the batch and the batch's live rows to `store` before answering;
    while rows wait for the store, retry when due and report what was written or lost.

    SCHED_IDLE rather than a nice value: Linux treats a CPU that runs only SCHED_IDLE tasks as
    idle when it places a waking task, so the event loop, the load it serves and the upstream
    take that CPU at once instead of sharing it (measured in docs/performance.md). Under
    overload the backlog fills, drops and counts, as every background queue here does.
    """
    if log_level is not None:  # a spawned child starts with Python's plain default handler
        setup_logging(log_level)
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):  # not Linux: the lowest nice value does what it can
        os.nice(19)
    init_worker(rules, weights)
    writer = None
    if store is not None:
        backend = open_backend(store, pooled=False)
        writer = BufferedWriter(backend, weights_version(weights), buffer_bytes)

    def send(reply: tuple[Any, Any]) -> None:
        counts = writer.flush() if writer is not None else (0, 0)
        state = (writer.pending_rows, writer.pending_bytes, writer.up) if writer else (0, 0, True)
        results.send_bytes(pickle.dumps((*reply, *counts, *state), pickle.HIGHEST_PROTOCOL))

    while True:
        due = writer.due_in() if writer is not None else None
        if due is not None and not requests.poll(due):
            send((None, None))  # no batch came: a retry of what waits, reported alone
            continue
        try:
            items, rows = pickle.loads(requests.recv_bytes())
        except EOFError:
            if writer is not None and writer.batches:
                writer.finish()  # one last try; what stays is counted lost
                send((None, None))
            return
        try:
            analyses = analyse_batch(items)
        except Exception as exc:  # a bad batch fails alone; the process keeps serving
            reply: tuple[bool, Any] = (False, f"{type(exc).__name__}: {exc}")
        else:
            reply = (True, analyses)
            rows += live_rows(items, analyses)
        if writer is not None:
            writer.add(rows)
        send(reply)


Waiting = deque[tuple[asyncio.Future[list[Analysis]], int]]  # a batch's future, rows sent with it


class _Replies(asyncio.Protocol):
    """Cuts the result pipe's bytes into frames and resolves the oldest waiting batch."""

    def __init__(self, waiting: Waiting, on_rows: Callable[[int, int], None]) -> None:
        self.waiting = waiting
        self.on_rows = on_rows
        # the child's buffer as its last frame told: rows waiting for the store, their bytes,
        # and whether its last attempt reached the store
        self.store_state = (0, 0, True)
        self.buffer = bytearray()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self.buffer)
            end = _HEADER.size + size
            if len(self.buffer) < end:
                return
            with memoryview(self.buffer) as view:
                ok, value, written, lost, *state = pickle.loads(view[_HEADER.size : end])
            del self.buffer[:end]
            self.store_state = (state[0], state[1], state[2])
            self.on_rows(written, lost)
            if ok is None:  # a retry's report, no batch's answer
                continue
            future, _ = self.waiting.popleft()
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(RuntimeError(f"classifier failed a batch: {value}"))

    def connection_lost(self, exc: Exception | None) -> None:
        buffered, _, _ = self.store_state
        if buffered:  # acknowledged but still waiting for the store when the child died
            self.on_rows(0, buffered)
            self.store_state = (0, 0, True)
        while self.waiting:
            future, rows = self.waiting.popleft()
            self.on_rows(0, rows)
            if not future.done():
                future.set_exception(WorkerDied("classifier process exited"))
        if not self.closed.done():
            self.closed.set_result(None)


class ClassifierProcess:
    """One spawned classifier; `analyse` answers in the order batches were sent.

    With a `store` (a path or URL), the child writes there before it answers: the live rows of
    items carrying a `LiveRow`, and the rows given to `write`, which go with the next batch or,
    when none comes within `flush_after` seconds, alone; rows the store cannot take yet wait
    in the child, up to `buffer_bytes`. `rows_written` counts them; `on_rows_lost` hears of
    rows that a refused write, an overflowing buffer, a dead child or a full queue
    (`max_rows`) lost. With a `log_level`, the child logs JSON lines like the proxy.
    """

    def __init__(
        self,
        rules: Sequence[tuple[str, str]],
        store: str | Path | None = None,
        on_rows_lost: Callable[[int], None] = lambda n: None,
        log_level: str | None = None,
        max_rows: int = 20_000,
        flush_after: float = 0.1,
        weights: str | None = None,
        buffer_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.rules = list(rules)
        self.weights = weights
        self.store = store
        self.on_rows_lost = on_rows_lost
        self.log_level = log_level
        self.max_rows = max_rows
        self.flush_after = flush_after
        self.buffer_bytes = buffer_bytes
        self.rows_written = 0
        self._rows: list[Observation | AuditPair] = []
        self._flush: asyncio.TimerHandle | None = None
        self._flushing: set[asyncio.Task[None]] = set()
        self._process: Any = None
        self._send: asyncio.WriteTransport | None = None
        self._replies: _Replies | None = None
        self._restarting = asyncio.Lock()  # the live batcher and a probe round may both notice

    async def start(self) -> None:
        # spawn, not fork: the parent runs an event loop and threads that must not be copied.
        ctx = multiprocessing.get_context("spawn")
        child_requests, parent_requests = ctx.Pipe(duplex=False)
        parent_results, child_results = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=_serve,
            args=(
                child_requests,
                child_results,
                self.rules,
                self.store,
                self.log_level,
                self.weights,
                self.buffer_bytes,
            ),
            name="tunewatch-classifier",
            daemon=True,
        )
        self._process.start()
        child_requests.close()
        child_results.close()
        loop = asyncio.get_running_loop()
        replies = _Replies(deque(), self._count_rows)
        await loop.connect_read_pipe(lambda: replies, _file(parent_results, "rb"))
        self._send, _ = await loop.connect_write_pipe(
            asyncio.Protocol, _file(parent_requests, "wb")
        )
        self._replies = replies

    def _count_rows(self, written: int, lost: int) -> None:
        self.rows_written += written
        if lost:
            self.on_rows_lost(lost)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._replies is not None and not self._replies.closed.done()

    @property
    def pending_rows(self) -> int:
        return len(self._rows)

    @property
    def store_state(self) -> tuple[int, int, bool]:
        """(rows, bytes, up): what waits in the child for the store, and whether the child's
        last attempt reached it."""
        return self._replies.store_state if self._replies is not None else (0, 0, True)

    def write(self, *rows: Observation | AuditPair) -> bool:
        """Queue rows written together (a pair's two) for the child; never blocks. False when
        the queue is full and they were dropped (and counted)."""
        if self.store is None:
            return True
        if len(self._rows) + len(rows) > self.max_rows:
            self.on_rows_lost(len(rows))
            return False
        self._rows += rows
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self.flush_after, self._flush_due)
        return True

    def _flush_due(self) -> None:
        self._flush = None
        if self._rows:  # no batch took them in time: send them alone
            task = asyncio.ensure_future(self._send_rows())
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    async def _send_rows(self) -> None:
        try:
            await self.analyse([])
        except Exception:  # a dead child's rows are counted lost where it is noticed
            log.exception("sending rows to the classifier process failed")

    async def analyse(self, items: Sequence[Item]) -> list[Analysis]:
        if not self.alive:
            async with self._restarting:
                if not self.alive:
                    if self._process is not None:
                        log.error("classifier process died; starting a new one")
                        await self.stop()
                    await self.start()
        return await self._post(items)

    def _post(self, items: Sequence[Item]) -> asyncio.Future[list[Analysis]]:
        """Send a batch with the queued rows; the future resolves with its analyses."""
        assert self._send is not None and self._replies is not None
        rows, self._rows = self._rows, []
        payload = pickle.dumps((list(items), rows), pickle.HIGHEST_PROTOCOL)
        future: asyncio.Future[list[Analysis]] = asyncio.get_running_loop().create_future()
        self._replies.waiting.append((future, len(rows)))
        self._send.write(_HEADER.pack(len(payload)) + payload)
        return future

    async def stop(self, timeout: float = 5.0) -> None:
        """Send the queued rows, close the pipe, let the child finish and exit; kill it if it
        will not."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        last = self._post([]) if self._rows and self.alive else None  # written before EOF
        if self._send is not None:
            self._send.close()
            self._send = None
        process, self._process = self._process, None
        if process is not None:
            await asyncio.to_thread(process.join, timeout)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, timeout)
        if self._replies is not None:
            await asyncio.wait_for(asyncio.shield(self._replies.closed), timeout)
            self._replies = None
        if last is not None and last.done():
            last.exception()  # retrieved: had the child died first, its rows were counted lost
