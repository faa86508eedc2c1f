"""The classifier on the style-stress set (tests/data/style_stress): answers in fifteen
registers, written apart from the training corpus by a writer who had only
docs/labelling.md, never trained on. Each register is held to the floors below; the figures
and the reasons for the floors are in docs/classifier.md
(`python -m training.classifier.stress` prints them)."""

from __future__ import annotations

import pytest

from training.classifier.stress import Scores, by_register, load

# The floors are the measured per-register figures at the last retraining, rounded down, so
# a change that makes any register worse fails here; raise them as the classifier improves.
# Lowest today: multilingual (refusal recall 0.53, caution recall 0.50) and code (caution 0.56).
REFUSAL_RECALL_FLOOR = 0.5
CAUTION_RECALL_FLOOR = 0.5
OVERALL = {"refusal_recall": 0.78, "refusal_precision": 0.85, "caution_recall": 0.74,
           "caution_precision": 0.88}  # fmt: skip


@pytest.fixture(scope="module")
def table() -> dict[str, Scores]:
    examples = load()
    assert len(examples) >= 300 and len({e.style for e in examples}) >= 12
    return by_register(examples)


def test_every_register_meets_the_recall_floors(table: dict[str, Scores]) -> None:
    low = {
        name: (round(s.refusal_recall, 2), round(s.caution_recall, 2))
        for name, s in table.items()
        if s.refusal_recall < REFUSAL_RECALL_FLOOR or s.caution_recall < CAUTION_RECALL_FLOOR
    }
    assert low == {}, "register: (refusal recall, caution recall)"


def test_the_whole_set_meets_its_floors(table: dict[str, Scores]) -> None:
    overall = table["all"]
    assert {k: getattr(overall, k) >= v for k, v in OVERALL.items()} == dict.fromkeys(
        OVERALL, True
    ), overall


def test_the_stress_set_was_never_trained_on() -> None:
    from training.classifier.corpus import generate

    trained = {e.response for e in generate(0)}
    assert not [e.response for e in load() if e.response in trained]
