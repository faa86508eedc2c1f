"""Reproducible training: `python -m training.classifier.train [--out PATH] [--check]`.

Builds the seeded corpus, fits three L2 logistic heads with scikit-learn on the train split
only, prints dev metrics, and writes deterministic gzip JSON weights (rounded floats, sorted
features, mtime 0) so the shipped file can be checked against a fresh run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, diags
from sklearn.linear_model import LogisticRegression

from training.classifier.corpus import Example, generate
from tunewatch.monitoring.classifier.features import extract, group_of
from tunewatch.monitoring.classifier.model import FORMAT, WEIGHTS_PATH, Classifier

SEED = 0
MIN_DF = 3
# Hand-written cues get full scale; n-grams are shrunk, which under one L2 penalty means
# they are regularised harder and cannot out-vote the positional cues on unseen prose.
GROUP_SCALE = {"h": 0.3, "t": 0.3, "o": 0.5, "w": 0.3, "p": 0.5}
C = {"refusal": 0.5, "partial": 2.0, "caution": 5.0}
# Answers written whole in many registers weigh more than the generator's compositions: there
# are fewer of them, and their breadth of wording is what carries to unseen styles.
WRITTEN_WEIGHT = 3.0
THRESHOLDS = {"refusal": 0.4, "partial": 0.5, "caution": 0.4}


def _uses(head: str, name: str) -> bool:
    """Caution is about what is said, not where: give its head position-free cues only."""
    if head == "caution":
        return not name.startswith(("x:ref", "x:noref", "x:soft", "s:", "o:")) and "@" not in name
    return not name.startswith("w:")  # whole-text words: caution only (features.py)


def featurise(examples: Sequence[Example]) -> list[set[str]]:
    return [set(extract(e.response, e.prompt)) for e in examples]


def _matrix(rows: Sequence[set[str]], index: dict[str, int], scale: np.ndarray) -> csr_matrix:
    indptr, indices = [0], []
    for feats in rows:
        indices.extend(sorted(index[f] for f in feats if f in index))
        indptr.append(len(indices))
    data = scale[np.asarray(indices, dtype=np.int64)] if indices else np.zeros(0)
    return csr_matrix((data, indices, indptr), shape=(len(rows), len(index)))


def example_weight(example: Example) -> float:
    """The shipped weighting: answers written whole count WRITTEN_WEIGHT, compositions 1."""
    return WRITTEN_WEIGHT if example.style.startswith("written:") else 1.0


def train(
    examples: Sequence[Example], weight: Callable[[Example], float] = example_weight
) -> dict[str, Any]:
    """Fit the heads on the train split and return the weights document; `weight` lets
    `tunewatch classifier adapt` give reviewed answers their own weight."""
    tr = [e for e in examples if e.split == "train"]
    feats = featurise(tr)
    df: dict[str, int] = {}
    for fs in feats:
        for f in fs:
            df[f] = df.get(f, 0) + 1
    names = sorted(f for f, n in df.items() if n >= MIN_DF and f != "bias")
    index = {n: i for i, n in enumerate(names)}
    scale = np.asarray([GROUP_SCALE.get(group_of(n), 1.0) for n in names])
    x = _matrix(feats, index, scale)
    is_ref = np.asarray([e.refusal != "none" for e in tr])
    targets = {
        "refusal": (np.ones(len(tr), dtype=bool), is_ref),
        "partial": (is_ref, np.asarray([e.refusal == "partial" for e in tr])),
        "caution": (np.ones(len(tr), dtype=bool), np.asarray([e.caution for e in tr])),
    }
    sample = np.asarray([weight(e) for e in tr])
    weights, bias = [], []
    for head, (mask, y) in targets.items():
        keep = np.asarray([_uses(head, n) for n in names], dtype=float)
        lr = LogisticRegression(C=C[head], max_iter=2000, tol=1e-6)
        lr.fit(x[mask] @ diags(keep), y[mask].astype(int), sample_weight=sample[mask])
        weights.append([round(float(w), 5) + 0.0 for w in lr.coef_[0] * scale * keep])
        bias.append(round(float(lr.intercept_[0]), 5))
    return {
        "format": FORMAT,
        "heads": list(targets),
        "features": names,
        "weights": weights,
        "bias": bias,
        "thresholds": THRESHOLDS,
        "trained_on": {"seed": SEED, "examples": len(tr)},
    }


def dumps(doc: dict[str, Any]) -> bytes:
    """Deterministic gzip bytes for a weights document."""
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return gzip.compress(raw, compresslevel=9, mtime=0)


def evaluate(clf: Classifier, examples: Sequence[Example]) -> dict[str, float]:
    """Dev metrics: binary refusal accuracy/recall/precision, 3-way accuracy, caution F1."""
    preds = clf.classify_many([(e.prompt, e.response) for e in examples])
    n = len(examples)
    gold_r = [e.refusal != "none" for e in examples]
    pred_r = [p.refusal != "none" for p in preds]
    tp = sum(g and p for g, p in zip(gold_r, pred_r, strict=True))
    ctp = sum(e.caution and p.caution for e, p in zip(examples, preds, strict=True))
    cpred, cgold = sum(p.caution for p in preds), sum(e.caution for e in examples)
    out = {
        "n": float(n),
        "refusal_acc": sum(g == p for g, p in zip(gold_r, pred_r, strict=True)) / n,
        "refusal_recall": tp / max(1, sum(gold_r)),
        "refusal_precision": tp / max(1, sum(pred_r)),
        "three_way_acc": sum(e.refusal == p.refusal for e, p in zip(examples, preds, strict=True))
        / n,
        "caution_f1": 2 * ctp / max(1, cpred + cgold),
    }
    for label in ("none", "partial", "full"):
        idx = [i for i, e in enumerate(examples) if e.refusal == label]
        out[f"acc_{label}"] = sum(preds[i].refusal == label for i in idx) / max(1, len(idx))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    ap.add_argument("--check", action="store_true", help="only compare with the shipped file")
    args = ap.parse_args(argv)
    examples = generate(SEED)
    doc = train(examples)
    blob = dumps(doc)
    if args.check:
        same = args.out.exists() and args.out.read_bytes() == blob
        print("weights up to date" if same else "weights differ from a fresh training run")
        return 0 if same else 1
    args.out.write_bytes(blob)
    clf = Classifier(doc)
    dev = [e for e in examples if e.split == "dev"]
    n_tr = len(examples) - len(dev)
    print(
        f"examples: {len(examples)} (train {n_tr}, dev {len(dev)}); features {len(doc['features'])}"
    )
    written = [e for e in dev if e.style.startswith("written:")]
    for name, subset in (
        ("dev/generated", [e for e in dev if not e.style.startswith("written:")]),
        ("dev/written", written),
        ("dev/handwritten", [e for e in dev if e.style == "handwritten"]),
    ):
        m = evaluate(clf, subset)
        print(
            name
            + ": "
            + ", ".join(f"{k}={v:.3f}" if k != "n" else f"n={int(v)}" for k, v in m.items())
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
