"""The client's request path: parse the two routing fields, rewrite the model, forward, stream back.

Everything here runs once per client request, so it stays small: raw ASGI (no framework
middleware), orjson for the body, pooled keep-alive connections upstream (proxy/http1.py), and
no monitoring work beyond handing a finished `Exchange` to an observer that must not block.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from tunewatch.monitoring.metrics import Children, Metrics
from tunewatch.proxy import http1
from tunewatch.proxy.auth import bearer_index
from tunewatch.proxy.errors import ApiError, stream_error_event
from tunewatch.proxy.upstreams import ModelRoute

Endpoint = Literal["chat", "completions", "embeddings", "responses"]

UPSTREAM_PATHS: dict[Endpoint, str] = {
    "chat": "/chat/completions",
    "completions": "/completions",
    "embeddings": "/embeddings",
    "responses": "/responses",
}
# Client headers always passed on to the tuned upstream: the W3C trace context, so a trace
# goes on through the proxy into vLLM.
TRACE_HEADERS = (b"traceparent", b"tracestate")
ANONYMOUS = "anonymous"  # the client name when no API keys are configured
log = logging.getLogger("tunewatch.forward")
_MAX_TEE_BYTES = 4 * 1024 * 1024  # a stream's captured copy for monitoring stops growing here
# Requests still in flight after this long get a task that watches for the client leaving (and
# then cancels the upstream call). Most answers from a fast upstream come sooner, and a timer
# costs a tenth of a task per request; a client leaving earlier is noticed at this mark.
_WATCH_AFTER = 0.05
_DONE_TAIL = b"data: [DONE]\n\n"
# The Responses API ends its stream with one of these events instead of `[DONE]`.
_RESPONSE_DONE = (b"event: response.completed\n", b"event: response.incomplete\n")
# Generated request ids: 16 random hex digits per process, then a counter. As unique as
# uuid4().hex across replicas for this use (vLLM request ids, mirror sampling) at a tenth of
# its cost; same length and alphabet.
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count()


@dataclass(slots=True)
class Exchange:
    """One finished client request, handed to monitoring off the request path."""

    route: ModelRoute
    endpoint: Endpoint
    request_id: str
    request: dict[str, Any]
    status: int
    started: float  # wall-clock seconds
    stream: bool
    response: dict[str, Any] | None = None  # the parsed body when not streamed
    chunks: list[bytes] = field(default_factory=list)  # the SSE bytes when streamed
    headers: dict[str, str] = field(default_factory=dict)  # the few client headers monitoring reads
    ticket: Any = None  # monitoring's handle on a mirrored copy
    complete: bool = False  # the client received the whole answer
    # Sizes on the wire, which bound what monitoring's queues hold (`monitor.queue_bytes`).
    request_bytes: int = 0
    answer_bytes: int = 0  # a stream's: what was teed
    client: str = ANONYMOUS  # the configured name of the client's key


class Watch(Protocol):
    """Monitoring's two hooks on the request path; both must return at once and never raise."""

    def started(self, exchange: Exchange) -> None: ...

    def finished(self, exchange: Exchange) -> None: ...


class _NoWatch:
    def started(self, exchange: Exchange) -> None:
        return None

    def finished(self, exchange: Exchange) -> None:
        return None


class Disconnected(Exception):
    """The client went away before its request was read."""


