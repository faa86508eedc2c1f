"""The `tunewatch` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from proxy.app import create_app
    from proxy.config import ConfigError, load_config
    from proxy.logs import setup_logging

    try:
        config = load_config(args.config)
    except ConfigError as err:
        for line in err.errors:
            print(line, file=sys.stderr)
        return 2
    setup_logging(config.server.log_level)
    app = create_app(config)
    uvicorn.run(
        app,
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
    from monitoring import classify_cli

    return classify_cli.run([args.file] if args.file else [], sys.stdin, sys.stdout, sys.stderr)


def _probes_validate(args: argparse.Namespace) -> int:
    from probes.cli import validate

    return validate(args.paths or [str(_builtin_packs())], sys.stdout, sys.stderr)


def _probes_list(args: argparse.Namespace) -> int:
    from probes.cli import list_packs

    return list_packs(args.paths or [str(_builtin_packs())], sys.stdout, args.json)


def _builtin_packs() -> object:
    from probes.pack import BUILTIN_PACKS_DIR

    return BUILTIN_PACKS_DIR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tunewatch",
        description="OpenAI-compatible proxy that watches fine-tuned models for safety drift.",
    )
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
    listing.set_defaults(func=_probes_list)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
