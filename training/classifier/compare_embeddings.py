"""Would static embeddings read behaviour better than the shipped cue and n-gram features?

`pip install wordllama` (its 256-dimension weights ship inside the wheel), then
`python -m training.classifier.compare_embeddings`: fits the refusal and caution heads on the
training split three ways (the shipped features, WordLlama's mean-pooled embedding, both) and
prints binary refusal and caution figures on the written dev split and on the style-stress
set. The answer decides the model family (docs/classifier.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack
from sklearn.linear_model import LogisticRegression

from training.classifier import train as T
from training.classifier.corpus import Example, generate
from training.classifier.stress import load


def _embedder() -> Any:
    import wordllama  # optional: only this comparison needs it
    from wordllama import WordLlama

    # The package carries its weights and tokenizer; point its cache there, never download.
    return WordLlama.load(cache_dir=Path(os.path.dirname(wordllama.__file__)),
                          disable_download=True)  # fmt: skip


def _report(name: str, p_ref: np.ndarray, p_cau: np.ndarray, gold: Sequence[Example]) -> None:
    ref = np.asarray([e.refusal != "none" for e in gold])
    cau = np.asarray([e.caution for e in gold])
    pr, pc = p_ref >= T.THRESHOLDS["refusal"], p_cau >= T.THRESHOLDS["caution"]
    recall, precision = (pr & ref).sum() / ref.sum(), (pr & ref).sum() / max(1, pr.sum())
    c_recall, c_precision = (pc & cau).sum() / cau.sum(), (pc & cau).sum() / max(1, pc.sum())
    print(
        f"  {name:12} refusal acc {(pr == ref).mean():.3f} recall {recall:.3f} precision "
        f"{precision:.3f} | caution recall {c_recall:.3f} precision {c_precision:.3f}"
    )


def main() -> int:
    examples = generate(T.SEED)
    train = [e for e in examples if e.split == "train"]
    dev = [e for e in examples if e.split == "dev" and e.style.startswith("written:")]
    stress = load()
    feats = T.featurise(train)
    counts: dict[str, int] = {}
    for fs in feats:
        for f in fs:
            counts[f] = counts.get(f, 0) + 1
    names = sorted(f for f, n in counts.items() if n >= T.MIN_DF and f != "bias")
    index = {n: i for i, n in enumerate(names)}
    scale = np.asarray([T.GROUP_SCALE.get(n.split(":", 1)[0], 1.0) for n in names])

    def features(xs: Sequence[Example]) -> csr_matrix:
        return T._matrix(T.featurise(xs), index, scale)

    wl = _embedder()
    started = time.perf_counter()
    emb = [wl.embed([x.response for x in xs]) for xs in (train, dev, stress)]
    rate = (len(train) + len(dev) + len(stress)) / (time.perf_counter() - started)
    sets = {
        "features": [features(xs) for xs in (train, dev, stress)],
        "embedding": [csr_matrix(e) for e in emb],
        "both": [
            hstack([features(xs), csr_matrix(e)]).tocsr()
            for xs, e in zip((train, dev, stress), emb, strict=True)
        ],
    }
    weight = np.asarray(
        [T.WRITTEN_WEIGHT if e.style.startswith("written:") else 1.0 for e in train]
    )
    y_ref = np.asarray([e.refusal != "none" for e in train])
    y_cau = np.asarray([e.caution for e in train])
    print(f"embedding: {rate:.0f} answers/s (batched, all cores)")
    for name, (x_tr, x_dev, x_st) in sets.items():
        ref = LogisticRegression(C=T.C["refusal"], max_iter=3000).fit(x_tr, y_ref, weight)
        cau = LogisticRegression(C=T.C["caution"], max_iter=3000).fit(x_tr, y_cau, weight)
        print(name)
        for label, x, gold in (("written dev", x_dev, dev), ("stress", x_st, stress)):
            _report(label, ref.predict_proba(x)[:, 1], cau.predict_proba(x)[:, 1], gold)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
