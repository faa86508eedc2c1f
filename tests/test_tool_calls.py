"""Agent turns: an answer that only calls a tool, or says nothing, is not labelled, not in the
rates and never half of a pair; a tool loop's follow-up rounds are forwarded, not counted
again. Through the official openai SDK, streamed and not, against the scripted upstream."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.support.inprocess import AppThread, InProcess
from tests.support.processes import Process

UNLABELLED = "tunewatch_unlabelled_responses_total"
RESPONSES = "tunewatch_responses_total"
MIRROR = "tunewatch_mirror_requests_total"
TOOLS: Any = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {}}}}]  # fmt: skip
ASK: Any = [{"role": "user", "content": "What's the weather in Leeds?"}]


@pytest.fixture(scope="module")
def proxy(fake_upstream: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    def model(name: str, tuned: str) -> dict[str, Any]:
        return {"name": name, "upstream": fake_upstream.url, "upstream_model": tuned,
                "base": {"upstream": fake_upstream.url, "model": "mixed-base", "timeout": "30s"},
                "mirror": {"rate": 1.0}}  # fmt: skip

    store = tmp_path_factory.mktemp("tool-calls") / "tw.db"
    config = {
        "models": [model("agent", "tool-call"), model("blank", "empty"), model("loop", "mixed")],
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{store}"},
        "auth": {"allow_anonymous": True},
    }
    with AppThread(config) as app:
        yield app


def _sdk(tw: InProcess) -> openai.AsyncOpenAI:
    transport = httpx.ASGITransport(app=tw.app)
    return openai.AsyncOpenAI(
        base_url="http://tunewatch.test/v1", api_key="k", max_retries=0,
        http_client=httpx.AsyncClient(transport=transport),
    )  # fmt: skip


def test_a_tool_call_is_not_labelled_and_makes_no_pair(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        sdk = _sdk(tw)
        answer = await sdk.chat.completions.create(model="agent", messages=ASK, tools=TOOLS)
        assert answer.choices[0].message.tool_calls
        assert answer.choices[0].message.content is None
        stream = await sdk.chat.completions.create(
            model="agent", messages=ASK, tools=TOOLS, stream=True
        )
        calls = [c async for c in stream if c.choices and c.choices[0].delta.tool_calls]
        assert calls and calls[0].model == "agent"

        async def counted() -> bool:
            return await tw.total(MIRROR, model="agent", outcome="unlabelled") == 2

        await tw.wait_for(counted, "both mirrors to end unpaired")
        assert await tw.total(UNLABELLED, model="agent", role="tuned", source="live",
                              reason="tool_call") == 2  # fmt: skip
        assert await tw.total(UNLABELLED, model="agent", role="tuned", source="mirror",
                              reason="tool_call") == 2  # fmt: skip
        assert await tw.total(MIRROR, model="agent", outcome="completed") == 0
        assert await tw.total(RESPONSES, model="agent") == 0  # in no rate, no pair
        assert not [s for s in tw.runtime.engine.summaries() if s["model"] == "agent"]

    proxy.run(check)


def test_an_empty_answer_is_not_labelled(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        answer = await _sdk(tw).chat.completions.create(model="blank", messages=ASK)
        assert answer.choices[0].message.content == ""

        async def counted() -> bool:
            return await tw.total(MIRROR, model="blank", outcome="unlabelled") == 1

        await tw.wait_for(counted, "the mirror to end unpaired")
        assert await tw.total(UNLABELLED, model="blank", role="tuned", source="live",
                              reason="empty") == 1  # fmt: skip
        assert await tw.total(RESPONSES, model="blank") == 0

    proxy.run(check)


def test_a_tool_loops_follow_up_rounds_are_forwarded_not_counted(proxy: AppThread) -> None:
    """Only the turn answering a new user message is mirrored and counted, once."""
    follow_up: Any = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type":
         "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12C, drizzle"},
    ]  # fmt: skip

    async def check(tw: InProcess) -> None:
        sdk = _sdk(tw)
        await sdk.chat.completions.create(model="loop", messages=ASK)
        for _ in range(3):  # three more round trips of the same user turn
            answer = await sdk.chat.completions.create(model="loop", messages=follow_up)
            assert answer.choices[0].message.content

        async def paired() -> bool:
            return await tw.total(MIRROR, model="loop", outcome="completed") == 1

        await tw.wait_for(paired, "the first turn's pair")
        assert await tw.total(MIRROR, model="loop", outcome="sampled") == 1
        assert await tw.total(RESPONSES, model="loop", role="tuned", source="live") == 1
        ok = await tw.total("tunewatch_requests_total", model="loop", code="200")
        assert ok == 4  # every round was forwarded and answered

    proxy.run(check)
