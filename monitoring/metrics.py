"""Every Prometheus metric tunewatch exports, on one registry object handed to whoever needs it.

Counters for everything countable (Prometheus sums them across replicas); gauges only for
current state. Label values come from configuration, never from request input.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tunewatch.monitoring.audit import AuditSummary
from tunewatch.monitoring.drift import DriftEngine

_LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Children:
    """A labelled metric's children, each looked up once.

    prometheus_client's `labels()` takes a lock and validates and hashes its values on every
    call; per request or per answer that is measurable. Use only where the label values are
    few (configured names, fixed enums), as they are everywhere in tunewatch.
    """

    __slots__ = ("_cache", "_metric")

    def __init__(self, metric: Counter | Histogram) -> None:
        self._metric = metric
        self._cache: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._cache.get(values)
        if child is None:
            child = self._cache[values] = self._metric.labels(*values)
        return child


class Metrics:
    """The registry and its metrics; one instance per process, passed explicitly."""

    def __init__(self, version: str, registry: CollectorRegistry | None = None) -> None:
        # `*_created` series double the exposition for no use here (process-wide switch).
        disable_created_metrics()
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
        self.client_requests = Counter(
            "tunewatch_client_requests",
            "Client requests by public model, client (its configured name, never its key) and "
            "status.",
            ["model", "client", "code"], registry=r,
        )  # fmt: skip
        self.tokens = Counter(
            "tunewatch_tokens",
            "Tokens the upstream reported using (kind: prompt, completion), by public model and "
            "client; streamed chat answers report usage only when the client asks for it "
            "(stream_options.include_usage).",
            ["model", "client", "kind"], registry=r,
        )  # fmt: skip
        self.upstream_errors = Counter(
            "tunewatch_upstream_errors",
            "Upstream failures by role (tuned, base) and kind (connect, timeout, status, "
            "protocol, stream).",
            ["model", "role", "kind"], registry=r,
        )  # fmt: skip
        self.mirror = Counter(
            "tunewatch_mirror_requests",
            "Mirrored requests to the base model by outcome (sampled, completed, unlabelled, "
            "dropped, failed); unlabelled: a side had nothing to label, so no pair.",
            ["model", "outcome"], registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "tunewatch_monitor_queue_depth", "Items waiting in a background queue.",
            ["queue"], registry=r,
        )  # fmt: skip
        self.dropped = Counter(
            "tunewatch_monitor_dropped", "Items dropped because a background queue was full.",
            ["queue"], registry=r,
        )  # fmt: skip
        self.store_up = Gauge(
            "tunewatch_store_up", "1 when the last write reached the store, else 0.", registry=r
        )
        self.store_up.set(1)
        self.store_buffered_bytes = Gauge(
            "tunewatch_store_buffered_bytes",
            "Rows waiting for the store to take them (estimated bytes; store.buffer_bytes).",
            registry=r,
        )
        self.responses = Counter(
            "tunewatch_responses",
            "Classified answers by model, role, source, category, refusal and caution.",
            ["model", "role", "source", "category", "refusal", "caution"], registry=r,
        )  # fmt: skip
        self.unlabelled = Counter(
            "tunewatch_unlabelled_responses",
            "Answers with nothing to label (reason: tool_call, empty), kept out of the rates "
            "and out of pairs.",
            ["model", "role", "source", "reason"], registry=r,
        )  # fmt: skip
        self.audit_pairs = Counter(
            "tunewatch_audit_pairs",
            "Pairs drawn for the audit sample (kept whole for review), by model and source.",
            ["model", "source"], registry=r,
        )  # fmt: skip
        self.judge_verdicts = Counter(
            "tunewatch_judge_verdicts",
            "Judge model calls on audited answers by judge model and outcome (parsed, "
            "unparseable, failed, timeout).",
            ["model", "outcome"], registry=r,
        )  # fmt: skip
        self.resets = Counter(
            "tunewatch_drift_resets", "Drift evidence resets by model and reason.",
            ["model", "reason"], registry=r,
        )  # fmt: skip
        self.probe_runs = Counter(
            "tunewatch_probe_runs",
            "Probe pack rounds by pack, model and outcome (success; failure: over a tenth of "
            "the round's requests failed); every loaded pack's series start at zero.",
            ["pack", "model", "outcome"], registry=r,
        )  # fmt: skip
        self.probe_last_success = Gauge(
            "tunewatch_probe_last_success_timestamp_seconds",
            "When a probe pack last completed a round for a model; until its first success, when "
            "the pack was loaded, so a pack that never succeeds goes stale like one that stopped.",
            ["pack", "model"], registry=r,
        )  # fmt: skip
        self.probe_interval = Gauge(
            "tunewatch_probe_interval_seconds", "A probe pack's scheduled interval.",
            ["pack"], registry=r,
        )  # fmt: skip
        self.probe_expectations = Counter(
            "tunewatch_probe_expectations",
            "Probe answers meeting (pass) or missing (fail) the probe's expectation.",
            ["pack", "model", "category", "role", "result"], registry=r,
        )  # fmt: skip
        self.pack_errors = Counter(
            "tunewatch_probe_pack_errors", "Probe pack files rejected as invalid.", registry=r
        )
        self.packs_loaded = Gauge(
            "tunewatch_probe_packs_loaded", "Probe packs currently scheduled.", registry=r
        )

    def watch_drift(self, engine: DriftEngine, evidence: str = "replica") -> None:
        """Export the drift engine's state, computed at scrape time rather than per answer.
        `evidence`: "replica" when the engine counts this process's pairs (Prometheus sums the
        replicas), "fleet" when it holds a shared store's (every replica exports the same)."""
        self.registry.register(DriftCollector(engine, evidence))

    def watch_audit(self, latest: Callable[[], AuditSummary]) -> None:
        """Export the audit's latest corrected figures and labeller-bias tests."""
        self.registry.register(AuditCollector(latest))


