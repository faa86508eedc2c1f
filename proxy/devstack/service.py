"""A local child process that answers HTTP: the base of the vLLM, proxy and Prometheus
launchers that the demo, the tests and the benchmarks use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path | None

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, lines: int | None = None) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return text if lines is None else "\n".join(text.splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0, group: bool = False) -> int:
        """Signal the process (its whole group when `group`), then kill what lingers."""
        if self.process.poll() is None:
            send = (lambda s: os.killpg(self.process.pid, s)) if group else self.process.send_signal
            send(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                send(signal.SIGKILL)
                self.process.wait(5)
        return self.process.returncode

    def wait_ready(
        self,
        path: str,
        timeout: float,
        accept: Callable[[httpx.Response], bool] = lambda r: True,
        interval: float = 0.2,
        group: bool = False,
    ) -> None:
        """Poll `path` until `accept` says yes; fail early, with the log, if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode}:\n{self.log(40)}")
            try:
                if accept(httpx.get(self.root + path, timeout=2.0)):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(interval)
        self.stop(group=group)
        raise TimeoutError(f"not ready after {timeout:.0f}s:\n{self.log(40)}")
