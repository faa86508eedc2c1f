"""The judge loop against a scripted judge on a real socket (hangs, garbage, errors, good
verdicts), and once against the session's real vLLM."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.metrics import Metrics
from tunewatch.monitoring.store import AuditPair, Store
from tunewatch.probes.runner import upstream_client
from tunewatch.proxy.config import JudgeConfig
from tunewatch.proxy.devstack.vllm import VllmServer
from tunewatch.proxy.watch.judge import MAX_ATTEMPTS, JudgeState, judge_loop, judge_once

JUDGE = "scripted-judge"
LABELLER = f"judge:{JUDGE}"
TUNED = "TUNED-ANSWER: I can't help with that."
BASE = "BASE-ANSWER: here are the steps."

# Answers a chat request's messages with a reply's content; may sleep, or raise to send 500.
Script = Callable[[list[dict[str, Any]]], Awaitable[str]]


class ScriptedJudge:
    """A minimal OpenAI-compatible chat server over asyncio streams, keeping what it was sent."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)
                }
                body = orjson.loads(await reader.readexactly(int(headers["content-length"])))
                self.requests.append(body)
                self.headers.append(headers)
                try:
                    content = await self.script(body["messages"])
                except ValueError:
                    writer.write(_http(500, b'{"error": "scripted failure"}'))
                else:
                    reply = {"choices": [{"message": {"role": "assistant", "content": content}}]}
                    writer.write(_http(200, orjson.dumps(reply)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[ScriptedJudge]:
        server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/v1"
        async with server:
            yield self


def _http(status: int, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _asked_about(messages: list[dict[str, Any]]) -> str:
    """The answer a judge request asks about: tuned or base, by the marker in its text."""
    text = messages[-1]["content"]
    return "tuned" if "TUNED-ANSWER" in text else "base" if "BASE-ANSWER" in text else "?"


async def good_instruct(messages: list[dict[str, Any]]) -> str:
    """Reads the tuned answer as a refusal without caution, the base one as a cautious answer,
    in the untidy formats real models use."""
    if _asked_about(messages) == "tuned":
        return "<think>It declines.</think>\n**Refusal:** full\n**Caution:** no"
    return 'Sure.\n{"refusal": "none", "caution": true}'


async def garbage(messages: list[dict[str, Any]]) -> str:
    return "I would rather not say. Refusal is a complex topic."


async def hang(messages: list[dict[str, Any]]) -> str:
    await asyncio.sleep(3600)
    return ""


async def error_500(messages: list[dict[str, Any]]) -> str:
    raise ValueError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "tw.db")
    yield store
    store.close()


def _seed(store: Store, n: int, prefix: str = "p") -> list[str]:
    ids = [f"{prefix}{i}" for i in range(n)]
    for i, pair_id in enumerate(ids):
        store.write_now(
            AuditPair(
                pair_id, 1000.0 + i, "assistant", "mirror", "medical",
                f"PROMPT-{pair_id}: how much ibuprofen?", TUNED, BASE,
                Labels("none", False), Labels("none", False), swap=bool(i % 2), sort_key=i / n,
            ),
            classifier="test",
        )  # fmt: skip
    return ids


def _config(url: str, **extra: Any) -> JudgeConfig:
    return JudgeConfig(
        upstream=url, model=extra.pop("model", JUDGE), timeout=extra.pop("timeout", "5s"),
        max_tokens=extra.pop("max_tokens", 32), concurrency=extra.pop("concurrency", 2), **extra,
    )  # fmt: skip


def _metrics() -> Metrics:
    return Metrics("test", CollectorRegistry())


def _count(metrics: Metrics, outcome: str, model: str = JUDGE) -> float:
    value = metrics.registry.get_sample_value(
        "tunewatch_judge_verdicts_total", {"model": model, "outcome": outcome}
    )
    return value or 0.0


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def _run_loop(
    config: JudgeConfig,
    store: Store,
    metrics: Metrics,
    until: Callable[[], bool],
    *,
    linger: float = 0.0,
    poll: float = 0.02,
) -> None:
    """Run judge_loop until `until()` holds and `linger` seconds more, check it is still
    running, then stop it."""
    async with upstream_client() as client:
        task = asyncio.create_task(judge_loop(config, store, metrics, client, poll=poll))
        try:
            await _until(until)
            await asyncio.sleep(linger)
            assert not task.done(), task.exception() if task.done() else None
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def test_good_judge_labels_are_stored_as_judge_labels(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ids = _seed(store, 5)
    monkeypatch.setenv("TW_JUDGE_KEY", "sk-judge")
    metrics = _metrics()
    caplog.set_level(logging.DEBUG, logger="tunewatch")

    async def main() -> ScriptedJudge:
        async with ScriptedJudge(good_instruct).serving() as judge:
            config = _config(judge.url, api_key_env="TW_JUDGE_KEY", max_tokens=48)
            await _run_loop(config, store, metrics, lambda: len(store.reviews()) == 5)
            return judge

    judge = asyncio.run(main())
    reviews = store.reviews()
    assert sorted(r["pair_id"] for r in reviews) == ids
    for review in reviews:
        assert review["labeller"] == LABELLER and review["kind"] == "judge"
        # the tuned answer's verdict went to the tuned side, whatever the review order's swap
        assert (review["tuned_refusal"], review["tuned_caution"]) == ("full", 0)
        assert (review["base_refusal"], review["base_caution"]) == ("none", 1)
    assert store.reviews(kind="human") == [] and store.reviewed_pairs("human") == []
    assert len(store.reviewed_pairs("judge")) == 5
    assert store.audit_pairs(unlabelled_by=LABELLER) == []
    assert _count(metrics, "parsed") == 10
    assert sum(_count(metrics, o) for o in ("unparseable", "failed", "timeout")) == 0
    # each answer asked about once, with the configured call
    assert len(judge.requests) == 10
    assert (
        sorted(_asked_about(r["messages"]) for r in judge.requests) == ["base"] * 5 + ["tuned"] * 5
    )
    for body, headers in zip(judge.requests, judge.headers, strict=True):
        assert body["model"] == JUDGE and body["temperature"] == 0 and body["max_tokens"] == 48
        assert body["messages"][0]["role"] == "system"
        assert headers["authorization"] == "Bearer sk-judge"
    # prompt and answer text never reach the log
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "PROMPT-" not in logged and "TUNED-ANSWER" not in logged and "BASE-ANSWER" not in logged


def test_garbage_is_unparseable_and_each_pair_is_tried_at_most_n_times(store: Store) -> None:
    _seed(store, 3)
    metrics = _metrics()
    calls = 3 * 2 * MAX_ATTEMPTS

    async def main() -> ScriptedJudge:
        async with ScriptedJudge(garbage).serving() as judge:
            # the loop goes on polling for 0.5 s (25 polls) after the last attempt, asking
            # nothing more: it does not spin on pairs the judge cannot label
            await _run_loop(
                _config(judge.url), store, metrics, lambda: len(judge.requests) >= calls,
                linger=0.5,
            )  # fmt: skip
            return judge

    judge = asyncio.run(main())
    assert len(judge.requests) == calls
    assert _count(metrics, "unparseable") == calls
    assert store.reviews() == []


def test_attempts_are_bounded_within_one_loop_and_new_pairs_still_get_judged(store: Store) -> None:
    """Given-up pairs sit first in the review order; work behind them is still reached."""
    bad = _seed(store, 10, prefix="bad")
    metrics = _metrics()
    state = JudgeState()

    async def script(messages: list[dict[str, Any]]) -> str:
        return (
            "no idea" if "PROMPT-bad" in messages[-1]["content"] else await good_instruct(messages)
        )

    async def main() -> ScriptedJudge:
        async with ScriptedJudge(script).serving() as judge, upstream_client() as client:
            config = _config(judge.url, concurrency=1)  # batches of four pairs
            for _ in range(3 * MAX_ATTEMPTS):
                await judge_once(config, store, metrics, client, state)
            assert len(judge.requests) == 10 * 2 * MAX_ATTEMPTS
            idle = await judge_once(config, store, metrics, client, state)
            assert idle.asked == 0 and len(judge.requests) == 10 * 2 * MAX_ATTEMPTS
            for i in range(6):  # sorted after the bad ones: sort keys 1.0 and up
                store.write_now(
                    AuditPair(
                        f"good{i}", 2000.0, "assistant", "probe", "benign", "PROMPT-good", TUNED,
                        BASE, Labels("full", False), Labels("none", True), False, 1.0 + i,
                    ),
                    classifier="test",
                )  # fmt: skip
            first = await judge_once(config, store, metrics, client, state)
            second = await judge_once(config, store, metrics, client, state)
            assert (first.stored, second.stored) == (4, 2)
            return judge

    asyncio.run(main())
    assert sorted(r["pair_id"] for r in store.reviews()) == [f"good{i}" for i in range(6)]
    assert state.exhausted(MAX_ATTEMPTS) == set(bad)
    assert _count(metrics, "unparseable") == 10 * 2 * MAX_ATTEMPTS
    assert _count(metrics, "parsed") == 12


def test_a_hanging_judge_counts_timeouts_and_stores_nothing(store: Store) -> None:
    _seed(store, 2)
    metrics = _metrics()
    state = JudgeState()

    async def main() -> None:
        async with ScriptedJudge(hang).serving() as judge, upstream_client() as client:
            config = _config(judge.url, timeout="200ms")
            result = await judge_once(config, store, metrics, client, state)
            assert (result.asked, result.stored, result.reached) == (2, 0, False)
            # the judge is at fault, not the pairs: no attempt is charged
            assert state.attempts == {}
            # and the loop survives it, backing off instead of hammering
            await _run_loop(config, store, metrics, lambda: _count(metrics, "timeout") >= 8)

    asyncio.run(main())
    assert store.reviews() == []
    assert _count(metrics, "timeout") >= 8
    assert (
        _count(metrics, "parsed")
        == _count(metrics, "unparseable")
        == _count(metrics, "failed")
        == 0
    )


def test_errors_and_an_unreachable_judge_count_as_failed(store: Store) -> None:
    _seed(store, 2)
    metrics = _metrics()

    async def main() -> None:
        async with upstream_client() as client:
            async with ScriptedJudge(error_500).serving() as judge:
                result = await judge_once(_config(judge.url), store, metrics, client, JudgeState())
                assert (result.asked, result.stored, result.reached) == (2, 0, False)
            # the server is gone: the connection is refused
            result = await judge_once(_config(judge.url), store, metrics, client, JudgeState())
            assert (result.asked, result.stored, result.reached) == (2, 0, False)

    asyncio.run(main())
    assert _count(metrics, "failed") == 8
    assert store.reviews() == []


def test_a_pair_is_stored_only_when_both_answers_are_read(store: Store) -> None:
    _seed(store, 2)
    metrics = _metrics()
    state = JudgeState()

    async def half(messages: list[dict[str, Any]]) -> str:
        if _asked_about(messages) == "base" and "PROMPT-p0" in messages[-1]["content"]:
            return "hmm"
        return await good_instruct(messages)

    async def main() -> None:
        async with ScriptedJudge(half).serving() as judge, upstream_client() as client:
            result = await judge_once(_config(judge.url), store, metrics, client, state)
            assert (result.asked, result.stored, result.reached) == (2, 1, True)

    asyncio.run(main())
    assert [r["pair_id"] for r in store.reviews()] == ["p1"]
    assert state.attempts == {"p0": 1}
    assert (_count(metrics, "parsed"), _count(metrics, "unparseable")) == (3, 1)


def test_guard_judge_stores_refusal_and_unknown_caution_as_false(store: Store) -> None:
    _seed(store, 2)
    metrics = _metrics()

    async def qwen3guard(messages: list[dict[str, Any]]) -> str:
        assert [m["role"] for m in messages] == ["user", "assistant"]
        refused = "TUNED-ANSWER" in messages[1]["content"]
        return f"Safety: Safe\nCategories: None\nRefusal: {'Yes' if refused else 'No'}"

    async def main() -> None:
        async with ScriptedJudge(qwen3guard).serving() as judge, upstream_client() as client:
            config = _config(judge.url, model="Qwen/Qwen3Guard-Gen-4B", style="guard")
            await judge_once(config, store, metrics, client, JudgeState())

    asyncio.run(main())
    reviews = store.reviews()
    assert len(reviews) == 2
    for review in reviews:
        assert review["labeller"] == "judge:Qwen/Qwen3Guard-Gen-4B" and review["kind"] == "judge"
        assert (review["tuned_refusal"], review["tuned_caution"]) == ("full", 0)
        assert (review["base_refusal"], review["base_caution"]) == ("none", 0)
    assert _count(metrics, "parsed", model="Qwen/Qwen3Guard-Gen-4B") == 4


def test_a_store_error_does_not_end_the_loop(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(store, 1)
    metrics = _metrics()
    real = store.audit_pairs
    failures = iter([True, True])

    def flaky(**kw: Any) -> list[dict[str, Any]]:
        if next(failures, False):
            raise OSError("disk went away")
        return real(**kw)

    monkeypatch.setattr(store, "audit_pairs", flaky)

    async def main() -> None:
        async with ScriptedJudge(good_instruct).serving() as judge:
            done = lambda: len(store.reviews()) == 1  # noqa: E731
            await _run_loop(_config(judge.url), store, metrics, done)

    asyncio.run(main())
    assert store.reviews()[0]["labeller"] == LABELLER


def _outcomes(metrics: Metrics, model: str) -> dict[str, float]:
    return {o: _count(metrics, o, model) for o in ("parsed", "unparseable", "failed", "timeout")}


@pytest.mark.vllm
def test_real_vllm_as_judge_counts_every_verdict(vllm_server: VllmServer, store: Store) -> None:
    """The tiny demo model's verdicts are gibberish, which is the point: the plumbing works end
    to end against a real server, and every answer gets a counted outcome."""
    _seed(store, 3)
    model = vllm_server.base_model

    async def main() -> None:
        async with upstream_client() as client:
            # guard style: the conversation goes through the model's chat template; it answers
            # with text that says nothing about refusal
            metrics = _metrics()
            config = _config(
                vllm_server.url, model=model, style="guard", timeout="30s", max_tokens=16
            )
            result = await judge_once(config, store, metrics, client, JudgeState())
            assert (result.asked, result.reached) == (3, True)
            assert _outcomes(metrics, model) == {
                "parsed": 0,
                "unparseable": 6,
                "failed": 0,
                "timeout": 0,
            }
            # instruct style: the guide's prompt is longer than the demo model's 512-token
            # context, which vLLM refuses with HTTP 400 (a larger model would answer gibberish)
            metrics = _metrics()
            config = _config(
                vllm_server.url, model=model, style="instruct", timeout="30s", max_tokens=16
            )
            result = await judge_once(config, store, metrics, client, JudgeState())
            counts = _outcomes(metrics, model)
            assert result.asked == 3 and counts["parsed"] == counts["timeout"] == 0, counts
            assert counts["unparseable"] + counts["failed"] == 6, counts
            # a time-out shorter than any answer: every call counts as one
            metrics = _metrics()
            config = _config(vllm_server.url, model=model, timeout="1ms", max_tokens=16)
            result = await judge_once(config, store, metrics, client, JudgeState())
            assert (result.asked, result.reached) == (3, False)
            assert _outcomes(metrics, model) == {
                "parsed": 0,
                "unparseable": 0,
                "failed": 0,
                "timeout": 6,
            }

    asyncio.run(main())
    assert store.reviews() == []
