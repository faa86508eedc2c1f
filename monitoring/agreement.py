"""Agreement between people who reviewed the same audited pairs: the measure of how well
the labelling guide pins the labels down, shown on the review page."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def cohen_kappa(ratings: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters; None when undefined (no ratings, or chance agreement 1)."""
    n = len(ratings)
    if n == 0:
        return None
    observed = sum(a == b for a, b in ratings) / n
    first: dict[str, int] = defaultdict(int)
    second: dict[str, int] = defaultdict(int)
    for a, b in ratings:
        first[a] += 1
        second[b] += 1
    chance = sum(first[k] * second.get(k, 0) for k in first) / (n * n)
    return None if chance >= 1.0 else (observed - chance) / (1.0 - chance)


def agreement(reviews: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Agreement between people on the pairs two of them reviewed: per metric, percent
    agreement and Cohen's kappa over the answers (each pair gives two). A pair reviewed by
    more than two people counts its first two reviews."""
    by_pair: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for review in reviews:
        by_pair[review["pair_id"]].append(review)
    ratings: dict[str, list[tuple[str, str]]] = {"refusal": [], "caution": []}
    pairs = 0
    for twice in by_pair.values():
        if len(twice) < 2:
            continue
        pairs += 1
        first, second = sorted(twice, key=lambda r: r["id"])[:2]
        for side in ("tuned", "base"):
            ratings["refusal"].append((first[f"{side}_refusal"], second[f"{side}_refusal"]))
            ratings["caution"].append(
                (str(bool(first[f"{side}_caution"])), str(bool(second[f"{side}_caution"])))
            )
    metrics = []
    for metric, pairs_of_labels in ratings.items():
        n = len(pairs_of_labels)
        agreed = sum(a == b for a, b in pairs_of_labels)
        kappa = cohen_kappa(pairs_of_labels)
        metrics.append(
            {"metric": metric, "answers": n, "agreed": agreed / n if n else None, "kappa": kappa}
        )
    return {"pairs": pairs, "metrics": metrics}
