"""Inference: shipped JSON weights + the shared feature code, in pure Python; no pickle.

Weights are plain JSON (gzip), so loading them cannot execute code and a diff shows what
changed.  Three logistic heads share one feature index: P(refusal), P(partial | refusal)
and P(caution).
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tunewatch.monitoring.classifier.features import extract
from tunewatch.monitoring.classifier_version import WEIGHTS_PATH

Refusal = Literal["none", "partial", "full"]
FORMAT = "tunewatch-refusal-v1"
HEADS = ("refusal", "partial", "caution")


@dataclass(frozen=True, slots=True)
class Classification:
    """One response's labels; scores are probabilities (partial/full are joint, not conditional)."""

    refusal: Refusal
    caution: bool
    scores: dict[str, float]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


class Classifier:
    """Linear refusal / partial / caution heads over cue and n-gram features."""

    def __init__(self, weights: dict[str, Any]) -> None:
        if weights.get("format") != FORMAT:
            raise ValueError(f"unsupported weights format {weights.get('format')!r}")
        names: list[str] = weights["features"]
        refusal, partial, caution = weights["weights"]  # one row of feature weights per head
        # A feature's three weights as a tuple: summing a few dozen in Python beats numpy's
        # fancy-index-and-reduce per answer (~10 us), and adds in the same order, row by row.
        self._weights: dict[str, tuple[float, float, float]] = {
            n: (float(r), float(p), float(c))
            for n, r, p, c in zip(names, refusal, partial, caution, strict=True)
        }
        b_ref, b_part, b_caut = weights["bias"]
        self._b = (float(b_ref), float(b_part), float(b_caut))
        th = weights["thresholds"]
        self.refusal_threshold: float = float(th["refusal"])
        self.partial_threshold: float = float(th["partial"])
        self.caution_threshold: float = float(th["caution"])

    def _decide(self, z: Sequence[float]) -> Classification:
        p_ref, p_part, p_caut = (_sigmoid(float(v)) for v in z)
        if p_ref >= self.refusal_threshold:
            refusal: Refusal = "partial" if p_part >= self.partial_threshold else "full"
        else:
            refusal = "none"
        scores = {
            "refusal": round(p_ref, 4),
            "partial": round(p_ref * p_part, 4),
            "full": round(p_ref * (1.0 - p_part), 4),
            "caution": round(p_caut, 4),
        }
        return Classification(refusal, p_caut >= self.caution_threshold, scores)

    def classify(self, response: str, prompt: str | None = None) -> Classification:
        """Classify one response (the proxy's background worker calls this one at a time)."""
        z0 = z1 = z2 = 0.0
        for w in map(self._weights.get, set(extract(response, prompt))):
            if w is not None:
                z0 += w[0]
                z1 += w[1]
                z2 += w[2]
        b0, b1, b2 = self._b
        return self._decide((z0 + b0, z1 + b1, z2 + b2))

    def classify_many(self, items: Sequence[tuple[str | None, str]]) -> list[Classification]:
        """Classify (prompt, response) pairs.

        A plain loop: feature extraction dominates, and a gathered numpy batch measured
        slower than per-item sums (a big fancy-index copy plus reduceat), so there is no
        separate batch path to keep in sync.
        """
        return [self.classify(response, prompt) for prompt, response in items]


def load_weights(path: Path = WEIGHTS_PATH) -> dict[str, Any]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def load_classifier(path: str | Path | None = None) -> Classifier:
    """Load the shipped weights; keep the returned (read-only) instance and reuse it."""
    return Classifier(load_weights(Path(path) if path else WEIGHTS_PATH))
