"""End to end on the demo models: real vLLM, the proxy with mirroring and probes, traffic from
the openai SDK, a real Prometheus evaluating the project's alert rules, the dashboard's queries,
and `tunewatch evaluate` as a pipeline gate."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.dashboard import dashboard_exprs
from tests.support.paths import DEMO_FILES, REPO_ROOT, RULES_DIR
from tunewatch.probes.pack import BUILTIN_PACKS_DIR
from tunewatch.proxy.devstack import demo
from tunewatch.proxy.devstack.prometheus import (
    PrometheusServer,
    prometheus_binary,
    start_prometheus,
)
from tunewatch.proxy.devstack.vllm import VllmServer

pytestmark = pytest.mark.vllm

# Annotations mark rare events (a drift reset) and may rightly be empty; the audit panels that
# read people's reviews or a judge's verdicts stay empty until someone reviews (the demo draws
# pairs for review, which 'Pairs drawn' A shows, but nobody reviews them in this test).
MAY_BE_EMPTY = (
    "annotation",
    "panel 'Labeller bias",
    "panel 'Classifier agrees",
    "panel 'Drift corrected by the audit (tuned − base), with 95% bounds' A",
    "panel 'Drift corrected by the audit (tuned − base), with 95% bounds' B",
    "panel 'Drift corrected by the audit (tuned − base), with 95% bounds' C",
    "panel 'Pairs drawn for review and reviewed' B",
    "panel 'Judge model verdicts'",
)
# Latency alerts measure the stack's load, not an adapter's behaviour: on two CPU cores a
# streamed answer can wait seconds behind the mirror and probe traffic for its first token, and
# with `for: 0s` one such wait fires them for whichever model it hit.
LOAD_ALERTS = {"TunewatchHighLatency", "TunewatchSlowFirstToken"}
# Three packs keep the run to a few minutes of CPU generation: the drifting category, the
# over-refusal controls and one harmful category.
PACKS = [str(BUILTIN_PACKS_DIR / f"{name}.yaml") for name in ("medical", "over-refusal", "cyber")]


def _needs_demo_models(vllm: VllmServer) -> None:
    if set(vllm.adapters) != {"medical", "legal", "control"}:
        pytest.fail("the demo models are missing from deploy/demo/models")


@pytest.fixture(scope="module")
def stack(
    vllm_server: VllmServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[demo.Stack]:
    _needs_demo_models(vllm_server)
    workdir = tmp_path_factory.mktemp("demo")
    stack = demo.start_stack(
        DEMO_FILES, workdir, port=None, with_prometheus=False, probe_samples=1, say=sys.stderr,
        vllm=vllm_server, probe_paths=PACKS,
    )  # fmt: skip
    yield stack
    stack.proxy.stop()


@pytest.fixture(scope="module")
def prometheus(
    stack: demo.Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    if prometheus_binary() is None:
        pytest.fail("prometheus is not installed: .ci/run installs Debian's package")
    workdir = tmp_path_factory.mktemp("prometheus")
    rules = workdir / "rules"
    rules.mkdir()
    for path in RULES_DIR.glob("*.yml"):  # same rules, no `for:` wait, so the test is quick
        (rules / path.name).write_text(re.sub(r"\bfor: \d+[smh]", "for: 0s", path.read_text()))
    server = start_prometheus(
        [f"127.0.0.1:{stack.proxy.port}"], workdir, rules, scrape_interval="2s"
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def traffic(stack: demo.Stack, prometheus: PrometheusServer) -> dict[str, Any]:
    plan = demo.traffic_plan(demo.load_prompts(DEMO_FILES.heldout), focused=120, others=4)
    ok, failed = asyncio.run(demo.send_traffic(stack.proxy.url, plan, stack.api_key))
    assert failed == 0 and ok == len(plan)
    demo.wait_for_quiet(stack, packs=len(PACKS))
    _wait_for_rules(prometheus)
    return demo.fetch_drift(stack)


def _wait_for_rules(prometheus: PrometheusServer, timeout: float = 120.0) -> None:
    """Wait until the medical drift alert fires, or `timeout` passes (the test then says why).

    The alert sits at the end of a chain of recording-rule groups, and on two busy cores a
    scrape can miss its 2 s timeout, so a fixed sleep was sometimes a scrape or a group short.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _medical_alert(_firing(prometheus)):
            time.sleep(4)  # two more evaluations, so a wrongly firing control alert shows too
            return
        time.sleep(2)