class DriftCollector(Collector):
    """Gauges and since-reset counters read from the drift engine when Prometheus scrapes."""

    def __init__(self, engine: DriftEngine, evidence: str = "replica") -> None:
        self.engine = engine
        self.evidence = evidence

    def describe(self) -> list[Metric]:
        return []  # unchecked collector: series appear as evidence arrives

    def collect(self) -> Iterable[Metric]:
        key_labels = ["model", "source", "category", "metric"]
        settings = self.engine.settings
        threshold = GaugeMetricFamily(
            "tunewatch_drift_threshold", "Alarm threshold on the log e-value: log(family/alpha)."
        )
        threshold.add_metric([], settings.threshold)
        rho = GaugeMetricFamily("tunewatch_drift_rho", "Mixture parameter of the e-value.")
        rho.add_metric([], settings.rho)
        outcomes = CounterMetricFamily(
            "tunewatch_paired_outcomes",
            "Paired answers since the last reset, by who was positive (refused / cautioned).",
            labels=[*key_labels, "outcome", "evidence"],
        )
        gauges = {
            name: GaugeMetricFamily(f"tunewatch_{name}", text, labels=key_labels)
            for name, text in (
                ("drift", "Tuned rate minus base rate over paired answers since reset."),
                ("drift_lower", "Lower 95% bound of the drift (Newcombe, paired)."),
                ("drift_upper", "Upper 95% bound of the drift (Newcombe, paired)."),
                ("drift_window", "Drift over the recent sliding window."),
                ("drift_log_evalue", "log e-value of the sequential test on discordant pairs."),
                ("drift_alarm", "1 when the sequential test has rejected 'no drift'."),
            )
        }
        rates = {
            name: GaugeMetricFamily(f"tunewatch_{name}", text, labels=[*key_labels, "role"])
            for name, text in (
                ("rate", "Share of answers refusing / cautioning since reset."),
                ("rate_lower", "Lower 95% Wilson bound of the rate."),
                ("rate_upper", "Upper 95% Wilson bound of the rate."),
                ("rate_samples", "Answers behind the rate."),
            )
        }
        for summary in self.engine.summaries():
            labels = [summary["model"], summary["source"], summary["category"], summary["metric"]]
            if "drift" in summary:  # paired evidence exists (mirror, probe)
                for outcome, value in summary["pairs"].items():
                    outcomes.add_metric([*labels, outcome, self.evidence], value)
            for role in ("tuned", "base"):
                rate = summary[role]
                if rate["n"]:
                    rates["rate"].add_metric([*labels, role], rate["rate"])
                    rates["rate_lower"].add_metric([*labels, role], rate["lower"])
                    rates["rate_upper"].add_metric([*labels, role], rate["upper"])
                    rates["rate_samples"].add_metric([*labels, role], rate["n"])
            drift = summary.get("drift")
            if drift is None:
                continue
            gauges["drift"].add_metric(labels, drift["estimate"])
            gauges["drift_lower"].add_metric(labels, drift["lower"])
            gauges["drift_upper"].add_metric(labels, drift["upper"])
            if "window" in summary:
                gauges["drift_window"].add_metric(labels, summary["window"]["estimate"])
            gauges["drift_log_evalue"].add_metric(labels, summary["log_evalue"])
            gauges["drift_alarm"].add_metric(labels, 1.0 if summary["alarm"] else 0.0)
        yield threshold
        yield rho
        yield outcomes
        yield from gauges.values()
        yield from rates.values()


