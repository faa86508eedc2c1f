"""The composition root: builds the ASGI app from a config and the objects it needs."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from tunewatch import __version__
from tunewatch.monitoring.drift import DriftEngine
from tunewatch.monitoring.metrics import Metrics
from tunewatch.monitoring.store import Store
from tunewatch.probes.registry import PackRegistry
from tunewatch.probes.runner import ProbeResult, Target
from tunewatch.probes.scheduler import ModelPair, Scheduler, ScheduleSettings
from tunewatch.proxy import http1
from tunewatch.proxy.admin import admin_router
from tunewatch.proxy.auth import bearer_matches
from tunewatch.proxy.config import Config, categories, drift_settings, secret
from tunewatch.proxy.errors import error_body
from tunewatch.proxy.forward import Endpoint, Forwarder
from tunewatch.proxy.upstreams import ModelRoute, build_routes, served_entry, upstream_headers
from tunewatch.proxy.watch.monitor import CATEGORY_HEADER, MIRROR_HEADER, Monitor

log = logging.getLogger("tunewatch")


class _AsgiEndpoint:
    """Starlette mounts a callable object as a raw ASGI app (a plain function would be wrapped)."""

    def __init__(self, forwarder: Forwarder, kind: Endpoint) -> None:
        self.forwarder = forwarder
        self.kind = kind

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.forwarder.handle(self.kind, scope, receive, send)


@dataclass
class Runtime:
    """What the app holds while it runs; handed to routes and the CLI instead of globals."""

    config: Config
    metrics: Metrics
    routes: dict[str, ModelRoute]
    forwarder: Forwarder
    monitor: Monitor
    engine: DriftEngine
    store: Store
    admin_token: bytes | None
    scheduler: Scheduler | None = None
    session: aiohttp.ClientSession | None = None  # model listings and probes; created at start-up


def new_session(config: Config) -> aiohttp.ClientSession:
    # Keep-alive shorter than uvicorn's 5 s default (vLLM's server) so we never reuse a socket
    # the upstream is about to close.
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=4.0, ttl_dns_cache=300)
    return aiohttp.ClientSession(connector=connector, auto_decompress=False, trust_env=False)


def create_app(config: Config, metrics: Metrics | None = None) -> FastAPI:
    metrics = metrics or Metrics(__version__)
    routes = build_routes(config)
    keys_env = config.auth.api_keys_env
    api_keys = [k.strip().encode() for k in (secret(keys_env) or "").split(",") if k.strip()]
    if keys_env and not api_keys:
        log.warning(
            "auth.api_keys_env=%s is set but empty: client API keys are not enforced", keys_env
        )
    engine = DriftEngine(drift_settings(config))
    store = Store(config.store.path, retention_seconds=config.store.retention)
    monitor = Monitor(
        config,
        routes,
        metrics,
        engine,
        store,
        known_categories=[c.name for c in categories(config)],
        rules=[(r.category, r.pattern) for r in config.categories.rules],
    )
    client = http1.Client()
    forwarder = Forwarder(
        routes,
        client=client,
        metrics=metrics,
        max_body_bytes=config.server.max_body_bytes,
        api_keys=api_keys,
        watch=monitor,
        observed_headers=(MIRROR_HEADER.encode(), CATEGORY_HEADER.encode()),
    )
    admin_secret = secret(config.auth.admin_token_env)
    admin_token = admin_secret.encode() if admin_secret else None
    runtime = Runtime(config, metrics, routes, forwarder, monitor, engine, store, admin_token)
    runtime.scheduler = build_scheduler(config, routes, metrics, monitor)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        restored = await asyncio.to_thread(store.rebuild, engine)
        runtime.session = session = new_session(config)
        await monitor.start(session, client)
        probing: asyncio.Task[None] | None = None
        if runtime.scheduler is not None:
            probing = asyncio.create_task(runtime.scheduler.run(session))
        # What start-up built (FastAPI, pydantic, numpy, the restored drift state) lives as
        # long as the process: freeze it out of the collector, whose full passes otherwise
        # rescan all of it, about 50 ms each under load, stalling every request in flight.
        gc.collect()
        gc.freeze()
        log.info("serving", extra={"models": sorted(routes), "restored_observations": restored,
                                   "probes": runtime.scheduler is not None})  # fmt: skip
        try:
            yield
        finally:
            if probing is not None:
                probing.cancel()
                await asyncio.gather(probing, return_exceptions=True)
            await monitor.stop()
            await session.close()
            client.close()

    app = FastAPI(title="tunewatch", version=__version__, lifespan=lifespan, docs_url=None)
    app.state.runtime = runtime
    app.include_router(admin_router(runtime))
    for path, kind in (
        ("/v1/chat/completions", "chat"),
        ("/v1/completions", "completions"),
        ("/v1/embeddings", "embeddings"),
    ):
        app.router.routes.append(Route(path, _AsgiEndpoint(forwarder, kind)))  # type: ignore[arg-type]

    models_body = orjson.dumps(
        {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "created": int(time.time()),
                    "owned_by": "tunewatch",
                }
                for name in routes
            ],
        }
    )

    @app.get("/v1/models")
    async def list_models(request: Request) -> Response:
        # OpenAI requires a key here too: configured keys guard every /v1 route alike.
        auth = request.headers.get("authorization", "").encode("latin-1")
        if api_keys and not bearer_matches(auth, api_keys):
            return Response(
                error_body(401, "Invalid or missing API key.", "invalid_api_key"),
                status_code=401,
                media_type="application/json",
            )
        return Response(models_body, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        assert runtime.session is not None  # set at start-up, before any request
        checks = await check_upstreams(runtime.session, routes)
        ready = all(c["ok"] for c in checks if c["role"] == "tuned")
        return JSONResponse(
            {"ready": ready, "upstreams": checks}, status_code=200 if ready else 503
        )

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's default is a 422 `{"detail": [...]}` that OpenAI SDKs do not expect.
        first: dict[str, Any] = next(iter(exc.errors()), {})
        where = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        param = ".".join(where) or None
        message = f"{param or 'request'}: {first.get('msg', 'invalid request')}"
        return Response(
            error_body(400, message, "invalid_request", param),
            status_code=400,
            media_type="application/json",
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = "not_found" if exc.status_code == 404 else None
        return Response(
            error_body(exc.status_code, str(exc.detail), code),
            status_code=exc.status_code,
            media_type="application/json",
        )

    return app


def build_scheduler(
    config: Config, routes: dict[str, ModelRoute], metrics: Metrics, monitor: Monitor
) -> Scheduler | None:
    """The probe scheduler, when enabled and some model has a base to compare with."""
    pairs = [
        ModelPair(
            route.name,
            Target(route.upstream, route.target_model, _auth_only(route.headers)),
            Target(base.upstream, base.model, _auth_only(upstream_headers(base.api_key_env))),
        )
        for route in routes.values()
        if (base := route.config.base) is not None
    ]
    if not config.probes.enabled or not config.probes.paths or not pairs:
        return None
    settings = ScheduleSettings(
        interval=config.probes.interval,
        samples=config.probes.samples,
        concurrency=config.probes.concurrency,
        jitter=config.probes.jitter,
        keep_text=config.store.keep_text != "none",
    )

    def record(model: str, result: ProbeResult) -> None:
        monitor.record_pair(
            model, "probe", result.probe.category, result.tuned, result.base,
            pack=result.pack, probe=result.probe.id, expect=result.probe.expect,
        )  # fmt: skip

    registry = PackRegistry(config.probes.paths)
    return Scheduler(registry, pairs, settings, metrics, monitor.analyse, record)


def _auth_only(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() == "authorization"}


async def check_upstreams(
    session: aiohttp.ClientSession, routes: dict[str, ModelRoute]
) -> list[dict[str, Any]]:
    """Ask every upstream's `/models` whether it serves the model we route to it."""

    async def probe(
        model: str, role: str, url: str, served: str, headers: dict[str, str]
    ) -> dict[str, Any]:
        result: dict[str, Any] = {
            "model": model,
            "role": role,
            "upstream": url,
            "served_model": served,
        }
        try:
            status, entry = await served_entry(session, url, served, headers, timeout=3.0)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return {**result, "ok": False, "error": type(exc).__name__}
        if status != 200:
            return {**result, "ok": False, "error": f"HTTP {status}"}
        if entry is None:
            return {**result, "ok": False, "error": "model not served"}
        return {**result, "ok": True}

    targets = [(route.name, *t) for route in routes.values() for t in route.targets()]
    return list(await asyncio.gather(*(probe(*t) for t in targets)))
