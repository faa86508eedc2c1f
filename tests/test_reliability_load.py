"""Load and aborts against the scripted upstream: many concurrent streams, a thousand clients
that hang up mid-stream, and a mirror queue saturated under concurrency. Bounds on file
descriptors and memory are generous on purpose: they catch leaks, not slowness."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ProxyFactory
from tests.support.processes import Process
from tests.support.reliability import (
    aborted_stream,
    full_stream,
    metric,
    open_fds,
    rss_bytes,
    wait_until,
)

pytestmark = pytest.mark.slow  # seconds each: make test runs them, make unit does not

MESSAGES: Any = [{"role": "user", "content": "x"}]
MiB = 1024 * 1024


def _stream_body(model: str, **extra: Any) -> bytes:
    return json.dumps({"model": model, "messages": MESSAGES, "stream": True, **extra}).encode()


class _Peak:
    """Samples a process's open fds in a thread while a block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.fds = max(self.fds, open_fds(self.pid))

    def __enter__(self) -> _Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _settled_fds(pid: int, ceiling: int, timeout: float = 20.0) -> int:
    """Wait for idle keep-alive connections to expire (4 s) and fds to come down."""
    wait_until(lambda: open_fds(pid) <= ceiling, f"fds of {pid} back to <= {ceiling}", timeout)
    return open_fds(pid)


