"""The optional judge model: a second labeller that works through the audit sample.

It labels the same audited pairs people review, as labeller `judge:<model>` with kind `judge`,
so its labels are stored beside the human ones but never counted as human (docs/judge.md). It
runs off the request path, one bounded batch at a time; nothing it meets (a judge that is down,
hangs or answers nonsense) escapes the loop. Prompt and answer text are never logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from tunewatch.monitoring.metrics import Metrics
from tunewatch.monitoring.store import Store
from tunewatch.monitoring.verdict import Verdict, judge_messages, parse_verdict
from tunewatch.probes.runner import Target, ask
from tunewatch.proxy.config import JudgeConfig
from tunewatch.proxy.upstreams import upstream_headers

__all__ = ["MAX_ATTEMPTS", "JudgeState", "Round", "judge_loop", "judge_once"]

log = logging.getLogger("tunewatch.judge")

Outcome = Literal["parsed", "unparseable", "failed", "timeout"]
MAX_ATTEMPTS = 3  # rounds a pair may fail or go unread before this process stops asking
_MAX_BACKOFF = 300.0  # seconds: the longest wait while the judge answers nothing at all


@dataclass
class JudgeState:
    """What one judge loop remembers between rounds (in memory: a restart tries again)."""

    attempts: dict[str, int] = field(default_factory=dict)  # pair id -> rounds without labels

    def exhausted(self, max_attempts: int) -> set[str]:
        return {pair for pair, n in self.attempts.items() if n >= max_attempts}


@dataclass(frozen=True, slots=True)
class Round:
    """One batch's result: pairs asked about, pairs labelled, and whether the judge produced
    any text at all (when it did not, it is down or hanging, not failing on pairs)."""

    asked: int = 0
    stored: int = 0
    reached: bool = False


async def judge_loop(
    config: JudgeConfig,
    store: Store,
    metrics: Metrics,
    client: httpx.AsyncClient,
    *,
    poll: float = 5.0,
    max_attempts: int = MAX_ATTEMPTS,
) -> None:
    """Label the audit sample with the judge, forever. Sleeps `poll` seconds when there is
    nothing new to ask, and backs off (doubling, up to five minutes) while the judge returns
    no text at all, so a dead judge costs a few requests now and then, not a busy loop."""
    state = JudgeState()
    wait = poll
    while True:
        try:
            result = await judge_once(config, store, metrics, client, state, max_attempts)
        except asyncio.CancelledError:
            raise
        except Exception:  # a store error or a bug: keep labelling later rather than stop
            log.exception("judge round failed")
            result = Round()
        if result.asked and not result.reached:
            log.warning(
                "judge %s gave no text this round (down, hanging or rejecting every call); "
                "next try in %.0f s", config.model, wait,
            )  # fmt: skip
            await asyncio.sleep(wait)
            wait = min(wait * 2, max(_MAX_BACKOFF, poll))
            continue
        wait = poll
        if not result.asked:
            await asyncio.sleep(poll)


async def judge_once(
    config: JudgeConfig,
    store: Store,
    metrics: Metrics,
    client: httpx.AsyncClient,
    state: JudgeState,
    max_attempts: int = MAX_ATTEMPTS,
) -> Round:
    """Ask the judge about one batch of audited pairs it has not labelled, and store what it
    read. A pair that could not be labelled is charged an attempt, unless the judge produced no
    text for any call of the round (then the judge is at fault, not the pair)."""
    labeller = f"judge:{config.model}"
    exhausted = state.exhausted(max_attempts)
    batch = 4 * config.concurrency
    # The exhausted pairs stay unlabelled, so fetch past them to reach new work.
    limit = batch + len(exhausted)
    rows = await asyncio.to_thread(
        store.audit_pairs, with_text=True, unlabelled_by=labeller, limit=limit
    )
    if len(rows) < limit:  # every unlabelled pair is in hand: forget those gone meanwhile
        present = {row["pair_id"] for row in rows}
        for pair in [p for p in state.attempts if p not in present]:
            del state.attempts[pair]
    todo = [row for row in rows if row["pair_id"] not in exhausted and _has_text(row)][:batch]
    if not todo:
        return Round()
    target = Target(config.upstream, config.model, upstream_headers(config.api_key_env))
    limit_calls = asyncio.Semaphore(config.concurrency)

    async def judge(text_of: Mapping[str, Any], role: str) -> tuple[Outcome, Verdict | None]:
        async with limit_calls:
            outcome, verdict = await _ask_judge(
                client, target, config, text_of["prompt"], text_of[role]
            )
        metrics.judge_verdicts.labels(config.model, outcome).inc()
        return outcome, verdict

    results = await asyncio.gather(
        *(asyncio.gather(judge(row, "tuned"), judge(row, "base")) for row in todo)
    )
    reached = any(outcome in ("parsed", "unparseable") for pair in results for outcome, _ in pair)
    stored = 0
    for row, ((_, tuned), (_, base)) in zip(todo, results, strict=True):
        pair_id = row["pair_id"]
        if tuned is not None and base is not None:
            await asyncio.to_thread(
                store.add_review, pair_id, labeller, "judge", tuned.labels(), base.labels()
            )
            state.attempts.pop(pair_id, None)
            stored += 1
        elif reached:
            state.attempts[pair_id] = state.attempts.get(pair_id, 0) + 1
            if state.attempts[pair_id] >= max_attempts:
                log.warning(
                    "judge %s gave no readable verdict for pair %s in %d tries; skipping it",
                    config.model, pair_id, max_attempts,
                )  # fmt: skip
    return Round(asked=len(todo), stored=stored, reached=reached)


def _has_text(row: Mapping[str, Any]) -> bool:
    return all(isinstance(row.get(key), str) for key in ("prompt", "tuned", "base"))


async def _ask_judge(
    client: httpx.AsyncClient, target: Target, config: JudgeConfig, prompt: str, answer: str
) -> tuple[Outcome, Verdict | None]:
    """One judge call for one answer: the outcome as counted, and the verdict when parsed."""
    messages = judge_messages(config.style, prompt, answer, model=config.model)
    try:
        reply = await ask(
            client, target, messages, temperature=0.0, max_tokens=config.max_tokens,
            timeout=config.timeout,
        )  # fmt: skip
    except (TimeoutError, httpx.TimeoutException):
        return "timeout", None
    except Exception as exc:  # refused, reset, an HTTP error status, a body that is not JSON
        log.debug("judge call failed: %s", type(exc).__name__)
        return "failed", None
    content = _content(reply)
    if content is None:
        return "failed", None
    verdict = parse_verdict(config.style, content)
    return ("parsed", verdict) if verdict is not None else ("unparseable", None)


def _content(reply: Mapping[str, object]) -> str | None:
    """The first choice's message text; "" when the judge said nothing; None when the reply is
    not a chat completion at all."""
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    return content if isinstance(content, str) else ""
