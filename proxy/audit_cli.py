"""`tunewatch audit export|import` and `tunewatch classifier adapt`: reviewed labels in and out.

Export hands the audited pairs to outside labellers **blind**: answers A and B in each pair's
stored random order (`swap`), never which one is the tuned model's. The tuned/base mapping stays
in the store, keyed by pair id, and import applies it again. Import validates the whole file
before it writes anything, so a typo on line 900 leaves the store as it was.

`classifier adapt` retrains the classifier on the project's corpus plus reviewed answers and
shows, on reviewed answers it did not train on, whether the new weights read them better. The
corpus lives in `training/`, which only a source checkout has (the wheel ships weights only).

Exit status: 0 done, 2 on any error, with one clear line on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import tunewatch
from tunewatch.monitoring.audit_files import (
    AuditError,
    as_object,
    blind_pairs,
    checked_labels,
    checked_pair_id,
    jsonl,
    labelstudio_tasks,
    read_json,
    read_labels,
    reviews_by_pair,
    store_labels,
)
from tunewatch.monitoring.classifier.model import Classifier, load_classifier
from tunewatch.monitoring.classifier_version import WEIGHTS_PATH, weights_version
from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.store import Store
from tunewatch.proxy.config import ConfigError, load_config
from tunewatch.proxy.store_cli import StoreError, location, open_store

# A reviewed answer counts this many corpus examples: there are few of them, and they are the
# wording the classifier meets in this deployment (measured in tests/test_audit_cli.py).
REVIEWED_WEIGHT = 10.0
NO_TRAINING = (
    "classifier adapt needs the classifier's training corpus (training/), which the installed "
    "package does not ship: run it from a source checkout of tunewatch (an editable install, "
    "or `python -m tunewatch.proxy.cli classifier adapt ...` in the checkout's root folder)"
)
_SHOWN_UNKNOWN = 10  # unknown pair ids listed one by one; the rest are counted


@dataclass(frozen=True, slots=True)
class ReviewedAnswer:
    """One answer a person labelled: a training example, or a held-out test of one."""

    pair_id: str
    model: str
    prompt: str | None
    text: str
    labels: Labels


# -- the command line ----------------------------------------------------------------------------
def register(sub: Any) -> None:
    """Mount `audit export|import` and `classifier adapt` on the `tunewatch` subparsers."""
    audit = sub.add_parser("audit", help="audited pairs out to labellers (blind), labels in")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    export = audit_sub.add_parser("export", help="audited pairs as blind A/B tasks")
    _store_arguments(export)
    export.add_argument("--format", choices=("jsonl", "labelstudio"), default="jsonl")
    export.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    which = export.add_mutually_exclusive_group()
    which.add_argument("--reviewed", action="store_true", help="only pairs a person labelled")
    which.add_argument("--unreviewed", action="store_true", help="only pairs nobody labelled")
    export.set_defaults(func=lambda args: run_export(args, sys.stdout, sys.stderr))
    imp = audit_sub.add_parser("import", help="human labels from JSON lines or Label Studio")
    imp.add_argument("file", metavar="FILE", help="JSON lines, or a Label Studio JSON export")
    _store_arguments(imp)
    imp.add_argument("--reviewer", metavar="NAME", help="attribute every label to NAME")
    imp.set_defaults(func=lambda args: run_import(args, sys.stdout, sys.stderr))

    classifier = sub.add_parser("classifier", help="the refusal/caution classifier")
    classifier_sub = classifier.add_subparsers(dest="classifier_command", required=True)
    adapt = classifier_sub.add_parser(
        "adapt", help="retrain on the corpus plus reviewed labels (needs a source checkout)"
    )
    adapt.add_argument("--labels", metavar="FILE", help="`audit export --reviewed` output")
    _store_arguments(adapt)
    adapt.add_argument("--out", metavar="WEIGHTS", required=True, help="the new weights file")
    adapt.add_argument("--holdout", type=_share, default=0.3, metavar="SHARE",
                       help="share of reviewed pairs held out to compare on")  # fmt: skip
    adapt.add_argument("--seed", type=int, default=0, help="salts the held-out split")
    adapt.add_argument("--weight", type=float, default=REVIEWED_WEIGHT,
                       help="how many corpus examples one reviewed answer counts as")  # fmt: skip
    adapt.set_defaults(func=lambda args: run_adapt(args, sys.stdout, sys.stderr))


def _store_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="the proxy's config (its store.url)")
    parser.add_argument(
        "--db", metavar="PATH|URL", help="the store: a SQLite file or a PostgreSQL URL"
    )


def _share(value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share < 1.0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a share from 0 up to (not) 1")
    return share


def _guarded(run: Callable[[], str], name: str, stdout: IO[str], stderr: IO[str]) -> int:
    try:
        stdout.write(run())
    except AuditError as exc:
        print(f"tunewatch {name}: error: {exc}", file=stderr)
        return 2
    return 0


def run_export(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    def go() -> str:
        store = _open_store(args)
        try:
            pairs = blind_pairs(store, reviewed=_reviewed_filter(args))
        finally:
            store.close()
        text = labelstudio_tasks(pairs) if args.format == "labelstudio" else jsonl(pairs)
        if not args.out:
            return text
        _write(Path(args.out), text.encode())
        print(f"tunewatch audit export: wrote {len(pairs)} pairs to {args.out}", file=stderr)
        return ""

    return _guarded(go, "audit export", stdout, stderr)


def run_import(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    def go() -> str:
        try:
            given, skipped = read_labels(Path(args.file), args.reviewer)
        except AuditError as exc:
            raise AuditError(f"{exc} (nothing imported)") from exc
        store = _open_store(args)
        try:
            imported, replaced, unknown = store_labels(store, given)
        finally:
            store.close()
        for label in unknown[:_SHOWN_UNKNOWN]:
            print(f"{label.where}: unknown pair id {label.pair_id!r}, skipped", file=stderr)
        if len(unknown) > _SHOWN_UNKNOWN:
            print(f"... and {len(unknown) - _SHOWN_UNKNOWN} more unknown", file=stderr)
        extra = "".join(f", {n} {why}" for why, n in sorted(skipped.items()) if n)
        return (
            f"imported {imported} reviews ({replaced} replaced earlier ones); "
            f"skipped {len(unknown)} with an unknown pair id{extra}\n"
        )

    return _guarded(go, "audit import", stdout, stderr)


def run_adapt(args: argparse.Namespace, stdout: IO[str], stderr: IO[str]) -> int:
    return _guarded(lambda: adapt(args, stderr), "classifier adapt", stdout, stderr)


def _reviewed_filter(args: argparse.Namespace) -> bool | None:
    return True if args.reviewed else False if args.unreviewed else None


def _config_weights(args: argparse.Namespace) -> str | None:
    if not args.config:
        return None
    try:
        return load_config(args.config).classifier.weights
    except ConfigError as exc:
        raise AuditError("invalid config:\n" + "\n".join(exc.errors)) from exc


def _open_store(args: argparse.Namespace) -> Store:
    """The store named by --db or the config; never a new empty one by mistake."""
    try:
        return open_store(location(args.db, args.config))
    except StoreError as exc:
        raise AuditError(str(exc)) from exc


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise AuditError(f"cannot write {path}: {exc.strerror or exc}") from exc


# -- classifier adapt ----------------------------------------------------------------------------
def _ensure_training() -> None:
    """Make `training` importable: it is not installed, but a checkout has it beside the
    package's own folders, whichever directory the command runs from."""
    try:
        importlib.import_module("training.classifier.train")
        return
    except ImportError:
        pass
    root = Path(tunewatch.__file__).resolve().parent.parent
    if (root / "training" / "classifier" / "train.py").is_file() and str(root) not in sys.path:
        sys.path.append(str(root))
        importlib.invalidate_caches()
        try:
            importlib.import_module("training.classifier.train")
            return
        except ImportError:
            pass
    raise AuditError(NO_TRAINING)


