"""Session fixtures: one real vLLM (CPU) for the whole run, the fake upstream, proxies, and one
throwaway PostgreSQL (per xdist worker) for the store tests."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import DEMO_FILES, REPO_ROOT
from tests.support.processes import Process, start_fake_upstream, start_proxy
from tunewatch.proxy.devstack.postgres import PostgresServer, postgres_bindir, start_postgres
from tunewatch.proxy.devstack.vllm import VllmServer, start_vllm, vllm_python

DEMO_MODELS = DEMO_FILES.models
DEMO_ADAPTERS = ("medical", "legal", "control")


def serving_models(
    workdir: Path, adapters: tuple[str, ...] = DEMO_ADAPTERS
) -> tuple[Path, str, dict[str, tuple[str, Path]]]:
    """(model dir, served name, adapters): the bundled demo models when present, else a random
    tiny Llama with one LoRA built into `workdir`."""
    if (DEMO_MODELS / "base" / "config.json").exists():
        chosen = {
            name: (f"demo-{name}", DEMO_MODELS / "adapters" / name)
            for name in adapters
            if (DEMO_MODELS / "adapters" / name / "adapter_config.json").exists()
        }
        return DEMO_MODELS / "base", "demo-base", chosen
    subprocess.run(
        [str(vllm_python()), str(REPO_ROOT / "tests/support/make_tiny_model.py"), str(workdir)],
        check=True,
        capture_output=True,
    )
    return workdir / "base", "tiny-base", {"lora": ("tiny-lora", workdir / "lora")}


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    """Real vLLM on CPU, once per test session."""
    workdir = tmp_path_factory.mktemp("vllm")
    model_dir, served, adapters = serving_models(workdir)
    server = start_vllm(model_dir, served, adapters, log_path=workdir / "vllm.log")
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _vllm_alive(request: pytest.FixtureRequest) -> Iterator[None]:
    """A dead vLLM is named as such, with its log, before and after each test that uses it,
    instead of surfacing later as a "connection refused" in some other test."""
    if "vllm_server" not in request.fixturenames:
        yield
        return
    server: VllmServer = request.getfixturevalue("vllm_server")
    _fail_if_dead(server, "before this test")
    yield
    _fail_if_dead(server, "during this test")


def _fail_if_dead(server: VllmServer, when: str) -> None:
    code = server.process.poll()
    if code is not None:
        pytest.fail(
            f"the session's vLLM server died {when} (exit {code}); its log ends:\n{server.log(30)}",
            pytrace=False,
        )


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


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL, started by the first test that asks for it (once per xdist
    worker). Shared: a test that stops, pauses or kills a server starts its own instead."""
    if postgres_bindir() is None:
        pytest.fail(
            "PostgreSQL server binaries not found: .ci/run installs Debian's postgresql "
            "(apt-get install postgresql), or set TUNEWATCH_PG_BINDIR",
            pytrace=False,
        )
    server = start_postgres(tmp_path_factory.mktemp("postgres"))
    yield server
    server.remove()


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A server of one test's own, which it may stop, restart or kill (the session's one is
    shared by the tests around it)."""
    if postgres_bindir() is None:
        pytest.fail("PostgreSQL server binaries not found: .ci/run installs Debian's postgresql")
    server = start_postgres(tmp_path / "postgres")
    yield server
    server.remove()


@pytest.fixture
def fresh_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a new empty database on the session's server, dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = postgres_server.create_database(name)
    yield url
    if not postgres_server.running:  # a test stopped it after all: the next tests need it
        postgres_server.restart()
    postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"], ids=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same store test on both backends: a new SQLite file, or a new PostgreSQL database
    (PostgreSQL starts only for the second)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    url: str = request.getfixturevalue("fresh_database")
    return url
