"""What `tunewatch serve` checks before it serves, and what it reports from the first moment:
client keys required unless serving without them is asked for, probe paths that give packs,
readiness that covers the probe scheduler, probe metrics at zero from the start; and the
small things a user expects of a command (`--version`, the licence)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.inprocess import AppThread, InProcess, build_config, series
from tests.support.paths import REPO_ROOT
from tests.support.processes import Process, start_proxy
from tests.support.startup import SEED_PACK, seed_packs
from tunewatch import __version__
from tunewatch.monitoring.metrics import Metrics
from tunewatch.proxy.config import ConfigError
from tunewatch.proxy.devstack.vllm import free_port
from tunewatch.proxy.runtime import build_runtime, check_client_auth

DEAD = "http://127.0.0.1:9/v1"  # nothing listens on port 9


def _config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """One model without a base (so no probes) unless `model` adds one."""
    model = {"name": "m", "upstream": DEAD, "upstream_model": "ok", **extra.pop("model", {})}
    return {
        "models": [model],
        "store": {"url": f"sqlite:///{tmp_path / 'tw.db'}"},
        **extra,
    }


def _serve(tmp_path: Path, config: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    """`tunewatch serve` on `config`, expected to exit on its own (refusing to start)."""
    path = tmp_path / "tunewatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TW_START_")}
    return subprocess.run(
        [sys.executable, "-m", "tunewatch.proxy.cli", "serve", "--config", str(path),
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env={**clean, **(env or {})},
    )  # fmt: skip


def _errors(result: Any) -> list[str]:
    """The lines `serve` printed that are not JSON log lines."""
    return [line for line in result.stderr.splitlines() if not line.startswith("{")]


# -- client keys ------------------------------------------------------------------------------
def test_serve_refuses_to_start_without_client_keys(tmp_path: Path) -> None:
    result = _serve(tmp_path, _config(tmp_path))
    assert result.returncode == 2, result.stderr
    (line,) = _errors(result)  # one line, naming the file and both ways out
    assert line.startswith(f"{tmp_path / 'tunewatch.yaml'}: auth: no client API keys configured")
    assert "auth.api_keys_env" in line and "auth.allow_anonymous: true" in line
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("value", [None, "", " , "], ids=["unset", "empty", "blank"])
def test_serve_refuses_a_key_env_var_that_is_unset_or_empty(
    tmp_path: Path, value: str | None
) -> None:
    config = _config(tmp_path, auth={"api_keys_env": "TW_START_KEYS"})
    result = _serve(tmp_path, config, {} if value is None else {"TW_START_KEYS": value})
    assert result.returncode == 2, result.stderr
    (line,) = _errors(result)
    assert "auth.api_keys_env: the environment variable TW_START_KEYS is unset or empty" in line


def test_serve_names_the_client_whose_key_env_var_is_unset(tmp_path: Path) -> None:
    config = _config(tmp_path, auth={"clients": [
        {"name": "alice", "key_env": "TW_START_ALICE"}, {"name": "bob", "key_env": "TW_START_BOB"},
    ]})  # fmt: skip
    result = _serve(tmp_path, config, {"TW_START_ALICE": "key-alice"})
    assert result.returncode == 2, result.stderr
    (line,) = _errors(result)
    assert "auth.clients.1.key_env: client 'bob': the environment variable TW_START_BOB" in line
    assert "key-alice" not in result.stderr


def test_allow_anonymous_serves_with_a_warning(tmp_path: Path) -> None:
    config = _config(tmp_path, auth={"allow_anonymous": True})
    proc = start_proxy(config, tmp_path)  # waits for /healthz
    try:
        models = httpx.get(proc.url + "/models", timeout=10)
        assert models.status_code == 200  # no key asked for
        warnings = [line for line in proc.log().splitlines() if '"level":"warning"' in line]
        assert any("serving WITHOUT client API keys" in w for w in warnings), proc.log()
    finally:
        proc.stop()


def test_client_auth_checks(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    def check(auth: dict[str, Any]) -> list[str]:
        try:
            check_client_auth(build_config({"models": [{"name": "m", "upstream": DEAD}],
                                            "auth": auth}))  # fmt: skip
        except ConfigError as err:
            return err.errors
        return []

    monkeypatch.setenv("TW_START_SET", "k1,k2")
    monkeypatch.setenv("TW_START_EMPTY", "")
    monkeypatch.delenv("TW_START_UNSET", raising=False)
    assert check({"api_keys_env": "TW_START_SET"}) == []
    assert check({"clients": [{"name": "a", "key_env": "TW_START_SET"}]}) == []
    assert len(check({"api_keys_env": "TW_START_SET",
                      "clients": [{"name": "a", "key_env": "TW_START_UNSET"}]})) == 1  # fmt: skip
    both = check({"api_keys_env": "TW_START_EMPTY",
                  "clients": [{"name": "a", "key_env": "TW_START_UNSET"}]})  # fmt: skip
    assert [e.split(":")[0] for e in both] == ["auth.api_keys_env", "auth.clients.0.key_env"]
    # allow_anonymous: the same problems are warnings, and serving keyless is said out loud
    with caplog.at_level(logging.WARNING, logger="tunewatch"):
        assert check({"api_keys_env": "TW_START_UNSET", "allow_anonymous": True}) == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("TW_START_UNSET is unset or empty" in m for m in messages)
    assert any("serving WITHOUT client API keys" in m for m in messages)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tunewatch"):  # some key in force: no alarm
        assert check({"api_keys_env": "TW_START_SET", "allow_anonymous": True,
                      "clients": [{"name": "a", "key_env": "TW_START_UNSET"}]}) == []  # fmt: skip
    assert not any("WITHOUT" in r.getMessage() for r in caplog.records)


def test_one_shot_commands_need_no_client_keys(tmp_path: Path) -> None:
    # evaluate reads the same config and never serves: it gets as far as calling the models
    config = _config(tmp_path, model={"base": {"upstream": DEAD, "model": "b"}})
    path = tmp_path / "tunewatch.yaml"
    path.write_text(yaml.safe_dump(config))
    packs = seed_packs(tmp_path / "packs")
    result = subprocess.run(
        [sys.executable, "-m", "tunewatch.proxy.cli", "evaluate", "--config", str(path),
         "--model", "m", "--packs", str(packs)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2  # nothing answers on port 9
    assert "no probe got answers from both models" in result.stderr
    assert "auth" not in result.stderr


# -- probe paths ------------------------------------------------------------------------------
def _probing(tmp_path: Path, paths: list[str]) -> dict[str, Any]:
    return _config(
        tmp_path, model={"base": {"upstream": DEAD, "model": "b"}},
        probes={"paths": paths, "interval": "1h"}, auth={"allow_anonymous": True},
    )  # fmt: skip


def test_serve_refuses_probe_paths_that_give_no_pack(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.txt").write_text("not a pack")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "one.yaml").write_text("id: one\nversion: '1'\n")
    (broken / "two.yml").write_text(SEED_PACK.replace("severity: low", "severity: meh"))
    missing = str(tmp_path / "missing")
    good = str(seed_packs(tmp_path / "good"))
    result = _serve(tmp_path, _probing(tmp_path, ["builtin", good, missing, str(empty),
                                                  str(broken)]))  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = _errors(result)
    shown = f"{tmp_path / 'tunewatch.yaml'}: probes.paths:"
    assert lines[0] == f"{shown} {missing}: no such file or directory"
    assert lines[1] == f"{shown} {empty}: holds no probe pack (no *.yaml or *.yml file)"
    assert lines[2] == f"{shown} {broken}: no valid probe pack (2 files, all invalid):"
    details = lines[3:]
    assert f"  {broken / 'one.yaml'}:1: description: required field is missing" in details
    assert any(d.startswith(f"  {broken / 'two.yml'}:") and "severity" in d for d in details)
    assert all(d.startswith("  ") for d in details)
    assert "Traceback" not in result.stderr


def test_probe_paths_are_checked_only_where_probes_run(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    metrics = Metrics("test")
    off = build_config(
        _probing(tmp_path, [missing]) | {"probes": {"enabled": False, "paths": [missing]}}
    )
    assert build_runtime(off, metrics).scheduler is None
    no_base = build_config(_config(tmp_path, probes={"paths": [missing]},
                                   auth={"allow_anonymous": True}))  # fmt: skip
    assert build_runtime(no_base, Metrics("test")).scheduler is None


def test_a_pack_among_invalid_ones_is_enough_to_start(tmp_path: Path) -> None:
    packs = seed_packs(tmp_path / "packs")
    (packs / "broken.yaml").write_text("id: broken\n")
    runtime = build_runtime(build_config(_probing(tmp_path, [str(packs)])), Metrics("test"))
    assert runtime.scheduler is not None and list(runtime.scheduler.registry.packs) == ["seed"]
    assert any("broken.yaml" in e for e in runtime.scheduler.registry.errors)


def test_auth_and_probe_problems_are_reported_together(tmp_path: Path) -> None:
    config = _probing(tmp_path, [str(tmp_path / "missing")])
    del config["auth"]
    with pytest.raises(ConfigError) as info:
        build_runtime(build_config(config), Metrics("test"))
    assert [e.split(":")[0] for e in info.value.errors] == ["auth", "probes.paths"]


# -- probe metrics from the start, readiness --------------------------------------------------
def test_probe_metrics_exist_at_zero_right_after_start(
    tmp_path: Path, fake_upstream: Process
) -> None:
    # The seed pack's first round starts at once but never finishes: the upstream hangs.
    config = _config(
        tmp_path,
        model={"upstream": fake_upstream.url, "upstream_model": "hang",
               "base": {"upstream": fake_upstream.url, "model": "hang"}},
        probes={"paths": [str(seed_packs(tmp_path / "packs"))], "interval": "1h"},
        auth={"allow_anonymous": True},
    )  # fmt: skip
    before = time.time()
    proc = start_proxy(config, tmp_path)
    try:
        text = httpx.get(proc.root + "/metrics", timeout=10).text
    finally:
        proc.stop()
    runs = {s[0]["outcome"]: s[1] for s in series(text, "tunewatch_probe_runs_total")
            if s[0]["pack"] == "seed" and s[0]["model"] == "m"}  # fmt: skip
    assert runs == {"success": 0.0, "failure": 0.0}
    ((labels, last),) = series(text, "tunewatch_probe_last_success_timestamp_seconds")
    assert labels == {"pack": "seed", "model": "m"}
    # when the pack was loaded: time() - last success grows from start, so the stale alert
    # fires two intervals on if no round ever succeeds
    assert before <= last <= time.time()
    assert series(text, "tunewatch_probe_interval_seconds") == [({"pack": "seed"}, 3600.0)]


@pytest.fixture(scope="module")
def probing_app(
    fake_upstream: Process, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AppThread, Path]]:
    work = tmp_path_factory.mktemp("startup-probes")
    packs = seed_packs(work / "packs")
    config = _config(
        work,
        model={"upstream": fake_upstream.url, "upstream_model": "ok",
               "base": {"upstream": fake_upstream.url, "model": "ok"}},
        probes={"paths": [str(packs)], "interval": "1h"},
        auth={"allow_anonymous": True},
    )  # fmt: skip
    with AppThread(config) as app:
        yield app, packs


def test_readyz_says_probes_run_then_not_when_no_pack_is_left(
    probing_app: tuple[AppThread, Path],
) -> None:
    app, packs = probing_app

    async def readyz(tw: InProcess) -> httpx.Response:
        return await tw.client.get("/readyz")

    ready = app.run(readyz)
    assert ready.status_code == 200, ready.text
    assert ready.json()["probes"] == "running" and ready.json()["probe_packs"] == 1
    # the pack file goes away: at the next rescan the scheduler has nothing to run
    (packs / "seed.yaml").unlink()
    assert app.runtime.scheduler is not None

    async def rescan(tw: InProcess) -> str:
        assert tw.runtime.scheduler is not None
        tw.runtime.scheduler.reload()
        return await tw.metrics()

    text = app.run(rescan)
    gone = app.run(readyz)
    assert gone.status_code == 503
    assert gone.json()["probes"] == "not running" and gone.json()["ready"] is False
    assert all(c["ok"] for c in gone.json()["upstreams"])  # the upstreams are fine
    # a removed pack's gauges go with it (they would read as stale forever)
    assert series(text, "tunewatch_probe_last_success_timestamp_seconds") == []


def test_readyz_is_not_ready_when_the_scheduler_stopped(
    fake_upstream: Process, tmp_path: Path
) -> None:
    config = _config(
        tmp_path,
        model={"upstream": fake_upstream.url, "upstream_model": "ok",
               "base": {"upstream": fake_upstream.url, "model": "ok"}},
        probes={"paths": [str(seed_packs(tmp_path / "packs"))], "interval": "1h"},
        auth={"allow_anonymous": True},
    )  # fmt: skip

    async def stop_then_read(tw: InProcess) -> tuple[httpx.Response, httpx.Response]:
        before = await tw.client.get("/readyz")
        task = tw.runtime.probing
        assert task is not None
        task.cancel()  # as if the scheduler had died
        await asyncio.wait([task])
        return before, await tw.client.get("/readyz")

    with AppThread(config) as app:
        before, after = app.run(stop_then_read)
    assert before.status_code == 200 and before.json()["probes"] == "running"
    assert after.status_code == 503 and after.json()["probes"] == "not running"


def test_readyz_has_no_probes_entry_where_probes_are_off(
    fake_upstream: Process, tmp_path: Path
) -> None:
    config = _config(tmp_path, model={"upstream": fake_upstream.url},
                     probes={"enabled": False}, auth={"allow_anonymous": True})  # fmt: skip

    async def readyz(tw: InProcess) -> httpx.Response:
        return await tw.client.get("/readyz")

    with AppThread(config) as app:
        resp = app.run(readyz)
    assert resp.status_code == 200 and "probes" not in resp.json()


# -- the command and the package --------------------------------------------------------------
def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tunewatch.proxy.cli", "--version"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout == f"tunewatch {__version__}\n"
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]


def test_license_is_the_apache_2_text_the_package_declares() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    text = (REPO_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    for clause in ("1. Definitions.", "4. Redistribution.", "9. Accepting Warranty or "
                   "Additional Liability.", "END OF TERMS AND CONDITIONS"):  # fmt: skip
        assert clause in text, clause
    assert len(text) > 11_000  # the whole text, not a pointer to it


def test_serve_refuses_a_store_it_cannot_reach_and_never_prints_its_password(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path, auth={"allow_anonymous": True})
    config["store"] = {
        "url": "postgresql://tunewatch@127.0.0.1:9/tunewatch",  # nothing listens on port 9
        "password_env": "TW_START_DB_PASSWORD",
    }
    result = _serve(tmp_path, config, {"TW_START_DB_PASSWORD": "s3cret-pw"})
    assert result.returncode == 2, result.stderr
    assert any("store: cannot open postgresql://tunewatch:***@127.0.0.1:9/tunewatch" in line
               for line in _errors(result)), result.stderr  # fmt: skip
    assert "s3cret-pw" not in result.stdout + result.stderr


def test_serve_names_an_unset_store_password_variable(tmp_path: Path) -> None:
    config = _config(tmp_path, auth={"allow_anonymous": True})
    config["store"] = {
        "url": "postgresql://tunewatch@127.0.0.1:9/tunewatch",
        "password_env": "TW_START_DB_UNSET",
    }
    result = _serve(tmp_path, config)
    assert result.returncode == 2, result.stderr
    assert any("store.password_env" in line and "TW_START_DB_UNSET" in line
               for line in _errors(result)), result.stderr  # fmt: skip
