"""The OpenAI Responses API through the proxy, against real vLLM, with the official SDK:
unary and streamed, the model name rewritten both ways, and each answer mirrored to the
base model and paired like a chat answer."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.conftest import ProxyFactory
from tests.support.inprocess import total
from tunewatch.proxy.devstack.vllm import VllmServer

pytestmark = pytest.mark.vllm
MIRROR = "tunewatch_mirror_requests_total"


def _config(vllm: VllmServer) -> dict[str, Any]:
    return {
        "models": [
            {
                "name": "assistant",
                "upstream": vllm.url,
                "upstream_model": next(iter(vllm.adapters.values())),
                "base": {"upstream": vllm.url, "model": vllm.base_model},
                "mirror": {"rate": 1.0},
            }
        ],
        "probes": {"enabled": False},
        "auth": {"allow_anonymous": True},
    }


def test_responses_unary_and_streamed_are_forwarded_and_mirrored(
    proxy_factory: ProxyFactory, vllm_server: VllmServer
) -> None:
    proxy = proxy_factory(_config(vllm_server))
    client = OpenAI(base_url=proxy.url, api_key="unused")
    answer = client.responses.create(
        model="assistant", input="Name a colour.", max_output_tokens=16, temperature=0
    )
    assert answer.model == "assistant"  # renamed back from the served name
    assert answer.id.startswith("resp") and answer.output  # a tiny model may hit the limit
    assert answer.status in ("completed", "incomplete")
    events = list(
        client.responses.create(
            model="assistant", input="Name a fruit.", max_output_tokens=16, stream=True
        )
    )
    kinds = [e.type for e in events]
    # vLLM keeps answers only with VLLM_ENABLE_RESPONSES_API_STORE=1; either way, what it
    # says about a stored answer reaches the client as it said it
    direct = httpx.get(f"{vllm_server.url}/responses/{answer.id}")
    via = httpx.get(f"{proxy.url}/responses/{answer.id}")
    assert (via.status_code, via.content) == (direct.status_code, direct.content)
    assert via.headers["x-request-id"]
    if direct.status_code == 404:
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(answer.id)
    assert kinds[0] == "response.created"
    assert kinds[-1] in ("response.completed", "response.incomplete")
    assert all(e.response.model == "assistant" for e in events if hasattr(e, "response"))

    def mirrored() -> float:
        text = httpx.get(f"{proxy.root}/metrics").text
        return sum(
            total(text, MIRROR, model="assistant", outcome=outcome)
            for outcome in ("completed", "unlabelled")
        )

    deadline = time.monotonic() + 120
    while mirrored() < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert mirrored() == 2  # both answers went to the base and came back as pairs (or, when
    # the tiny model says nothing, as counted unlabelled pairs)
    text = httpx.get(f"{proxy.root}/metrics").text
    requests = total(text, "tunewatch_requests_total", model="assistant", endpoint="responses")
    assert requests == 2
