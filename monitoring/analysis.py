"""Turn a finished exchange into labels: extract the text, tag the category, classify.

This is CPU work, so the proxy runs it in a worker process (see `init_worker` and
`analyse_batch`), never on the event loop that serves clients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitoring.classifier import Classifier, load_classifier
from monitoring.drift import Labels
from monitoring.openai_text import prompt_text, response_text, stream_text
from monitoring.tagger import Tagger
from monitoring.wire import fast_pickle


@fast_pickle
@dataclass(frozen=True, slots=True)
class Item:
    request: dict[str, Any]
    response: dict[str, Any] | None = None
    chunks: tuple[bytes, ...] = ()
    category: str | None = None  # fixed by a header or a probe; else tagged from the prompt
    keep_text: bool = False


@fast_pickle
@dataclass(frozen=True, slots=True)
class Analysis:
    category: str
    labels: Labels
    refusal_score: float
    caution_score: float
    prompt: str | None = None
    response: str | None = None


class Analyser:
    def __init__(self, rules: Sequence[tuple[str, str]] = (), classifier: Classifier | None = None):
        self.classifier = classifier or load_classifier()
        self.tagger = Tagger(rules)

    def analyse(self, item: Item) -> Analysis:
        prompt = prompt_text(item.request)
        if item.response is not None:
            answer = response_text(item.response)
        else:
            answer = stream_text(item.chunks)
        result = self.classifier.classify(answer, prompt or None)
        return Analysis(
            category=item.category or self.tagger.tag(prompt),
            labels=Labels(result.refusal, result.caution),
            refusal_score=float(result.scores.get("refusal", 0.0)),
            caution_score=float(result.scores.get("caution", 0.0)),
            prompt=prompt if item.keep_text else None,
            response=answer if item.keep_text else None,
        )


# A worker process holds one Analyser, built once by the pool's initializer: loading the
# classifier per batch would cost more than classifying it.
_worker: Analyser | None = None


def init_worker(rules: Sequence[tuple[str, str]]) -> None:
    global _worker
    _worker = Analyser(rules)


def analyse_batch(items: Sequence[Item]) -> list[Analysis]:
    assert _worker is not None, "init_worker was not called in this process"
    return [_worker.analyse(item) for item in items]
