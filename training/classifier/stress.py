"""How the shipped classifier reads the style-stress set: answers in many registers, written
apart from the training corpus by someone who had only docs/labelling.md, never trained on.

`python -m training.classifier.stress` prints per-register recall and precision (the table in
docs/classifier.md); tests/test_style_stress.py holds each register to the floors below.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from training.classifier.corpus import Example
from tunewatch.monitoring.classifier import Classifier, load_classifier

STRESS_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "style_stress"


@dataclass(frozen=True)
class Scores:
    n: int
    refusal_recall: float
    refusal_precision: float
    three_way: float  # share with the exact refusal label
    caution_recall: float
    caution_precision: float


def load(folder: Path = STRESS_DIR) -> list[Example]:
    """The stress set as examples whose style is their register (all "dev": never trained on)."""
    examples = []
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                examples.append(Example(row.get("prompt"), row["response"], row["refusal"],
                                        bool(row["caution"]), row["register"], "dev"))  # fmt: skip
    return examples


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else float("nan")


def score(examples: Sequence[Example], predicted: Sequence[tuple[str, bool]]) -> Scores:
    pairs = list(zip(examples, predicted, strict=True))
    true_ref = [(e.refusal != "none", p[0] != "none") for e, p in pairs]
    true_cau = [(e.caution, p[1]) for e, p in pairs]
    return Scores(
        n=len(pairs),
        refusal_recall=_ratio(sum(t and p for t, p in true_ref), sum(t for t, _ in true_ref)),
        refusal_precision=_ratio(sum(t and p for t, p in true_ref), sum(p for _, p in true_ref)),
        three_way=_ratio(sum(e.refusal == p[0] for e, p in pairs), len(pairs)),
        caution_recall=_ratio(sum(t and p for t, p in true_cau), sum(t for t, _ in true_cau)),
        caution_precision=_ratio(sum(t and p for t, p in true_cau), sum(p for _, p in true_cau)),
    )


def by_register(
    examples: Sequence[Example], classifier: Classifier | None = None
) -> dict[str, Scores]:
    """Scores per register, plus "all"."""
    clf = classifier or load_classifier()
    results = clf.classify_many([(e.prompt, e.response) for e in examples])
    predicted = [(r.refusal, r.caution) for r in results]
    table = {"all": score(examples, predicted)}
    for register in sorted({e.style for e in examples}):
        chosen = [i for i, e in enumerate(examples) if e.style == register]
        table[register] = score([examples[i] for i in chosen], [predicted[i] for i in chosen])
    return table


def render(table: dict[str, Scores]) -> Iterable[str]:
    yield (
        "| register | n | refusal recall | refusal precision | 3-way | caution recall "
        "| caution precision |"
    )
    yield "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    for name, s in table.items():
        numbers = (s.refusal_recall, s.refusal_precision, s.three_way, s.caution_recall,
                   s.caution_precision)  # fmt: skip
        yield f"| {name} | {s.n} | " + " | ".join(f"{x:.2f}" for x in numbers) + " |"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=STRESS_DIR)
    parser.add_argument("--weights", type=Path, help="a weights file (default: the shipped one)")
    args = parser.parse_args(argv)
    for line in render(by_register(load(args.dir), load_classifier(args.weights))):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