class Forwarder:
    """Forwards OpenAI API calls for configured public model names to their upstreams."""

    def __init__(
        self,
        routes: dict[str, ModelRoute],
        client: http1.Client,
        metrics: Metrics,
        *,
        max_body_bytes: int,
        api_keys: Sequence[bytes] = (),
        client_names: Sequence[str] = (),
        watch: Watch | None = None,
        observed_headers: Iterable[bytes] = (),
        forward_headers: Iterable[str] = (),
    ) -> None:
        self.routes = routes
        self.client = client  # a tenth of aiohttp's CPU per call, proxy/http1.py
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.api_keys = api_keys
        # a key's client name, by the key's index; keys without a name count as "unnamed"
        self.client_names = [*client_names, *["unnamed"] * (len(api_keys) - len(client_names))]
        self.watch: Watch = watch or _NoWatch()
        self.observed_headers = frozenset(h.lower() for h in observed_headers)
        self.forwarded_headers = frozenset(
            (*TRACE_HEADERS, *(h.lower().encode("latin-1") for h in forward_headers))
        )
        self._outcomes = Children(metrics.requests)
        self._by_client = Children(metrics.client_requests)
        self._tokens = Children(metrics.tokens)
        self._durations = Children(metrics.request_duration)

    def endpoint(self, kind: Endpoint) -> Callable[[Scope, Receive, Send], Any]:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await self.handle(kind, scope, receive, send)

        return app

    async def handle(self, kind: Endpoint, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        request_id = ""
        auth = b""
        content_length = -1
        kept: dict[str, str] = {}
        passed = b""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = valid_request_id(value)
            elif name == b"authorization":
                auth = value
            elif name == b"content-length":
                content_length = int(value) if value.isdigit() else -1
            elif name in self.forwarded_headers:
                passed += name + b": " + value + b"\r\n"
            if name in self.observed_headers:
                kept[name.decode("latin-1")] = value.decode("latin-1")
        if not request_id:
            request_id = new_request_id()
        id_header = (b"x-request-id", request_id.encode())
        route: ModelRoute | None = None
        exchange: Exchange | None = None
        client = ANONYMOUS
        state = _State()
        try:
            if scope["method"] != "POST":
                raise ApiError(405, "Use POST for this endpoint.", "method_not_allowed")
            if self.api_keys:
                index = bearer_index(auth, self.api_keys)
                if index < 0:
                    raise ApiError(401, "Invalid or missing API key.", "invalid_api_key")
                client = self.client_names[index]
            if content_length > self.max_body_bytes:
                raise too_large(self.max_body_bytes)
            body = await read_body(receive, self.max_body_bytes)
            payload, stream = _parse(body, kind)
            route = self.routes.get(payload["model"])
            if route is None:
                raise ApiError(
                    404,
                    f"The model `{payload['model']}` does not exist.",
                    "model_not_found",
                    "model",
                )
            payload["model"] = route.target_model
            state.timer = asyncio.get_running_loop().call_later(
                _WATCH_AFTER, _watch_disconnect, receive, asyncio.current_task(), state
            )
            exchange = Exchange(
                route, kind, request_id, payload, 0, time.time(), stream, headers=kept,
                request_bytes=len(body), client=client,
            )  # fmt: skip
            call = (
                UPSTREAM_PATHS[kind],
                orjson.dumps(payload),
                http1.with_request_id(route.header_lines + passed, request_id),
            )
            if stream:
                await self._stream(route, call, exchange, send, id_header, started, state)
            else:
                await self._unary(route, call, exchange, send, id_header, state)
        except ApiError as err:
            state.status = err.status
            await _send_bytes(send, err.status, err.body(), id_header, state)
        except Disconnected:
            state.status = 499
        except asyncio.CancelledError:
            if not state.disconnected:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            state.status = 499
        finally:
            if state.timer is not None:
                state.timer.cancel()
            if state.watcher is not None:
                state.watcher.cancel()
            if exchange is not None:
                try:
                    self.watch.finished(exchange)
                except Exception:
                    log.exception("monitoring hook failed")
            name = route.name if route is not None else "unknown"
            code = str(state.status)
            self._outcomes(name, kind, code).inc()
            self._by_client(name, client, code).inc()
            if route is not None:
                self._durations(name, kind).observe(time.perf_counter() - started)

    async def _unary(
        self,
        route: ModelRoute,
        call: tuple[str, bytes, bytes],
        exchange: Exchange,
        send: Send,
        id_header: tuple[bytes, bytes],
        state: _State,
    ) -> None:
        try:
            # the next healthy upstream; retried on another if it could not be reached
            resp = await route.tuned.post(self.client, *call, read_timeout=route.config.timeout)
        except Exception as exc:
            raise self._upstream_failure(route, exc) from None
        raw, status = resp.body, resp.status
        content_type = resp.content_type or "application/json"
        exchange.status = status
        if status != 200:
            self.metrics.upstream_errors.labels(route.name, "tuned", "status").inc()
            state.status = status
            await _send_bytes(send, status, raw, id_header, state, content_type)
            return
        try:
            answer = orjson.loads(raw)
            if not isinstance(answer, dict):
                raise ValueError("not an object")
        except ValueError:
            self.metrics.upstream_errors.labels(route.name, "tuned", "protocol").inc()
            raise ApiError(
                502,
                "The upstream model server returned an invalid response.",
                "bad_upstream_response",
            ) from None
        if "model" in answer:
            answer["model"] = route.name
        usage = answer.get("usage")
        if isinstance(usage, dict):
            self._count_tokens(route.name, exchange.client, usage)
        exchange.response = answer
        exchange.answer_bytes = len(raw)
        self._started(exchange)
        state.status = 200
        await _send_bytes(send, 200, orjson.dumps(answer), id_header, state)
        exchange.complete = True

    async def _stream(
        self,
        route: ModelRoute,
        call: tuple[str, bytes, bytes],
        exchange: Exchange,
        send: Send,
        id_header: tuple[bytes, bytes],
        started: float,
        state: _State,
    ) -> None:
        try:
            resp = await route.tuned.stream(self.client, *call, read_timeout=route.config.timeout)
        except Exception as exc:
            raise self._upstream_failure(route, exc) from None
        try:
            exchange.status = resp.status
            if resp.status != 200:
                self.metrics.upstream_errors.labels(route.name, "tuned", "status").inc()
                try:
                    raw = await resp.read()
                except Exception as exc:
                    raise self._upstream_failure(route, exc) from None
                state.status = resp.status
                content_type = resp.content_type or "application/json"
                await _send_bytes(send, resp.status, raw, id_header, state, content_type)
                return
            state.status = 200
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"text/event-stream; charset=utf-8"),
                        (b"cache-control", b"no-cache"),
                        (b"x-accel-buffering", b"no"),
                        id_header,
                    ],
                }
            )
            self._started(exchange)
            await self._pump(route, resp, exchange, send, started, state)
            state.finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            exchange.complete = exchange.status == 200
        finally:
            resp.close()
            if exchange.complete:
                self._stream_usage(route.name, exchange)

    def _count_tokens(self, model: str, client: str, usage: dict[str, Any]) -> None:
        """The upstream's own count: chat and completions name them prompt/completion_tokens,
        the Responses API input/output_tokens."""
        prompt = usage.get("prompt_tokens", usage.get("input_tokens"))
        completion = usage.get("completion_tokens", usage.get("output_tokens"))
        if isinstance(prompt, int) and prompt > 0:
            self._tokens(model, client, "prompt").inc(prompt)
        if isinstance(completion, int) and completion > 0:
            self._tokens(model, client, "completion").inc(completion)

    def _stream_usage(self, model: str, exchange: Exchange) -> None:
        """A stream's usage sits in its last event (a chat stream's only when the client asked
        for it): one small parse, after the client has its answer."""
        for chunk in reversed(exchange.chunks[-2:]):
            at = chunk.rfind(b'"usage":{')
            if at < 0:
                continue
            start = chunk.rfind(b"data:", 0, at)
            end = chunk.find(b"\n", at)
            try:
                event = orjson.loads(chunk[start + 5 : end if end >= 0 else len(chunk)])
            except orjson.JSONDecodeError:
                return
            usage = event.get("usage") or (event.get("response") or {}).get("usage")
            if isinstance(usage, dict):
                self._count_tokens(model, exchange.client, usage)
            return

    async def _pump(
        self,
        route: ModelRoute,
        resp: http1.Stream,
        exchange: Exchange,
        send: Send,
        started: float,
        state: _State,
    ) -> None:
        """Relay whole SSE lines as they arrive, renaming the model; tee a copy for monitoring.

        Once `[DONE]` is relayed the client has the whole answer: the OpenAI SDK closes the
        connection right then, without waiting for the stream's end, and that close must not
        count as an abort (499) nor cost the answer its classification.
        """
        pending = b""
        first = True
        rename = route.rename_in_stream
        responses = exchange.endpoint == "responses"
        try:
            async for chunk in resp.chunks():
                data = pending + chunk if pending else chunk
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    pending = data
                    continue
                out, pending = rename(data[:cut]), data[cut:]
                if exchange.answer_bytes < _MAX_TEE_BYTES:
                    exchange.chunks.append(out)
                    exchange.answer_bytes += len(out)
                await send({"type": "http.response.body", "body": out, "more_body": True})
                if out.endswith(_DONE_TAIL) or (responses and _response_done(out)):
                    state.finished = exchange.complete = True
                if first:
                    first = False
                    self.metrics.ttft.labels(route.name).observe(time.perf_counter() - started)
        except (http1.UpstreamError, TimeoutError) as exc:
            kind = "timeout" if isinstance(exc, TimeoutError) else "stream"
            self.metrics.upstream_errors.labels(route.name, "tuned", kind).inc()
            if exchange.complete:  # after `[DONE]`: the client's answer is whole as it is
                return
            exchange.status = 504 if kind == "timeout" else 502
            message = (
                "The upstream model server timed out mid-stream."
                if kind == "timeout"
                else "The upstream model server failed mid-stream."
            )
            await send(
                {
                    "type": "http.response.body",
                    "body": pending
                    + stream_error_event(exchange.status, message, f"upstream_{kind}"),
                    "more_body": True,
                }
            )
            return
        if pending:  # a last line without its newline is the answer's too
            out = rename(pending)
            if exchange.answer_bytes < _MAX_TEE_BYTES:
                exchange.chunks.append(out)
                exchange.answer_bytes += len(out)
            await send({"type": "http.response.body", "body": out, "more_body": True})

    def _started(self, exchange: Exchange) -> None:
        try:
            self.watch.started(exchange)
        except Exception:
            log.exception("monitoring hook failed")

    def _upstream_failure(self, route: ModelRoute, exc: BaseException) -> ApiError:
        kind = http1.failure_kind(exc)
        self.metrics.upstream_errors.labels(route.name, "tuned", kind).inc()
        return ApiError(*UPSTREAM_FAILURES[kind])


