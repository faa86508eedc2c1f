"""The proxy in front of real vLLM on CPU, driven by the official openai SDK."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ProxyFactory
from tests.support.processes import Process
from tests.support.promtext import sample
from tunewatch.proxy.devstack.vllm import VllmServer

pytestmark = pytest.mark.vllm

PUBLIC = "assistant"
PROMPTS = ["hello", "tell me a story", "what is the weather", "how do I bake bread", "hi there"]


def _adapter(vllm: VllmServer) -> str:
    return next(iter(vllm.adapters.values()))


@pytest.fixture(scope="module")
def proxy(vllm_server: VllmServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    from tests.support.processes import start_proxy

    config = {
        "models": [
            {"name": PUBLIC, "upstream": vllm_server.url, "upstream_model": _adapter(vllm_server)},
            {"name": "base-direct", "upstream": vllm_server.url,
             "upstream_model": vllm_server.base_model},
        ],
        "auth": {"allow_anonymous": True},
    }  # fmt: skip
    proc = start_proxy(config, tmp_path_factory.mktemp("proxy"))
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def client(proxy: Process) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url, api_key="unused", max_retries=0)


def _direct(vllm: VllmServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=vllm.url, api_key="unused", max_retries=0)


def _greedy(client: openai.OpenAI, model: str, prompt: str) -> str:
    reply = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=12,
        temperature=0,
    )
    return reply.choices[0].message.content or ""


def _fingerprint(client: openai.OpenAI, model: str, prompt: str) -> list[float]:
    """Greedy token log-probabilities: they identify the weights that answered, even when a
    random tiny model's text is empty."""
    reply = client.completions.create(
        model=model,
        prompt=prompt,
        max_tokens=6,
        temperature=0,
        logprobs=1,
        extra_body={"ignore_eos": True},
    )
    logprobs = reply.choices[0].logprobs
    assert logprobs is not None and logprobs.token_logprobs
    return [round(v or 0.0, 3) for v in logprobs.token_logprobs]


def test_chat_unary_uses_public_name(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model=PUBLIC, messages=[{"role": "user", "content": "hello"}], max_tokens=8
    )
    assert reply.model == PUBLIC
    assert reply.choices[0].message.role == "assistant"
    assert isinstance(reply.choices[0].message.content, str)
    assert reply.usage is not None and reply.usage.completion_tokens > 0


def test_request_reaches_the_adapter_under_its_upstream_name(
    client: openai.OpenAI, vllm_server: VllmServer
) -> None:
    direct = _direct(vllm_server)
    via_proxy = [_fingerprint(client, PUBLIC, p) for p in PROMPTS]
    via_adapter = [_fingerprint(direct, _adapter(vllm_server), p) for p in PROMPTS]
    via_base = [_fingerprint(direct, vllm_server.base_model, p) for p in PROMPTS]
    assert via_proxy == via_adapter
    assert via_proxy != via_base  # the adapter really changes the answers


def test_chat_stream_chunk_by_chunk_with_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=PUBLIC,
        messages=[{"role": "user", "content": "hello"}],
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert len(chunks) >= 3
    assert all(c.model == PUBLIC for c in chunks)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6
    assert any(c.choices and c.choices[0].finish_reason == "length" for c in chunks)


def test_stream_text_equals_unary_text(client: openai.OpenAI) -> None:
    unary = _greedy(client, PUBLIC, "tell me a story")
    stream = client.chat.completions.create(
        model=PUBLIC,
        messages=[{"role": "user", "content": "tell me a story"}],
        max_tokens=12,
        temperature=0,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == unary


def test_completions_unary_and_stream(client: openai.OpenAI) -> None:
    reply = client.completions.create(model=PUBLIC, prompt="Once upon a time", max_tokens=5)
    assert reply.model == PUBLIC and reply.choices[0].text is not None
    chunks = list(client.completions.create(model=PUBLIC, prompt="Once", max_tokens=4, stream=True))
    assert chunks and all(c.model == PUBLIC for c in chunks)


def test_model_list_shows_public_names_only(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == [PUBLIC, "base-direct"]


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert info.value.code == "model_not_found"


def test_upstream_4xx_passes_through(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=PUBLIC, messages=[{"role": "user", "content": "x"}], max_tokens=10**7
        )
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_request"),
        (b'{"messages": []}', "invalid_type"),
        (b'{"model": 3}', "invalid_type"),
        (b'{"model": "assistant", "stream": "yes"}', "invalid_type"),
        (b"\xff\xfe\x00", "invalid_json"),
    ],
)
def test_bad_requests_are_400_in_openai_shape(proxy: Process, body: bytes, code: str) -> None:
    resp = httpx.post(proxy.url + "/chat/completions", content=body)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}


