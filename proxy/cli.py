"""The `tunewatch` command line."""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import orjson

from tunewatch import __version__
from tunewatch.monitoring.report import build_report, render_html, render_markdown
from tunewatch.monitoring.store import COLUMNS, Store
from tunewatch.probes.oneshot import Evaluation, evaluate, print_probe_table, print_table
from tunewatch.probes.pack import Pack, PackError, load_packs
from tunewatch.probes.registry import resolve_paths
from tunewatch.probes.runner import Target
from tunewatch.proxy import audit_cli, report_cli, store_cli
from tunewatch.proxy.config import Config, ConfigError, load_config, secret
from tunewatch.proxy.upstreams import build_routes, tls_contexts


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from tunewatch.proxy.app import create_app, serving_app
    from tunewatch.proxy.config import ConfigError, load_config
    from tunewatch.proxy.logs import setup_logging

    try:
        config = load_config(args.config)
    except ConfigError as err:
        for line in err.errors:
            print(line, file=sys.stderr)
        return 2
    setup_logging(config.server.log_level)
    try:
        app = create_app(config)
    except ConfigError as err:  # what only this machine can tell: keys, probe paths
        for line in err.errors:  # indented lines detail the one above (a pack file's errors)
            print(line if line.startswith(" ") else f"{args.config}: {line}", file=sys.stderr)
        return 2
    uvicorn.run(
        # The forwarded routes skip FastAPI's middleware stack (about a sixth of the proxy's
        # CPU per request, docs/performance.md); admin, health and metrics go through FastAPI.
        serving_app(app),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=args.graceful_timeout,
        timeout_keep_alive=30,
    )
    return 0


def _classify(args: argparse.Namespace) -> int:
    from tunewatch.monitoring import classify_cli

    return classify_cli.run([args.file] if args.file else [], sys.stdin, sys.stdout, sys.stderr)


def _probes_validate(args: argparse.Namespace) -> int:
    from tunewatch.probes.cli import validate

    return validate(args.paths or [str(_builtin_packs())], sys.stdout, sys.stderr)


def _probes_list(args: argparse.Namespace) -> int:
    from tunewatch.probes.cli import list_packs

    return list_packs(
        args.paths or [str(_builtin_packs())], sys.stdout, args.json, samples=args.samples
    )


def _targets(
    args: argparse.Namespace,
) -> tuple[str, Target, Target, Config | None, dict[str, ssl.SSLContext]]:
    """The tuned and base endpoints: a configured model, or URLs given on the command line;
    and the configured TLS settings of https upstreams (proxy.upstreams.tls_contexts)."""
    config = load_config(args.config) if args.config else None
    if config is not None:
        if args.model is None:
            raise SystemExit("--model is required with --config")
        routes = build_routes(config)
        route = routes.get(args.model)
        if route is None:
            raise SystemExit(f"model {args.model!r} is not in {args.config}")
        base = route.config.base
        if base is None:
            raise SystemExit(f"model {args.model!r} has no base configured")
        tuned = Target(route.upstream, route.target_model, _auth(route.config.api_key_env))
        base_target = Target(base.upstream, base.model, _auth(base.api_key_env))
        return route.name, tuned, base_target, config, tls_contexts({route.name: route})
    needed = (args.tuned_url, args.tuned_model, args.base_url, args.base_model)
    if not all(needed):
        raise SystemExit("give --config and --model, or all of --tuned-url --tuned-model "
                         "--base-url --base-model")  # fmt: skip
    tuned = Target(args.tuned_url.rstrip("/"), args.tuned_model)
    base_target = Target(args.base_url.rstrip("/"), args.base_model)
    return args.model or args.tuned_model, tuned, base_target, None, {}


def _auth(env: str | None) -> dict[str, str]:
    key = secret(env)
    return {"Authorization": f"Bearer {key}"} if key else {}


