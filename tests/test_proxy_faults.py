"""Faults a real vLLM cannot be made to produce on demand, from a scripted upstream."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ProxyFactory
from tests.support.processes import Process
from tests.support.promtext import sample

MESSAGES: Any = [{"role": "user", "content": "x"}]
FAKE_MODELS = ["ok", "stream-ok", "slow-stream", "linger-stream", "garbage", "bad-json", "hang",
               "drop", "drop-stream", "error-503"]  # fmt: skip


@pytest.fixture
def proxy(proxy_factory: ProxyFactory, fake_upstream: Process) -> Process:
    config = {
        "models": [
            {"name": f"m-{name}", "upstream": fake_upstream.url, "upstream_model": name,
             "timeout": "1s", "api_key_env": "TW_UPSTREAM_KEY"}
            for name in FAKE_MODELS
        ],
        "auth": {"allow_anonymous": True},
    }  # fmt: skip
    return proxy_factory(config, env={"TW_UPSTREAM_KEY": "sekret-upstream"})


@pytest.fixture
def client(proxy: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url, api_key="client-key", max_retries=0, timeout=10)


def test_per_upstream_key_replaces_the_clients(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="m-ok", messages=MESSAGES)
    assert reply.choices[0].message.content == "auth=Bearer sekret-upstream"
    assert reply.model == "m-ok"


def test_timeout_is_504(client: openai.OpenAI, proxy: Process) -> None:
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="m-hang", messages=MESSAGES)
    assert info.value.status_code == 504
    assert time.monotonic() - started < 8  # the configured 1 s, not the client's 10 s
    metrics = httpx.get(proxy.root + "/metrics").text
    assert (
        sample(
            metrics, 'tunewatch_upstream_errors_total{kind="timeout",model="m-hang",role="tuned"}'
        )
        == 1
    )


@pytest.mark.parametrize("model", ["m-garbage", "m-drop", "m-bad-json"])
def test_broken_upstream_answers_are_502(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=model, messages=MESSAGES)
    assert info.value.status_code == 502
    assert isinstance(info.value.body, dict) and "message" in info.value.body


def test_upstream_5xx_passes_through(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="m-error-503", messages=MESSAGES)
    assert info.value.status_code == 503
    assert "overloaded" in str(info.value)


def test_stream_dropped_mid_way_ends_with_an_error_event(client: openai.OpenAI) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model="m-drop-stream", messages=MESSAGES,
                                                    stream=True):  # fmt: skip
            received.append(chunk.choices[0].delta.content or "")
    assert received == ["tok0 ", "tok1 ", "tok2 "]
    assert "mid-stream" in str(info.value)


def test_stream_hang_mid_way_times_out_with_an_error_event(
    proxy_factory: ProxyFactory, fake_upstream: Process
) -> None:
    # slow-stream sends a chunk every 0.2 s; a 0.1 s read timeout trips after the first.
    config = {"models": [{"name": "s", "upstream": fake_upstream.url,
                          "upstream_model": "slow-stream", "timeout": "100ms"}],
              "auth": {"allow_anonymous": True}}  # fmt: skip
    proc = proxy_factory(config)
    client = openai.OpenAI(base_url=proc.url, api_key="k", max_retries=0, timeout=10)
    with pytest.raises(openai.APIError) as info:
        list(client.chat.completions.create(model="s", messages=MESSAGES, stream=True))
    assert "timed out" in str(info.value)


def test_streamed_chunks_keep_their_order_and_rename(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(model="m-stream-ok", messages=MESSAGES, stream=True)
    )
    assert [c.choices[0].delta.content for c in chunks] == [f"tok{i} " for i in range(5)]
    assert {c.model for c in chunks} == {"m-stream-ok"}


def test_a_client_closing_after_done_has_a_complete_answer(
    client: openai.OpenAI, proxy: Process
) -> None:
    # The OpenAI SDK closes the connection as soon as it reads `[DONE]`; this upstream ends its
    # stream 1.5 s later, so the close always lands while the proxy still relays, and the
    # configured 1 s upstream timeout fires after the answer was whole.
    chunks = list(
        client.chat.completions.create(model="m-linger-stream", messages=MESSAGES, stream=True)
    )
    assert len(chunks) == 3
    series = {
        "ok": 'tunewatch_requests_total{code="200",endpoint="chat",model="m-linger-stream"}',
        "aborted": 'tunewatch_requests_total{code="499",endpoint="chat",model="m-linger-stream"}',
    }
    deadline = time.monotonic() + 60  # the classifier's worker process starts on first use
    while time.monotonic() < deadline:
        metrics = httpx.get(proxy.root + "/metrics").text
        classified = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("tunewatch_responses_total{")
            and 'model="m-linger-stream"' in line
            and 'source="live"' in line
        )
        if sample(metrics, series["ok"], default=0.0) == 1 and classified == 1:
            break
        time.sleep(0.1)
    assert sample(metrics, series["ok"], default=0.0) == 1
    assert sample(metrics, series["aborted"], default=0.0) == 0
    assert classified == 1  # the answer reached monitoring, as a whole one


def test_an_upstream_failing_after_done_adds_no_error_event(proxy: Process) -> None:
    body = {"model": "m-linger-stream", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", proxy.url + "/chat/completions", json=body, timeout=10) as resp:
        text = resp.read().decode()  # to the end of the stream, not just to `[DONE]`
    assert resp.status_code == 200
    assert text.endswith("data: [DONE]\n\n") and '"error"' not in text


def test_client_disconnect_cancels_the_upstream_stream(
    proxy: Process, fake_upstream: Process
) -> None:
    before = httpx.get(fake_upstream.url + "/stats").json()["aborted_streams"]
    body = {"model": "m-slow-stream", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", proxy.url + "/chat/completions", json=body, timeout=10) as resp:
        lines = resp.iter_lines()
        first = next(line for line in lines if line.startswith("data: "))
        assert json.loads(first[6:])["model"] == "m-slow-stream"
    # the client is gone; the upstream must see its stream cancelled well before 200 × 0.2 s
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if httpx.get(fake_upstream.url + "/stats").json()["aborted_streams"] > before:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the upstream stream was not cancelled after the client disconnected")
    metrics = httpx.get(proxy.root + "/metrics").text
    assert (
        sample(
            metrics, 'tunewatch_requests_total{code="499",endpoint="chat",model="m-slow-stream"}'
        )
        == 1
    )


def test_wrong_method_and_unknown_path(proxy: Process) -> None:
    assert httpx.get(proxy.url + "/chat/completions").status_code == 405
    missing = httpx.get(proxy.url + "/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
