"""Start a local Prometheus (Debian's `prometheus` package) that scrapes a tunewatch proxy with
the project's recording and alert rules: for the demo and for the alerting tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from tunewatch.proxy.devstack.service import Service, free_port


class PrometheusServer(Service):
    @property
    def url(self) -> str:
        return self.root


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def start_prometheus(
    targets: list[str],
    workdir: Path,
    rules_dir: Path,
    *,
    port: int | None = None,
    scrape_interval: str = "5s",
    startup_timeout: float = 60.0,
) -> PrometheusServer:
    """Scrape `targets` (host:port of tunewatch proxies) with the rules in `rules_dir`."""
    binary = prometheus_binary()
    if binary is None:
        raise FileNotFoundError("prometheus not installed (Debian: apt-get install prometheus)")
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "rule_files": [str(p) for p in sorted(rules_dir.glob("*.yml"))],
        "scrape_configs": [{"job_name": "tunewatch", "static_configs": [{"targets": targets}]}],
    }
    config_path = workdir / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config))
    port = port or free_port()
    log_path = workdir / "prometheus.log"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = PrometheusServer(process, port, log_path)
    server.wait_ready("/-/ready", startup_timeout, lambda r: r.status_code == 200, interval=0.3)
    return server
