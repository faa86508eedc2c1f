"""The scripted fake upstream as a real process (the proxy launcher lives in `proxy`)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tunewatch.proxy.devstack.proxy import Process, start_proxy, wait_http
from tunewatch.proxy.devstack.vllm import free_port

__all__ = ["Process", "start_fake_upstream", "start_proxy"]

SUPPORT = Path(__file__).resolve().parent


def start_fake_upstream(workdir: Path, port: int | None = None) -> Process:
    """The scripted upstream, on `port` when given (to bring a 'dead' upstream back)."""
    port = port or free_port()
    log_path = workdir / f"fake-{port}-{time.monotonic_ns()}.log"
    process = subprocess.Popen(
        [sys.executable, str(SUPPORT / "fake_upstream.py"), str(port)],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    proc = Process(process, port, log_path)
    wait_http(proc, "/v1/stats")
    return proc
