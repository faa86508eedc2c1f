"""`tunewatch report`: read the store, build the report, write HTML or Markdown.

Exit status: 0 when the report was written, 2 on any error (unreadable database or config,
unknown model, unwritable output), with one clear line on stderr.

`add_arguments` and `run_parsed` let the `tunewatch` CLI mount this as a subcommand without
repeating the options; `run` is the same thing from a plain argv (tests, `python -m`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from tunewatch.monitoring.audit import ReviewedPair
from tunewatch.monitoring.categories import Category
from tunewatch.monitoring.classifier_version import weights_version
from tunewatch.monitoring.drift import DriftSettings
from tunewatch.monitoring.duration import parse_seconds
from tunewatch.monitoring.report.html import render_html
from tunewatch.monitoring.report.markdown import render_markdown
from tunewatch.monitoring.report.model import build_report
from tunewatch.monitoring.store_backends import redact
from tunewatch.proxy.config import ConfigError, categories, drift_settings, load_config
from tunewatch.proxy.store_cli import StoreError, open_store

if TYPE_CHECKING:
    from _typeshed import SupportsWrite


class ReportError(Exception):
    """A problem the user can fix; its message is printed as is."""


@dataclass(frozen=True, slots=True)
class ConfigView:
    """What the report needs from the proxy config, as plain data."""

    metadata: Mapping[str, Mapping[str, str]]
    settings: DriftSettings
    categories: tuple[Category, ...]
    db: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="PATH|URL", help="the store (default: the store of --config)"
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the proxy's YAML config: model metadata and the drift settings",
    )
    parser.add_argument("--model", metavar="NAME", help="report on this model only")
    parser.add_argument(
        "--since",
        type=_duration,
        metavar="DURATION",
        help="only observations from the last DURATION (30m, 24h, 7d)",
    )
    parser.add_argument(
        "--format", choices=("html", "md"), help="default: md for a .md --out, else html"
    )
    parser.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    parser.add_argument(
        "--alpha", type=_alpha, metavar="A", help="family-wise false-alarm level (0 < A < 0.5)"
    )
    parser.add_argument("--title", metavar="TEXT", default="tunewatch drift report")


def run(argv: Sequence[str], stdout: IO[str], stderr: IO[str]) -> int:
    parser = _Parser(stdout, stderr, prog="tunewatch report", description=__doc__.split("\n")[0])
    add_arguments(parser)
    try:
        args = parser.parse_args(list(argv))
    except _Exit as exc:
        return exc.code
    return run_parsed(args, stdout, stderr)


def run_parsed(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    try:
        text, count = _report(args)
        if args.out:
            try:
                Path(args.out).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise ReportError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
            print(f"tunewatch report: wrote {args.out} ({count} observations)", file=stderr)
        else:
            stdout.write(text)
        return 0
    except ReportError as exc:
        print(f"tunewatch report: error: {exc}", file=stderr)
        return 2


def _report(args: argparse.Namespace) -> tuple[str, int]:
    view = _load_config(args.config) if args.config else None
    db = args.db or (view.db if view else None)
    if db is None:
        raise ReportError("give --db PATH|URL (or --config with a store.url)")
    settings = view.settings if view else DriftSettings()
    if args.alpha is not None:
        settings = replace(settings, alpha=args.alpha)
    now = time.time()
    rows, resets, reviewed, classifier = _read_store(
        db, args.model, now - args.since if args.since else None
    )
    if args.model and not rows:
        raise ReportError(f"no observations for model {args.model!r} in {redact(db)}")
    metadata: Mapping[str, Mapping[str, str]] = view.metadata if view else {}
    if args.model:  # else configured models without data still appear: "no data" is a finding
        metadata = {k: v for k, v in metadata.items() if k == args.model}
    report = build_report(
        rows,
        metadata=metadata,
        settings=settings,
        resets=resets,
        generated_at=now,
        title=args.title,
        categories=view.categories if view else (),
        reviewed=reviewed,
        classifier=classifier,
    )
    fmt = args.format or ("md" if str(args.out or "").endswith((".md", ".markdown")) else "html")
    return (render_markdown(report) if fmt == "md" else render_html(report)), len(rows)


def _read_store(
    db: str, model: str | None, since: float | None
) -> tuple[list[dict[str, Any]], dict[str, float], list[ReviewedPair], str]:
    """Rows, last resets, the audit's reviewed pairs and the classifier version the proxy
    last counted with (the shipped one for a store that never saw a proxy)."""
    try:
        store = open_store(db)
    except StoreError as exc:
        raise ReportError(str(exc)) from exc
    try:
        return (
            store.observations(model=model, since=since),
            store.last_resets(),
            store.reviewed_pairs("human"),
            store.get_meta("classifier") or weights_version(),
        )
    except store.backend.errors as exc:
        raise ReportError(f"cannot read {redact(db)}: {exc}") from exc
    finally:
        store.close()


def _load_config(path: str) -> ConfigView:
    """The proxy config, read with the proxy's own loader so its validation and defaults apply,
    and the settings from the same `drift_settings` the proxy serves with: the report's
    thresholds are the live ones."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise ReportError("invalid config:\n" + "\n".join(exc.errors)) from exc
    custom = {c.name for c in config.categories.custom}
    return ConfigView(
        metadata={m.name: dict(m.metadata) for m in config.models},
        settings=drift_settings(config),
        categories=tuple(c for c in categories(config) if c.name in custom),
        db=config.store.resolved_url(),
    )


def _duration(value: str) -> float:
    try:
        return parse_seconds(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _alpha(value: str) -> float:
    try:
        alpha = float(value)
    except ValueError:
        alpha = -1.0
    if not 0.0 < alpha < 0.5:
        raise argparse.ArgumentTypeError(f"{value!r} is not a level between 0 and 0.5")
    return alpha


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse that writes to the given streams and returns instead of exiting."""

    def __init__(self, stdout: IO[str], stderr: IO[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._streams = (stdout, stderr)

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if not message:
            return
        if file is None or file is sys.stdout:
            file = self._streams[0]
        elif file is sys.stderr:
            file = self._streams[1]
        file.write(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._streams[1].write(message)
        raise _Exit(status)

    def error(self, message: str) -> NoReturn:
        self.print_usage(self._streams[1])
        self.exit(2, f"{self.prog}: error: {message}\n")


def main() -> int:
    return run(sys.argv[1:], sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
