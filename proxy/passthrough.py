"""The rest of vLLM's API passed through, beside the monitored hot path, and one model's entry.

None of this is a generation, so none of it is monitored; every call is counted in
`tunewatch_requests_total{model, endpoint, code}` under a fixed endpoint name per route. The
calls go through httpx (the runtime's off-hot-path client) and are buffered both ways: the
request is bounded by `server.max_body_bytes`, and these answers (token lists, scores,
transcripts) are small.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from tunewatch.monitoring.metrics import Children
from tunewatch.proxy.auth import bearer_matches
from tunewatch.proxy.errors import ApiError
from tunewatch.proxy.forward import (
    TRACE_HEADERS,
    UPSTREAM_FAILURES,
    Disconnected,
    json_object,
    read_body,
    too_large,
)
from tunewatch.proxy.multipart import Form, boundary
from tunewatch.proxy.request_ids import REQUEST_ID, request_id
from tunewatch.proxy.upstreams import ModelRoute

if TYPE_CHECKING:
    from tunewatch.proxy.runtime import Runtime

__all__ = [
    "MODEL_ENTRY_PATH",
    "PASSED",
    "STORED_RESPONSE_PATHS",
    "PassRoute",
    "Passthrough",
    "server_root",
]


@dataclass(frozen=True, slots=True)
class PassRoute:
    """A vLLM route passed through: the client's path is the upstream's, under its server root."""

    path: str
    endpoint: str  # the `endpoint` label: fixed per route, never the raw path
    form: bool = False  # a multipart/form-data body (audio), else JSON


# What vLLM 0.32 serves besides chat, completions, embeddings and responses (its pooling and
# audio routes only when the served model supports them; vLLM answers 404 otherwise).
PASSED: tuple[PassRoute, ...] = (
    PassRoute("/tokenize", "tokenize"),
    PassRoute("/detokenize", "detokenize"),
    PassRoute("/score", "score"),
    PassRoute("/v1/score", "score"),
    PassRoute("/rerank", "rerank"),
    PassRoute("/v1/rerank", "rerank"),
    PassRoute("/v2/rerank", "rerank"),
    PassRoute("/pooling", "pooling"),
    PassRoute("/classify", "classify"),
    PassRoute("/v1/audio/transcriptions", "audio_transcriptions", form=True),
    PassRoute("/v1/audio/translations", "audio_translations", form=True),
)
MODEL_ENTRY_PATH = "/v1/models/{model_id:path}"
# A stored Responses API answer, fetched or cancelled by id (vLLM keeps it where it was made).
STORED_RESPONSE_PATHS = ("/v1/responses/{response_id}", "/v1/responses/{response_id}/cancel")


def server_root(upstream: str) -> str:
    """vLLM's server root from a model's OpenAI base URL: `http://h:8000/v1` -> `http://h:8000`.

    vLLM serves /tokenize, /score, /pooling... at the root, not under /v1."""
    return upstream.removesuffix("/v1")


class Passthrough:
    """Raw ASGI handlers for the passed-through routes and for `GET /v1/models/{id}`."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.routes = runtime.routes
        self.max_body_bytes = runtime.config.server.max_body_bytes
        # With one model, a request that names none goes to it (vLLM would pick its own
        # default, which may be the base rather than the tuned adapter).
        self.only = next(iter(self.routes.values())) if len(self.routes) == 1 else None
        self.forwarded = frozenset(
            (*TRACE_HEADERS, *(h.encode("latin-1") for h in runtime.config.server.forward_headers))
        )
        self._outcomes = Children(runtime.metrics.requests)
        self._durations = Children(runtime.metrics.request_duration)
        created = int(time.time())
        self.entries = {
            name: orjson.dumps(
                {"id": name, "object": "model", "created": created, "owned_by": "tunewatch"}
            )
            for name in self.routes
        }

    def authorize(self, authorization: bytes) -> None:
        """The client check of every /v1 route: a configured API key, else 401."""
        keys = self.runtime.api_keys
        if keys and not bearer_matches(authorization, keys):
            raise ApiError(401, "Invalid or missing API key.", "invalid_api_key")

    def endpoint(self, spec: PassRoute) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self.forward(spec, scope, receive, send)

        return _Asgi(app)

    def model_entry(self) -> ASGIApp:
        return _Asgi(self.describe)

    def stored_response(self) -> ASGIApp:
        return _Asgi(self.fetch_stored)

    async def fetch_stored(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`GET /v1/responses/{id}` and `POST /v1/responses/{id}/cancel`: the id names no
        model, so each distinct tuned upstream is asked in turn until one knows it (not 404)."""
        rid = scope.get(REQUEST_ID) or request_id(scope["headers"])
        cancel = scope["path"].endswith("/cancel")
        method = "POST" if cancel else "GET"
        endpoint = "responses_cancel" if cancel else "responses_get"
        status, model = 500, "unknown"
        try:
            if scope["method"] != method:
                raise ApiError(405, f"Use {method} for this endpoint.", "method_not_allowed")
            self.authorize(dict(scope["headers"]).get(b"authorization", b""))
            path = scope["path"] + (
                f"?{scope['query_string'].decode()}" if scope["query_string"] else ""
            )
            answer_type, answer = "application/json", b""
            for route in {server_root(r.upstream): r for r in self.routes.values()}.values():
                status, answer_type, answer = await self._call(route, path, b"", {}, rid, method)
                if status != 404:
                    model = route.name
                    answer = _renamed(route, status, answer_type, answer)
                    break
            await _send(send, status, answer, rid, answer_type)
        except ApiError as err:
            status = err.status
            await _send(
                send, status, err.body(), rid, allow=method.encode() if status == 405 else None
            )
        finally:
            self._outcomes(model, endpoint, str(status)).inc()

    async def forward(self, spec: PassRoute, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        rid = scope.get(REQUEST_ID) or request_id(scope["headers"])
        auth = b""
        content_length = -1
        content_type = b""
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"content-length":
                content_length = int(value) if value.isdigit() else -1
            elif name == b"content-type":
                content_type = value
            elif name in self.forwarded:
                headers[name.decode("latin-1")] = value.decode("latin-1")
        route: ModelRoute | None = None
        status = 500
        try:
            if scope["method"] != "POST":
                raise ApiError(405, "Use POST for this endpoint.", "method_not_allowed")
            self.authorize(auth)
            if content_length > self.max_body_bytes:
                raise too_large(self.max_body_bytes)
            body = await read_body(receive, self.max_body_bytes)
            if spec.form:
                route, body = self._route_form(body, content_type)
                headers["Content-Type"] = content_type.decode("latin-1")
            else:
                route, body = self._route_json(body)
            status, answer_type, answer = await self._call(route, spec.path, body, headers, rid)
            answer = _renamed(route, status, answer_type, answer)
            await _send(send, status, answer, rid, answer_type)
        except ApiError as err:
            status = err.status
            await _send(send, status, err.body(), rid, allow=b"POST" if status == 405 else None)
        except Disconnected:
            status = 499
        finally:
            model = route.name if route is not None else "unknown"
            self._outcomes(model, spec.endpoint, str(status)).inc()
            if route is not None:
                self._durations(model, spec.endpoint).observe(time.perf_counter() - started)

    async def describe(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`GET /v1/models/{id}`: the configured public name's entry, as in `GET /v1/models`."""
        rid = scope.get(REQUEST_ID) or request_id(scope["headers"])
        model_id = str(scope.get("path_params", {}).get("model_id", ""))
        known = model_id in self.entries
        status = 500
        try:
            if scope["method"] != "GET":
                raise ApiError(405, "Use GET for this endpoint.", "method_not_allowed")
            self.authorize(dict(scope["headers"]).get(b"authorization", b""))
            if not known:
                raise ApiError(
                    404, f"The model `{model_id}` does not exist.", "model_not_found", "model"
                )
            status = 200
            await _send(send, 200, self.entries[model_id], rid)
        except ApiError as err:
            status = err.status
            await _send(send, status, err.body(), rid, allow=b"GET" if status == 405 else None)
        finally:
            label = model_id if known else "unknown"
            self._outcomes(label, "models", str(status)).inc()

    def _route(self, model: object) -> ModelRoute:
        if model is None:
            if self.only is None:
                raise ApiError(
                    400, "`model` is required: more than one model is served.",
                    "missing_required_parameter", "model",
                )  # fmt: skip
            return self.only
        if not isinstance(model, str) or not model:
            raise ApiError(400, "`model` must be a non-empty string.", "invalid_type", "model")
        route = self.routes.get(model)
        if route is None:
            raise ApiError(404, f"The model `{model}` does not exist.", "model_not_found", "model")
        return route

    def _route_json(self, body: bytes) -> tuple[ModelRoute, bytes]:
        payload = json_object(body)
        route = self._route(payload.get("model"))
        payload["model"] = route.target_model
        return route, orjson.dumps(payload)

    def _route_form(self, body: bytes, content_type: bytes) -> tuple[ModelRoute, bytes]:
        delimiter = boundary(content_type)
        if delimiter is None:
            raise ApiError(
                415, "This endpoint takes a multipart/form-data body.", "unsupported_media_type"
            )
        form = Form.parse(body, delimiter)
        route = self._route(form.model)
        return route, form.with_model(route.target_model)

    async def _call(
        self,
        route: ModelRoute,
        path: str,
        body: bytes,
        extra: dict[str, str],
        rid: str,
        method: str = "POST",
    ) -> tuple[int, str, bytes]:
        """(status, content type, body) of the tuned upstream's answer; failures as ApiError."""
        client = self.runtime.upstreams
        assert client is not None  # opened at start-up, before any request
        headers = {**route.headers, **extra, "X-Request-ID": rid}
        config = route.config
        timeout = httpx.Timeout(config.timeout, connect=config.connect_timeout)
        try:
            async with asyncio.timeout(config.timeout):  # the whole exchange; httpx's per phase
                resp = await client.request(
                    method, server_root(route.upstream) + path, content=body or None,
                    headers=headers, timeout=timeout,
                )  # fmt: skip
        except (httpx.HTTPError, TimeoutError) as exc:
            kind = _failure_kind(exc)
            self.runtime.metrics.upstream_errors.labels(route.name, "tuned", kind).inc()
            raise ApiError(*UPSTREAM_FAILURES[kind]) from None
        if resp.status_code >= 400:
            self.runtime.metrics.upstream_errors.labels(route.name, "tuned", "status").inc()
        answer_type = resp.headers.get("content-type") or "application/json"
        return resp.status_code, answer_type, resp.content


class _Asgi:
    """Starlette mounts a callable object as a raw ASGI app (a plain function would be wrapped)."""

    def __init__(self, handler: ASGIApp) -> None:
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handler(scope, receive, send)


def _failure_kind(exc: BaseException) -> str:
    """The `kind` of a failed httpx call, as http1.failure_kind names the hot path's."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "connect"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout"
    return "protocol"


def _renamed(route: ModelRoute, status: int, content_type: str, raw: bytes) -> bytes:
    """A successful answer with its `model` renamed to the public name; errors untouched."""
    if not 200 <= status < 300:
        return raw
    if content_type.startswith("application/json"):
        try:
            answer = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return raw
        if isinstance(answer, dict) and isinstance(answer.get("model"), str):
            answer["model"] = route.name
            return orjson.dumps(answer)
        return raw
    if content_type.startswith("text/event-stream"):  # audio with `stream=true`, buffered
        return route.rename_in_stream(raw)
    return raw


async def _send(
    send: Send,
    status: int,
    body: bytes,
    rid: str,
    content_type: str = "application/json",
    allow: bytes | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", rid.encode()),
    ]
    if allow is not None:
        headers.append((b"allow", allow))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})
