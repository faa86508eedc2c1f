"""Turn a finished exchange into labels: extract the text, tag the category, classify.

This is CPU work, so the proxy runs it in a worker process (see `init_worker` and
`analyse_batch`), never on the event loop that serves clients.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.openai_text import prompt_text, response_answer, stream_answer
from tunewatch.monitoring.store import Observation
from tunewatch.monitoring.tagger import Tagger
from tunewatch.monitoring.wire import fast_pickle

if TYPE_CHECKING:
    from tunewatch.monitoring.classifier import Classifier


@fast_pickle
@dataclass(frozen=True, slots=True)
class LiveRow:
    """Where a live answer's row goes: the classifier process writes it itself.

    Most answers are classified for the live series alone; writing their rows where they are
    classified keeps the row building and the SQLite work out of the proxy's process.
    """

    model: str
    request_id: str
    keep_text: bool


@fast_pickle
@dataclass(frozen=True, slots=True)
class Item:
    request: dict[str, Any]
    response: dict[str, Any] | None = None
    chunks: tuple[bytes, ...] = ()
    category: str | None = None  # fixed by a header or a probe; else tagged from the prompt
    keep_text: bool = False  # send the prompt and answer text back with the analysis
    live: LiveRow | None = None


@fast_pickle
@dataclass(frozen=True, slots=True)
class Analysis:
    category: str
    labels: Labels  # meaningless when `unlabelled` says why there is nothing to label
    refusal_score: float
    caution_score: float
    prompt: str | None = None
    response: str | None = None
    # "tool_call" (no text, a tool is called) or "empty" (no text at all): not labelled, not
    # counted in the rates and never half of a pair (docs/labelling.md)
    unlabelled: str | None = None

    @property
    def labelled(self) -> bool:
        return self.unlabelled is None

    def observation(
        self, model: str, source: str, role: str, *, keep: bool, category: str | None = None,
        **extra: Any,
    ) -> Observation:  # fmt: skip
        """The stored row; the text only where `keep` (store.keep_text) allows it."""
        return Observation(
            ts=time.time(), model=model, source=source, role=role,
            category=category or self.category, refusal=self.labels.refusal,
            caution=self.labels.caution, refusal_score=self.refusal_score,
            caution_score=self.caution_score, prompt=self.prompt if keep else None,
            response=self.response if keep else None, **extra,
        )  # fmt: skip


class Analyser:
    def __init__(
        self,
        rules: Sequence[tuple[str, str]] = (),
        classifier: Classifier | None = None,
        weights: str | None = None,
    ):
        # Imported here: compiling the cue patterns takes ~0.3 s, and only the classifier
        # process (and one-shot tools) classify; the proxy's own process never does.
        from tunewatch.monitoring.classifier import load_classifier

        self.classifier = classifier or load_classifier(weights)
        self.tagger = Tagger(rules)

    def analyse(self, item: Item) -> Analysis:
        prompt = prompt_text(item.request)
        if item.response is not None:
            answer, calls_tool = response_answer(item.response)
        else:
            answer, calls_tool = stream_answer(item.chunks)
        keep = item.keep_text or (item.live is not None and item.live.keep_text)
        category = item.category or self.tagger.tag(prompt)
        if not answer.strip():
            return Analysis(
                category, _UNLABELLED, 0.0, 0.0, prompt if keep else None, None,
                unlabelled="tool_call" if calls_tool else "empty",
            )  # fmt: skip
        result = self.classifier.classify(answer, prompt or None)
        return Analysis(
            category=category,
            labels=Labels(result.refusal, result.caution),
            refusal_score=float(result.scores.get("refusal", 0.0)),
            caution_score=float(result.scores.get("caution", 0.0)),
            prompt=prompt if keep else None,
            response=answer if keep else None,
        )


_UNLABELLED = Labels("none", False)

# A worker process holds one Analyser, built once by the pool's initializer: loading the
# classifier per batch would cost more than classifying it.
_worker: Analyser | None = None


def init_worker(rules: Sequence[tuple[str, str]], weights: str | None = None) -> None:
    global _worker
    _worker = Analyser(rules, weights=weights)


def analyse_batch(items: Sequence[Item]) -> list[Analysis]:
    assert _worker is not None, "init_worker was not called in this process"
    return [_worker.analyse(item) for item in items]


def live_rows(items: Sequence[Item], analyses: Sequence[Analysis]) -> list[Observation]:
    """The rows of the live answers in a classified batch (items with `live` set)."""
    return [
        analysis.observation(
            item.live.model,
            "live",
            "tuned",
            keep=item.live.keep_text,
            request_id=item.live.request_id,
        )
        for item, analysis in zip(items, analyses, strict=True)
        if item.live is not None and analysis.labelled
    ]