def test_the_medical_adapter_drifts_and_the_control_does_not(traffic: dict[str, Any]) -> None:
    medical, control = demo.verdict(traffic)
    assert medical, demo.render_view(traffic)
    assert not control, demo.render_view(traffic)


def _firing(prometheus: PrometheusServer) -> list[dict[str, str]]:
    alerts = httpx.get(prometheus.url + "/api/v1/alerts").json()["data"]["alerts"]
    return [a["labels"] for a in alerts if a["state"] == "firing"]


def _medical_alert(firing: list[dict[str, str]]) -> bool:
    return any(
        "Drift" in a["alertname"] and a.get("model") == "med-assistant"
        and a.get("category") == "medical" and a.get("metric") == "caution"
        for a in firing
    )  # fmt: skip


def _targets(prometheus: PrometheusServer) -> list[dict[str, Any]]:
    targets = httpx.get(prometheus.url + "/api/v1/targets").json()["data"]["activeTargets"]
    return [{k: t.get(k) for k in ("health", "lastError", "lastScrapeDuration")} for t in targets]


def test_prometheus_fires_the_drift_alert_for_medical_only(
    traffic: dict[str, Any], prometheus: PrometheusServer
) -> None:
    firing = _firing(prometheus)
    assert _medical_alert(firing), (firing, _targets(prometheus))
    control = [a for a in firing if a.get("model") == "faq-assistant"]
    assert not [a for a in control if a["alertname"] not in LOAD_ALERTS], firing


def test_every_dashboard_query_returns_data(
    traffic: dict[str, Any], prometheus: PrometheusServer
) -> None:
    empty = []
    for where, expr in dashboard_exprs():
        response = httpx.get(prometheus.url + "/api/v1/query", params={"query": expr}).json()
        assert response["status"] == "success", (where, expr, response)
        if not response["data"]["result"] and not where.startswith(MAY_BE_EMPTY):
            empty.append(f"{where}: {expr}")
    assert not empty, "queries without data:\n" + "\n".join(empty)


@pytest.mark.parametrize(("adapter", "expected"), [("medical", 1), ("control", 0)])
def test_evaluate_gates_the_medical_adapter_and_passes_the_control(
    vllm_server: VllmServer, tmp_path: Path, adapter: str, expected: int
) -> None:
    _needs_demo_models(vllm_server)
    out = tmp_path / "eval.json"
    result = subprocess.run(
        [sys.executable, "-m", "tunewatch.proxy.cli", "evaluate",
         "--tuned-url", vllm_server.url, "--tuned-model", f"demo-{adapter}",
         "--base-url", vllm_server.url, "--base-model", "demo-base",
         "--pack", "medical", "--pack", "over-refusal", "--pack", "cyber",
         "--samples", "4", "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == expected, result.stdout + result.stderr
    assert "category" in result.stdout and out.exists()
    if expected:
        assert "REGRESSION: medical caution" in result.stderr


def test_each_demo_run_starts_from_an_empty_store(tmp_path: Path) -> None:
    """A second `make demo-once` must not count the first run's evidence in its verdict."""
    for name in ("tunewatch.db", "tunewatch.db-wal", "tunewatch.db-shm", "vllm.log"):
        (tmp_path / name).write_text("left by an earlier run")
    demo.clear_store(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vllm.log"]
