"""`tunewatch report`: the drift report a governance review reads, as HTML or Markdown.

`build_report` replays stored observations through the drift engine into a plain `Report`;
`render_html` and `render_markdown` only format it. See docs/report.md.
"""

from tunewatch.monitoring.report.html import render_html
from tunewatch.monitoring.report.markdown import render_markdown
from tunewatch.monitoring.report.model import Report, build_report

__all__ = ["Report", "build_report", "render_html", "render_markdown"]
