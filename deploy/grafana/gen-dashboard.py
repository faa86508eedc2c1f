#!/usr/bin/env python3
"""Generate deploy/grafana/dashboards/tunewatch.json, the tunewatch Grafana dashboard.

The dashboard is code so that its ~30 PromQL queries stay consistent (one helper for the
fleet-wide e-value, one for the variable filters) and reviewable; the JSON is committed and
tests/test_deploy_files.py checks it is in sync with this script, that every query is valid
PromQL and that it only reads `tunewatch_*` metrics of the contract. Queries use raw metrics
only, never the recording rules, so the dashboard works on any Prometheus that scrapes
tunewatch, rules loaded or not.

Usage: python3 deploy/grafana/gen-dashboard.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards" / "tunewatch.json"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
HARMFUL = (
    "violent_crimes|weapons|self_harm|cyber|fraud|sex_crimes|child_safety|hate|defamation|"
    "privacy|ip|sexual_content"
)

# Label filters from the template variables. Every variable defaults to All = ".*".
M = 'model=~"$model"'
DRIFT = 'model=~"$model", source=~"$source", category=~"$category"'
KEY = "model, source, category, metric"


def outcomes(match: str) -> str:
    """The fleet's paired outcomes, as the recording rule tunewatch:paired_outcomes:fleet
    takes them: replicas with their own stores each count their share (summed); replicas on
    a shared store each export the whole fleet's (taken once)."""
    return (
        f'(sum by ({KEY}, outcome) (tunewatch_paired_outcomes_total{{{match}, evidence!="fleet"}})'
        f" or max by ({KEY}, outcome) "
        f'(tunewatch_paired_outcomes_total{{{match}, evidence="fleet"}}))'
    )


def outcome_sum(outcome: str) -> str:
    """One paired outcome over the fleet; 0 where no replica has seen it yet."""
    one = outcomes(f'{DRIFT}, outcome="{outcome}"')
    return f"(sum by ({KEY}) ({one}) or 0 * sum by ({KEY}) ({outcomes(DRIFT)}))"


TUNED_ONLY = outcome_sum("tuned_only")
BASE_ONLY = outcome_sum("base_only")
RHO = "scalar(max(tunewatch_drift_rho))"
THRESHOLD = "scalar(max(tunewatch_drift_threshold))"
PAIRS = f"sum by ({KEY}) ({outcomes(DRIFT)})"
# The fleet-wide log e-value, as in deploy/prometheus/rules/tunewatch-recording.yml.
FLEET_LOG_E = (
    f"-0.5 * ln(1 + {RHO} * ({TUNED_ONLY} + {BASE_ONLY}))"
    f" + {RHO} * ({TUNED_ONLY} - {BASE_ONLY}) ^ 2"
    f" / (2 * (1 + {RHO} * ({TUNED_ONLY} + {BASE_ONLY})))"
)
FLEET_DRIFT = f"({TUNED_ONLY} - {BASE_ONLY}) / {PAIRS}"


class Layout:
    """Hands out panel ids and grid positions: rows of panels 24 units wide."""

    def __init__(self) -> None:
        self.next_id = 1
        self.y = 0
        self.x = 0
        self.row_h = 0

    def take(self, w: int, h: int) -> dict[str, int]:
        if self.x + w > 24:
            self.newline()
        pos = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.x += w
        self.row_h = max(self.row_h, h)
        return pos

    def newline(self) -> None:
        self.y += self.row_h
        self.x = 0
        self.row_h = 0

    def id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def target(expr: str, legend: str = "", ref: str = "A", **extra: Any) -> dict[str, Any]:
    return {
        "datasource": DATASOURCE,
        "refId": ref,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": not extra.get("instant", False),
        **extra,
    }


def panel(
    layout: Layout,
    title: str,
    targets: list[dict[str, Any]],
    *,
    kind: str = "timeseries",
    unit: str = "short",
    w: int = 8,
    h: int = 8,
    description: str = "",
    overrides: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
    custom: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    for i, t in enumerate(targets):
        t["refId"] = chr(ord("A") + i)
    return {
        "id": layout.id(),
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": layout.take(w, h),
        "targets": targets,
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": custom or {}},
            "overrides": overrides or [],
        },
        "options": options or {"legend": {"displayMode": "list", "placement": "bottom"}},
        **extra,
    }


