"""Every Prometheus metric tunewatch exports, on one registry object handed to whoever needs it.

Counters for everything countable (Prometheus sums them across replicas); gauges only for
current state. Label values come from configuration, never from request input.
"""

from __future__ import annotations

import platform

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The registry and its metrics; one instance per process, passed explicitly."""

    def __init__(self, version: str, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.build_info = Gauge(
            "tunewatch_build_info", "Build and runtime information; always 1.",
            ["version", "python"], registry=r,
        )  # fmt: skip
        self.build_info.labels(version, platform.python_version()).set(1)
        self.requests = Counter(
            "tunewatch_requests", "Client requests answered, by public model, endpoint and status.",
            ["model", "endpoint", "code"], registry=r,
        )  # fmt: skip
        self.request_duration = Histogram(
            "tunewatch_request_duration_seconds",
            "Time from request received to last byte sent (whole stream when streamed).",
            ["model", "endpoint"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.ttft = Histogram(
            "tunewatch_time_to_first_token_seconds",
            "Time from request received to the first streamed chunk sent to the client.",
            ["model"], buckets=_TTFT_BUCKETS, registry=r,
        )  # fmt: skip
        self.upstream_errors = Counter(
            "tunewatch_upstream_errors",
            "Upstream failures by role (tuned, base) and kind (connect, timeout, status, "
            "protocol, stream).",
            ["model", "role", "kind"], registry=r,
        )  # fmt: skip