class FastPaths:
    """ASGI front door: the forwarded OpenAI routes go straight to the forwarder, the rest
    (admin, health, metrics, lifespan) to `app`.

    FastAPI wraps every request in about eight middleware layers (proxy headers, body limit,
    telemetry, error and exception handlers, exit stack, routing), each also wrapping `send`;
    the forwarded routes need none of them. Wrap the app with this where it is served.
    """

    PATHS: ClassVar[dict[str, Endpoint]] = {
        "/v1/chat/completions": "chat",
        "/v1/completions": "completions",
        "/v1/embeddings": "embeddings",
        "/v1/responses": "responses",
    }

    def __init__(self, forwarder: Forwarder, app: ASGIApp) -> None:
        self.forwarder = forwarder
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            kind = self.PATHS.get(scope["path"])
            if kind is not None:
                await self.forwarder.handle(kind, scope, receive, send)
                return
        await self.app(scope, receive, send)


@dataclass(slots=True)
class _State:
    status: int = 500
    disconnected: bool = False
    finished: bool = False
    timer: asyncio.TimerHandle | None = None
    watcher: asyncio.Task[None] | None = None


def _watch_disconnect(receive: Receive, task: asyncio.Task[Any] | None, state: _State) -> None:
    """Cancel the handler when the client goes away, so the upstream request is dropped too."""

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
        if not state.finished and task is not None:
            state.disconnected = True
            task.cancel()

    state.timer = None
    state.watcher = asyncio.get_running_loop().create_task(watch())