def row(layout: Layout, title: str, **extra: Any) -> dict[str, Any]:
    layout.newline()
    pos = layout.take(24, 1)
    layout.newline()
    return {
        "id": layout.id(),
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": pos,
        "panels": [],
        **extra,
    }


def dashed(ref: str) -> dict[str, Any]:
    """Override: the interval-bound queries drawn as thin dashed lines."""
    return {
        "matcher": {"id": "byFrameRefID", "options": ref},
        "properties": [
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [6, 4]}},
            {"id": "custom.lineWidth", "value": 1},
        ],
    }


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-var"},
        "definition": query,
        "refresh": 2,  # on time range change: new models and categories appear by themselves
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
    }


def traffic(layout: Layout) -> list[dict[str, Any]]:
    rate = "$__rate_interval"
    quantile = "histogram_quantile({q}, sum by (model, le) (rate({m}_bucket{{{f}}}[{r}])))"
    duration = "tunewatch_request_duration_seconds"
    ttft = "tunewatch_time_to_first_token_seconds"
    return [
        row(layout, "Traffic and latency"),
        panel(
            layout,
            "Requests per second",
            [
                target(
                    f"sum by (model) (rate(tunewatch_requests_total{{{M}}}[{rate}]))", "{{model}}"
                ),
            ],
            unit="reqps",
        ),
        panel(
            layout,
            "Responses by status code",
            [
                target(
                    f"sum by (code) (rate(tunewatch_requests_total{{{M}}}[{rate}]))", "{{code}}"
                ),
            ],
            unit="reqps",
            custom={"stacking": {"mode": "normal"}, "fillOpacity": 30},
        ),
        panel(
            layout,
            "Error ratio (5xx)",
            [
                target(
                    # "or 0 * total": a model without errors shows 0, not "no data"
                    f'(sum by (model) (rate(tunewatch_requests_total{{{M}, code=~"5.."}}[{rate}]))'
                    f" or 0 * sum by (model) (rate(tunewatch_requests_total{{{M}}}[{rate}])))"
                    f" / sum by (model) (rate(tunewatch_requests_total{{{M}}}[{rate}]))",
                    "{{model}}",
                ),
            ],
            unit="percentunit",
            description="Server errors over all requests; 4xx and 499 (client gone) excluded.",
        ),
        panel(
            layout,
            "Request duration p50 / p99",
            [
                target(quantile.format(q=0.5, m=duration, f=M, r=rate), "p50 {{model}}"),
                target(quantile.format(q=0.99, m=duration, f=M, r=rate), "p99 {{model}}"),
            ],
            unit="s",
            description="Request received to last byte sent (whole stream).",
        ),
        panel(
            layout,
            "Time to first token p50 / p99",
            [
                target(quantile.format(q=0.5, m=ttft, f=M, r=rate), "p50 {{model}}"),
                target(quantile.format(q=0.99, m=ttft, f=M, r=rate), "p99 {{model}}"),
            ],
            unit="s",
            description="Streamed requests: request received to first chunk sent.",
        ),
        panel(
            layout,
            "Upstream errors",
            [
                target(
                    "sum by (model, role, kind) "
                    f"(rate(tunewatch_upstream_errors_total{{{M}}}[{rate}]))"
                    # no errors yet: 0 per model rather than "no data"
                    f" or 0 * sum by (model) (rate(tunewatch_requests_total{{{M}}}[{rate}]))",
                    "{{model}} {{role}} {{kind}}",
                ),
            ],
            unit="reqps",
            description="role=tuned: clients see it; role=base: mirror/probe only.",
        ),
    ]


