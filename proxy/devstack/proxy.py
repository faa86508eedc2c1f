"""Run `tunewatch serve` as a separate process, the way users run it: for the demo and tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tunewatch.proxy.devstack.service import Service, free_port


class Process(Service):
    """A `tunewatch serve` process."""

    @property
    def url(self) -> str:
        return self.root + "/v1"


def wait_http(proc: Service, path: str, timeout: float = 30.0) -> None:
    proc.wait_ready(path, timeout, interval=0.1)


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
        [sys.executable, "-m", "tunewatch.proxy.cli", "serve", "--config", str(config_path),
         "--port", str(port)],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    proc = Process(process, port, log_path)
    wait_http(proc, "/healthz")
    return proc
