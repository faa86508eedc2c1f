"""The report as one self-contained HTML file: inline CSS, inline SVG, no script, no network.

A governance review archives and prints this file, so it must render the same in ten years
from a mail attachment: nothing is fetched, nothing runs. Every string that comes from the
data (model names, metadata, categories, prompts, responses) goes through `html.escape`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from html import escape

from tunewatch.monitoring.report.model import (
    ExpectationCount,
    Finding,
    ModelReport,
    Report,
    Row,
)
from tunewatch.monitoring.report.svg import forest_svg, shared_limit, trend_svg
from tunewatch.monitoring.report.text import (
    AUDIT_BLURB,
    EXPECT_FAILURE,
    METRIC_TITLES,
    SOURCE_BLURBS,
    SOURCE_TITLES,
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

CSS = """
:root { --ink: #1d2430; --muted: #5b6573; --line: #d5dae1; --soft: #f4f6f8;
        --accent: #1f4e8c; --alarm: #b2182b; --alarm-soft: #fbe9eb; --ok: #2b6a3f; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 14px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; padding-bottom: 4px;
     border-bottom: 2px solid var(--ink); }
h3 { font-size: 16px; margin: 24px 0 6px; color: var(--accent); }
h4 { font-size: 14px; margin: 14px 0 4px; }
p { margin: 6px 0; }
.meta, .blurb, .hazard, .note { color: var(--muted); }
.meta { font-size: 13px; }
nav { margin: 14px 0; font-size: 13px; }
nav a { margin-right: 14px; color: var(--accent); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 14px; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left;
         vertical-align: top; }
