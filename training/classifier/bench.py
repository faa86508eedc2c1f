"""Throughput benchmark: `python -m training.classifier.bench [--n N] [--size BYTES]`.

Prints responses/s for single calls (how the proxy's background worker uses it) and for
`classify_many`, next to a plain keyword/regex matcher in the same run.  Pins itself to one
CPU where the OS allows, so figures are per core.  Never asserted in tests: timings on
shared machines are noisy.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import re
import sys
import time
from collections.abc import Callable

from training.classifier.corpus import generate
from tunewatch.monitoring.analysis import Analyser, Item
from tunewatch.monitoring.classifier import load_classifier
from tunewatch.monitoring.tagger import _BUILTIN_RULES

# The kind of string matcher the classifier replaces (phrases from common refusal checks).
_BASELINE = re.compile(
    r"i'm sorry|i am sorry|i apologi[sz]e|as an ai|i cannot|i can't|i can not|i'm not able|"
    r"i am not able|i am unable|i'm unable|i will not|i won't|it is not appropriate|"
    r"it's not appropriate|i must decline|against my",
    re.IGNORECASE,
)


def baseline_is_refusal(response: str) -> bool:
    return _BASELINE.search(response) is not None


def _texts(n: int, size: int) -> list[str]:
    """~`size`-character responses made by joining corpus responses (mixed styles)."""
    rng = random.Random(1)
    pool = [e.response for e in generate(0)]
    out = []
    for _ in range(n):
        parts: list[str] = []
        while sum(len(p) for p in parts) < size:
            parts.append(rng.choice(pool))
        out.append("\n\n".join(parts)[:size])
    return out


class _ReTagger:
    """The tagger as it was before RE2: each rule a case-insensitive Python `re`, in order."""

    def __init__(self) -> None:
        self.rules = [(c, re.compile(p, re.IGNORECASE)) for c, p in _BUILTIN_RULES]

    def tag(self, prompt: str) -> str:
        return next((c for c, rx in self.rules if rx.search(prompt[:4000])), "other")


def analysis_rates(n: int) -> dict[str, dict[str, float]]:
    """Answers/s as the classifier process sees them (prompt and answer extracted, prompt
    tagged, answer classified), 1 KiB answers, for a one-line prompt and a 4 KiB one (a
    pasted document, a RAG context); `re tagger` rows are the same with the tagger on `re`."""
    answers = _texts(n, 1024)
    short = "My landlord kept my deposit after I moved out. What can I do?"
    long = " ".join(_texts(1, 4096 - len(short))) + " " + short
    out = {}
    analyser = Analyser()
    for tagger_name, tagger in (("", analyser.tagger), (" re tagger", _ReTagger())):
        analyser.tagger = tagger  # type: ignore[assignment]
        for prompt_name, prompt in (("short prompt", short), ("4 KiB prompt", long)):
            items = [
                Item({"messages": [{"role": "user", "content": prompt}]},
                     {"choices": [{"message": {"content": a}}]})
                for a in answers
            ]  # fmt: skip
            analyse_all = functools.partial(_map_list, analyser.analyse, items)
            analyse_all()
            wall, cpu = _rate(analyse_all, n)
            out[prompt_name + tagger_name] = {"wall": wall, "cpu": cpu}
    return out


def _map_list(fn: Callable[[Item], object], items: list[Item]) -> list[object]:
    return [fn(i) for i in items]


def _rate(fn: Callable[[], object], n: int, repeat: int = 3) -> tuple[float, float]:
    """Best-of-`repeat` rates by wall clock and by this process's CPU time.

    On a shared machine the wall figure drops when other jobs hold the core; the CPU-time
    figure is what one core dedicated to the worker would deliver.
    """
    wall = cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return n / wall, n / cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=2000, help="responses per timing run")
    ap.add_argument("--size", type=int, default=1024, help="characters per response")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    clf = load_classifier()
    texts = _texts(args.n, args.size)
    pairs = [(None, t) for t in texts]
    clf.classify_many(pairs[:50])  # warm up
    single = _rate(lambda: [clf.classify(t) for t in texts], args.n)
    batch = _rate(lambda: clf.classify_many(pairs), args.n)
    base = _rate(lambda: [baseline_is_refusal(t) for t in texts], args.n)
    print(f"responses: {args.n} x {args.size} chars, one core, best of 3")
    print(f"{'':26s}{'wall':>10s}{'cpu-time':>10s}  responses/s")
    for name, (wall, cpu) in (
        ("classifier single calls", single),
        ("classifier classify_many", batch),
        ("baseline keyword regex", base),
    ):
        print(f"{name:26s}{wall:10.0f}{cpu:10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
