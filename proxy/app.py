"""The composition root: the ASGI app is the runtime's parts mounted on FastAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp

from tunewatch import __version__
from tunewatch.monitoring.metrics import Metrics
from tunewatch.proxy.admin import admin_router
from tunewatch.proxy.api_docs import api_docs_router
from tunewatch.proxy.config import Config
from tunewatch.proxy.cors import Cors
from tunewatch.proxy.errors import error_response
from tunewatch.proxy.forward import Endpoint, FastPaths, Forwarder
from tunewatch.proxy.passthrough import (
    MODEL_ENTRY_PATH,
    PASSED,
    STORED_RESPONSE_PATHS,
    Passthrough,
)
from tunewatch.proxy.request_ids import RequestIds
from tunewatch.proxy.review import review_router
from tunewatch.proxy.runtime import build_runtime, running
from tunewatch.proxy.status import status_router

__all__ = ["create_app", "serving_app"]

FORWARDED: tuple[tuple[str, Endpoint], ...] = (
    ("/v1/chat/completions", "chat"),
    ("/v1/completions", "completions"),
    ("/v1/embeddings", "embeddings"),
    ("/v1/responses", "responses"),
)


def create_app(config: Config, metrics: Metrics | None = None) -> FastAPI:
    runtime = build_runtime(config, metrics or Metrics(__version__))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(runtime):
            yield

    # FastAPI's own /openapi.json and /docs would be public: api_docs_router serves them.
    app = FastAPI(
        title="tunewatch", version=__version__, lifespan=lifespan,
        docs_url=None, redoc_url=None, openapi_url=None,
    )  # fmt: skip
    app.state.runtime = runtime
    for path, kind in FORWARDED:
        app.router.routes.append(Route(path, _AsgiEndpoint(runtime.forwarder, kind)))
    passthrough = Passthrough(runtime)
    for spec in PASSED:
        app.router.routes.append(Route(spec.path, passthrough.endpoint(spec)))
    app.router.routes.append(Route(MODEL_ENTRY_PATH, passthrough.model_entry()))
    for path in STORED_RESPONSE_PATHS:
        app.router.routes.append(Route(path, passthrough.stored_response()))
    if config.server.api_docs == "admin":
        documented = {path: f"{kind}: forwarded, monitored" for path, kind in FORWARDED}
        documented |= {p.path: f"{p.endpoint}: passed through to vLLM" for p in PASSED}
        documented[MODEL_ENTRY_PATH.replace(":path", "")] = "a configured model's entry"
        app.include_router(api_docs_router(app, runtime, documented))
    app.include_router(status_router(runtime))
    app.include_router(admin_router(runtime))
    app.include_router(review_router(runtime))
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_middleware(RequestIds)  # not on the served hot path: FastPaths goes around it
    if config.cors.origins:  # else no wrapper at all: nothing to pay for
        app.add_middleware(Cors, config=config.cors, paths=_CORS_PATHS)
    return app


_CORS_PATHS = tuple(p.path for p in PASSED)  # the API routes outside /v1/


def serving_app(app: FastAPI) -> ASGIApp:
    """What `tunewatch serve` runs: the forwarded routes straight to the forwarder, around
    FastAPI's middleware (FastPaths); CORS around both when `cors.origins` is set."""
    runtime = app.state.runtime
    door: ASGIApp = FastPaths(runtime.forwarder, app)
    if runtime.config.cors.origins:
        door = Cors(door, runtime.config.cors, _CORS_PATHS)
    return door


class _AsgiEndpoint:
    """Starlette mounts a callable object as a raw ASGI app (a plain function would be wrapped)."""

    def __init__(self, forwarder: Forwarder, kind: Endpoint) -> None:
        self.forwarder = forwarder
        self.kind = kind

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.forwarder.handle(self.kind, scope, receive, send)


async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
    # FastAPI's default is a 422 `{"detail": [...]}` that OpenAI SDKs do not expect.
    first: dict[str, Any] = next(iter(exc.errors()), {})
    where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
    param = ".".join(where) or None
    message = f"{param or 'request'}: {first.get('msg', 'invalid request')}"
    return error_response(400, message, "invalid_request", param)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    # Routing's 404 and 405 (their x-request-id comes from RequestIds), in OpenAI's shape.
    message, code = str(exc.detail), None
    where = f"{request.method} {request.url.path[:200]}"
    if exc.status_code == 404:
        code = "not_found"
        if message == "Not Found":
            message = f"Invalid URL ({where})."
    elif exc.status_code == 405:
        code = "method_not_allowed"
        if message == "Method Not Allowed":
            message = f"Method not allowed ({where})."
    response = error_response(exc.status_code, message, code)
    response.headers.update(exc.headers or {})
    return response
