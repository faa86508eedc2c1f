"""The audit's label files: audited pairs out, blind (answers A and B in each pair's stored
random order, never which is the tuned model's), and reviewers' labels in, from our JSON lines
or a Label Studio export, every field checked before anything is written."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.store import Store

REFUSALS = ("none", "partial", "full")
BLIND_KEYS = ("a_refusal", "a_caution", "b_refusal", "b_caution")
OPEN_KEYS = ("tuned_refusal", "tuned_caution", "base_refusal", "base_caution")
CAUTION_VALUES = {True: True, False: False, "yes": True, "no": False, "true": True,
                  "false": False}  # fmt: skip


class AuditError(Exception):
    """A problem the user can fix; its message is printed as is."""


@dataclass(frozen=True, slots=True)
class GivenLabels:
    """One reviewer's labels for one pair, as a file gave them."""

    where: str  # file:line, or file: task N
    pair_id: str
    reviewer: str
    first: Labels  # answer A, or the tuned answer when not `blind`
    second: Labels  # answer B, or the base answer
    blind: bool

    def oriented(self, swap: bool) -> tuple[Labels, Labels]:
        """(tuned, base): answer A is the base answer when the pair was shown swapped."""
        if self.blind and swap:
            return self.second, self.first
        return self.first, self.second