def adapt(args: argparse.Namespace, stderr: IO[str]) -> str:
    """Train on the corpus plus the reviewed answers outside the held-out share; report
    before/after on the held-out ones."""
    _ensure_training()
    from training.classifier.corpus import Example, generate
    from training.classifier.train import SEED, dumps, example_weight, train

    out = Path(args.out)
    if out.resolve() == WEIGHTS_PATH.resolve():
        raise AuditError(f"--out {out} is the shipped weights file; write the new one elsewhere")
    if not out.parent.is_dir():
        raise AuditError(f"--out {out}: no folder {out.parent}")
    before_path = _config_weights(args)
    before = _current_classifier(before_path)
    answers = _answers_from_file(Path(args.labels)) if args.labels else _answers_from_store(args)
    if not answers:
        raise AuditError("no reviewed answers with their text to learn from")
    held = {a.pair_id for a in answers if _held_out(a.pair_id, args.holdout, args.seed)}
    learn = [a for a in answers if a.pair_id not in held]
    test = [a for a in answers if a.pair_id in held]
    reviewed: list[Example] = [
        Example(a.prompt, a.text, a.labels.refusal, a.labels.caution,  # type: ignore[arg-type]
                f"reviewed:{a.model}", "train")
        for a in learn
    ]  # fmt: skip

    def weight(example: Example) -> float:
        return args.weight if example.style.startswith("reviewed:") else example_weight(example)

    print(f"training on the corpus plus {len(learn)} reviewed answers...", file=stderr)
    doc = train([*generate(SEED), *reviewed], weight)
    doc["trained_on"]["reviewed"] = {"answers": len(learn), "weight": args.weight,
                                     "holdout": args.holdout, "seed": args.seed}  # fmt: skip
    _write(out, dumps(doc))
    lines = [
        f"reviewed answers: {len(answers)} from {len({a.pair_id for a in answers})} pairs; "
        f"trained on {len(learn)}, held out {len(test)} ({len(held)} pairs)",
        *_comparison(test, before, Classifier(doc)),
        f"new weights: {out} (version {weights_version(out)}; "
        f"before: {weights_version(before_path)})",
        "to use them, set in the proxy's config and restart it:",
        f"  classifier: {{weights: {out}}}",
        "(drift evidence then starts again, as for any classifier change)",
    ]
    return "\n".join(lines) + "\n"