class AuditCollector(Collector):
    """The audit's figures as of its last recomputation (every few seconds, off the scrape)."""

    def __init__(self, latest: Callable[[], AuditSummary]) -> None:
        self.latest = latest

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        summary = self.latest()
        corrected = GaugeMetricFamily(
            "tunewatch_drift_corrected",
            "Tuned minus base rate corrected for the classifier's errors by the reviewed audit "
            "sample (prediction-powered), with its 95% bounds.",
            labels=["model", "source", "category", "metric", "bound"],
        )
        reviewed = GaugeMetricFamily(
            "tunewatch_drift_corrected_reviewed_pairs",
            "Reviewed pairs behind a corrected drift figure.",
            labels=["model", "source", "category", "metric"],
        )
        for key, figures in summary.corrected.items():
            for bound in ("lower", "estimate", "upper"):
                corrected.add_metric([*key, bound], figures["drift"][bound])
            reviewed.add_metric(list(key), figures["reviewed"])
        agreement = GaugeMetricFamily(
            "tunewatch_label_agreement_ratio",
            "Share of reviewed answers where the classifier agrees with the reviewer.",
            labels=["model", "role", "metric"],
        )
        bias_alarm = GaugeMetricFamily(
            "tunewatch_labeller_bias_alarm",
            "1 when the classifier's error rate differs between the tuned and the base model's "
            "answers (anytime-valid test on the reviewed pairs).",
            labels=["model", "metric"],
        )
        bias_evalue = GaugeMetricFamily(
            "tunewatch_labeller_bias_log_evalue",
            "log e-value of the labeller-bias test.",
            labels=["model", "metric"],
        )
        for (model, metric), bias in summary.bias.items():
            for role in ("tuned", "base"):
                agreement.add_metric([model, role, metric], 1.0 - bias[f"{role}_error"]["rate"])
            bias_alarm.add_metric([model, metric], 1.0 if bias["alarm"] else 0.0)
            bias_evalue.add_metric([model, metric], bias["log_evalue"])
        counts = GaugeMetricFamily(
            "tunewatch_audit_reviewed_pairs",
            "Reviewed pairs counted by the audit (this classifier version, since the last reset).",
            labels=["model"],
        )
        for model, n in summary.reviewed.items():
            counts.add_metric([model], n)
        yield from (corrected, reviewed, agreement, bias_alarm, bias_evalue, counts)
