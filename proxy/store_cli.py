"""`tunewatch store migrate | prune | copy`, and how every command that reads a store (report,
audit) finds one: `--db PATH|URL` or the config's store, never a new empty one by mistake."""

from __future__ import annotations

import argparse
import sys
from itertools import groupby
from pathlib import Path
from typing import Any

from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.duration import parse_seconds
from tunewatch.monitoring.store import AuditPair, Observation, Store
from tunewatch.monitoring.store_backends import (
    SchemaError,
    is_postgres,
    open_backend,
    open_failure,
    redact,
)
from tunewatch.monitoring.store_schema import LATEST
from tunewatch.proxy.config import ConfigError, load_config

_COPY_BATCH = 1_000  # rows per transaction when copying


class StoreError(Exception):
    """A store that cannot be found, opened or used; the message names it without secrets."""


def location(db: str | None, config: str | None) -> str:
    """The store named by --db (a path or URL) or by the config's store (credentials
    resolved)."""
    if db:
        return db
    if config:
        try:
            return load_config(config).store.resolved_url()
        except ConfigError as exc:
            raise StoreError("invalid config:\n" + "\n".join(exc.errors)) from exc
    raise StoreError("give --db PATH|URL or --config FILE")


def open_store(where: str, *, create: bool = False, migrate: bool = True) -> Store:
    """A store that exists (a SQLite file is not created unless `create`), as `Store`."""
    if not is_postgres(where):
        path = Path(where.removeprefix("sqlite:///"))
        if not create and not path.is_file():
            raise StoreError(f"no database at {path}")
    try:
        return Store(where, migrate=migrate)
    except Exception as exc:
        said = open_failure(where, exc)
        if said is None:
            raise
        raise StoreError(said) from exc


def register(sub: Any) -> None:
    store = sub.add_parser("store", help="the evidence store: migrate, prune, copy")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    migrate = store_sub.add_parser(
        "migrate", help="apply the schema's pending migrations (they also run at start-up)"
    )
    _where(migrate)
    migrate.set_defaults(func=lambda args: _guarded(run_migrate, args))
    prune = store_sub.add_parser("prune", help="delete rows older than a duration")
    _where(prune)
    prune.add_argument(
        "--older-than", required=True, type=_duration, metavar="DURATION",
        help="e.g. 90d, 12h: observations and audited pairs older than this go",
    )  # fmt: skip
    prune.set_defaults(func=lambda args: _guarded(run_prune, args))
    copy = store_sub.add_parser(
        "copy", help="copy every row from one store to another (SQLite to PostgreSQL)"
    )
    copy.add_argument("--from", dest="source", required=True, metavar="PATH|URL")
    copy.add_argument("--to", dest="target", metavar="PATH|URL",
                      help="the destination (default: store of --config)")  # fmt: skip
    copy.add_argument("--config", metavar="FILE", help="the proxy's config (its store)")
    copy.set_defaults(func=lambda args: _guarded(run_copy, args))


def _where(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", "--url", dest="db", metavar="PATH|URL",
                        help="the store (default: store of --config)")  # fmt: skip
    parser.add_argument("--config", metavar="FILE", help="the proxy's config (its store)")


def _duration(value: str) -> float:
    try:
        return parse_seconds(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _guarded(run: Any, args: argparse.Namespace) -> int:
    try:
        sys.stdout.write(run(args))
    except StoreError as exc:
        print(f"tunewatch store {args.store_command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


def run_migrate(args: argparse.Namespace) -> str:
    where = location(args.db, args.config)
    backend = open_backend(where)
    try:
        before = backend.schema_version()
        applied = backend.migrate()
    except SchemaError as exc:
        raise StoreError(str(exc)) from exc
    except backend.errors as exc:
        raise StoreError(f"cannot migrate {redact(where)}: {exc}") from exc
    finally:
        backend.close()
    if not applied:
        return f"{redact(where)}: schema version {before}, current; nothing to do\n"
    return (
        f"{redact(where)}: schema version {before} -> {LATEST} "
        f"(applied {', '.join(map(str, applied))})\n"
    )


def run_prune(args: argparse.Namespace) -> str:
    where = location(args.db, args.config)
    store = open_store(where)
    try:
        deleted = store.prune(older_than=args.older_than)
    finally:
        store.close()
    days = args.older_than / 86400
    return f"{redact(where)}: deleted {deleted} observations older than {days:g} days\n"


def run_copy(args: argparse.Namespace) -> str:
    """Every observation, audited pair, review, reset and metadata row, in batches; the
    destination's own ids and write times. Run it with the proxies stopped (or pointed at
    the destination already): rows written to the source meanwhile are not copied."""
    source = open_store(args.source)
    target = open_store(location(args.target, args.config), create=True)
    try:
        copied = _copy(source, target)
    finally:
        source.close()
        target.close()
    said = ", ".join(f"{n} {table}" for table, n in copied.items())
    return f"copied {said} from {redact(args.source)} to {target.backend.describe()}\n"


def _copy(source: Store, target: Store) -> dict[str, int]:
    if target.observations(limit=1):
        raise StoreError(f"{target.backend.describe()} already holds observations: copy into "
                         "an empty store, so nothing is counted twice")  # fmt: skip
    copied = {"observations": 0, "audit pairs": 0, "reviews": 0, "resets": 0}
    after = 0
    while rows := source.observations(after_id=after, limit=_COPY_BATCH):
        after = rows[-1]["id"]
        for classifier, group in groupby(rows, key=lambda r: r.get("classifier") or ""):
            batch = [Observation(**{k: r[k] for k in Observation.__slots__}) for r in group]
            target.write_now(*batch, classifier=classifier)
            copied["observations"] += len(batch)
    for pair in source.audit_pairs(with_text=False):
        labels = _labels(pair)
        target.write_now(
            AuditPair(
                pair["pair_id"], pair["ts"], pair["model"], pair["source"], pair["category"],
                pair["prompt"], pair["tuned"], pair["base"], *labels, swap=bool(pair["swap"]),
                sort_key=pair["sort_key"],
            ),
            classifier=pair["classifier"],
        )  # fmt: skip
        copied["audit pairs"] += 1
    for review in source.reviews():
        target.add_review(review["pair_id"], review["labeller"], review["kind"],
                          *_labels(review), ts=review["ts"])  # fmt: skip
        copied["reviews"] += 1
    for reset in source.resets():
        target.add_reset(reset["model"], reset["reason"], ts=reset["ts"])
        copied["resets"] += 1
    for key, value in source.meta().items():
        target.set_meta(key, value)
    return copied


def _labels(row: dict[str, Any]) -> tuple[Labels, Labels]:
    return (
        Labels(row["tuned_refusal"], bool(row["tuned_caution"])),
        Labels(row["base_refusal"], bool(row["base_caution"])),
    )