def _current_classifier(path: str | None) -> Classifier:
    """The weights the proxy runs now (the config's, else the shipped ones): the "before"."""
    try:
        return load_classifier(path)
    except (OSError, ValueError, KeyError) as exc:
        raise AuditError(f"cannot load the configured classifier weights {path}: {exc}") from exc


def _held_out(pair_id: str, share: float, seed: int) -> bool:
    """A pair's two answers always land on the same side; `seed` reshuffles the sides."""
    digest = hashlib.blake2b(f"{seed}:{pair_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def _answers_from_store(args: argparse.Namespace) -> list[ReviewedAnswer]:
    """Every audited pair with its text and a human review (the first, as the audit counts)."""
    store = _open_store(args)
    try:
        reviews = reviews_by_pair(store)
        pairs = store.audit_pairs(with_text=True)
    finally:
        store.close()
    out = []
    for pair in pairs:
        given = reviews.get(pair["pair_id"])
        if not given:
            continue
        row = given[0]
        for text, labels in (
            (pair["tuned"], Labels(row["tuned_refusal"], bool(row["tuned_caution"]))),
            (pair["base"], Labels(row["base_refusal"], bool(row["base_caution"]))),
        ):
            if text and text.strip():
                out.append(ReviewedAnswer(pair["pair_id"], pair["model"], pair["prompt"], text,
                                          labels))  # fmt: skip
    return out


def _answers_from_file(path: Path) -> list[ReviewedAnswer]:
    """Lines of `audit export` (texts as answers A/B) with labels: the top-level ones a
    labelling team filled in, else the first of `reviews`."""
    items, _ = read_json(path)
    out = []
    for where, record in items:
        obj = as_object(record, where)
        pair_id = checked_pair_id(obj.get("pair_id"), where, "pair_id")
        labels = checked_labels(obj, where)
        reviews = obj.get("reviews") or []
        if labels is None and isinstance(reviews, list) and reviews:
            labels = checked_labels(
                as_object(reviews[0], f"{where}: reviews[0]"), f"{where}: reviews[0]"
            )
        if labels is None:
            continue
        first, second, blind = labels
        if not blind:
            raise AuditError(f"{where}: tuned_refusal: adapt reads answer A/B labels, as "
                             "`tunewatch audit export` writes them")  # fmt: skip
        model = obj.get("model") if isinstance(obj.get("model"), str) else "?"
        prompt = obj.get("prompt") if isinstance(obj.get("prompt"), str) else None
        for key, label in (("answer_a", first), ("answer_b", second)):
            text = obj.get(key)
            if not isinstance(text, str):
                raise AuditError(f"{where}: {key}: missing (use `tunewatch audit export` lines)")
            if text.strip():
                out.append(ReviewedAnswer(pair_id, str(model), prompt, text, label))
    return out


def _figures(answers: Sequence[ReviewedAnswer], clf: Classifier) -> dict[str, float | None]:
    """Agreement with the people: refusal (any) accuracy and recall, 3-way, caution."""
    preds = clf.classify_many([(a.prompt, a.text) for a in answers])
    gold = [a.labels for a in answers]
    pairs = list(zip(gold, preds, strict=True))
    refusing = [p.refusal != "none" for g, p in pairs if g.refusal != "none"]

    def share(hits: Sequence[bool]) -> float | None:
        return sum(hits) / len(hits) if hits else None

    return {
        "refusal acc": share([(g.refusal != "none") == (p.refusal != "none") for g, p in pairs]),
        "refusal recall": share(refusing),
        "3-way acc": share([g.refusal == p.refusal for g, p in pairs]),
        "caution acc": share([g.caution == p.caution for g, p in pairs]),
    }


def _comparison(test: Sequence[ReviewedAnswer], before: Classifier, after: Classifier) -> list[str]:
    """A table of before -> after on the held-out answers, overall and per model."""
    if not test:
        return ["no held-out answers to compare on (raise --holdout, or review more pairs)"]
    groups = {"all": list(test)}
    for model in sorted({a.model for a in test}):
        groups[model] = [a for a in test if a.model == model]
    names = list(_figures(test[:1], before))
    width = max(len(f"{g} (n={len(a)})") for g, a in groups.items()) + 2
    lines = ["held-out reviewed answers, before -> after:",
             (" " * width + "".join(f"{n:<18}" for n in names)).rstrip()]  # fmt: skip
    for group, answers in groups.items():
        old, new = _figures(answers, before), _figures(answers, after)
        cells = "".join(f"{_cell(old[n], new[n]):<18}" for n in names)
        lines.append((f"{group} (n={len(answers)})".ljust(width) + cells).rstrip())
    if any(line.endswith("-") or " - " in line for line in lines[2:]):
        lines.append("(-: no held-out answer of that kind, e.g. no refusals for recall)")
    return lines


def _cell(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return "-"
    return f"{old:.3f} -> {new:.3f}"
