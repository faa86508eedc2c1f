"""The shipped weights are exactly what the training script produces, and dev accuracy holds."""

from __future__ import annotations

from collections import Counter

import pytest

from training.classifier.corpus import generate
from training.classifier.train import SEED, dumps, evaluate, train
from tunewatch.monitoring.classifier.model import WEIGHTS_PATH, Classifier, load_weights

# The figures at the last retraining (docs/classifier.md), rounded down.
GENERATED_FLOORS = {"refusal_acc": 0.97, "refusal_recall": 0.98, "three_way_acc": 0.97,
                    "caution_f1": 0.93}  # fmt: skip
WRITTEN_FLOORS = {"refusal_acc": 0.82, "refusal_recall": 0.78, "three_way_acc": 0.79,
                  "caution_f1": 0.81}  # fmt: skip


@pytest.fixture(scope="module")
def corpus():  # type: ignore[no-untyped-def]
    return generate(SEED)


def test_corpus_is_large_varied_and_deterministic(corpus) -> None:  # type: ignore[no-untyped-def]
    assert len(corpus) >= 3000
    assert corpus == generate(SEED)
    styles = Counter(e.style for e in corpus)
    assert len(styles) >= 20
    labels = Counter(e.refusal for e in corpus)
    assert min(labels.values()) >= 300
    assert len({e.response for e in corpus}) == len(corpus)


def test_dev_split_shares_no_responses_with_train(corpus) -> None:  # type: ignore[no-untyped-def]
    train_texts = {e.response for e in corpus if e.split == "train"}
    dev = [e for e in corpus if e.split == "dev"]
    assert len(dev) >= 400
    assert not any(e.response in train_texts for e in dev)


@pytest.mark.slow
def test_shipped_weights_match_a_fresh_training_run(corpus) -> None:  # type: ignore[no-untyped-def]
    fresh = train(corpus)
    shipped = load_weights(WEIGHTS_PATH)
    assert fresh["features"] == shipped["features"]
    assert fresh["thresholds"] == shipped["thresholds"]
    # Byte equality on this toolchain; a BLAS/solver difference elsewhere may move the
    # fifth decimal, so fall back to a tight tolerance before failing.
    if dumps(fresh) != WEIGHTS_PATH.read_bytes():
        for a, b in zip(fresh["weights"], shipped["weights"], strict=True):
            assert max(abs(x - y) for x, y in zip(a, b, strict=True)) < 1e-3
        assert max(abs(x - y) for x, y in zip(fresh["bias"], shipped["bias"], strict=True)) < 1e-3


def test_dev_accuracy_floors(corpus) -> None:  # type: ignore[no-untyped-def]
    """Two dev sets, each never trained on: the generator's compositions from held-out
    fragments, and a fifth of the answers written whole in many registers (harder: other
    voices, other lengths, no shared fragments)."""
    clf = Classifier(load_weights(WEIGHTS_PATH))
    dev = [e for e in corpus if e.split == "dev"]
    generated = evaluate(clf, [e for e in dev if not e.style.startswith("written:")])
    assert all(generated[k] >= v for k, v in GENERATED_FLOORS.items()), generated
    written = evaluate(clf, [e for e in dev if e.style.startswith("written:")])
    assert written["n"] >= 150
    assert all(written[k] >= v for k, v in WRITTEN_FLOORS.items()), written
