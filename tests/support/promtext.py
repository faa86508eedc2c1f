"""Read one series' value out of Prometheus text exposition."""

from __future__ import annotations


def sample(metrics_text: str, series: str, default: float | None = None) -> float:
    for line in metrics_text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    if default is not None:
        return default
    raise AssertionError(f"{series} not in metrics")