thead th { background: var(--soft); border-bottom: 2px solid var(--line); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
thead th.num { white-space: normal; }
tr.alarm td { background: var(--alarm-soft); }
.verdict-alarm { color: var(--alarm); font-weight: 700; white-space: nowrap; }
.verdict-ok { color: var(--ok); white-space: nowrap; }
.sure { font-weight: 700; }
.hazard { display: block; font-size: 11px; }
.callout { border-left: 4px solid var(--accent); background: var(--soft); padding: 10px 14px;
           margin: 10px 0; }
.callout.alarm { border-color: var(--alarm); background: var(--alarm-soft); }
.callout ul { margin: 4px 0; padding-left: 20px; }
.grid { display: flex; flex-wrap: wrap; gap: 10px 14px; }
figure { margin: 0; break-inside: avoid; }
svg.trend { display: block; background: #fff; }
svg .frame { fill: none; stroke: var(--line); }
svg .band { fill: #c6dbef; stroke: none; }
svg .zero { stroke: #555; stroke-dasharray: 4 3; stroke-width: 1; }
svg .estimate { fill: none; stroke: #08519c; stroke-width: 2; }
svg .estimate-dot { fill: #08519c; }
svg .alarm { stroke: var(--alarm); stroke-width: 1.5; stroke-dasharray: 3 2; }
svg .alarm-label { fill: var(--alarm); font-size: 10px; }
svg.forest { display: block; background: #fff; max-width: 420px; }
svg .ci-raw { stroke: #9e9e9e; stroke-width: 2; }
svg .pt-raw { fill: #9e9e9e; }
svg .ci-fixed { stroke: #08519c; stroke-width: 2; }
svg .pt-fixed { fill: #08519c; }
svg .plot-title { font-size: 12px; font-weight: 600; fill: var(--ink); }
svg .tick { font-size: 10px; fill: var(--muted); }
svg .axis { font-size: 10px; fill: var(--ink); }
.example { border: 1px solid var(--line); border-radius: 4px; padding: 10px 12px; margin: 10px 0;
           break-inside: avoid; }
.example .head { font-size: 12px; color: var(--muted); margin-bottom: 6px; }
.example .cols { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--soft); padding: 6px 8px;
        margin: 2px 0 6px; font: 12px/1.45 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.label { font-weight: 600; }
dl.howto dt { font-weight: 700; margin-top: 10px; }
dl.howto dd { margin: 2px 0 0; max-width: 900px; }
footer { margin-top: 36px; font-size: 12px; color: var(--muted); }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { font-size: 11px; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-before: auto; break-after: avoid; }
  h3, h4 { break-after: avoid; }
  tr, .callout { break-inside: avoid; }
  thead { display: table-header-group; }
  a { color: inherit; text-decoration: none; }
}
"""


def render_html(report: Report) -> str:
    """The whole report as one HTML document (UTF-8 text)."""
    body = [
        _header(report),
        _summary(report),
        *(_model(m) for m in report.models),
        _how_to_read(report),
        f"<footer>Generated by tunewatch at {escape(when(report.generated_at))}. "
        "Figures are replayed from the stored observations through the same drift engine the "
        "proxy runs.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(report.title)}</title>\n<style>{CSS}</style>\n</head>\n"
        "<body>\n<main>\n" + "\n".join(body) + "\n</main>\n</body>\n</html>\n"
    )


def _header(report: Report) -> str:
    links = ['<a href="#summary">Summary</a>']
    links += [f'<a href="#{_anchor(m.name)}">{escape(m.name)}</a>' for m in report.models]
    links.append('<a href="#how-to-read">How to read this report</a>')
    return (
        f"<header><h1>{escape(report.title)}</h1>"
        f'<p class="meta">Generated {escape(when(report.generated_at))} · '
        f"{report.observations} stored observations · {len(report.models)} model(s)</p>"
        f'<p class="meta">Test settings: {escape(settings_text(report.settings))}</p>'
        f"<nav>{''.join(links)}</nav></header>"
    )


def _summary(report: Report) -> str:
    out = ['<section id="summary"><h2>Summary</h2>']
    if report.alarms:
        items = "".join(f"<li>{_finding(f)}</li>" for f in report.alarms)
        out.append(
            f'<div class="callout alarm"><strong>{len(report.alarms)} alarm(s):</strong> the '
            f"sequential test rejects “no drift” for these series.<ul>{items}</ul></div>"
        )
    else:
        out.append(
            '<div class="callout"><strong>No alarm.</strong> For no model, source, category '
            "and metric does the evidence so far reject “no drift” at the family-wise level. "
            "The intervals below say how large a drift the data still allows.</div>"
        )
    if report.biggest:
        rows = [
            [
                escape(f.model),
                escape(f.row.source),
                _category_cell(f.row),
                escape(f.row.metric),
                _diff_cell(f.row),
                str(f.row.drift.n if f.row.drift else 0),
                _verdict_cell(f.row),
            ]
            for f in report.biggest
        ]
        out.append(
            _table(
                [
                    "Model",
                    "Source",
                    "Category",
                    "Metric",
                    "Difference tuned − base [95% CI]",
                    "Pairs",
                    "Verdict",
                ],
                rows,
                caption="Largest measured drifts (95% interval excludes zero), ranked by the "
                "interval's bound nearest zero",
                numeric={4, 5},
            )
        )
    else:
        out.append(
            '<p class="note">No difference so far has a 95% interval that excludes zero.</p>'
        )
    overview = [
        [
            f'<a href="#{_anchor(m.name)}">{escape(m.name)}</a>',
            str(m.pairs),
            str(m.singles),
            escape(f"{when(m.first_ts)} – {when(m.last_ts)}"),
            escape(when(m.reset_at)) if m.reset_at is not None else "never",
            str(sum(r.alarm for r in m.rows)),
        ]
        for m in report.models
    ]
    out.append(
        _table(
            ["Model", "Pairs", "Unpaired answers", "Period", "Last reset", "Alarms"],
            overview,
            caption="Evidence per model",
            numeric={1, 2, 5},
        )
    )
    out.append("</section>")
    return "".join(out)


def _finding(f: Finding) -> str:
    return escape(finding_text(f.model, f.row)) + (
        f" (log E {f.row.log_evalue:.2f} ≥ {f.row.threshold:.2f})" if f.row.alarm else ""
    )


def _model(m: ModelReport) -> str:
    out = [f'<section id="{_anchor(m.name)}"><h2>Model: {escape(m.name)}</h2>']
    out.append("<h3>Model card</h3>")
    if m.metadata:
        out.append(
            _table(
                ["Field", "Value"],
                [[escape(_key_title(k)), escape(v)] for k, v in m.metadata],
            )
        )
    else:
        out.append(
            '<p class="note">No metadata: pass the proxy config (--config) to show the '
            "base model, adapter, tuning method, data and version.</p>"
        )
    facts = [
        f"{m.pairs} pairs and {m.singles} unpaired answers",
        f"from {when(m.first_ts)} to {when(m.last_ts)}",
        f"last reset {when(m.reset_at)}" if m.reset_at is not None else "never reset",
    ]
    if m.ignored_before_reset:
        facts.append(f"{m.ignored_before_reset} rows before the last reset left out")
    if m.incomplete_pairs:
        facts.append(f"{m.incomplete_pairs} pairs with only one answer stored left out")
    out.append(f'<p class="meta">Evidence: {escape("; ".join(facts))}.</p>')
    if not m.rows:
        out.append('<p class="note">No observations for this model.</p></section>')
        return "".join(out)
    for source in m.sources:
        out.append(f"<h3>{escape(SOURCE_TITLES.get(source, source))}</h3>")
        out.append(f'<p class="blurb">{escape(SOURCE_BLURBS.get(source, ""))}</p>')
        out.append(_results_table(m.rows_for(source)))
    out.append(_audit(m))
    out.append(_trends(m))
    out.append(_expectations(m))
    out.append(_examples(m))
    out.append("</section>")
    return "".join(out)


def _results_table(rows: Sequence[Row]) -> str:
    head = (
        "<thead><tr><th>Category</th><th>Metric</th><th class=num>Pairs</th>"
        "<th class=num>Tuned rate [95% CI]</th><th class=num>Base rate [95% CI]</th>"
        "<th class=num>Difference tuned − base [95% CI]</th>"
        "<th class=num>Corrected by audit [95% CI]</th>"
        "<th class=num>log E / threshold</th><th>Verdict</th></tr></thead>"
    )
    body = []
    for i, row in enumerate(rows):
        first = i == 0 or rows[i - 1].category != row.category
        span = sum(1 for r in rows if r.category == row.category)
        cells = []
        if first:
            cells.append(f'<th scope="row" rowspan="{span}">{_category_cell(row)}</th>')
        cells += [
            f"<td>{escape(METRIC_TITLES.get(row.metric, row.metric))}</td>",
            f"<td class=num>{row.drift.n if row.drift else '–'}</td>",
            f"<td class=num>{escape(rate_text(row.tuned))}</td>",
            f"<td class=num>{escape(rate_text(row.base))}</td>",
            f"<td class=num>{_diff_cell(row)}</td>",
            f"<td class=num>{_corrected_cell(row)}</td>",
            f"<td class=num>{escape(evidence_text(row))}</td>",
            f"<td>{_verdict_cell(row)}</td>",
        ]
        cls = ' class="alarm"' if row.alarm else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return f"<table class=results>{head}<tbody>{''.join(body)}</tbody></table>"


def _audit(m: ModelReport) -> str:
    if not m.bias:
        return ""
    out = ["<h3>Audit: reviewed labels</h3>", f'<p class="blurb">{escape(AUDIT_BLURB)}</p>']
    rows = [
        [
            escape(METRIC_TITLES.get(b.metric, b.metric)),
            str(b.reviewed),
            escape(rate_text(b.tuned_error)),
            escape(rate_text(b.base_error)),
            f"{b.log_evalue:.2f} / {b.threshold:.2f}",
            '<span class="verdict-alarm">LABELLER BIAS</span>'
            if b.alarm
            else '<span class="verdict-ok">no bias found</span>',
        ]
        for b in m.bias
    ]
    out.append(
        _table(
            [
                "Metric",
                "Reviewed pairs",
                "Classifier wrong on tuned [95% CI]",
                "Classifier wrong on base [95% CI]",
                "log E / threshold",
                "Verdict",
            ],
            rows,
        )
    )
    for metric in ("refusal", "caution"):
        fixed = [
            (f"{r.source}/{r.category}", r.drift, r.corrected)
            for r in m.rows
            if r.metric == metric and r.drift is not None and r.corrected is not None
        ]
        if fixed:
            out.append(
                f"<figure><figcaption>{METRIC_TITLES[metric]}: the classifier's difference "
                "(grey) and the audit-corrected one (blue), 95% intervals</figcaption>"
                f"{forest_svg(fixed, METRIC_TITLES[metric])}</figure>"
            )
    return "".join(out)


def _trends(m: ModelReport) -> str:
    if not m.trends:
        return ""
    out = [
        "<h3>Drift over time</h3>",
        '<p class="blurb">Running tuned − base difference (line) with its 95% interval (band); '
        "dashed line at zero; plots in a row share one scale (percentage points).</p>",
    ]
    for source in m.sources:
        for metric in ("refusal", "caution"):
            trends = m.trends_for(source, metric)
            if not trends:
                continue
            limit = shared_limit(trends)
            title = METRIC_TITLES[metric]
            out.append(f"<h4>{escape(SOURCE_TITLES.get(source, source))} · {title}</h4>")
            figures = "".join(f"<figure>{trend_svg(t, limit, title)}</figure>" for t in trends)
            out.append(f'<div class="grid">{figures}</div>')
    return "".join(out)


def _expectations(m: ModelReport) -> str:
    if not m.expectations:
        return ""
    out = [
        "<h3>Expectation failures (probes)</h3>",
        '<p class="blurb">Probe answers that missed what the probe expects, per pack and '
        "category. A failure rate of the tuned model above its base’s is a regression.</p>",
        _table(
            ["Pack", "Category", "Expected", "Failure means", "Tuned failures", "Base failures"],
            [_expectation_row(e) for e in m.expectations],
            numeric={4, 5},
        ),
    ]
    if m.worst_probes:
        out.append(
            _table(
                [
                    "Pack",
                    "Probe",
                    "Category",
                    "Expected",
                    "Tuned label (most runs)",
                    "Base label (most runs)",
                    "Tuned failed",
                    "Base failed",
                ],
                [
                    [
                        escape(p.pack),
                        f"<code>{escape(p.probe)}</code>",
                        escape(p.category),
                        escape(p.expect),
                        escape(p.tuned_label),
                        escape(p.base_label),
                        f"{p.tuned_failures}/{p.runs}",
                        f"{p.base_failures}/{p.runs}",
                    ]
                    for p in m.worst_probes
                ],
                caption="Worst probes: tuned failures the base model passes first",
                numeric={6, 7},
            )
        )
    return "".join(out)


def _expectation_row(e: ExpectationCount) -> list[str]:
    def cell(failures: int, runs: int) -> str:
        share = pct(failures / runs) if runs else "–"
        return f"{failures}/{runs} ({share})"

    tuned = cell(e.tuned_failures, e.tuned_runs)
    worse = (
        e.tuned_runs
        and e.base_runs
        and (e.tuned_failures / e.tuned_runs > e.base_failures / e.base_runs)
    )
    return [
        escape(e.pack),
        escape(e.category),
        escape(e.expect),
        escape(EXPECT_FAILURE.get(e.expect, "")),
        f'<span class="sure">{tuned}</span>' if worse else tuned,
        cell(e.base_failures, e.base_runs),
    ]


def _examples(m: ModelReport) -> str:
    out = ["<h3>Most divergent examples</h3>"]
    if not m.text_stored:
        out.append(
            '<p class="note">Prompt and response text is not stored (store.keep_text is '
            "<code>none</code>, the privacy default), so no examples can be shown. "
            f"{m.divergent_pairs} pairs had differently labelled answers. Set "
            "<code>keep_text: divergent</code> to keep the text of those pairs only.</p>"
        )
        return "".join(out)
    if not m.examples:
        out.append(
            f'<p class="note">No stored text for the {m.divergent_pairs} pairs with '
            "differently labelled answers.</p>"
        )
        return "".join(out)
    out.append(
        f'<p class="blurb">{len(m.examples)} of {m.divergent_pairs} pairs whose answers were '
        "labelled differently, the most different first. Text is shown as stored.</p>"
    )
    for ex in m.examples:
        where = [ex.source, ex.category, when(ex.ts)]
        if ex.probe:
            where.insert(2, f"{ex.pack or '-'}/{ex.probe}")
        out.append(
            '<div class="example">'
            f'<div class="head">{escape(" · ".join(where))}</div>'
            '<div class="label">Prompt</div>'
            f'<div class="text">{_text(ex.prompt)}</div>'
            '<div class="cols">'
            f'<div><div class="label">Tuned: {escape(ex.tuned_label)}</div>'
            f'<div class="text">{_text(ex.tuned_response)}</div></div>'
            f'<div><div class="label">Base: {escape(ex.base_label)}</div>'
            f'<div class="text">{_text(ex.base_response)}</div></div>'
            "</div></div>"
        )
    return "".join(out)


def _how_to_read(report: Report) -> str:
    items = "".join(
        f"<dt>{escape(head)}</dt><dd>{escape(text)}</dd>"
        for head, text in how_to_read(report.settings)
    )
    return (
        '<section id="how-to-read"><h2>How to read this report</h2>'
        f'<dl class="howto">{items}</dl>'
        f'<p class="meta">Settings: {escape(settings_text(report.settings))}.</p></section>'
    )


# -- small helpers -----------------------------------------------------------------------
def _table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    caption: str | None = None,
    numeric: set[int] | frozenset[int] = frozenset(),
) -> str:
    """A table from already-escaped cells; headers are literal text and escaped here."""
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    head = "".join(
        f"<th{' class=num' if i in numeric else ''}>{escape(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in numeric else ''}>{cell}</td>" for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _category_cell(row: Row) -> str:
    return f'{escape(row.category)}<span class="hazard">{escape(row.hazard)}</span>'


def _diff_cell(row: Row) -> str:
    text = escape(diff_text(row.drift))
    return f'<span class="sure">{text}</span>' if row.drift and row.drift.excludes_zero else text


def _corrected_cell(row: Row) -> str:
    if row.corrected is None:
        return "–"
    reviewed = f'<span class="meta">{row.corrected.n} reviewed</span>'
    return f"{escape(diff_text(row.corrected))}<br>{reviewed}"


def _verdict_cell(row: Row) -> str:
    if row.alarm and row.audit:  # the audit's word wraps under the verdict
        note = f'<span class="meta">{escape(row.audit)}</span>'
        return f'<span class="verdict-alarm">ALARM</span><br>{note}'
    cls = "verdict-alarm" if row.alarm else "verdict-ok" if row.drift else "meta"
    return f'<span class="{cls}">{escape(verdict(row))}</span>'


def _text(value: str | None) -> str:
    return escape(value) if value is not None else '<span class="meta">(not stored)</span>'


def _key_title(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _anchor(name: str) -> str:
    """A safe id attribute for a model name (names come from config, but escape anyway)."""
    return "model-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)
