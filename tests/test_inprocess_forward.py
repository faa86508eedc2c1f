"""The forwarder in process: the app called in memory, the scripted upstream over real TCP.

Fast checks of the request path (renaming, streaming, errors, request ids, API keys, request
metrics) without `tunewatch serve` or vLLM; the subprocess tests cover the served app.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.inprocess import AppThread, InProcess
from tests.support.processes import Process
from tests.support.reliability import assert_openai_error
from tunewatch.proxy.devstack.vllm import free_port

MAX_BODY = 2048
MESSAGES = [{"role": "user", "content": "How long should I knead bread dough?"}]
REQUESTS = "tunewatch_requests_total"
UPSTREAM_ERRORS = "tunewatch_upstream_errors_total"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")

# public name -> the fake upstream's behaviour (its model name), plus per-model settings
MODELS: dict[str, dict[str, Any]] = {
    "assistant": {"upstream_model": "ok"},
    "streamer": {"upstream_model": "stream-ok"},
    "echo": {"upstream_model": "echo-request"},
    "overloaded": {"upstream_model": "error-503"},
    "badjson": {"upstream_model": "bad-json"},
    "garbled": {"upstream_model": "garbage"},
    "dropper": {"upstream_model": "drop"},
    "dropstream": {"upstream_model": "drop-stream"},
    "sleepy": {"upstream_model": "hang", "timeout": "300ms"},
}


def _config(fake: Process, store: str) -> dict[str, Any]:
    models = [{"name": name, "upstream": fake.url, **extra} for name, extra in MODELS.items()]
    models.append(
        {
            "name": "nowhere",
            "upstream": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
            "upstream_model": "ok",
            "connect_timeout": "2s",
        }
    )
    return {
        "models": models,
        "server": {"max_body_bytes": MAX_BODY},
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{store}"},
        "auth": {"allow_anonymous": True},
    }


@pytest.fixture(scope="module")
def proxy(fake_upstream: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    store = tmp_path_factory.mktemp("inprocess-forward") / "tw.db"
    with AppThread(_config(fake_upstream, str(store))) as app:
        yield app


@pytest.fixture(scope="module")
def keyed_proxy(
    fake_upstream: Process, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppThread]:
    store = tmp_path_factory.mktemp("inprocess-keys") / "tw.db"
    config = {
        "models": [
            {
                "name": "guarded",
                "upstream": fake_upstream.url,
                "upstream_model": "ok",
                "api_key_env": "TW_INPROC_UPSTREAM_KEY",
            }
        ],
        "auth": {"api_keys_env": "TW_INPROC_KEYS"},
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{store}"},
    }
    env = {"TW_INPROC_KEYS": "key-one, key-two", "TW_INPROC_UPSTREAM_KEY": "upstream-secret"}
    with AppThread(config, env) as app:
        yield app


def _chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": MESSAGES, **extra}


def _events(text: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    return [line[len("data: ") :] for line in text.split("\n") if line.startswith("data: ")]


def _error(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert {"message", "type", "param", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"], error
    return error


def test_chat_answer_is_renamed_back_and_the_client_key_stays_here(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        before = await tw.total(REQUESTS, model="assistant", endpoint="chat", code="200")
        resp = await tw.client.post(
            "/v1/chat/completions",
            json=_chat("assistant"),
            headers={"Authorization": "Bearer a-client-key"},
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/json")
        answer = resp.json()
        assert answer["model"] == "assistant"  # the upstream answered as "ok"
        assert answer["object"] == "chat.completion"
        # The fake echoes the Authorization it got: no configured upstream key, so none, and
        # the client's own key is never forwarded.
        assert answer["choices"][0]["message"]["content"] == "auth="
        after = await tw.total(REQUESTS, model="assistant", endpoint="chat", code="200")
        assert after == before + 1
        durations = await tw.total(
            "tunewatch_request_duration_seconds_count", model="assistant", endpoint="chat"
        )
        assert durations >= 1

    proxy.run(check)


@pytest.mark.parametrize(
    ("path", "body", "keys"),
    [
        (
            "/v1/chat/completions",
            _chat("echo", temperature=0),
            ["messages", "model", "temperature"],
        ),
        (
            "/v1/completions",
            {"model": "echo", "prompt": "Once upon", "max_tokens": 4},
            ["max_tokens", "model", "prompt"],
        ),
    ],
)
def test_upstream_gets_its_model_name_path_and_host(
    proxy: AppThread, fake_upstream: Process, path: str, body: dict[str, Any], keys: list[str]
) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.post(path, json=body)
        assert resp.status_code == 200, resp.text
        answer = resp.json()
        # The fake runs `echo-request` only for that exact model name: the request went up
        # renamed, and the answer (model "echo-request") came back renamed.
        assert answer["model"] == "echo"
        seen = json.loads(answer["choices"][0]["message"]["content"])
        assert seen["path"] == "/v1" + path.removeprefix("/v1")
        assert seen["keys"] == keys
        assert seen["host"] == urlsplit(fake_upstream.url).netloc

    proxy.run(check)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_stream_relays_every_chunk_renamed_and_done(proxy: AppThread, path: str) -> None:
    async def check(tw: InProcess) -> None:
        before = await tw.total(REQUESTS, model="streamer", code="200")
        body = {"model": "streamer", "stream": True, "n_chunks": 7, "messages": MESSAGES}
        resp = await tw.client.post(path, json=body, headers={"x-request-id": "stream-1"})
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["x-request-id"] == "stream-1"
        events = _events(resp.text)
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        assert [c["choices"][0]["delta"]["content"] for c in chunks] == [
            f"tok{i} " for i in range(7)
        ]
        assert {c["model"] for c in chunks} == {"streamer"}
        assert "stream-ok" not in resp.text
        assert await tw.total(REQUESTS, model="streamer", code="200") == before + 1
        ttft = await tw.total("tunewatch_time_to_first_token_seconds_count", model="streamer")
        assert ttft >= 1

    proxy.run(check)


def test_unknown_model_is_an_openai_404(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        before = await tw.total(REQUESTS, model="unknown", endpoint="chat", code="404")
        resp = await tw.client.post("/v1/chat/completions", json=_chat("no-such-model"))
        assert resp.status_code == 404
        error = _error(resp)
        assert error["code"] == "model_not_found"
        assert error["type"] == "not_found_error"
        assert error["param"] == "model"
        assert "no-such-model" in error["message"]
        assert GENERATED_ID.match(resp.headers["x-request-id"])
        after = await tw.total(REQUESTS, model="unknown", endpoint="chat", code="404")
        assert after == before + 1

    proxy.run(check)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (b"{not json", "invalid_json", None),
        (b"", "invalid_json", None),
        (b"[1, 2]", "invalid_request", None),
        (b'{"messages": []}', "invalid_type", "model"),
        (b'{"model": 7}', "invalid_type", "model"),
        (b'{"model": "assistant", "stream": "yes"}', "invalid_type", "stream"),
    ],
)
def test_invalid_body_is_an_openai_400(
    proxy: AppThread, body: bytes, code: str, param: str | None
) -> None:
    async def check(tw: InProcess) -> None:
        before = await tw.total(REQUESTS, endpoint="chat", code="400")
        resp = await tw.client.post(
            "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
        )
        assert resp.status_code == 400, resp.text
        error = _error(resp)
        assert error["type"] == "invalid_request_error"
        assert error["code"] == code
        assert error["param"] == param
        assert_openai_error(resp.status_code, resp.json())
        assert await tw.total(REQUESTS, endpoint="chat", code="400") == before + 1

    proxy.run(check)


def test_streamed_embeddings_and_other_methods_are_refused(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.post(
            "/v1/embeddings", json={"model": "assistant", "input": "x", "stream": True}
        )
        assert resp.status_code == 400
        assert _error(resp)["code"] == "invalid_value"
        resp = await tw.client.get("/v1/chat/completions")
        assert resp.status_code == 405
        assert _error(resp)["code"] == "method_not_allowed"

    proxy.run(check)


def test_body_over_the_limit_is_413_declared_or_chunked(proxy: AppThread) -> None:
    big = json.dumps(_chat("assistant", padding="x" * (2 * MAX_BODY))).encode()

    async def chunked() -> Any:
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    async def check(tw: InProcess) -> None:
        before = await tw.total(REQUESTS, endpoint="chat", code="413")
        declared = await tw.client.post(
            "/v1/chat/completions", content=big, headers={"content-type": "application/json"}
        )
        streamed = await tw.client.post("/v1/chat/completions", content=chunked())
        for resp in (declared, streamed):
            assert resp.status_code == 413, resp.text
            error = _error(resp)
            assert error["code"] == "request_too_large"
            assert str(MAX_BODY) in error["message"]
        assert await tw.total(REQUESTS, endpoint="chat", code="413") == before + 2
        # Just under the limit still goes through.
        small = json.dumps(_chat("assistant", padding="x" * (MAX_BODY - 300))).encode()
        assert len(small) <= MAX_BODY
        ok = await tw.client.post("/v1/chat/completions", content=small)
        assert ok.status_code == 200, ok.text

    proxy.run(check)


def test_request_id_is_kept_when_valid_and_generated_otherwise(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        async def request_id(headers: dict[str, str]) -> str:
            resp = await tw.client.post(
                "/v1/chat/completions", json=_chat("assistant"), headers=headers
            )
            assert resp.status_code == 200, resp.text
            return resp.headers["x-request-id"]

        assert await request_id({"x-request-id": "client-id-42"}) == "client-id-42"
        first, second = await request_id({}), await request_id({})
        assert GENERATED_ID.match(first) and GENERATED_ID.match(second)
        assert first != second
        too_long = await request_id({"x-request-id": "a" * 200})
        assert GENERATED_ID.match(too_long)
        # An error answer carries the id too.
        resp = await tw.client.post(
            "/v1/chat/completions", content=b"{", headers={"x-request-id": "bad-body-1"}
        )
        assert resp.status_code == 400 and resp.headers["x-request-id"] == "bad-body-1"

    proxy.run(check)


@pytest.mark.parametrize("stream", [False, True])
def test_upstream_503_is_passed_through(proxy: AppThread, stream: bool) -> None:
    async def check(tw: InProcess) -> None:
        before = await tw.total(REQUESTS, model="overloaded", code="503")
        errors = await tw.total(UPSTREAM_ERRORS, model="overloaded", role="tuned", kind="status")
        resp = await tw.client.post("/v1/chat/completions", json=_chat("overloaded", stream=stream))
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"]["message"] == "overloaded"
        assert await tw.total(REQUESTS, model="overloaded", code="503") == before + 1
        after = await tw.total(UPSTREAM_ERRORS, model="overloaded", role="tuned", kind="status")
        assert after == errors + 1

    proxy.run(check)


@pytest.mark.parametrize(
    ("model", "status", "code", "kind"),
    [
        ("badjson", 502, "bad_upstream_response", "protocol"),
        ("garbled", 502, "upstream_error", "protocol"),
        ("dropper", 502, "upstream_error", "protocol"),
        ("nowhere", 502, "upstream_unreachable", "connect"),
        ("sleepy", 504, "upstream_timeout", "timeout"),
    ],
)
def test_failed_upstream_is_a_gateway_error(
    proxy: AppThread, model: str, status: int, code: str, kind: str
) -> None:
    async def check(tw: InProcess) -> None:
        before = await tw.total(REQUESTS, model=model, endpoint="chat", code=str(status))
        errors = await tw.total(UPSTREAM_ERRORS, model=model, role="tuned", kind=kind)
        resp = await tw.client.post("/v1/chat/completions", json=_chat(model))
        assert resp.status_code == status, resp.text
        error = _error(resp)
        assert error["code"] == code
        assert error["type"] == "api_error"
        after = await tw.total(REQUESTS, model=model, endpoint="chat", code=str(status))
        assert after == before + 1
        assert await tw.total(UPSTREAM_ERRORS, model=model, role="tuned", kind=kind) == errors + 1

    proxy.run(check)


def test_stream_failing_midway_ends_with_an_error_event(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        errors = await tw.total(UPSTREAM_ERRORS, model="dropstream", kind="stream")
        resp = await tw.client.post("/v1/chat/completions", json=_chat("dropstream", stream=True))
        assert resp.status_code == 200  # the head went out before the upstream failed
        events = _events(resp.text)
        assert "[DONE]" not in events
        relayed = [json.loads(e) for e in events[:-1]]
        assert [c["choices"][0]["delta"]["content"] for c in relayed] == ["tok0 ", "tok1 ", "tok2 "]
        assert {c["model"] for c in relayed} == {"dropstream"}
        last = json.loads(events[-1])
        assert last["error"]["code"] == "upstream_stream"
        assert await tw.total(UPSTREAM_ERRORS, model="dropstream", kind="stream") == errors + 1

    proxy.run(check)


def test_models_lists_the_public_names(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.get("/v1/models")
        assert resp.status_code == 200
        listing = resp.json()
        assert listing["object"] == "list"
        assert [m["id"] for m in listing["data"]] == [*MODELS, "nowhere"]

    proxy.run(check)


def test_api_keys_are_enforced_and_never_forwarded(keyed_proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        before = await tw.total(REQUESTS, model="unknown", code="401")
        for headers in (
            {},
            {"Authorization": "Bearer wrong-key"},
            {"Authorization": "Basic key-one"},
            {"Authorization": "Bearer "},
        ):
            resp = await tw.client.post(
                "/v1/chat/completions", json=_chat("guarded"), headers=headers
            )
            assert resp.status_code == 401, (headers, resp.text)
            error = _error(resp)
            assert error["code"] == "invalid_api_key"
            assert error["type"] == "authentication_error"
        assert await tw.total(REQUESTS, model="unknown", code="401") == before + 4
        for key in ("key-one", "key-two"):
            resp = await tw.client.post(
                "/v1/chat/completions",
                json=_chat("guarded"),
                headers={"Authorization": f"Bearer {key}"},
            )
            assert resp.status_code == 200, resp.text
            assert resp.json()["model"] == "guarded"
            # The upstream got its own configured key, not the client's.
            content = resp.json()["choices"][0]["message"]["content"]
            assert content == "auth=Bearer upstream-secret"
        assert (await tw.client.get("/v1/models")).status_code == 401
        listed = await tw.client.get("/v1/models", headers={"Authorization": "Bearer key-two"})
        assert listed.status_code == 200
        assert [m["id"] for m in listed.json()["data"]] == ["guarded"]

    keyed_proxy.run(check)