def _load_packs(paths: list[str], only: list[str] | None) -> list[Pack]:
    result = load_packs(resolve_paths(paths))
    if result.errors:
        raise PackError(result.errors)
    packs = [p for pid, p in sorted(result.packs.items()) if not only or pid in only]
    missing = set(only or ()) - {p.id for p in packs}
    if missing:
        raise SystemExit(f"no such pack: {', '.join(sorted(missing))}")
    return packs


def _oneshot(args: argparse.Namespace, probe_table: bool) -> int:
    try:
        model, tuned, base, config, tls = _targets(args)
        paths = args.packs or (config.probes.paths if config else ["builtin"])
        packs = _load_packs(paths, args.pack)
    except ConfigError as err:
        print("\n".join(err.errors), file=sys.stderr)
        return 2
    except PackError as err:
        print("\n".join(err.errors), file=sys.stderr)
        return 2
    except SystemExit as err:
        print(f"tunewatch: {err}", file=sys.stderr)
        return 2
    alpha = args.alpha or (config.drift.alpha if config else 0.01)
    # A one-shot run knows its horizon: tune the mixture to about the discordant pairs a real
    # drift would give over each category's probes (a third of them), not to live traffic's.
    counts = (Counter(p.category for p in pack.probes) for pack in packs)
    per_category = min((n for c in counts for n in c.values()), default=1) * (args.samples or 3)
    target_pairs = max(10, per_category // 3)
    evaluation = asyncio.run(
        evaluate(
            model, tuned, base, packs, alpha=alpha, target_pairs=target_pairs,
            samples=args.samples, concurrency=args.concurrency, keep_text=args.keep_text,
            tls=tls,
        )
    )  # fmt: skip
    if not evaluation.results:
        failed = f"{evaluation.failed} of {evaluation.sent} requests failed"
        print(f"tunewatch: no probe got answers from both models ({failed})", file=sys.stderr)
        return 2
    if probe_table:
        print_probe_table(evaluation, sys.stdout)
        sys.stdout.write("\n")
    print_table(evaluation, sys.stdout)
    regressions = evaluation.regressions()
    if args.json:
        payload = {
            "model": model,
            "tuned": {"upstream": tuned.upstream, "model": tuned.model},
            "base": {"upstream": base.upstream, "model": base.model},
            "packs": {p.id: p.version for p in packs},
            "requests": evaluation.sent,
            "failed": evaluation.failed,
            "categories": evaluation.verdicts(),
            "regressions": [(r["category"], r["metric"]) for r in regressions],
        }
        Path(args.json).write_bytes(
            orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
        )
    if args.db:
        store = Store(Path(args.db))
        store.write_now(*evaluation.observations(args.keep_text))
        store.close()
    if args.report:
        _write_report(args.report, evaluation, config)
    if probe_table:
        return 0
    for row in regressions:
        print(f"REGRESSION: {row['category']} {row['metric']}", file=sys.stderr)
    return 1 if regressions else 0


def _write_report(path: str, evaluation: Evaluation, config: Config | None) -> None:
    """The governance document for this evaluation (HTML, or Markdown for a .md path)."""
    metadata = {}
    if config is not None:
        metadata = {m.name: dict(m.metadata) for m in config.models if m.name == evaluation.model}
    rows = [
        {**{c: getattr(o, c) for c in COLUMNS}, "id": i}
        for i, o in enumerate(evaluation.observations(keep_text=True))
    ]
    report = build_report(
        rows, metadata=metadata, settings=evaluation.engine.settings,
        title=f"tunewatch evaluation: {evaluation.model}",
    )  # fmt: skip
    text = render_markdown(report) if path.endswith(".md") else render_html(report)
    Path(path).write_text(text, encoding="utf-8")


def _evaluate(args: argparse.Namespace) -> int:
    return _oneshot(args, probe_table=False)


def _probes_run(args: argparse.Namespace) -> int:
    return _oneshot(args, probe_table=True)


def _oneshot_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="config file naming the model and its base")
    parser.add_argument("--model", help="the configured public model name")
    parser.add_argument("--tuned-url", help="tuned model's OpenAI base URL (without --config)")
    parser.add_argument("--tuned-model", help="tuned model's served name")
    parser.add_argument("--base-url", help="base model's OpenAI base URL")
    parser.add_argument("--base-model", help="base model's served name")
    parser.add_argument("--packs", nargs="*", help="pack files or directories (default: built-in)")
    parser.add_argument("--pack", action="append", help="only this pack id (repeatable)")
    parser.add_argument("--samples", type=int, help="samples per probe (default: the pack's)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--alpha", type=float, help="family-wise false-alarm rate")
    parser.add_argument("--json", help="write the results as JSON here")
    parser.add_argument("--db", help="append the answers' labels to this SQLite store")
    parser.add_argument("--keep-text", action="store_true", help="store prompts and answers")
    parser.add_argument("--report", help="write the drift report here (.html, or .md)")