def test_body_over_limit_is_413(proxy: Process) -> None:
    resp = httpx.post(proxy.url + "/chat/completions", content=b"x" * (5 * 1024 * 1024))
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "request_too_large"


def test_request_id_is_echoed_or_generated(proxy: Process) -> None:
    body = {"model": PUBLIC, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    given = httpx.post(
        proxy.url + "/chat/completions", json=body, headers={"X-Request-ID": "abc-1"}
    )
    assert given.headers["x-request-id"] == "abc-1"
    made = httpx.post(proxy.url + "/chat/completions", json=body)
    assert len(made.headers["x-request-id"]) == 32
    assert made.headers["x-request-id"] in made.json()["id"]  # vLLM took it as its request id


def test_operations_endpoints(proxy: Process, client: openai.OpenAI) -> None:
    client.chat.completions.create(
        model=PUBLIC, messages=[{"role": "user", "content": "hi"}], max_tokens=2
    )
    assert httpx.get(proxy.root + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(proxy.root + "/readyz")
    assert ready.status_code == 200 and all(u["ok"] for u in ready.json()["upstreams"])
    metrics = httpx.get(proxy.root + "/metrics").text
    assert 'tunewatch_requests_total{code="200",endpoint="chat",model="assistant"}' in metrics
    assert "tunewatch_request_duration_seconds_bucket" in metrics
    assert "tunewatch_build_info{" in metrics


def test_ttft_recorded_for_streams(proxy: Process, client: openai.OpenAI) -> None:
    list(
        client.chat.completions.create(
            model=PUBLIC, messages=[{"role": "user", "content": "x"}], max_tokens=3, stream=True
        )
    )
    metrics = httpx.get(proxy.root + "/metrics").text
    count = sample(metrics, 'tunewatch_time_to_first_token_seconds_count{model="assistant"}')
    assert count >= 1


def test_unreachable_upstream_is_502_and_not_ready(
    proxy_factory: ProxyFactory, vllm_server: VllmServer
) -> None:
    from tunewatch.proxy.devstack.vllm import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    proc = proxy_factory({"models": [{"name": "m", "upstream": dead, "upstream_model": "x"}],
                          "auth": {"allow_anonymous": True}})  # fmt: skip
    client = openai.OpenAI(base_url=proc.url, api_key="k", max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 502
    ready = httpx.get(proc.root + "/readyz")
    assert ready.status_code == 503 and ready.json()["ready"] is False
    metrics = httpx.get(proc.root + "/metrics").text
    assert (
        sample(metrics, 'tunewatch_upstream_errors_total{kind="connect",model="m",role="tuned"}')
        == 1
    )


def test_client_api_keys_enforced(proxy_factory: ProxyFactory, vllm_server: VllmServer) -> None:
    config: dict[str, Any] = {
        "models": [{"name": PUBLIC, "upstream": vllm_server.url,
                    "upstream_model": vllm_server.base_model}],
        "auth": {"api_keys_env": "TW_TEST_KEYS"},
    }  # fmt: skip
    proc = proxy_factory(config, env={"TW_TEST_KEYS": "k1, k2"})
    messages: Any = [{"role": "user", "content": "x"}]
    bad = openai.OpenAI(base_url=proc.url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model=PUBLIC, messages=messages, max_tokens=2)
    good = openai.OpenAI(base_url=proc.url, api_key="k2", max_retries=0)
    assert (
        good.chat.completions.create(model=PUBLIC, messages=messages, max_tokens=2).model == PUBLIC
    )