def alarms(layout: Layout) -> list[dict[str, Any]]:
    table_opts = {"showHeader": True, "sortBy": [{"displayName": "Fleet alarm", "desc": True}]}
    alarm_map = [
        {
            "type": "value",
            "options": {
                "0": {"text": "ok", "color": "green", "index": 0},
                "1": {"text": "ALARM", "color": "red", "index": 1},
            },
        }
    ]
    by_name = {
        "Value #A": ("Fleet alarm", alarm_map, "none"),
        "Value #B": ("Fleet log e-value", None, "none"),
        "Value #C": ("Tuned − base (fleet)", None, "percentunit"),
        "Value #D": ("Pairs (fleet)", None, "none"),
        "Value #E": ("Replica alarms", None, "none"),
    }
    overrides = []
    for field, (name, mappings, unit) in by_name.items():
        props: list[dict[str, Any]] = [
            {"id": "displayName", "value": name},
            {"id": "unit", "value": unit},
        ]
        if mappings:
            props += [
                {"id": "mappings", "value": mappings},
                {"id": "custom.cellOptions", "value": {"type": "color-background"}},
            ]
        overrides.append({"matcher": {"id": "byName", "options": field}, "properties": props})
    return [
        row(layout, "Alarms"),
        panel(
            layout,
            "Drift alarms firing (fleet)",
            [
                target(
                    f"count(({FLEET_LOG_E}) >= {THRESHOLD}) or vector(0)", "alarms", instant=True
                ),
            ],
            kind="stat",
            w=4,
            h=8,
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "values": False},
                "colorMode": "background",
            },
            description="Series whose fleet-wide log e-value is at or above the threshold.",
        ),
        panel(
            layout,
            "Drift test per series (firing first)",
            [
                target(f"({FLEET_LOG_E}) >= bool {THRESHOLD}", instant=True, format="table"),
                target(FLEET_LOG_E, instant=True, format="table"),
                target(FLEET_DRIFT, instant=True, format="table"),
                target(PAIRS, instant=True, format="table"),
                target(
                    f"sum by ({KEY}) (tunewatch_drift_alarm{{{DRIFT}}})",
                    instant=True,
                    format="table",
                ),
            ],
            kind="table",
            w=20,
            h=8,
            overrides=overrides,
            options=table_opts,
            description=(
                "Fleet alarm: the e-value on the discordant pairs summed over all replicas. "
                "Replica alarms: how many replicas' in-process tests alarm on their own share."
            ),
            transformations=[
                {"id": "merge", "options": {}},
                {"id": "organize", "options": {"excludeByName": {"Time": True}}},
            ],
        ),
    ]


def drift(layout: Layout) -> list[dict[str, Any]]:
    key = "{{model}} {{source}} {{metric}}"
    per_replica = "{{model}} {{source}} {{metric}} {{instance}}"

    def rate(role: str) -> str:
        return f'tunewatch_rate{{{DRIFT}, role="{role}"}}'

    return [
        row(layout, "Drift: $category", repeat="category"),
        panel(
            layout,
            "Tuned and base rates with 95% Wilson bounds",
            [
                target(rate("tuned"), f"tuned {per_replica}"),
                target(rate("base"), f"base {per_replica}"),
                target(f"tunewatch_rate_lower{{{DRIFT}}}", f"lower {{{{role}}}} {per_replica}"),
                target(f"tunewatch_rate_upper{{{DRIFT}}}", f"upper {{{{role}}}} {per_replica}"),
            ],
            unit="percentunit",
            overrides=[dashed("C"), dashed("D")],
            description="Per replica (rates since the last reset); bounds dashed.",
        ),
        panel(
            layout,
            "Drift (tuned − base) with 95% Newcombe interval",
            [
                target(f"tunewatch_drift{{{DRIFT}}}", f"since reset {per_replica}"),
                target(f"tunewatch_drift_lower{{{DRIFT}}}", f"lower {per_replica}"),
                target(f"tunewatch_drift_upper{{{DRIFT}}}", f"upper {per_replica}"),
                target(f"tunewatch_drift_window{{{DRIFT}}}", f"recent window {per_replica}"),
                target(FLEET_DRIFT, f"fleet {key}"),
            ],
            unit="percentunit",
            overrides=[dashed("B"), dashed("C")],
            description="Positive: the tuned model refuses (or cautions) more than its base.",
        ),
        panel(
            layout,
            "Log e-value vs alarm threshold",
            [
                target(FLEET_LOG_E, f"fleet {key}"),
                target(f"tunewatch_drift_log_evalue{{{DRIFT}}}", f"replica {per_replica}"),
                target("max(tunewatch_drift_threshold)", "threshold"),
            ],
            unit="none",
            overrides=[
                {
                    "matcher": {"id": "byFrameRefID", "options": "C"},
                    "properties": [
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                        {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 5]}},
                    ],
                }
            ],
            description="Alarm when the fleet log e-value reaches the threshold, log(family/α).",
        ),
    ]


