"""The proxy process's CPU per classified answer, measured in-process: `Monitor.finished`,
the round trip through the classifier process, and the recording (drift engine, metrics,
SQLite store). The classifier's own CPU is in its process and not counted here; the
overhead section shows what these costs do to throughput.
"""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import yaml

from bench.upstream import COMPLETION
from bench.wrk import chat_body
from tunewatch.probes.runner import upstream_client
from tunewatch.proxy.app import create_app
from tunewatch.proxy.config import load_config
from tunewatch.proxy.forward import Exchange

# What the overhead section sends and the scripted upstream answers.
_REQUEST = orjson.loads(chat_body("bench-tuned"))
_RESPONSE = orjson.loads(COMPLETION)


def measure(n: int = 10_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tw-monitor-cost-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump({
            "models": [{"name": "bench", "upstream": "http://127.0.0.1:9/v1",
                        "upstream_model": "bench-tuned"}],
            "store": {"url": f"sqlite:///{tmp}/tw.db"},
            "probes": {"enabled": False},
            "auth": {"allow_anonymous": True},
        }))  # fmt: skip
        runtime = create_app(load_config(path)).state.runtime
        return asyncio.run(_run(runtime, n))


async def _run(runtime: Any, n: int) -> dict[str, Any]:
    monitor, route = runtime.monitor, runtime.routes["bench"]

    def answer(i: int) -> None:
        exchange = Exchange(
            route, "chat", f"r{i}", dict(_REQUEST), 200, time.time(), False, response=_RESPONSE
        )
        exchange.complete = True
        monitor.finished(exchange)

    async def wait_written(total: int) -> None:
        # Every row is written by the classifier process: live rows and pairs alike.
        while monitor.classifier.rows_written < total:
            await asyncio.sleep(0.01)

    async with upstream_client() as upstreams:
        await monitor.start(upstreams, runtime.client)
        gc.collect()
        gc.freeze()  # as `serve` does after start-up
        try:
            for i in range(200):  # warm up: the worker process loads the classifier
                answer(i)
            await wait_written(200)
            child = monitor.classifier.pid
            cpu, wall, child_cpu = time.process_time(), time.perf_counter(), _cpu(child)
            for i in range(n):
                answer(200 + i)
                if i % 50 == 49:
                    await asyncio.sleep(0)  # the event loop turns between requests
            await wait_written(200 + n)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            child_cpu = _cpu(child) - child_cpu
        finally:
            await monitor.stop()
            gc.unfreeze()
    return {
        "answers": n,
        "proxy_cpu_us_per_answer": cpu / n * 1e6,
        "classifier_cpu_us_per_answer": child_cpu / n * 1e6,
        "wall_s": wall,
    }


def _cpu(pid: int | None) -> float:
    """User + system CPU seconds of a live process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
