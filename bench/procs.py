"""Start the processes a benchmark times, and read their CPU time and memory from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import REPO_ROOT
from tunewatch.proxy.devstack.service import Service, free_port

_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Proc(Service):
    """A benchmarked process: the launchers' `Service`, plus its CPU time and memory."""

    name: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        """User + system CPU of the process (all threads) and its live descendants."""
        return sum(cpu_seconds(pid) for pid in [self.pid, *descendants(self.pid)])

    def rss_mib(self) -> float:
        return rss_mib(self.pid)


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _spawn(
    name: str,
    argv: list[str],
    workdir: Path,
    port: int,
    cwd: Path | None = None,
    source: Path = REPO_ROOT,
) -> Proc:
    log_path = workdir / f"{name}-{port}.log"
    env = {**os.environ, "PYTHONPATH": str(source)}
    process = subprocess.Popen(
        argv, stdout=log_path.open("wb"), stderr=subprocess.STDOUT, cwd=cwd or REPO_ROOT, env=env
    )
    return Proc(process, port, log_path, name)


def start_upstream(
    workdir: Path, name: str = "upstream", delay: float = 0.0, chunks: int = 0, gap: float = 0.005
) -> Proc:
    port = free_port()
    argv = [sys.executable, "-m", "bench.upstream", "--port", str(port), "--delay", str(delay),
            "--chunks", str(chunks), "--gap", str(gap)]  # fmt: skip
    proc = _spawn(name, argv, workdir, port)
    proc.wait_ready("/v1/models", 60.0)
    return proc


def start_passthrough(workdir: Path, upstream: str) -> Proc:
    port = free_port()
    argv = [sys.executable, "-m", "bench.passthrough", "--port", str(port), "--upstream", upstream]
    proc = _spawn("passthrough", argv, workdir, port)
    proc.wait_ready("/", 60.0)
    return proc


def tunewatch_config(
    workdir: Path,
    tuned: str,
    base: str,
    rate: float,
    name: str = "bench",
    upstream_model: str = "bench-tuned",
    base_model: str = "bench-base",
    mirror_queue_size: int | None = None,
    classify_rate: float = 1.0,
) -> dict[str, object]:
    monitor: dict[str, float] = {"classify_rate": classify_rate}
    if mirror_queue_size is not None:
        monitor["mirror_queue_size"] = mirror_queue_size
    return {
        "models": [
            {
                "name": name,
                "upstream": tuned,
                "upstream_model": upstream_model,
                "base": {"upstream": base, "model": base_model},
                "mirror": {"rate": rate},
            }
        ],
        "probes": {"enabled": False},  # scheduled probes are not request-path work
        "store": {"url": f"sqlite:///{workdir}/{name}-{time.monotonic_ns()}.db"},
        "server": {"log_level": "warning"},
        "monitor": monitor,
        # as the timings always were: no client keys (the load scripts send none)
        "auth": {"allow_anonymous": True},
    }


def start_tunewatch(
    workdir: Path,
    config: dict[str, object],
    name: str = "tunewatch",
    source: Path = REPO_ROOT,
) -> Proc:
    """`tunewatch serve` as users run it (uvicorn, uvloop, httptools), monitoring on; `source`
    is the tree its code is imported from (this checkout, or an exported git ref)."""
    port = free_port()
    path = workdir / f"{name}-{port}.yaml"
    path.write_text(yaml.safe_dump(_for_tree(config, source)))
    # A tree from before the single `tunewatch` import name serves as `proxy.cli`.
    cli = "tunewatch.proxy.cli" if (source / "tunewatch").is_dir() else "proxy.cli"
    argv = [
        sys.executable,
        "-m",
        cli,
        "serve",
        "--config",
        str(path),
        "--port",
        str(port),
    ]
    proc = _spawn(name, argv, workdir, port, cwd=workdir, source=source)
    proc.wait_ready("/healthz", 60.0)
    return proc


def _for_tree(config: dict[str, object], source: Path) -> dict[str, object]:
    """`config` as the tree at `source` accepts it: trees from before `auth.allow_anonymous`
    (which served without keys anyway) refuse the key as unknown."""
    auth = config.get("auth")
    schema = source / "proxy" / "config.py"
    if not isinstance(auth, dict) or not schema.exists():
        return config
    if "allow_anonymous" in schema.read_text(encoding="utf-8"):
        return config
    trimmed = {k: v for k, v in auth.items() if k != "allow_anonymous"}
    rest = {k: v for k, v in config.items() if k != "auth"}
    return {**rest, "auth": trimmed} if trimmed else rest


def litellm_binary() -> Path | None:
    """LiteLLM's proxy, from `TUNEWATCH_BENCH_LITELLM` or /tmp/litellm-venv (its own venv)."""
    override = os.environ.get("TUNEWATCH_BENCH_LITELLM")
    candidate = Path(override) if override else Path("/tmp/litellm-venv/bin/litellm")
    return candidate if candidate.exists() else None


def start_litellm(workdir: Path, binary: Path, upstream: str) -> Proc:
    port = free_port()
    path = workdir / "litellm.yaml"
    config = {
        "model_list": [
            {
                "model_name": "bench-tuned",
                "litellm_params": {
                    "model": "openai/bench-tuned",
                    "api_base": upstream,
                    "api_key": "unused",
                },
            }
        ],
        "litellm_settings": {"telemetry": False, "set_verbose": False},
        # Loopback benchmark only: LiteLLM refuses to start without a master key otherwise.
        "general_settings": {"dangerously_permit_weak_or_unset_master_key": True},
    }
    path.write_text(yaml.safe_dump(config))
    argv = [str(binary), "--config", str(path), "--host", "127.0.0.1", "--port", str(port)]
    proc = _spawn("litellm", argv, workdir, port, cwd=workdir)
    proc.wait_ready("/health/liveliness", 180.0)
    return proc


def export_ref(ref: str, dest: Path) -> Path:
    """The tree of git `ref` under `dest`, to run an older tunewatch beside this one."""
    dest.mkdir(parents=True, exist_ok=True)
    rooms = ["proxy", "probes", "monitoring"]
    # since the one-namespace layout, `tunewatch/` holds the package and links to the rooms
    has_package = (
        subprocess.run(
            ["git", "cat-file", "-e", f"{ref}:tunewatch"], cwd=REPO_ROOT, capture_output=True
        ).returncode
        == 0
    )
    archive = subprocess.run(
        ["git", "archive", ref, *(["tunewatch"] if has_package else []), *rooms],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest
