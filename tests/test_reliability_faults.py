"""Base-model faults seen from the client and from the metrics: a slow base, a dead base that
comes back. (Tuned-side faults live in test_proxy_faults.py; a down base with real vLLM in
test_mirror.py.)"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import openai

from tests.conftest import ProxyFactory
from tests.support.processes import Process, start_fake_upstream
from tests.support.reliability import metric, wait_until
from tunewatch.proxy.devstack.vllm import free_port

MESSAGES: Any = [{"role": "user", "content": "How long should I knead bread dough?"}]


def _config(
    tuned: str, base_url: str, base_model: str, db: Path, base_timeout: str = "120s"
) -> dict[str, Any]:
    return {
        "models": [{
            "name": "m", "upstream": tuned, "upstream_model": "ok",
            "base": {"upstream": base_url, "model": base_model, "timeout": base_timeout},
            "mirror": {"rate": 1.0},
        }],
        "monitor": {"mirror_concurrency": 4},
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{db}"},
        "auth": {"allow_anonymous": True},
    }  # fmt: skip


def _series(outcome: str) -> str:
    return f'tunewatch_mirror_requests_total{{model="m",outcome="{outcome}"}}'


def test_slow_base_never_slows_clients_and_each_failure_is_counted(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    # The base answers after 2 s; its timeout is 0.5 s: every mirror fails, no client waits.
    config = _config(fake_upstream.url, fake_upstream.url, "slow-ok", tmp_path / "tw.db", "500ms")
    proc = proxy_factory(config)
    client = openai.OpenAI(base_url=proc.url, api_key="k", max_retries=0, timeout=10)
    latencies = []
    for _ in range(12):
        started = time.monotonic()
        client.chat.completions.create(model="m", messages=MESSAGES)
        latencies.append(time.monotonic() - started)
    # generous: a client never waits for the base (2 s) nor for its timeout to fire serially
    assert max(latencies) < 1.5, latencies
    wait_until(lambda: metric(proc, _series("failed")) == 12, "12 mirror failures", 30)
    assert metric(proc, _series("sampled")) == 12
    assert metric(proc, _series("completed")) == 0
    timeouts = 'tunewatch_upstream_errors_total{kind="timeout",model="m",role="base"}'
    assert metric(proc, timeouts) == 12
    ok = 'tunewatch_requests_total{code="200",endpoint="chat",model="m"}'
    assert metric(proc, ok) == 12


def test_mirror_recovers_when_the_base_comes_back(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    proc = proxy_factory(_config(fake_upstream.url, base_url, "ok", tmp_path / "tw.db"))
    client = openai.OpenAI(base_url=proc.url, api_key="k", max_retries=0, timeout=10)
    for _ in range(5):
        client.chat.completions.create(model="m", messages=MESSAGES)
    wait_until(lambda: metric(proc, _series("failed")) == 5, "5 failed mirrors", 30)
    connect = 'tunewatch_upstream_errors_total{kind="connect",model="m",role="base"}'
    assert metric(proc, connect) == 5
    ready = httpx.get(proc.root + "/readyz").json()
    assert [u["ok"] for u in ready["upstreams"] if u["role"] == "base"] == [False]

    base = start_fake_upstream(tmp_path, port)  # the base returns, same address
    try:
        for _ in range(5):
            client.chat.completions.create(model="m", messages=MESSAGES)
        wait_until(lambda: metric(proc, _series("completed")) == 5, "5 completed mirrors", 60)
        assert metric(proc, _series("failed")) == 5  # nothing more failed after the return
        assert metric(proc, connect) == 5
        ready = httpx.get(proc.root + "/readyz").json()
        assert [u["ok"] for u in ready["upstreams"] if u["role"] == "base"] == [True]
        assert httpx.get(base.url + "/stats").json()["requests"] == 5
    finally:
        base.stop()
