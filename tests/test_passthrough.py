"""The rest of vLLM's API passed through, a model's entry, request ids and errors everywhere,
CORS, and the API docs behind the admin token.

In process against a recording upstream of this module's own (it echoes the exact request it
got, multipart bodies included), then through `tunewatch serve` against the session's real
vLLM (`-m vllm`).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.support.inprocess import AppThread, InProcess, build_config, series
from tests.support.processes import Process, start_proxy
from tunewatch.proxy.app import create_app, serving_app
from tunewatch.proxy.config import CorsConfig
from tunewatch.proxy.cors import Cors
from tunewatch.proxy.devstack.vllm import VllmServer, free_port
from tunewatch.proxy.forward import FastPaths
from tunewatch.proxy.passthrough import PASSED

REQUESTS = "tunewatch_requests_total"
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_BODY = 4096
ORIGIN = "https://app.example"
ADMIN = "admin-secret"
KEY = "client-key"
# vLLM's own error shape, which must reach the client byte for byte
VLLM_ERROR = (
    b'{"object":"error","message":"bad input","type":"BadRequestError","param":null,"code":400}'
)
JSON_ROUTES = [p for p in PASSED if not p.form]
FORM_ROUTES = [p for p in PASSED if p.form]
ENDPOINTS = {p.endpoint for p in PASSED} | {"models", "chat", "completions", "embeddings",
                                            "responses"}  # fmt: skip


class Recorder:
    """An upstream that answers every POST with what it got: path, headers, body."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                seen = {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("latin-1"),
                }
                recorder.seen.append(seen)
                if b"fail-400" in body:
                    self._answer(400, VLLM_ERROR, "application/json")
                    return
                if b"fail-text" in body:
                    self._answer(503, b"upstream says no", "text/plain; charset=utf-8")
                    return
                if b"sse-stream" in body:
                    event = b'data: {"model":"sse-stream","text":"hi"}\n\ndata: [DONE]\n\n'
                    self._answer(200, event, "text/event-stream")
                    return
                answer = {"id": "x", "object": "echo", "model": _served(body), "text": "hello",
                          "seen": seen}  # fmt: skip
                self._answer(200, json.dumps(answer).encode(), "application/json")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last(self) -> dict[str, Any]:
        return self.seen[-1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _served(body: bytes) -> str | None:
    """The model a request names: a JSON body's `model`, or a form's `model` field."""
    try:
        model = json.loads(body).get("model")
        return model if isinstance(model, str) else None
    except ValueError:
        found = re.search(rb'form-data; name="model"\r\n\r\n([^\r]*)\r\n', body)
        return found.group(1).decode() if found else None


@pytest.fixture(scope="module")
def upstream() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


def _models(upstream: Recorder) -> list[dict[str, Any]]:
    return [
        {"name": "assistant", "upstream": upstream.url, "upstream_model": "served-assistant"},
        {"name": "org/legal", "upstream": upstream.url, "upstream_model": "served-legal"},
        {"name": "broken", "upstream": upstream.url, "upstream_model": "fail-400"},
        {"name": "texty", "upstream": upstream.url, "upstream_model": "fail-text"},
        {"name": "sse", "upstream": upstream.url, "upstream_model": "sse-stream"},
        {"name": "nowhere", "upstream": f"http://127.0.0.1:{free_port()}/v1",
         "connect_timeout": "2s"},
    ]  # fmt: skip


def _base_config(store: Path) -> dict[str, Any]:
    return {
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{store}"},
        "server": {"max_body_bytes": MAX_BODY},
    }


@pytest.fixture(scope="module")
def proxy(upstream: Recorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    """Several models, no client keys, no admin token, no CORS."""
    config = {
        **_base_config(tmp_path_factory.mktemp("pass") / "tw.db"),
        "models": _models(upstream),
        "auth": {"allow_anonymous": True},
    }
    with AppThread(config) as app:
        yield app


@pytest.fixture(scope="module")
def keyed(upstream: Recorder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    """One model, client keys, an upstream key, the admin token, CORS for one origin."""
    config = {
        **_base_config(tmp_path_factory.mktemp("pass-keyed") / "tw.db"),
        "models": [{"name": "solo", "upstream": upstream.url, "upstream_model": "served-solo",
                    "api_key_env": "TW_PASS_UPSTREAM_KEY"}],
        "auth": {"api_keys_env": "TW_PASS_KEYS", "admin_token_env": "TW_PASS_ADMIN"},
        "cors": {"origins": [ORIGIN], "max_age": 123},
    }  # fmt: skip
    env = {"TW_PASS_KEYS": KEY, "TW_PASS_ADMIN": ADMIN, "TW_PASS_UPSTREAM_KEY": "upstream-key"}
    with AppThread(config, env) as app:
        yield app


def _error(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The OpenAI error body of `resp`, which must carry x-request-id."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert {"message", "type", "param", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"]
    assert resp.headers.get("x-request-id"), resp.headers
    if code is not None:
        assert error["code"] == code, error
    return error


def _keyed(**headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEY}", **headers}


# --- JSON routes -----------------------------------------------------------------------------


@pytest.mark.parametrize("spec", JSON_ROUTES, ids=lambda s: s.path)
def test_json_route_goes_to_the_server_root_renamed_both_ways(
    proxy: AppThread, upstream: Recorder, spec: Any
) -> None:
    async def check(tw: InProcess) -> None:
        labels = {"model": "assistant", "endpoint": spec.endpoint, "code": "200"}
        before = await tw.total(REQUESTS, **labels)
        body = {"model": "assistant", "prompt": "hello", "extra": [1, 2.5, None]}
        resp = await tw.client.post(spec.path, json=body, headers={"traceparent": "00-ab-cd-01"})
        assert resp.status_code == 200, resp.text
        answer = resp.json()
        assert answer["model"] == "assistant"  # the upstream answered "served-assistant"
        seen = upstream.last()
        assert seen["path"] == spec.path  # at the root: /tokenize, not /v1/tokenize
        assert json.loads(seen["body"]) == {**body, "model": "served-assistant"}
        assert seen["headers"]["content-type"] == "application/json"
        assert seen["headers"]["traceparent"] == "00-ab-cd-01"
        assert "authorization" not in seen["headers"]
        # one request id, generated, on the answer and passed to the upstream
        assert GENERATED_ID.match(resp.headers["x-request-id"])
        assert seen["headers"]["x-request-id"] == resp.headers["x-request-id"]
        assert await tw.total(REQUESTS, **labels) == before + 1
        assert await tw.total("tunewatch_request_duration_seconds_count",
                              model="assistant", endpoint=spec.endpoint) >= 1  # fmt: skip

    proxy.run(check)


def test_client_request_id_is_kept_and_a_bad_one_replaced(
    proxy: AppThread, upstream: Recorder
) -> None:
    async def check(tw: InProcess) -> None:
        body = {"model": "assistant", "prompt": "hi"}
        resp = await tw.client.post("/tokenize", json=body, headers={"x-request-id": "mine-1"})
        assert resp.headers["x-request-id"] == "mine-1"
        assert upstream.last()["headers"]["x-request-id"] == "mine-1"
        resp = await tw.client.post("/tokenize", json=body, headers={"x-request-id": "x" * 300})
        assert GENERATED_ID.match(resp.headers["x-request-id"])
        assert upstream.last()["headers"]["x-request-id"] == resp.headers["x-request-id"]

    proxy.run(check)


def test_model_missing_with_several_models_is_400(proxy: AppThread, upstream: Recorder) -> None:
    async def check(tw: InProcess) -> None:
        sent = len(upstream.seen)
        resp = await tw.client.post("/tokenize", json={"prompt": "hi"})
        error = _error(resp, 400, "missing_required_parameter")
        assert error["param"] == "model"
        assert len(upstream.seen) == sent  # nothing went up
        assert await tw.total(REQUESTS, model="unknown", endpoint="tokenize", code="400") >= 1

    proxy.run(check)


def test_model_missing_with_one_model_goes_to_it(keyed: AppThread, upstream: Recorder) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.post("/v1/score", json={"text_1": "a"}, headers=_keyed())
        assert resp.status_code == 200, resp.text
        assert resp.json()["model"] == "solo"
        seen = upstream.last()
        assert json.loads(seen["body"]) == {"text_1": "a", "model": "served-solo"}
        # the upstream's configured key goes up, never the client's
        assert seen["headers"]["authorization"] == "Bearer upstream-key"

    keyed.run(check)


def test_unknown_model_is_an_openai_404(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        before = await tw.total(REQUESTS, model="unknown", endpoint="rerank", code="404")
        resp = await tw.client.post("/v2/rerank", json={"model": "nope", "query": "q"})
        error = _error(resp, 404, "model_not_found")
        assert error["param"] == "model" and error["type"] == "not_found_error"
        assert await tw.total(REQUESTS, model="unknown", endpoint="rerank", code="404") == (
            before + 1
        )

    proxy.run(check)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "invalid_json"),
        (b"[1]", "invalid_request"),
        (b'{"model": 3}', "invalid_type"),
    ],
)
def test_invalid_json_is_an_openai_400(proxy: AppThread, body: bytes, code: str) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.post(
            "/pooling", content=body, headers={"content-type": "application/json"}
        )
        _error(resp, 400, code)

    proxy.run(check)


def test_upstream_errors_pass_through_untouched(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.post("/classify", json={"model": "broken", "input": "x"})
        assert resp.status_code == 400
        assert resp.content == VLLM_ERROR
        assert resp.headers["x-request-id"]
        resp = await tw.client.post("/detokenize", json={"model": "texty", "tokens": [1]})
        assert resp.status_code == 503
        assert resp.content == b"upstream says no"
        assert resp.headers["content-type"].startswith("text/plain")
        assert await tw.total(REQUESTS, model="broken", endpoint="classify", code="400") >= 1
        assert await tw.total(REQUESTS, model="texty", endpoint="detokenize", code="503") >= 1

    proxy.run(check)


def test_unreachable_upstream_is_502(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.post("/tokenize", json={"model": "nowhere", "prompt": "x"})
        _error(resp, 502, "upstream_unreachable")
        assert await tw.total(REQUESTS, model="nowhere", endpoint="tokenize", code="502") >= 1

    proxy.run(check)


def test_body_over_the_limit_is_413_declared_or_chunked(
    proxy: AppThread, upstream: Recorder
) -> None:
    big = json.dumps({"model": "assistant", "prompt": "x" * (2 * MAX_BODY)}).encode()

    async def chunked() -> Any:
        for i in range(0, len(big), 512):
            yield big[i : i + 512]

    async def check(tw: InProcess) -> None:
        sent = len(upstream.seen)
        resp = await tw.client.post("/tokenize", content=big)
        _error(resp, 413, "request_too_large")
        resp = await tw.client.post("/tokenize", content=chunked())
        _error(resp, 413, "request_too_large")
        assert len(upstream.seen) == sent

    proxy.run(check)


def test_event_stream_answer_is_renamed(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.post("/pooling", json={"model": "sse", "input": "x"})
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.content == b'data: {"model":"sse","text":"hi"}\n\ndata: [DONE]\n\n'

    proxy.run(check)


# --- audio (multipart) -------------------------------------------------------------------------

AUDIO = bytes(range(256)) * 8 + b'\r\n--not-the-boundary\r\nname="model"\r\n\r\nassistant\r\n'


@pytest.mark.parametrize("spec", FORM_ROUTES, ids=lambda s: s.path)
def test_audio_form_model_is_rewritten_and_the_rest_untouched(
    proxy: AppThread, upstream: Recorder, spec: Any
) -> None:
    async def check(tw: InProcess) -> None:
        files = {"file": ("clip.wav", AUDIO, "audio/wav")}
        data = {"model": "assistant", "language": "en", "temperature": "0"}
        request = tw.client.build_request("POST", spec.path, data=data, files=files)
        sent = request.read()
        resp = await tw.client.send(request)
        assert resp.status_code == 200, resp.text
        assert resp.json()["model"] == "assistant"
        seen = upstream.last()
        assert seen["path"] == spec.path
        assert seen["headers"]["content-type"] == request.headers["content-type"]
        got = seen["body"].encode("latin-1")
        # exactly the client's body, but for the one field's value
        assert got == sent.replace(
            b'name="model"\r\n\r\nassistant\r\n', b'name="model"\r\n\r\nserved-assistant\r\n', 1
        )
        assert AUDIO in got
        labels = {"model": "assistant", "endpoint": spec.endpoint, "code": "200"}
        assert await tw.total(REQUESTS, **labels) >= 1

    proxy.run(check)


def test_audio_through_the_openai_sdk(proxy: AppThread, upstream: Recorder) -> None:
    async def check(tw: InProcess) -> None:
        client = openai.AsyncOpenAI(
            base_url="http://tunewatch.test/v1", api_key="x", http_client=tw.client, max_retries=0
        )
        text = await client.audio.transcriptions.create(
            model="org/legal", file=("clip.wav", AUDIO, "audio/wav")
        )
        assert text.text == "hello"
        assert _served(upstream.last()["body"].encode("latin-1")) == "served-legal"

    proxy.run(check)


def test_audio_form_without_model_and_bad_forms(
    proxy: AppThread, keyed: AppThread, upstream: Recorder
) -> None:
    files = {"file": ("clip.wav", AUDIO, "audio/wav")}

    async def several(tw: InProcess) -> None:
        resp = await tw.client.post("/v1/audio/transcriptions", files=files)
        assert _error(resp, 400, "missing_required_parameter")["param"] == "model"
        resp = await tw.client.post(
            "/v1/audio/transcriptions", json={"model": "assistant", "file": "x"}
        )
        _error(resp, 415, "unsupported_media_type")
        boundary = "b0undary"
        torn = f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nassistant'
        resp = await tw.client.post(
            "/v1/audio/transcriptions", content=torn.encode(),
            headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        )  # fmt: skip
        _error(resp, 400, "invalid_request")
        twice = {"model": ["assistant", "org/legal"]}
        resp = await tw.client.post("/v1/audio/translations", data=twice, files=files)
        assert _error(resp, 400)["param"] == "model"

    async def only_one(tw: InProcess) -> None:
        request = tw.client.build_request(
            "POST", "/v1/audio/transcriptions", files=files, headers=_keyed()
        )
        sent = request.read()
        resp = await tw.client.send(request)
        assert resp.status_code == 200, resp.text
        got = upstream.last()["body"].encode("latin-1")
        assert _served(got) == "served-solo"  # the only model's field, added
        assert got.startswith(sent.rsplit(b"\r\n--", 1)[0])  # the client's parts, untouched

    proxy.run(several)
    keyed.run(only_one)


# --- the model entry ---------------------------------------------------------------------------


def test_model_entry_matches_the_listing(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        listing = (await tw.client.get("/v1/models")).json()["data"]
        for listed in listing:
            resp = await tw.client.get(f"/v1/models/{listed['id']}")
            assert resp.status_code == 200, resp.text
            entry = resp.json()
            assert {k: entry[k] for k in ("id", "object", "owned_by")} == {
                k: listed[k] for k in ("id", "object", "owned_by")
            }
            assert resp.headers["x-request-id"]
        assert "org/legal" in {m["id"] for m in listing}  # a name with a slash works too
        before = await tw.total(REQUESTS, model="unknown", endpoint="models", code="404")
        resp = await tw.client.get("/v1/models/served-assistant")  # the upstream's name
        assert _error(resp, 404, "model_not_found")["param"] == "model"
        after = await tw.total(REQUESTS, model="unknown", endpoint="models", code="404")
        assert after == before + 1
        assert await tw.total(REQUESTS, model="assistant", endpoint="models", code="200") >= 1
        resp = await tw.client.post("/v1/models/assistant", json={})
        _error(resp, 405, "method_not_allowed")
        assert resp.headers["allow"] == "GET"

    proxy.run(check)


def test_model_entry_through_the_openai_sdk(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        client = openai.AsyncOpenAI(
            base_url="http://tunewatch.test/v1", api_key="x", http_client=tw.client, max_retries=0
        )
        model = await client.models.retrieve("org/legal")
        assert model.id == "org/legal"
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("nope")

    proxy.run(check)


# --- auth --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", p.path) for p in PASSED] + [("GET", "/v1/models/solo")],
)
def test_every_route_needs_a_client_key(
    keyed: AppThread, upstream: Recorder, method: str, path: str
) -> None:
    async def check(tw: InProcess) -> None:
        sent = len(upstream.seen)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
            resp = await tw.client.request(method, path, json={"model": "solo"}, headers=headers)
            _error(resp, 401, "invalid_api_key")
        assert len(upstream.seen) == sent
        resp = await tw.client.request(method, path, json={"model": "solo"}, headers=_keyed())
        assert resp.status_code != 401, resp.text

    keyed.run(check)


# --- errors anywhere ---------------------------------------------------------------------------


def test_unknown_paths_and_methods_are_openai_errors_with_request_ids(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.post("/v1/nope", json={}, headers={"x-request-id": "lost-1"})
        error = _error(resp, 404, "not_found")
        assert resp.headers["x-request-id"] == "lost-1"
        assert "/v1/nope" in error["message"]
        resp = await tw.client.get("/nowhere/at/all")
        _error(resp, 404, "not_found")
        assert GENERATED_ID.match(resp.headers["x-request-id"])
        resp = await tw.client.get("/tokenize")  # a passed-through route
        _error(resp, 405, "method_not_allowed")
        assert resp.headers["allow"] == "POST"
        resp = await tw.client.post("/healthz")  # a FastAPI route
        _error(resp, 405, "method_not_allowed")
        assert "GET" in resp.headers["allow"]
        resp = await tw.client.get("/healthz", headers={"x-request-id": "ok-1"})
        assert resp.status_code == 200 and resp.headers["x-request-id"] == "ok-1"
        # the endpoint label is a fixed name, never a path a client made up
        text = await tw.metrics()
        assert {labels["endpoint"] for labels, _ in series(text, REQUESTS)} <= ENDPOINTS

    proxy.run(check)


# --- CORS --------------------------------------------------------------------------------------


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


def test_cors_preflight_and_answers_for_an_allowed_origin(keyed: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        for path in ("/v1/chat/completions", "/v1/models", "/tokenize", "/v1/models/solo"):
            resp = await tw.client.options(path, headers=_preflight(ORIGIN))
            assert resp.status_code == 204, (path, resp.text)
            assert resp.headers["access-control-allow-origin"] == ORIGIN
            assert set(resp.headers["access-control-allow-methods"].split(", ")) >= {"POST"}
            assert "authorization" in resp.headers["access-control-allow-headers"]
            assert resp.headers["access-control-max-age"] == "123"
            assert "access-control-allow-credentials" not in resp.headers
            assert resp.headers["x-request-id"]
        ok = await tw.client.post("/tokenize", json={"prompt": "x"}, headers=_keyed(Origin=ORIGIN))
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == ORIGIN
        assert "x-request-id" in ok.headers["access-control-expose-headers"]
        assert ok.headers["vary"] == "Origin"
        refused = await tw.client.get("/v1/models", headers={"Origin": ORIGIN})
        assert refused.status_code == 401  # CORS headers on errors too: the page can read them
        assert refused.headers["access-control-allow-origin"] == ORIGIN
        # not an API route: no CORS
        resp = await tw.client.get("/metrics", headers={"Origin": ORIGIN})
        assert "access-control-allow-origin" not in resp.headers

    keyed.run(check)


def test_cors_other_origins_get_no_cors_headers(keyed: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.options("/v1/chat/completions", headers=_preflight("https://evil"))
        _error(resp, 403, "cors_forbidden")
        assert not [h for h in resp.headers if h.startswith("access-control-")]
        resp = await tw.client.post(
            "/tokenize", json={"prompt": "x"}, headers=_keyed(Origin="https://evil")
        )
        assert resp.status_code == 200
        assert not [h for h in resp.headers if h.startswith("access-control-")]

    keyed.run(check)


def test_cors_on_the_served_front_door_covers_the_hot_path(
    keyed: AppThread, upstream: Recorder
) -> None:
    """`tunewatch serve` runs `serving_app`: the forwarded routes bypass FastAPI there."""

    async def check(tw: InProcess) -> None:
        door = serving_app(tw.app)
        assert isinstance(door, Cors)
        transport = httpx.ASGITransport(app=door)
        async with httpx.AsyncClient(transport=transport, base_url="http://tw.test") as client:
            resp = await client.options("/v1/chat/completions", headers=_preflight(ORIGIN))
            assert resp.status_code == 204
            assert resp.headers["access-control-allow-origin"] == ORIGIN
            body = {"model": "solo", "messages": [{"role": "user", "content": "hi"}]}
            resp = await client.post(
                "/v1/chat/completions", json=body, headers=_keyed(Origin=ORIGIN)
            )
            assert resp.status_code == 200, resp.text
            assert resp.headers["access-control-allow-origin"] == ORIGIN
            assert resp.headers.get_list("access-control-allow-origin") == [ORIGIN]  # once
            assert upstream.last()["path"] == "/v1/chat/completions"

    keyed.run(check)


def test_cors_off_installs_nothing_and_answers_no_preflight(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        assert not [m for m in tw.app.user_middleware if m.cls is Cors]
        door = serving_app(tw.app)
        assert type(door) is FastPaths  # the hot path is exactly what it was
        for path in ("/v1/chat/completions", "/tokenize", "/v1/models"):
            resp = await tw.client.options(path, headers=_preflight(ORIGIN))
            _error(resp, 405, "method_not_allowed")
            assert not [h for h in resp.headers if h.startswith("access-control-")]
        resp = await tw.client.post(
            "/tokenize", json={"model": "assistant"}, headers={"Origin": ORIGIN}
        )
        assert resp.status_code == 200
        assert not [h for h in resp.headers if h.startswith("access-control-")]

    proxy.run(check)


async def _plain(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_cors_any_origin_never_allows_credentials() -> None:
    async def calls() -> tuple[httpx.Response, httpx.Response]:
        cors = Cors(_plain, CorsConfig(origins=["*"]), ())
        transport = httpx.ASGITransport(app=cors)
        async with httpx.AsyncClient(transport=transport, base_url="http://tw.test") as client:
            pre = await client.options("/v1/embeddings", headers=_preflight("https://any.where"))
            plain = await client.post("/v1/embeddings", headers={"Origin": "https://any.where"})
        return pre, plain

    pre, plain = asyncio.run(calls())
    for resp in (pre, plain):
        assert resp.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in resp.headers
        assert "vary" not in resp.headers
    assert pre.status_code == 204


# --- API docs ----------------------------------------------------------------------------------


def test_api_docs_need_the_admin_token(keyed: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        for path in ("/openapi.json", "/docs"):
            for headers in ({}, {"Authorization": "Bearer wrong"}, _keyed()):
                resp = await tw.client.get(path, headers=headers)
                _error(resp, 401, "invalid_admin_token")
                assert "/tokenize" not in resp.text
        admin = {"Authorization": f"Bearer {ADMIN}"}
        resp = await tw.client.get("/openapi.json", headers=admin)
        assert resp.status_code == 200
        paths = resp.json()["paths"]
        assert {"/v1/chat/completions", "/tokenize", "/v1/audio/transcriptions",
                "/v1/models/{model_id}", "/admin/drift/reset"} <= set(paths)  # fmt: skip
        assert "/openapi.json" not in paths and "/docs" not in paths
        resp = await tw.client.get("/docs", headers=admin)
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/html")
        assert "SwaggerUIBundle" in resp.text and "/v1/chat/completions" in resp.text

    keyed.run(check)


def test_api_docs_without_an_admin_token_are_refused(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        for path in ("/openapi.json", "/docs", "/redoc"):
            resp = await tw.client.get(path, headers={"Authorization": "Bearer anything"})
            status = 404 if path == "/redoc" else 403
            _error(resp, status)

    proxy.run(check)


def test_api_docs_off_is_404(tmp_path: Path) -> None:
    config = build_config(
        {
            "models": [{"name": "m", "upstream": "http://127.0.0.1:9/v1"}],
            "auth": {"allow_anonymous": True, "admin_token_env": "TW_PASS_ADMIN_OFF"},
            "server": {"api_docs": "off"},
            "probes": {"enabled": False},
            "store": {"url": f"sqlite:///{tmp_path / 'tw.db'}"},
        }
    )
    app = create_app(config)  # routing only: no lifespan needed

    async def check() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tw.test") as client:
            for path in ("/openapi.json", "/docs"):
                resp = await client.get(path, headers={"Authorization": "Bearer x"})
                _error(resp, 404, "not_found")

    asyncio.run(check())


# --- real vLLM ---------------------------------------------------------------------------------

PUBLIC = "assistant"


@pytest.fixture(scope="module")
def vllm_proxy(
    vllm_server: VllmServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    adapter = next(iter(vllm_server.adapters.values()))
    config = {
        "models": [
            {"name": PUBLIC, "upstream": vllm_server.url, "upstream_model": adapter},
            {"name": "base-direct", "upstream": vllm_server.url,
             "upstream_model": vllm_server.base_model},
        ],
        "auth": {"allow_anonymous": True},
        "probes": {"enabled": False},
    }  # fmt: skip
    proc = start_proxy(config, tmp_path_factory.mktemp("pass-vllm"))
    yield proc
    proc.stop()


@pytest.mark.vllm
def test_vllm_tokenize_detokenize_round_trip(vllm_proxy: Process, vllm_server: VllmServer) -> None:
    adapter = next(iter(vllm_server.adapters.values()))
    prompt = "How long should I knead bread dough?"
    with httpx.Client(timeout=60) as http:
        via = http.post(vllm_proxy.root + "/tokenize", json={"model": PUBLIC, "prompt": prompt})
        direct = http.post(
            vllm_server.root + "/tokenize", json={"model": adapter, "prompt": prompt}
        )
        assert via.status_code == direct.status_code == 200, via.text
        assert via.json() == direct.json()
        assert via.headers["x-request-id"]
        tokens = via.json()["tokens"]
        assert tokens and via.json()["count"] == len(tokens)
        back = http.post(vllm_proxy.root + "/detokenize", json={"model": PUBLIC, "tokens": tokens})
        assert back.status_code == 200, back.text
        assert prompt in back.json()["prompt"]
        chat = http.post(
            vllm_proxy.root + "/tokenize",
            json={"model": "base-direct", "messages": [{"role": "user", "content": prompt}]},
        )
        assert chat.status_code == 200, chat.text
        assert chat.json()["count"] > len(tokens)  # the chat template's tokens too


@pytest.mark.vllm
def test_vllm_model_entry_through_the_sdk(vllm_proxy: Process) -> None:
    client = openai.OpenAI(base_url=vllm_proxy.url, api_key="unused", max_retries=0)
    assert client.models.retrieve(PUBLIC).id == PUBLIC
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("not-configured")


@pytest.mark.vllm
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/score", {"text_1": "a cat", "text_2": "a dog"}),
        ("/score", {"text_1": "a cat", "text_2": "a dog"}),
        ("/rerank", {"query": "cats", "documents": ["a cat", "a car"]}),
        ("/v1/rerank", {"query": "cats", "documents": ["a cat", "a car"]}),
        ("/v2/rerank", {"query": "cats", "documents": ["a cat", "a car"]}),
        ("/pooling", {"input": "a cat"}),
        ("/classify", {"input": "a cat"}),
    ],
)
def test_vllm_pooling_routes_answer_as_vllm_does(
    vllm_proxy: Process, vllm_server: VllmServer, path: str, body: dict[str, Any]
) -> None:
    """The demo model is a chat model: vLLM serves no pooling routes for it. Whatever vLLM
    answers, the client gets the same status and body through the proxy."""
    adapter = next(iter(vllm_server.adapters.values()))
    with httpx.Client(timeout=60) as http:
        via = http.post(vllm_proxy.root + path, json={"model": PUBLIC, **body})
        direct = http.post(vllm_server.root + path, json={"model": adapter, **body})
    assert via.status_code == direct.status_code, (via.text, direct.text)
    assert via.content == direct.content
    assert via.headers["x-request-id"]


@pytest.mark.vllm
def test_vllm_audio_routes_answer_as_vllm_does(
    vllm_proxy: Process, vllm_server: VllmServer
) -> None:
    adapter = next(iter(vllm_server.adapters.values()))
    files = {"file": ("clip.wav", AUDIO, "audio/wav")}
    with httpx.Client(timeout=60) as http:
        via = http.post(
            vllm_proxy.url + "/audio/transcriptions", data={"model": PUBLIC}, files=files
        )
        direct = http.post(
            vllm_server.url + "/audio/transcriptions", data={"model": adapter}, files=files
        )
    assert via.status_code == direct.status_code, (via.text, direct.text)
    assert via.content == direct.content
