"""The Grafana dashboard's queries as Prometheus receives them (variables substituted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DASHBOARD = (
    Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards" / "tunewatch.json"
)

# What Grafana substitutes before a query reaches Prometheus.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "6h",
    "$model": ".*",
    "$source": ".*",
    "$category": ".*",
}


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def panels(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    out: list[dict[str, Any]] = []
    for panel in items:
        out.append(panel)
        out.extend(panels(panel.get("panels", [])))
    return out


def dashboard_exprs(variables: dict[str, str] = GRAFANA_VARIABLES) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and annotation, variables substituted."""
    dash = dashboard()
    found = [
        (f"panel {p['title']!r} {t['refId']}", t["expr"])
        for p in panels(dash["panels"])
        for t in p.get("targets", [])
    ]
    found += [(f"annotation {a['name']!r}", a["expr"]) for a in dash["annotations"]["list"]]
    out = []
    for where, expr in found:
        for var, value in sorted(variables.items(), key=lambda kv: -len(kv[0])):
            expr = expr.replace(var, value)
        assert "$" not in expr, f"{where}: unknown variable in {expr}"
        out.append((where, expr))
    return out
