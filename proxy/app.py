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

from tunewatch import __version__
from tunewatch.monitoring.metrics import Metrics
from tunewatch.proxy.admin import admin_router
from tunewatch.proxy.config import Config
from tunewatch.proxy.errors import error_response
from tunewatch.proxy.forward import Endpoint, Forwarder
from tunewatch.proxy.review import review_router
from tunewatch.proxy.runtime import build_runtime, running
from tunewatch.proxy.status import status_router

__all__ = ["create_app"]

FORWARDED: tuple[tuple[str, Endpoint], ...] = (
    ("/v1/chat/completions", "chat"),
    ("/v1/completions", "completions"),
    ("/v1/embeddings", "embeddings"),
)


def create_app(config: Config, metrics: Metrics | None = None) -> FastAPI:
    runtime = build_runtime(config, metrics or Metrics(__version__))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(runtime):
            yield

    app = FastAPI(title="tunewatch", version=__version__, lifespan=lifespan, docs_url=None)
    app.state.runtime = runtime
    for path, kind in FORWARDED:
        app.router.routes.append(Route(path, _AsgiEndpoint(runtime.forwarder, kind)))
    app.include_router(status_router(runtime))
    app.include_router(admin_router(runtime))
    app.include_router(review_router(runtime))
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    return app


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
    code = "not_found" if exc.status_code == 404 else None
    return error_response(exc.status_code, str(exc.detail), code)