async def _send_bytes(
    send: Send,
    status: int,
    body: bytes,
    id_header: tuple[bytes, bytes],
    state: _State,
    content_type: str = "application/json",
) -> None:
    state.finished = True
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode()),
                id_header,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def json_object(body: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object, else the OpenAI-style 400."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ApiError(400, "The request body is not valid JSON.", "invalid_json") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "The request body must be a JSON object.", "invalid_request")
    return payload


def _parse(body: bytes, kind: Endpoint) -> tuple[dict[str, Any], bool]:
    """Only what routing needs: the model name and whether to stream."""
    payload = json_object(body)
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "`model` is required and must be a string.", "invalid_type", "model")
    stream = payload.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise ApiError(400, "`stream` must be a boolean.", "invalid_type", "stream")
    if stream and kind == "embeddings":
        raise ApiError(400, "Embeddings cannot be streamed.", "invalid_value", "stream")
    return payload, stream


# What a client is told for each kind of failed upstream call (http1.failure_kind).
UPSTREAM_FAILURES: dict[str, tuple[int, str, str]] = {
    "timeout": (504, "The upstream model server timed out.", "upstream_timeout"),
    "connect": (502, "The upstream model server is unreachable.", "upstream_unreachable"),
    "protocol": (502, "The upstream model server failed to answer.", "upstream_error"),
}


def _response_done(out: bytes) -> bool:
    return _RESPONSE_DONE[0] in out or _RESPONSE_DONE[1] in out


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request body, refused (413) as soon as it exceeds `limit` bytes."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        parts.append(chunk)
        if not message.get("more_body", False):
            return b"".join(parts)


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"The request body exceeds {limit} bytes.", "request_too_large")


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def valid_request_id(value: bytes) -> str:
    """A client's request id is echoed only when it is short, printable ASCII."""
    if 0 < len(value) <= 128 and value.isascii():
        text = value.decode("ascii")
        if text.isprintable():
            return text
    return ""
