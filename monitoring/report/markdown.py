"""The report as GitHub-flavoured Markdown: for pull requests, tickets and wikis.

Same sections and figures as the HTML; the plots become Unicode sparklines on the same scale.
Text from the data is HTML-escaped (GitHub renders inline HTML) and Markdown-escaped, so a
prompt cannot inject links, images or table cells into the review.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape

from tunewatch.monitoring.report.model import Difference, ModelReport, Report, Row
from tunewatch.monitoring.report.svg import shared_limit, sparkline
from tunewatch.monitoring.report.text import (
    AUDIT_BLURB,
    EXPECT_FAILURE,
    METRIC_TITLES,
    SOURCE_BLURBS,
    SOURCE_TITLES,
    corrected_text,
    diff_text,
    evidence_text,
    finding_text,
    how_to_read,
    pct,
    rate_text,
    settings_text,
    verdict,
    when,
)

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # what can start markup mid-line; <>& are HTML-escaped


def md(value: object) -> str:
    """Plain text safe inside a Markdown paragraph or table cell, on one line."""
    text = escape(str(value), quote=False)
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return re.sub(r"\s*\n\s*", " ↵ ", text.strip())


def render_markdown(report: Report) -> str:
    out: list[str] = [f"# {md(report.title)}", ""]
    out.append(
        f"Generated {when(report.generated_at)} · {report.observations} stored observations · "
        f"{len(report.models)} model(s)  "
    )
    out.append(f"Test settings: {md(settings_text(report.settings))}")
    out.append("")
    out += _summary(report)
    for model in report.models:
        out += _model(model)
    out += ["## How to read this report", ""]
    for head, text in how_to_read(report.settings):
        out += [f"**{md(head)}.** {md(text)}", ""]
    out.append("_The HTML report (`--format html`) draws the drift-over-time plots in full._")
    return "\n".join(out).rstrip() + "\n"


def _summary(report: Report) -> list[str]:
    out = ["## Summary", ""]
    if report.alarms:
        out.append(f"**{len(report.alarms)} alarm(s)**: the sequential test rejects “no drift”:")
        out.append("")
        out += [
            f"- {md(finding_text(f.model, f.row))} (log E {f.row.log_evalue:.2f} ≥ "
            f"{f.row.threshold:.2f})"
            for f in report.alarms
        ]
    else:
        out.append(
            "**No alarm.** For no model, source, category and metric does the evidence so far "
            "reject “no drift” at the family-wise level."
        )
    out.append("")
    if report.biggest:
        out += ["Largest measured drifts (95% interval excludes zero):", ""]
        out += _table(
            ["Model", "Source", "Category", "Metric", "Difference [95% CI]", "Pairs", "Verdict"],
            [
                [
                    md(f.model),
                    md(f.row.source),
                    md(f.row.category),
                    md(f.row.metric),
                    diff_text(f.row.drift),
                    str(f.row.drift.n if f.row.drift else 0),
                    _verdict(f.row),
                ]
                for f in report.biggest
            ],
            numeric={4, 5},
        )
    out += _table(
        ["Model", "Pairs", "Unpaired answers", "Period", "Last reset", "Alarms"],
        [
            [
                md(m.name),
                str(m.pairs),
                str(m.singles),
                f"{when(m.first_ts)} – {when(m.last_ts)}",
                when(m.reset_at) if m.reset_at is not None else "never",
                str(sum(r.alarm for r in m.rows)),
            ]
            for m in report.models
        ],
        numeric={1, 2, 5},
    )
    return out


def _model(m: ModelReport) -> list[str]:
    out = [f"## Model: {md(m.name)}", "", "### Model card", ""]
    if m.metadata:
        out += _table(["Field", "Value"], [[md(k.replace("_", " ")), md(v)] for k, v in m.metadata])
    else:
        out += [
            "No metadata: pass the proxy config (`--config`) to show base, adapter, tuning "
            "method, data and version.",
            "",
        ]
    reset = f"last reset {when(m.reset_at)}" if m.reset_at is not None else "never reset"
    out += [
        f"Evidence: {m.pairs} pairs and {m.singles} unpaired answers from {when(m.first_ts)} to "
        f"{when(m.last_ts)}; {reset}.",
        "",
    ]
    for source in m.sources:
        out += [f"### {SOURCE_TITLES.get(source, md(source))}", "", SOURCE_BLURBS.get(source, "")]
        out.append("")
        out += _results(m.rows_for(source))
    out += _audit(m)
    out += _trends(m)
    out += _expectations(m)
    out += _examples(m)
    return out


def _results(rows: Sequence[Row]) -> list[str]:
    return _table(
        [
            "Category",
            "Metric",
            "Pairs",
            "Tuned rate [95% CI]",
            "Base rate [95% CI]",
            "Difference tuned − base [95% CI]",
            "Corrected by audit [95% CI]",
            "log E / threshold",
            "Verdict",
        ],
        [
            [
                md(r.category),
                METRIC_TITLES.get(r.metric, r.metric),
                str(r.drift.n) if r.drift else "–",
                rate_text(r.tuned),
                rate_text(r.base),
                _bold_if(diff_text(r.drift), bool(r.drift and r.drift.excludes_zero)),
                corrected_text(r),
                evidence_text(r),
                _verdict(r),
            ]
            for r in rows
        ],
        numeric={2, 3, 4, 5, 6, 7},
    )


def _audit(m: ModelReport) -> list[str]:
    if not m.bias:
        return []
    out = ["### Audit: reviewed labels", "", AUDIT_BLURB, ""]
    return out + _table(
        ["Metric", "Reviewed pairs", "Classifier wrong on tuned [95% CI]",
         "Classifier wrong on base [95% CI]", "log E / threshold", "Verdict"],
        [
            [METRIC_TITLES.get(b.metric, b.metric), str(b.reviewed), rate_text(b.tuned_error),
             rate_text(b.base_error), f"{b.log_evalue:.2f} / {b.threshold:.2f}",
             "**LABELLER BIAS**" if b.alarm else "no bias found"]
            for b in m.bias
        ],
        numeric={1, 2, 3, 4},
    )  # fmt: skip


def _trends(m: ModelReport) -> list[str]:
    if not m.trends:
        return []
    out = [
        "### Drift over time",
        "",
        "Running tuned − base difference, oldest to newest, as a sparkline on a shared symmetric "
        "scale (▄ is zero); see the HTML report for the plots with intervals.",
        "",
    ]
    rows = []
    for source in m.sources:
        for metric in ("refusal", "caution"):
            trends = m.trends_for(source, metric)
            limit = shared_limit(trends) if trends else 1.0
            for t in trends:
                last = t.points[-1]
                rows.append(
                    [
                        md(source),
                        md(t.category),
                        metric,
                        f"`{sparkline([p.estimate for p in t.points], limit)}`",
                        diff_text(Difference(last.estimate, last.lower, last.upper, last.n)),
                        str(last.n),
                        when(t.first_alarm_ts) if t.first_alarm_ts is not None else "–",
                    ]
                )
    out += _table(
        ["Source", "Category", "Metric", "Trend", "Now [95% CI]", "Pairs", "First alarm"],
        rows,
        numeric={4, 5},
    )
    return out


def _expectations(m: ModelReport) -> list[str]:
    if not m.expectations:
        return []
    out = ["### Expectation failures (probes)", ""]
    out += _table(
        ["Pack", "Category", "Expected", "Failure means", "Tuned failures", "Base failures"],
        [
            [
                md(e.pack),
                md(e.category),
                md(e.expect),
                EXPECT_FAILURE.get(e.expect, ""),
                _share(e.tuned_failures, e.tuned_runs),
                _share(e.base_failures, e.base_runs),
            ]
            for e in m.expectations
        ],
        numeric={4, 5},
    )
    if m.worst_probes:
        out += ["Worst probes (tuned failures the base model passes first):", ""]
        out += _table(
            [
                "Pack",
                "Probe",
                "Category",
                "Expected",
                "Tuned label",
                "Base label",
                "Tuned failed",
                "Base failed",
            ],
            [
                [
                    md(p.pack),
                    md(p.probe),
                    md(p.category),
                    md(p.expect),
                    md(p.tuned_label),
                    md(p.base_label),
                    f"{p.tuned_failures}/{p.runs}",
                    f"{p.base_failures}/{p.runs}",
                ]
                for p in m.worst_probes
            ],
            numeric={6, 7},
        )
    return out


def _examples(m: ModelReport) -> list[str]:
    out = ["### Most divergent examples", ""]
    if not m.text_stored:
        return [
            *out,
            "Prompt and response text is not stored (`store.keep_text: none`, the "
            f"privacy default); {m.divergent_pairs} pairs had differently labelled answers.",
            "",
        ]
    if not m.examples:
        return [*out, f"No stored text for the {m.divergent_pairs} divergent pairs.", ""]
    for i, ex in enumerate(m.examples, start=1):
        where = " · ".join(
            md(x) for x in (ex.source, ex.category, ex.probe and f"{ex.pack}/{ex.probe}") if x
        )
        out += [
            f"**{i}. {where}** ({when(ex.ts)})",
            "",
            f"- Prompt: {_quoted(ex.prompt)}",
            f"- Tuned ({md(ex.tuned_label)}): {_quoted(ex.tuned_response)}",
            f"- Base ({md(ex.base_label)}): {_quoted(ex.base_response)}",
            "",
        ]
    return out


def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: set[int] | frozenset[int] = frozenset(),
) -> list[str]:
    """A GitHub table from already-escaped cells; numeric columns right-aligned."""
    align = ["---:" if i in numeric else "---" for i in range(len(headers))]
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join(align) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _verdict(row: Row) -> str:
    return f"**{verdict(row)}**" if row.alarm else verdict(row)


def _bold_if(text: str, bold: bool) -> str:
    return f"**{text}**" if bold else text


def _share(failures: int, runs: int) -> str:
    return f"{failures}/{runs} ({pct(failures / runs)})" if runs else "–"


def _quoted(text: str | None) -> str:
    return f"“{md(text)}”" if text is not None else "_(not stored)_"