def audit(layout: Layout) -> list[dict[str, Any]]:
    """The audit: does the classifier read the two models alike, and the corrected drift."""
    per_replica = "{{model}} {{source}} {{category}} {{metric}} {{instance}}"
    return [
        row(layout, "Audit: reviewed labels"),
        panel(
            layout,
            "Labeller bias (the classifier reads tuned and base differently)",
            [
                target(
                    f"max by (model, metric) (tunewatch_labeller_bias_alarm{{{M}}})",
                    "{{model}} {{metric}}",
                ),
            ],
            kind="state-timeline",
            w=8,
            description="1 while the anytime-valid test on reviewed pairs finds the classifier "
            "wrong more often on one model's answers: that model's drift alarms are unverified "
            "(docs/audit.md).",
        ),
        panel(
            layout,
            "Classifier agrees with reviewers",
            [
                target(
                    f"tunewatch_label_agreement_ratio{{{M}}}",
                    "{{model}} {{role}} {{metric}} {{instance}}",
                )
            ],
            unit="percentunit",
            w=8,
            description="Share of reviewed answers where the classifier's label matches people's.",
        ),
        panel(
            layout,
            "Pairs drawn for review and reviewed",
            [
                target(
                    f"sum by (model) (increase(tunewatch_audit_pairs_total{{{M}}}[1h]))",
                    "drawn per hour {{model}}",
                ),
                target(
                    f"max by (model) (tunewatch_audit_reviewed_pairs{{{M}}})",
                    "reviewed (counted) {{model}}",
                ),
            ],
            w=8,
            description="Reviewed: pairs labelled by people with the running classifier, since "
            "the last reset (each replica counts the reviews in its own store).",
        ),
        panel(
            layout,
            "Drift corrected by the audit (tuned − base), with 95% bounds",
            [
                target(
                    f'tunewatch_drift_corrected{{{DRIFT}, bound="estimate"}}',
                    f"corrected {per_replica}",
                ),
                target(
                    f'tunewatch_drift_corrected{{{DRIFT}, bound="lower"}}', f"lower {per_replica}"
                ),
                target(
                    f'tunewatch_drift_corrected{{{DRIFT}, bound="upper"}}', f"upper {per_replica}"
                ),
                target(f"tunewatch_drift{{{DRIFT}}}", f"classifier {per_replica}"),
            ],
            unit="percentunit",
            w=16,
            overrides=[dashed("B"), dashed("C")],
            description="The classifier's drift with its errors, measured on the reviewed "
            "sample, removed (prediction-powered inference). Series with 10 reviewed pairs "
            "or more.",
        ),
        panel(
            layout,
            "Judge model verdicts",
            [
                target(
                    "sum by (model, outcome) "
                    "(rate(tunewatch_judge_verdicts_total[$__rate_interval]))",
                    "{{model}} {{outcome}}",
                ),
            ],
            unit="reqps",
            w=8,
            description="A configured judge's calls by outcome (audit.judge; docs/judge.md).",
        ),
    ]