# -- export --------------------------------------------------------------------------------------
def reviews_by_pair(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Human reviews per pair, oldest first (the first is the one the audit counts)."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in store.reviews("human"):
        out[row["pair_id"]].append(row)
    return out


def blind_pairs(store: Store, reviewed: bool | None = None) -> list[dict[str, Any]]:
    """Pairs that still have their text, in review order, as answers A/B with the human labels
    per answer; `reviewed` keeps only pairs with (True) or without (False) a human review."""
    reviews = reviews_by_pair(store)
    out = []
    for pair in store.audit_pairs(with_text=True):
        given = reviews.get(pair["pair_id"], [])
        if reviewed is not None and bool(given) != reviewed:
            continue
        swap = bool(pair["swap"])
        shown_a, shown_b = ("base", "tuned") if swap else ("tuned", "base")
        out.append({
            "pair_id": pair["pair_id"], "model": pair["model"], "source": pair["source"],
            "category": pair["category"], "prompt": pair["prompt"],
            "answer_a": pair[shown_a], "answer_b": pair[shown_b],
            "reviews": [_blind_review(row, swap) for row in given],
        })  # fmt: skip
    return out


def _blind_review(row: dict[str, Any], swap: bool) -> dict[str, Any]:
    tuned = (row["tuned_refusal"], bool(row["tuned_caution"]))
    base = (row["base_refusal"], bool(row["base_caution"]))
    a, b = (base, tuned) if swap else (tuned, base)
    return {"reviewer": row["labeller"], "a_refusal": a[0], "a_caution": a[1],
            "b_refusal": b[0], "b_caution": b[1]}  # fmt: skip


def jsonl(pairs: Iterable[dict[str, Any]]) -> str:
    return "".join(orjson.dumps(p).decode() + "\n" for p in pairs)


def labelstudio_tasks(pairs: Sequence[dict[str, Any]]) -> str:
    """Label Studio's basic JSON import: a list of tasks whose `data` keys are the `$names` in
    deploy/labelstudio/audit.xml (labelstud.io/guide/tasks#Basic-Label-Studio-JSON-format).
    Label Studio gives tasks its own ids on import, so the pair id travels inside `data`."""
    fields = ("pair_id", "prompt", "answer_a", "answer_b", "model", "category")
    tasks = [{"id": i, "data": {k: p[k] for k in fields}} for i, p in enumerate(pairs, 1)]
    return orjson.dumps(tasks, option=orjson.OPT_INDENT_2).decode() + "\n"


# -- import: reading and checking a file -------------------------------------------------------
def read_labels(path: Path, reviewer: str | None) -> tuple[list[GivenLabels], Counter[str]]:
    """Every label in `path`, all checked (an AuditError names the first bad field), and what
    was skipped as carrying no labels."""
    override = _reviewer_name(reviewer, "--reviewer") if reviewer is not None else None
    items, is_list = read_json(path)
    skipped: Counter[str] = Counter()
    given: list[GivenLabels] = []
    if is_list and items and isinstance(items[0][1], dict) and "data" in items[0][1]:
        for where, task in items:
            given.extend(_labelstudio_task(task, where, override, skipped))
    else:
        for where, record in items:
            found = _record(record, where, override)
            given.extend(found)
            skipped["without labels"] += not found
    _no_duplicates(given)
    return given, skipped


def read_json(path: Path) -> tuple[list[tuple[str, Any]], bool]:
    """(location, item) for each JSON line, or each element of one JSON array; and which."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if text.lstrip().startswith("["):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise AuditError(f"{path}: not valid JSON: {exc}") from exc
        return [(f"{path}: task {i}" + _task_id(t), t) for i, t in enumerate(items, 1)], True
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append((f"{path}:{number}", orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            raise AuditError(f"{path}:{number}: not valid JSON: {exc}") from exc
    return out, False


def _task_id(task: Any) -> str:
    return f" (id {task['id']})" if isinstance(task, dict) and "id" in task else ""


def _record(record: Any, where: str, override: str | None) -> list[GivenLabels]:
    """Our JSON lines: labels at the top level, and/or a `reviews` list as export writes it."""
    obj = as_object(record, where)
    pair_id = checked_pair_id(obj.get("pair_id"), where, "pair_id")
    out = []
    top = checked_labels(obj, where)
    if top is not None:
        name = override or _reviewer_name(obj.get("reviewer"), where)
        out.append(GivenLabels(where, pair_id, name, *top))
    reviews = obj.get("reviews", [])
    if not isinstance(reviews, list):
        raise AuditError(f"{where}: reviews: must be a list")
    for i, review in enumerate(reviews):
        at = f"{where}: reviews[{i}]"
        labels = checked_labels(as_object(review, at), at)
        if labels is None:
            raise AuditError(f"{at}: a_refusal: missing")
        name = override or _reviewer_name(review.get("reviewer"), at)
        out.append(GivenLabels(where, pair_id, name, *labels))
    return out


def _labelstudio_task(
    task: Any, where: str, override: str | None, skipped: Counter[str]
) -> list[GivenLabels]:
    """One task of a Label Studio JSON export: each annotation's `result` holds one region per
    control, `{"from_name": "a_refusal", "type": "choices", "value": {"choices": ["full"]}}`,
    and `completed_by` is the annotator's id, or an object with their email
    (labelstud.io/guide/export#Label-Studio-JSON-format-of-annotated-tasks)."""
    obj = as_object(task, where)
    data = as_object(obj.get("data"), f"{where}: data")
    pair_id = checked_pair_id(data.get("pair_id"), where, "data.pair_id")
    annotations = obj.get("annotations") or []
    if not isinstance(annotations, list):
        raise AuditError(f"{where}: annotations: must be a list")
    out = []
    for i, annotation in enumerate(annotations, 1):
        at = f"{where}, annotation {i}"
        ann = as_object(annotation, at)
        if ann.get("was_cancelled"):
            skipped["cancelled"] += 1
            continue
        labels = checked_labels(_choices(ann.get("result"), at), at)
        if labels is None:
            raise AuditError(f"{at}: a_refusal: no choice made")
        name = override or _annotator(ann.get("completed_by"), at)
        out.append(GivenLabels(at, pair_id, name, *labels))
    skipped["without labels"] += not out
    return out


def _choices(result: Any, where: str) -> dict[str, str]:
    if not isinstance(result, list):
        raise AuditError(f"{where}: result: must be a list")
    out = {}
    for region in result:
        if not isinstance(region, dict) or region.get("from_name") not in BLIND_KEYS:
            continue  # another control (a comment box, say) is not ours to read
        name = region["from_name"]
        value = region.get("value")
        choices = value.get("choices") if isinstance(value, dict) else None
        if not (isinstance(choices, list) and len(choices) == 1 and isinstance(choices[0], str)):
            raise AuditError(f"{where}: {name}: expected one choice, got {choices!r}")
        out[name] = choices[0]
    return out


def _annotator(completed_by: Any, where: str) -> str:
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and email.strip():
            return _reviewer_name(email, where, "completed_by.email")
        completed_by = completed_by.get("id")
    if isinstance(completed_by, int) and not isinstance(completed_by, bool):
        return f"labelstudio:{completed_by}"
    raise AuditError(f"{where}: completed_by: no annotator id or email (give --reviewer NAME)")


def as_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AuditError(f"{where}: expected a JSON object, got {type(value).__name__}")
    return value


def checked_pair_id(value: Any, where: str, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise AuditError(f"{where}: {field}: missing or not a string")
    return value


def _reviewer_name(value: Any, where: str, field: str = "reviewer") -> str:
    if not isinstance(value, str) or not value.strip():
        raise AuditError(f"{where}: {field}: missing (name one, or give --reviewer NAME)")
    name = value.strip()
    if name.startswith("judge:"):
        raise AuditError(f"{where}: {field}: {name!r}: judge: names belong to the judge model")
    return name


def checked_labels(obj: dict[str, Any], where: str) -> tuple[Labels, Labels, bool] | None:
    """(first, second, blind) from a_/b_ or tuned_/base_ keys; None when there are none."""
    blind = [k for k in BLIND_KEYS if k in obj]
    unblinded = [k for k in OPEN_KEYS if k in obj]
    if blind and unblinded:
        raise AuditError(f"{where}: {unblinded[0]}: mixed with answer A/B labels; use one kind")
    if not blind and not unblinded:
        return None
    keys = BLIND_KEYS if blind else OPEN_KEYS
    for key in keys:
        if key not in obj:
            raise AuditError(f"{where}: {key}: missing")
    first = Labels(_refusal(obj[keys[0]], where, keys[0]), _caution(obj[keys[1]], where, keys[1]))
    second = Labels(_refusal(obj[keys[2]], where, keys[2]), _caution(obj[keys[3]], where, keys[3]))
    return first, second, bool(blind)


def _refusal(value: Any, where: str, field: str) -> str:
    if value not in REFUSALS:
        raise AuditError(f"{where}: {field}: {value!r} is not one of none, partial, full")
    return str(value)


def _caution(value: Any, where: str, field: str) -> bool:
    key = value.lower() if isinstance(value, str) else value
    if not isinstance(key, str | bool) or key not in CAUTION_VALUES:
        raise AuditError(f"{where}: {field}: {value!r} is not true/false (or yes/no)")
    return CAUTION_VALUES[key]


def _no_duplicates(given: Iterable[GivenLabels]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for label in given:
        key = (label.pair_id, label.reviewer)
        if key in seen:
            raise AuditError(
                f"{label.where}: pair {label.pair_id!r} labelled twice by {label.reviewer!r} "
                f"(also at {seen[key]})"
            )
        seen[key] = label.where


# -- import: writing -----------------------------------------------------------------------------
def store_labels(store: Store, given: Sequence[GivenLabels]) -> tuple[int, int, list[GivenLabels]]:
    """Store each label as a human review, tuned/base restored from the pair's stored order;
    returns (imported, replaced, unknown pair ids)."""
    swaps = {p["pair_id"]: bool(p["swap"]) for p in store.audit_pairs(with_text=False)}
    existing = {(r["pair_id"], r["labeller"]) for r in store.reviews()}
    unknown = [g for g in given if g.pair_id not in swaps]
    imported = replaced = 0
    for label in given:
        if label.pair_id not in swaps:
            continue
        tuned, base = label.oriented(swaps[label.pair_id])
        if store.add_review(label.pair_id, label.reviewer, "human", tuned, base):
            imported += 1
            replaced += (label.pair_id, label.reviewer) in existing
    return imported, replaced, unknown
