"""The request path's extras, in process: trace context and allow-listed headers passed on,
named clients counted (requests and tokens) by name, never by key, the mirror's base copy
asking for one plain answer, and the Responses API's text read for monitoring."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest

from tests.support.inprocess import AppThread, InProcess
from tests.support.processes import Process
from tunewatch.monitoring.openai_text import (
    follows_a_tool,
    prompt_text,
    response_answer,
    stream_answer,
)

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
ENV = {"TW_EXTRAS_ALICE": "key-alice", "TW_EXTRAS_BOB": "key-bob"}


@pytest.fixture(scope="module")
def proxy(fake_upstream: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    store = tmp_path_factory.mktemp("extras") / "tw.db"
    base = {"upstream": fake_upstream.url, "model": "echo-request", "timeout": "30s"}
    config = {
        "models": [
            {"name": "echo", "upstream": fake_upstream.url, "upstream_model": "echo-request"},
            {
                "name": "paired",
                "upstream": fake_upstream.url,
                "upstream_model": "ok",
                "base": base,
                "mirror": {"rate": 1.0},
            },
        ],
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{store}"},
        "audit": {"rate": 1.0},  # keeps the base copy's answer: the fake echoes what it got
        "server": {"forward_headers": ["X-Team"]},
        "auth": {
            "clients": [
                {"name": "alice", "key_env": "TW_EXTRAS_ALICE"},
                {"name": "bob", "key_env": "TW_EXTRAS_BOB"},
            ]
        },
    }
    with AppThread(config, env=ENV) as app:
        yield app


def _chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hello?"}], **extra}


def test_trace_context_and_allowed_headers_reach_the_upstream(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.post(
            "/v1/chat/completions", json=_chat("echo"),
            headers={"authorization": "Bearer key-alice", "traceparent": TRACE,
                     "tracestate": "vendor=1", "x-team": "search", "x-secret": "no"},
        )  # fmt: skip
        assert resp.status_code == 200, resp.text
        seen = json.loads(resp.json()["choices"][0]["message"]["content"])
        assert seen["traceparent"] == TRACE
        assert {"tracestate", "x-team"} <= set(seen["headers"])
        assert "x-secret" not in seen["headers"]  # not on the allow-list
        assert "authorization" not in seen["headers"]  # the client's key never goes upstream

    proxy.run(check)


def test_clients_are_counted_by_name_with_their_tokens(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        for key, times in (("key-alice", 3), ("key-bob", 1)):
            for _ in range(times):
                resp = await tw.client.post("/v1/chat/completions", json=_chat("echo"),
                                            headers={"authorization": f"Bearer {key}"})  # fmt: skip
                assert resp.status_code == 200
        resp = await tw.client.post("/v1/chat/completions", json=_chat("echo"),
                                    headers={"authorization": "Bearer key-eve"})  # fmt: skip
        assert resp.status_code == 401
        text = await tw.metrics()
        assert "key-alice" not in text and "key-bob" not in text
        requests = "tunewatch_client_requests_total"
        alice = await tw.total(requests, model="echo", client="alice", code="200")
        assert alice >= 3  # and the other tests' requests, made as alice
        assert await tw.total(requests, model="echo", client="bob", code="200") == 1
        assert await tw.total(requests, model="unknown", client="anonymous", code="401") == 1
        # the fake reports 1 prompt and 1 completion token per answer
        tokens = "tunewatch_tokens_total"
        assert await tw.total(tokens, model="echo", client="bob", kind="prompt") == 1
        assert await tw.total(tokens, model="echo", client="alice", kind="completion") == alice

    proxy.run(check)


def test_the_base_copy_asks_for_one_plain_answer(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        body = _chat("paired", n=2, logprobs=True, top_logprobs=3, temperature=0.5)
        resp = await tw.client.post("/v1/chat/completions", json=body,
                                    headers={"authorization": "Bearer key-alice"})  # fmt: skip
        assert resp.status_code == 200

        async def kept() -> bool:
            return bool(_base_answers(tw))

        await tw.wait_for(kept, "the audited pair with the base copy's answer")
        seen = json.loads(_base_answers(tw)[0])
        assert seen["path"] == "/v1/chat/completions"
        assert {"n", "logprobs", "top_logprobs", "stream_options"}.isdisjoint(seen["keys"])
        assert {"messages", "model", "stream", "temperature"} <= set(seen["keys"])

    proxy.run(check)


def _base_answers(tw: InProcess) -> list[str]:
    with closing(sqlite3.connect(tw.runtime.config.store.path)) as conn:
        return [r[0] for r in conn.execute("SELECT base FROM audit_pairs WHERE model = 'paired'")]


# --- the Responses API's shapes, for monitoring ------------------------------------------


def test_responses_api_text_is_read_like_chat() -> None:
    request = {"model": "m", "instructions": "be brief",
               "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi?"}]}]}  # fmt: skip
    assert prompt_text(request) == "Hi?"
    assert prompt_text({"model": "m", "input": "plain"}) == "plain"
    answer = {"object": "response", "output": [
        {"type": "reasoning", "summary": []},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "I can't help with that."}]},
    ]}  # fmt: skip
    assert response_answer(answer) == ("I can't help with that.", False)
    tool = {"object": "response", "output": [{"type": "function_call", "name": "f"}]}
    assert response_answer(tool) == ("", True)
    events = [
        b'event: response.created\ndata: {"type":"response.created","response":{"usage":null}}\n\n',
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        b'"delta":"Sure"}\n\n',
    ]
    assert stream_answer(events) == ("Sure", False)  # cut short: the deltas so far
    done = (b'event: response.completed\ndata: {"type":"response.completed","response":'
            + json.dumps(answer).encode() + b"}\n\n")  # fmt: skip
    assert stream_answer([*events, done]) == ("I can't help with that.", False)
    assert follows_a_tool({"input": [{"type": "function_call_output", "output": "42"}]})
    assert not follows_a_tool({"input": "a new question"})
