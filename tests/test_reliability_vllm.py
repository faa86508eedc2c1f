"""Real vLLM faults: a client abort cancels the generation inside vLLM, and vLLM restarted
under the proxy is survived without restarting the proxy.

Uses a vLLM process of its own (not the session's), because the test stops and restarts it,
and because it keeps vLLM's stats on: `vllm:num_requests_running` only exists then.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import DEMO_ADAPTERS, ProxyFactory, serving_models
from tests.support.reliability import (
    metric,
    open_fds,
    wait_until,
)
from tunewatch.proxy.devstack.vllm import VllmServer, free_port, start_vllm

pytestmark = pytest.mark.vllm


@dataclass
class OwnVllm:
    """A dedicated vLLM and what it takes to start it again on the same port."""

    server: VllmServer
    model_dir: Path
    served: str
    adapters: dict[str, tuple[str, Path]]
    workdir: Path
    max_tokens: int  # long enough to still be generating seconds later
    starts: int = 1

    @property
    def tuned(self) -> str:
        return next(iter(self.server.adapters.values()), self.served)

    def start(self) -> None:
        self.server = _start(self.model_dir, self.served, self.adapters, self.server.port,
                             self.workdir / f"vllm-{self.starts}.log")  # fmt: skip
        self.starts += 1

    def gauge(self, name: str) -> float:
        text = httpx.get(self.server.root + "/metrics", timeout=5).text
        values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                  if line.startswith(name + "{") or line.startswith(name + " ")]  # fmt: skip
        assert values, f"{name} not in vLLM's /metrics"
        return sum(values)


# A tiny model finishes its 512 positions in well under a second on a fast CPU, before the
# test can even look. vLLM does not extrapolate RoPE past the positions a model declares (its
# rotary cache is sized from the config, and a longer generation dies in `index_select`), so
# the module serves a copy of the model whose config declares a long context: the text is
# noise, which does not matter here, and one generation keeps going for many seconds.
CONTEXT = 16384


def long_context_copy(model_dir: Path, dest: Path, positions: int) -> Path:
    """`model_dir` with every file linked except config.json, which declares `positions`."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in model_dir.iterdir():
        if item.name != "config.json":
            (dest / item.name).symlink_to(item.resolve())
    config = json.loads((model_dir / "config.json").read_text())
    config["max_position_embeddings"] = positions
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    return dest


def _start(
    model_dir: Path, served: str, adapters: dict[str, tuple[str, Path]], port: int, log: Path
) -> VllmServer:
    return start_vllm(
        model_dir, served, adapters, port=port, log_path=log, log_stats=True,
        max_model_len=CONTEXT,
    )  # fmt: skip


@pytest.fixture(scope="module")
def own_vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnVllm]:
    workdir = tmp_path_factory.mktemp("own-vllm")
    model_dir, served, adapters = serving_models(workdir, DEMO_ADAPTERS[:1])
    model_dir = long_context_copy(model_dir, workdir / "long-context", CONTEXT)
    server = _start(model_dir, served, adapters, free_port(), workdir / "vllm-0.log")
    own = OwnVllm(server, model_dir, served, adapters, workdir, CONTEXT - 64)
    yield own
    own.server.stop()


def _proxy_config(own: OwnVllm, tmp_path: Path) -> dict[str, Any]:
    return {
        "models": [{"name": "t", "upstream": own.server.url, "upstream_model": own.tuned,
                    "connect_timeout": "2s"}],
        "store": {"url": f"sqlite:///{tmp_path / 'tw.db'}"},
        "probes": {"enabled": False},
        "auth": {"allow_anonymous": True},
    }  # fmt: skip