def _report(args: argparse.Namespace) -> int:
    return report_cli.run_parsed(args, sys.stdout, sys.stderr)


def _demo(args: argparse.Namespace) -> int:
    from tunewatch.proxy.devstack import demo

    return demo.main(args)


def _builtin_packs() -> object:
    from tunewatch.probes.pack import BUILTIN_PACKS_DIR

    return BUILTIN_PACKS_DIR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunewatch",
        description="OpenAI-compatible proxy that watches fine-tuned models for safety drift.",
    )
    parser.add_argument("--version", action="version", version=f"tunewatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the proxy (and the probe scheduler when configured)")
    serve.add_argument("--config", required=True, help="the YAML config file")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--graceful-timeout", type=float, default=30.0,
        help="seconds to let in-flight requests finish on SIGTERM",
    )  # fmt: skip
    serve.set_defaults(func=_serve)

    classify = sub.add_parser(
        "classify", help="label JSON lines {prompt?, response} with refusal and caution"
    )
    classify.add_argument("file", nargs="?", help="JSON lines file (stdin when omitted)")
    classify.set_defaults(func=_classify)

    probes = sub.add_parser("probes", help="canary probe packs: validate, list, run")
    probes_sub = probes.add_subparsers(dest="probes_command", required=True)
    validate = probes_sub.add_parser("validate", help="check pack files; errors as file:line")
    validate.add_argument("paths", nargs="*", help="files or directories (default: built-in)")
    validate.set_defaults(func=_probes_validate)
    listing = probes_sub.add_parser("list", help="list packs")
    listing.add_argument("paths", nargs="*", help="files or directories (default: built-in)")
    listing.add_argument("--json", action="store_true")
    listing.add_argument(
        "--samples", type=int, default=3, choices=range(1, 101), metavar="N",
        help="probes.samples, for the generations a round costs (default 3)",
    )  # fmt: skip
    listing.set_defaults(func=_probes_list)
    run = probes_sub.add_parser("run", help="run packs once against a model and its base")
    _oneshot_arguments(run)
    run.set_defaults(func=_probes_run)

    evaluate_cmd = sub.add_parser(
        "evaluate",
        help="pre-deployment gate: exit 0 no significant regression, 1 regression, 2 error",
    )
    _oneshot_arguments(evaluate_cmd)
    evaluate_cmd.set_defaults(func=_evaluate)

    report = sub.add_parser(
        "report", help="drift report (HTML or Markdown) from the store; exit 0 written, 2 error"
    )
    report_cli.add_arguments(report)
    report.set_defaults(func=_report)
    audit_cli.register(sub)  # audit export|import, classifier adapt
    store_cli.register(sub)  # store migrate|prune|copy

    demo = sub.add_parser("demo", help="real vLLM on CPU + demo models + proxy + probes + traffic")
    demo.add_argument(
        "--once",
        action="store_true",
        help="one round; exit 0 iff medical drift found, control's not",
    )
    demo.add_argument("--port", type=int, default=8080, help="the proxy's port")
    demo.add_argument("--workdir", default="var/demo", help="logs, config, SQLite store")
    demo.add_argument("--no-prometheus", action="store_true", help="don't start Prometheus")
    demo.add_argument(
        "--deploy", default="deploy", help="a checkout's deploy/ folder: demo models, rules"
    )
    demo.set_defaults(func=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
