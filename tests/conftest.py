"""Session fixtures: one real vLLM (CPU) for the whole run, the fake upstream, proxies."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from proxy.vllm_launcher import REPO_ROOT, VllmServer, start_vllm, vllm_python
from tests.support.processes import Process, start_fake_upstream, start_proxy

DEMO_MODELS = REPO_ROOT / "deploy" / "demo" / "models"
DEMO_ADAPTERS = ("medical", "legal", "control")


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """Real vLLM on CPU: the bundled demo models when present, else a random tiny Llama."""
    workdir = tmp_path_factory.mktemp("vllm")
    if (DEMO_MODELS / "base" / "config.json").exists():
        model_dir, served = DEMO_MODELS / "base", "demo-base"
        adapters = {
            name: (f"demo-{name}", DEMO_MODELS / "adapters" / name)
            for name in DEMO_ADAPTERS
            if (DEMO_MODELS / "adapters" / name / "adapter_config.json").exists()
        }
    else:
        subprocess.run(
            [str(vllm_python()), str(REPO_ROOT / "tests/support/make_tiny_model.py"), str(workdir)],
            check=True,
            capture_output=True,
        )
        model_dir, served = workdir / "base", "tiny-base"
        adapters = {"lora": ("tiny-lora", workdir / "lora")}
    server = start_vllm(model_dir, served, adapters, log_path=workdir / "vllm.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    proc = start_fake_upstream(tmp_path_factory.mktemp("fake"))
    yield proc
    proc.stop()


ProxyFactory = Callable[..., Process]


@pytest.fixture
def proxy_factory(tmp_path: Path) -> Iterator[ProxyFactory]:
    """Starts `tunewatch serve` processes from config dicts; stops them after the test."""
    started: list[Process] = []

    def factory(config: dict[str, Any], env: dict[str, str] | None = None) -> Process:
        proc = start_proxy(config, tmp_path, env)
        started.append(proc)
        return proc

    yield factory
    for proc in started:
        proc.stop()