def test_1000_aborted_streams_leak_no_connections_tasks_or_memory(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    """A leak grows with the number of aborts; a library's pool sizes or buffers do not. So
    the streams are aborted in four rounds of 250 and what each round leaves behind (fds once
    idle keep-alives expired, RSS) is compared across rounds, never against an absolute peak
    that moves with dependency versions."""
    config = {
        "models": [{"name": "m", "upstream": fake_upstream.url, "upstream_model": "slow-stream"}],
        "store": {"url": f"sqlite:///{tmp_path / 'tw.db'}"},
        "probes": {"enabled": False},
        "auth": {"allow_anonymous": True},
    }
    proc = proxy_factory(config)
    pid = proc.process.pid
    body = _stream_body("m")
    upstream_stats = fake_upstream.url + "/stats"

    async def abort(n: int, concurrency: int = 25) -> int:
        limit = asyncio.Semaphore(concurrency)

        async def one() -> bool:
            async with limit:
                return await aborted_stream(proc.port, body)

        return sum(await asyncio.gather(*(one() for _ in range(n))))

    # warm up (pools, caches, the first classifier batch), then take the baseline
    assert asyncio.run(abort(50)) == 50
    wait_until(lambda: metric(proc, _aborted) == 50, "50 aborts counted")
    base_fds = open_fds(pid)
    upstream_before = httpx.get(upstream_stats).json()["aborted_streams"]

    rounds, per_round = 4, 250
    fds: list[int] = []
    rss: list[int] = []
    peaks: list[int] = []
    for done in range(1, rounds + 1):
        with _Peak(pid) as peak:
            # every stream had started before its abort
            assert asyncio.run(abort(per_round)) == per_round
        total = 50 + done * per_round
        wait_until(lambda t=total: metric(proc, _aborted) == t, f"{total} aborts counted", 30)
        fds.append(_settled_fds(pid, base_fds + 10))
        rss.append(rss_bytes(pid))
        peaks.append(peak.fds)

    # every upstream generation was cancelled, not left running to its 200 chunks
    wait_until(
        lambda: (
            httpx.get(upstream_stats).json()["aborted_streams"] - upstream_before
            >= rounds * per_round
        ),
        "the upstream to see 1,000 cancelled streams",
        30,
    )
    print(
        f"aborts, {rounds} rounds of {per_round}: settled fds {base_fds} -> {fds}; "
        f"peak fds {peaks}; rss MiB {[round(r / MiB, 1) for r in rss]}"
    )
    # What a round leaves behind does not grow with the rounds: a leak of one fd, task or
    # buffer per abort would add 250 fds or megabytes a round.
    assert max(fds) <= base_fds + 10
    assert fds[-1] <= fds[0] + 5
    assert rss[-1] - rss[0] < 16 * MiB  # three rounds after the first: < 22 KiB per abort
    assert metric(proc, 'tunewatch_requests_total{code="200",endpoint="chat",model="m"}') == 0


_aborted = 'tunewatch_requests_total{code="499",endpoint="chat",model="m"}'


def test_500_concurrent_streams_all_succeed_in_bounded_memory(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    config = {
        "models": [{"name": "m", "upstream": fake_upstream.url, "upstream_model": "stream-ok"}],
        "store": {"url": f"sqlite:///{tmp_path / 'tw.db'}"},
        "probes": {"enabled": False},
        "auth": {"allow_anonymous": True},
    }
    proc = proxy_factory(config)
    pid = proc.process.pid
    chunks = 40  # 40 chunks 5 ms apart: every stream lasts long enough to overlap the others
    body = _stream_body("m", n_chunks=chunks)

    async def run(n: int) -> list[bytes]:
        return list(await asyncio.gather(*(full_stream(proc.port, body) for _ in range(n))))

    asyncio.run(run(20))  # warm-up
    base_fds = open_fds(pid)
    base_rss = rss_bytes(pid)
    with _Peak(pid) as peak:
        answers = asyncio.run(run(500))
    failures = [a[:200] for a in answers if not _complete(a, chunks)]
    assert failures == [], f"{len(failures)} of 500 streams failed: {failures[:3]}"
    ok = 'tunewatch_requests_total{code="200",endpoint="chat",model="m"}'
    assert metric(proc, ok) == 520
    text = httpx.get(proc.root + "/metrics").text
    assert 'code="5' not in text and 'code="499"' not in text
    after_fds = _settled_fds(pid, base_fds + 10)
    after_rss = rss_bytes(pid)
    print(
        f"500 streams: fds {base_fds} -> peak {peak.fds} -> {after_fds}; "
        f"rss {base_rss / MiB:.1f} -> {after_rss / MiB:.1f} MiB"
    )
    assert peak.fds <= base_fds + 2 * 500 + 50  # at most a client and an upstream socket each
    assert after_rss < base_rss + 150 * MiB


def _complete(raw: bytes, chunks: int) -> bool:
    return (
        raw.startswith(b"HTTP/1.1 200")
        and raw.count(b'"content":"tok') == chunks
        and b"data: [DONE]" in raw
        and b'"error"' not in raw
    )


def test_saturated_mirror_queue_is_counted_and_never_blocks_clients(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    # Every request is mirrored to a base that never answers; only 2 mirror slots and a queue
    # of 4: 200 concurrent streaming clients must all finish, the overflow dropped and counted.
    config = {
        "models": [{
            "name": "m", "upstream": fake_upstream.url, "upstream_model": "stream-ok",
            "base": {"upstream": fake_upstream.url, "model": "hang", "timeout": "60s"},
            "mirror": {"rate": 1.0},
        }],
        "monitor": {"mirror_queue_size": 4, "mirror_concurrency": 2},
        "store": {"url": f"sqlite:///{tmp_path / 'tw.db'}"},
        "probes": {"enabled": False},
        "auth": {"allow_anonymous": True},
    }  # fmt: skip
    proc = proxy_factory(config)
    body = _stream_body("m", n_chunks=10)

    async def run(n: int) -> list[bytes]:
        return list(await asyncio.gather(*(full_stream(proc.port, body) for _ in range(n))))

    answers = asyncio.run(asyncio.wait_for(run(200), 60))
    assert sum(_complete(a, 10) for a in answers) == 200
    sampled = metric(proc, 'tunewatch_mirror_requests_total{model="m",outcome="sampled"}')
    dropped = metric(proc, 'tunewatch_mirror_requests_total{model="m",outcome="dropped"}')
    print(f"saturated mirror: {sampled:.0f} sampled, {dropped:.0f} dropped")
    assert sampled == 200
    assert dropped >= 200 - 4 - 2  # at most the queue plus the busy workers got a place
    assert metric(proc, 'tunewatch_monitor_dropped_total{queue="mirror"}') == dropped
    assert metric(proc, 'tunewatch_mirror_requests_total{model="m",outcome="completed"}') == 0
    assert httpx.get(proc.root + "/healthz", timeout=5).status_code == 200