def probes_and_mirror(layout: Layout) -> list[dict[str, Any]]:
    rate = "$__rate_interval"
    return [
        row(layout, "Probes"),
        panel(
            layout,
            "Time since last successful probe round",
            [
                target(
                    "time() - max by (pack, model) "
                    f"(tunewatch_probe_last_success_timestamp_seconds{{{M}}})",
                    "{{pack}} {{model}}",
                ),
                target("2 * max by (pack) (tunewatch_probe_interval_seconds)", "stale at {{pack}}"),
            ],
            unit="s",
            overrides=[dashed("B")],
            description="TunewatchProbesStale fires past two intervals (dashed).",
        ),
        panel(
            layout,
            "Probe rounds",
            [
                target(
                    f"sum by (pack, outcome) (rate(tunewatch_probe_runs_total{{{M}}}[{rate}]))",
                    "{{pack}} {{outcome}}",
                ),
            ],
            unit="ops",
        ),
        panel(
            layout,
            "Failed expectations (last hour)",
            [
                target(
                    "sum by (pack, model, category, role) (increase("
                    f'tunewatch_probe_expectations_total{{{M}, result="fail"}}[1h]))',
                    "{{pack}} {{model}} {{category}} {{role}}",
                ),
            ],
            unit="short",
        ),
        panel(
            layout,
            "Probe packs loaded",
            [
                target("max(tunewatch_probe_packs_loaded)", "packs", instant=True),
            ],
            kind="stat",
            w=4,
            h=4,
        ),
        panel(
            layout,
            "Pack load errors (last hour)",
            [
                target(
                    "sum(increase(tunewatch_probe_pack_errors_total[1h]))", "errors", instant=True
                ),
            ],
            kind="stat",
            w=4,
            h=4,
        ),
        panel(
            layout,
            "Drift resets",
            [
                target(
                    f"sum by (model) (increase(tunewatch_drift_resets_total{{{M}}}[1h]))"
                    f" or 0 * sum by (model) (tunewatch_requests_total{{{M}}})",
                    "{{model}}",
                ),
            ],
            unit="short",
            w=8,
            h=4,
        ),
        panel(
            layout,
            "Build",
            [
                target(
                    "count by (version, python) (tunewatch_build_info)",
                    instant=True,
                    format="table",
                ),
            ],
            kind="table",
            w=8,
            h=4,
        ),
        row(layout, "Mirror and monitor queues"),
        panel(
            layout,
            "Mirror requests by outcome",
            [
                target(
                    "sum by (model, outcome) "
                    f"(rate(tunewatch_mirror_requests_total{{{M}}}[{rate}]))",
                    "{{model}} {{outcome}}",
                ),
            ],
            unit="reqps",
            description="sampled → completed | dropped (queue full) | failed.",
        ),
        panel(
            layout,
            "Mirror dropped / failed share of sampled",
            [
                target(
                    "(sum by (model) (rate(tunewatch_mirror_requests_total"
                    f'{{{M}, outcome="dropped"}}[{rate}]))'
                    " or 0 * sum by (model) (rate(tunewatch_mirror_requests_total"
                    f'{{{M}, outcome="sampled"}}[{rate}])))'
                    " / sum by (model) (rate(tunewatch_mirror_requests_total"
                    f'{{{M}, outcome="sampled"}}[{rate}]))',
                    "{{model}} dropped",
                ),
                target(
                    "(sum by (model) (rate(tunewatch_mirror_requests_total"
                    f'{{{M}, outcome="failed"}}[{rate}]))'
                    " or 0 * sum by (model) (rate(tunewatch_mirror_requests_total"
                    f'{{{M}, outcome="sampled"}}[{rate}])))'
                    " / sum by (model) (rate(tunewatch_mirror_requests_total"
                    f'{{{M}, outcome="sampled"}}[{rate}]))',
                    "{{model}} failed",
                    ref="B",
                ),
            ],
            unit="percentunit",
            description="Alerts at 5% over 15 minutes.",
        ),
        panel(
            layout,
            "Monitor queue depth",
            [
                target("tunewatch_monitor_queue_depth", "{{queue}} {{instance}}"),
            ],
            unit="short",
        ),
        panel(
            layout,
            "Monitor queue drops",
            [
                target(
                    f"sum by (queue) (rate(tunewatch_monitor_dropped_total[{rate}]))", "{{queue}}"
                ),
            ],
            unit="ops",
        ),
    ]


def dashboard() -> dict[str, Any]:
    layout = Layout()
    panels = (
        traffic(layout) + alarms(layout) + drift(layout) + audit(layout) + probes_and_mirror(layout)
    )
    return {
        "uid": "tunewatch",
        "title": "tunewatch: fine-tuned model safety drift",
        "description": "Traffic, drift of tuned models against their base, probes and mirror.",
        "tags": ["tunewatch", "llm", "safety"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {
            "list": [
                {
                    "name": "Drift resets",
                    "datasource": DATASOURCE,
                    "enable": True,
                    "iconColor": "orange",
                    "expr": "changes(tunewatch_drift_resets_total[2m]) > 0",
                    "titleFormat": "drift reset: {{model}} ({{reason}})",
                    "step": "60s",
                }
            ]
        },
        "templating": {
            "list": [
                variable(
                    "model",
                    "Model",
                    'label_values({__name__=~"tunewatch_requests_total|'
                    'tunewatch_paired_outcomes_total|tunewatch_probe_runs_total"}, model)',
                ),
                variable(
                    "source", "Source", "label_values(tunewatch_paired_outcomes_total, source)"
                ),
                variable(
                    "category",
                    "Category",
                    'label_values(tunewatch_paired_outcomes_total{model=~"$model", '
                    'source=~"$source"}, category)',
                ),
            ]
        },
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the JSON is out of date")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