def test_client_abort_stops_the_generation_inside_vllm(
    own_vllm: OwnVllm, proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    proc = proxy_factory(_proxy_config(own_vllm, tmp_path))
    client = openai.OpenAI(base_url=proc.url, api_key="k", max_retries=0, timeout=60)
    assert own_vllm.gauge("vllm:num_requests_running") == 0
    tokens_before = own_vllm.gauge("vllm:generation_tokens_total")
    stream = client.completions.create(
        model="t", prompt="Once upon a time", max_tokens=own_vllm.max_tokens, stream=True,
        temperature=0, extra_body={"ignore_eos": True},
    )  # fmt: skip
    for received, _ in enumerate(stream, 1):
        if received == 3:
            break
    # still generating (the gauge is refreshed by vLLM's output loop, so allow it a moment)
    wait_until(lambda: own_vllm.gauge("vllm:num_requests_running") == 1, "vLLM running it", 5)
    aborted_at = time.monotonic()
    stream.close()  # the client hangs up
    took = wait_until(
        lambda: own_vllm.gauge("vllm:num_requests_running") == 0,
        "vLLM to drop the aborted request",
        10,
        every=0.05,
    )
    generated = own_vllm.gauge("vllm:generation_tokens_total") - tokens_before
    print(
        f"abort: vLLM running -> 0 in {took:.2f}s, {generated:.0f} of "
        f"{own_vllm.max_tokens} tokens generated"
    )
    assert generated < own_vllm.max_tokens  # it did not run to the end
    assert time.monotonic() - aborted_at < 10
    wait_until(
        lambda: (
            metric(proc, 'tunewatch_requests_total{code="499",endpoint="completions",model="t"}')
            == 1
        ),
        "the abort counted as 499",
        10,
    )


def test_vllm_restarted_mid_run_is_survived_without_restarting_the_proxy(
    own_vllm: OwnVllm, proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    proc = proxy_factory(_proxy_config(own_vllm, tmp_path))
    client = openai.OpenAI(base_url=proc.url, api_key="k", max_retries=0, timeout=60)

    def ask() -> None:
        client.completions.create(model="t", prompt="Once", max_tokens=4, temperature=0)

    for _ in range(3):
        ask()
    list(client.completions.create(model="t", prompt="Once", max_tokens=4, stream=True))
    pid = proc.process.pid
    baseline_fds = open_fds(pid)

    # a long stream is running when vLLM goes away: it must end, not hang
    ended: dict[str, Any] = {}

    def long_stream() -> None:
        try:
            for _ in client.completions.create(
                model="t", prompt="Once upon a time", max_tokens=own_vllm.max_tokens,
                stream=True, extra_body={"ignore_eos": True},
            ):  # fmt: skip
                ended.setdefault("first", time.monotonic())
            ended["how"] = "finished"
        except openai.APIError as exc:
            ended["how"] = f"error: {exc}"
        ended["at"] = time.monotonic()

    reader = threading.Thread(target=long_stream, daemon=True)
    reader.start()
    wait_until(lambda: "first" in ended, "the long stream to start", 30)
    own_vllm.server.stop()
    stopped = time.monotonic()
    reader.join(30)
    assert not reader.is_alive(), "the stream hung after vLLM stopped"
    print(f"in-flight stream at the stop: {ended['how'][:80]}")

    # the outage: fast 502s in OpenAI's shape, readiness says so
    outage = 5
    for _ in range(outage):
        started = time.monotonic()
        with pytest.raises(openai.APIStatusError) as info:
            ask()
        assert info.value.status_code == 502
        assert info.value.code == "upstream_unreachable"
        assert time.monotonic() - started < 5
    assert httpx.get(proc.root + "/readyz", timeout=10).status_code == 503

    own_vllm.start()  # same port, same model: the proxy is not touched
    print(f"vLLM down for {time.monotonic() - stopped:.0f}s")
    for _ in range(3):
        ask()  # the first request after the restart succeeds too: no stale pooled socket
    chunks = list(client.completions.create(model="t", prompt="Once", max_tokens=4, stream=True))
    assert chunks
    assert httpx.get(proc.root + "/readyz", timeout=10).status_code == 200
    connect = 'tunewatch_upstream_errors_total{kind="connect",model="t",role="tuned"}'
    assert metric(proc, connect) == outage
    ok = 'tunewatch_requests_total{code="200",endpoint="completions",model="t"}'
    # 4 before, the long stream (200 once started), 4 after; the last one is counted as its
    # handler finishes, which can be a moment after the client has read the final chunk
    wait_until(lambda: metric(proc, ok) == 9, "the last request to be counted", 10)
    # no stuck connections: idle keep-alives expire and the fds return to where they were
    wait_until(lambda: open_fds(pid) <= baseline_fds + 2, "proxy fds back to baseline", 20)
    assert proc.process.poll() is None
