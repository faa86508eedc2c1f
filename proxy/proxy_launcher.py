"""Run `tunewatch serve` as a separate process, the way users run it: for the demo and tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from proxy.vllm_launcher import REPO_ROOT, free_port


@dataclass
class Process:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.root + "/v1"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def wait_http(proc: Process, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.process.poll() is not None:
            raise RuntimeError(f"process exited {proc.process.returncode}:\n{proc.log()}")
        try:
            httpx.get(proc.root + path, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.stop()
    raise TimeoutError(f"not listening after {timeout}s:\n{proc.log()}")


def start_proxy(
    config: dict[str, Any],
    workdir: Path,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Process:
    """Write `config` into `workdir` and serve it on `port` (a free one by default)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / f"config-{time.monotonic_ns()}.yaml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    port = port or free_port()
    log_path = config_path.with_suffix(".log")
    process = subprocess.Popen(
        [sys.executable, "-m", "proxy.cli", "serve", "--config", str(config_path),
         "--port", str(port)],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env={**os.environ, **(env or {}), "PYTHONPATH": str(REPO_ROOT)},
    )  # fmt: skip
    proc = Process(process, port, log_path)
    wait_http(proc, "/healthz")
    return proc
