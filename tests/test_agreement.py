"""Agreement between two reviewers of the same pairs: Cohen's kappa and percent agreement."""

from __future__ import annotations

from typing import Any

import pytest

from tunewatch.monitoring.agreement import agreement, cohen_kappa


def test_cohen_kappa_and_agreement_arithmetic() -> None:
    assert cohen_kappa([]) is None
    assert cohen_kappa([("a", "a"), ("a", "a")]) is None  # chance agreement 1: undefined
    assert cohen_kappa([("a", "a"), ("b", "b")]) == 1.0
    assert cohen_kappa([("a", "b"), ("b", "a")]) == -1.0
    # 10 items: 4 both yes, 4 both no, 2 disagree -> po 0.8, pe 0.5, kappa 0.6
    ratings = [("y", "y")] * 4 + [("n", "n")] * 4 + [("y", "n"), ("n", "y")]
    assert cohen_kappa(ratings) == pytest.approx(0.6)

    def review(i: int, pair: str, refusal: str, caution: int) -> dict[str, Any]:
        return {"id": i, "pair_id": pair, "tuned_refusal": refusal, "tuned_caution": caution,
                "base_refusal": "none", "base_caution": 0}  # fmt: skip

    result = agreement([review(1, "x", "full", 1), review(2, "x", "partial", 1),
                        review(3, "y", "none", 0), review(4, "lonely", "full", 1),
                        review(5, "y", "none", 0), review(6, "x", "none", 0)])  # fmt: skip
    assert result["pairs"] == 2  # "lonely" has one review; x counts its first two
    by_metric = {m["metric"]: m for m in result["metrics"]}
    assert by_metric["refusal"]["answers"] == 4 and by_metric["refusal"]["agreed"] == 0.75
    assert by_metric["caution"]["agreed"] == 1.0
