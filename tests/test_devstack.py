"""The launchers the tests, the demo and the benchmarks share: a dead child is reported as
dead, with its log, as soon as it is seen."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import _fail_if_dead
from tunewatch.proxy.devstack.service import free_port
from tunewatch.proxy.devstack.vllm import VllmServer


def _dead_server(tmp_path: Path) -> VllmServer:
    log = tmp_path / "vllm.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["sh", "-c", "echo 'IndexError: index out of range in self'; exit 3"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    process.wait(10)
    return VllmServer(process, free_port(), log, "demo-base")


def test_a_dead_vllm_is_named_with_its_log(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception) as info:
        _fail_if_dead(_dead_server(tmp_path), "during this test")
    message = str(info.value)
    assert "vLLM server died during this test (exit 3)" in message
    assert "IndexError: index out of range in self" in message


def test_waiting_for_a_dead_child_fails_at_once_with_its_log(tmp_path: Path) -> None:
    server = _dead_server(tmp_path)
    with pytest.raises(RuntimeError, match="exited with 3") as info:
        server.wait_ready("/v1/models", timeout=60)
    assert "IndexError" in str(info.value)
