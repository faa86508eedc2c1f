"""Mirroring live traffic to the base model, off the request path, with real vLLM."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ProxyFactory
from tests.support.processes import Process
from tests.support.promtext import sample
from tunewatch.proxy.devstack.vllm import VllmServer, free_port
from tunewatch.proxy.watch.backlog import Backlog
from tunewatch.proxy.watch.mirror import sampled

MESSAGES: Any = [{"role": "user", "content": "what dose of ibuprofen is safe for a headache?"}]


def _config(vllm: VllmServer, db: Path, **extra: Any) -> dict[str, Any]:
    adapter = next(iter(vllm.adapters.values()))
    model: dict[str, Any] = {
        "name": "assistant",
        "upstream": vllm.url,
        "upstream_model": adapter,
        "base": {"upstream": vllm.url, "model": vllm.base_model},
        "mirror": {"rate": 1.0},
    }
    model.update(extra.pop("model", {}))
    return {
        "models": [model],
        "store": {"url": f"sqlite:///{db}", **extra.pop("store", {})},
        "auth": {"admin_token_env": "TW_ADMIN", "allow_anonymous": True},
        "probes": {"enabled": False},  # mirrored traffic only: no canary rounds mixed in
        **extra,
    }


def _wait(condition: Callable[[], bool], proc: Process, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    metrics = httpx.get(proc.root + "/metrics").text
    interesting = [ln for ln in metrics.splitlines() if "mirror" in ln or "monitor" in ln]
    raise AssertionError(
        "condition not met in time:\n" + "\n".join(interesting) + proc.log()[-3000:]
    )


def _metric(proc: Process, series: str) -> float:
    return sample(httpx.get(proc.root + "/metrics").text, series, default=0.0)


def _send(proc: Process, n: int, headers: dict[str, str] | None = None) -> None:
    client = openai.OpenAI(base_url=proc.url, api_key="k", max_retries=0, default_headers=headers)
    for i in range(n):
        if i % 2:
            client.chat.completions.create(model="assistant", messages=MESSAGES, max_tokens=8)
        else:
            list(client.chat.completions.create(
                model="assistant", messages=MESSAGES, max_tokens=8, stream=True
            ))  # fmt: skip


def _pairs(proc: Process) -> int:
    drift = httpx.get(proc.root + "/drift").json()
    return sum(
        sum(s["pairs"].values())
        for s in drift["series"]
        if s["source"] == "mirror" and s["metric"] == "refusal"
    )


def test_sampling_is_deterministic_per_request_id() -> None:
    ids = [f"req-{i}" for i in range(20_000)]
    share = sum(sampled(i, 0.1) for i in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert [sampled(i, 0.1) for i in ids[:100]] == [sampled(i, 0.1) for i in ids[:100]]
    assert not any(sampled(i, 0.0) for i in ids[:100]) and all(sampled(i, 1.0) for i in ids[:100])


@pytest.mark.vllm
def test_mirrored_pairs_are_measured_stored_and_survive_a_restart(
    proxy_factory: ProxyFactory, vllm_server: VllmServer, tmp_path: Path
) -> None:
    db = tmp_path / "tw.db"
    config = _config(vllm_server, db)
    env = {"TW_ADMIN": "admin-secret"}
    proc = proxy_factory(config, env=env)
    _send(proc, 6)
    _send(proc, 2, headers={"X-Tunewatch-Mirror": "off"})
    _wait(
        lambda: (
            _metric(proc, 'tunewatch_mirror_requests_total{model="assistant",outcome="completed"}')
            == 6
        ),
        proc,
    )
    assert (
        _metric(proc, 'tunewatch_mirror_requests_total{model="assistant",outcome="sampled"}') == 6
    )
    assert _pairs(proc) == 6
    base_answers = sum(
        float(line.rsplit(" ", 1)[1])
        for line in httpx.get(proc.root + "/metrics").text.splitlines()
        if line.startswith("tunewatch_responses_total{") and 'role="base"' in line
    )
    assert base_answers == 6
    # Pairs' rows go to the classifier process with its next batch, or alone within 0.1 s.
    _wait(lambda: _rows(db, "source = 'live'") == 8 and _rows(db, "source = 'mirror'") == 12, proc)
    assert _rows(db, "prompt IS NOT NULL OR response IS NOT NULL") == 0  # keep_text: none
    assert "ibuprofen" not in proc.log()

    proc.stop()
    again = proxy_factory(config, env=env)
    assert _pairs(again) == 6  # the drift state was rebuilt from the store

    denied = httpx.post(again.root + "/admin/drift/reset", headers={"Authorization": "Bearer no"})
    assert denied.status_code == 401
    ok = httpx.post(
        again.root + "/admin/drift/reset", headers={"Authorization": "Bearer admin-secret"}
    )
    assert ok.status_code == 200 and ok.json() == {"reset": ["assistant"]}
    assert _pairs(again) == 0
    again.stop()
    assert _pairs(proxy_factory(config, env=env)) == 0  # the reset is durable too


@pytest.mark.vllm
def test_base_model_down_never_reaches_clients(
    proxy_factory: ProxyFactory, vllm_server: VllmServer, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    config = _config(vllm_server, tmp_path / "tw.db")
    config["models"][0]["base"]["upstream"] = dead
    proc = proxy_factory(config)
    _send(proc, 4)  # raises if any client request failed
    _wait(
        lambda: (
            _metric(proc, 'tunewatch_mirror_requests_total{model="assistant",outcome="failed"}')
            == 4
        ),
        proc,
    )
    errors = 'tunewatch_upstream_errors_total{kind="connect",model="assistant",role="base"}'
    assert _metric(proc, errors) == 4
    assert (
        _metric(proc, 'tunewatch_requests_total{code="200",endpoint="chat",model="assistant"}') == 4
    )
    assert httpx.get(proc.root + "/readyz").status_code == 200  # readiness is about the tuned model


@pytest.mark.vllm
def test_category_header_and_text_keeping(
    proxy_factory: ProxyFactory, vllm_server: VllmServer, tmp_path: Path
) -> None:
    db = tmp_path / "tw.db"
    proc = proxy_factory(_config(vllm_server, db, store={"keep_text": "all"}))
    _send(proc, 1, headers={"X-Tunewatch-Category": "legal"})
    _send(proc, 1, headers={"X-Tunewatch-Category": "made-up-by-client"})
    _wait(lambda: _rows(db, "source = 'mirror'") == 4, proc)
    with sqlite3.connect(db) as conn:
        categories = {r[0] for r in conn.execute("SELECT category FROM observations")}
        prompts = {r[0] for r in conn.execute("SELECT prompt FROM observations")}
    assert categories == {"legal", "medical"}  # the unknown header value fell back to the tagger
    assert prompts == {MESSAGES[0]["content"]}


@pytest.mark.parametrize(
    ("monitor", "size"),
    [({"mirror_queue_size": 1}, 10), ({"queue_bytes": 64 * 1024}, 40_000)],
    ids=["full-in-items", "full-in-bytes"],
)
def test_full_mirror_queue_drops_and_counts_without_blocking(
    proxy_factory: ProxyFactory,
    fake_upstream: Process,
    tmp_path: Path,
    monitor: dict[str, int],
    size: int,
) -> None:
    config = {
        "models": [{
            "name": "m", "upstream": fake_upstream.url, "upstream_model": "ok",
            "base": {"upstream": fake_upstream.url, "model": "hang", "timeout": "3s"},
            "mirror": {"rate": 1.0},
        }],
        "monitor": {**monitor, "mirror_concurrency": 1},
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{tmp_path / 'tw.db'}"},
        "auth": {"allow_anonymous": True},
    }  # fmt: skip
    proc = proxy_factory(config)
    client = openai.OpenAI(base_url=proc.url, api_key="k", max_retries=0, timeout=5)
    messages: Any = [{"role": "user", "content": "x" * size}]
    for _ in range(10):
        client.chat.completions.create(model="m", messages=messages)
    dropped = _metric(proc, 'tunewatch_mirror_requests_total{model="m",outcome="dropped"}')
    assert _metric(proc, 'tunewatch_mirror_requests_total{model="m",outcome="sampled"}') == 10
    assert dropped >= 7  # one in flight, one queued (40 kB of the 64 kB), the rest dropped
    assert _metric(proc, 'tunewatch_monitor_dropped_total{queue="mirror"}') == dropped


def _rows(db: Path, where: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM observations WHERE {where}").fetchone()[0])


@pytest.mark.slow
def test_new_weights_under_the_same_name_reset_the_evidence(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    config = {
        "models": [{
            "name": "m", "upstream": fake_upstream.url, "upstream_model": "ok",
            "base": {"upstream": fake_upstream.url, "model": "ok"}, "mirror": {"rate": 1.0},
        }],
        "drift": {"check_identity": "1s"},
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{tmp_path / 'tw.db'}"},
        "auth": {"allow_anonymous": True},
    }  # fmt: skip
    httpx.get(fake_upstream.url + "/set-root/weights-a")
    proc = proxy_factory(config)
    client = openai.OpenAI(base_url=proc.url, api_key="k", max_retries=0)
    for _ in range(3):
        client.chat.completions.create(model="m", messages=MESSAGES)
    completed = 'tunewatch_mirror_requests_total{model="m",outcome="completed"}'
    _wait(lambda: _metric(proc, completed) == 3, proc)
    assert _pairs(proc) == 3
    httpx.get(fake_upstream.url + "/set-root/weights-b")  # the tuned model was redeployed
    _wait(
        lambda: (
            _metric(proc, 'tunewatch_drift_resets_total{model="m",reason="model_changed"}') == 1
        ),
        proc,
    )
    assert _pairs(proc) == 0
    proc.stop()
    again = proxy_factory(config)  # same weights as before the restart: nothing to reset
    time.sleep(2.5)
    assert _metric(again, 'tunewatch_drift_resets_total{model="m",reason="model_changed"}') == 0
    assert _pairs(again) == 0  # the stored reset still hides the old evidence


def _live_answers(proc: Process, model: str) -> float:
    lines = httpx.get(proc.root + "/metrics").text.splitlines()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in lines
        if line.startswith("tunewatch_responses_total{")
        and f'model="{model}"' in line
        and 'source="live"' in line
    )


@pytest.mark.vllm
def test_classify_rate_samples_unmirrored_answers_and_never_mirrored_ones(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    def model(name: str, mirror: float) -> dict[str, Any]:
        return {"name": name, "upstream": fake_upstream.url, "upstream_model": "ok",
                "base": {"upstream": fake_upstream.url, "model": "ok"},
                "mirror": {"rate": mirror}}  # fmt: skip

    proc = proxy_factory({
        "models": [model("sampled", 0.0), model("mirrored", 1.0)],
        "monitor": {"classify_rate": 0.25},
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{tmp_path / 'tw.db'}"},
        "auth": {"allow_anonymous": True},
    })  # fmt: skip
    client = openai.OpenAI(base_url=proc.url, api_key="k", max_retries=0, timeout=5)
    ids = [f"classify-test-{i}" for i in range(40)]
    for rid in ids:
        for name in ("sampled", "mirrored"):
            client.chat.completions.create(
                model=name, messages=MESSAGES, extra_headers={"X-Request-ID": f"{name}-{rid}"}
            )
    chosen = sum(sampled(f"classify:sampled-{rid}", 0.25) for rid in ids)
    assert 0 < chosen < len(ids)  # the sample is a real subset
    _wait(lambda: _live_answers(proc, "mirrored") == len(ids), proc, 30)
    _wait(lambda: _live_answers(proc, "sampled") == chosen, proc, 30)
    time.sleep(0.5)  # nothing beyond the sample arrives late
    assert _live_answers(proc, "sampled") == chosen


def test_backlog_serves_pairs_first_and_bounds_each_side() -> None:
    def pending(tag: str) -> Any:
        return (tag, lambda _analysis: None)

    async def run() -> None:
        backlog = Backlog(2, max_bytes=1000)
        assert backlog.put(pending("s1"), 100, pair=False)
        assert backlog.put(pending("s2"), 100, pair=False)
        assert not backlog.put(pending("s3"), 100, pair=False)  # the singles' side is full ...
        assert backlog.put(pending("p1"), 100, pair=True)  # ... and pairs still have room
        assert len(backlog) == 3 and backlog.nbytes == 300
        assert [tag for tag, _ in backlog.take(2)] == ["p1", "s1"]
        assert [tag for tag, _ in backlog.take(5)] == ["s2"]
        assert backlog.nbytes == 0

        waiter = asyncio.create_task(backlog.wait())
        await asyncio.sleep(0.01)
        assert not waiter.done()  # empty: the classifier sleeps
        backlog.put(pending("p2"), 100, pair=True)
        await asyncio.wait_for(waiter, 1.0)

        # The bound in bytes: one large answer fills a side that has room for more items.
        assert backlog.put(pending("big"), 900, pair=True)
        assert not backlog.put(pending("p3"), 1, pair=True)
        assert backlog.put(pending("s4"), 1000, pair=False)  # a side's own budget
        assert [tag for tag, _ in backlog.take(5)] == ["p2", "big", "s4"]
        assert backlog.put(pending("p4"), 1000, pair=True)  # taking frees the bytes

    asyncio.run(run())
