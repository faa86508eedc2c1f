"""The routes an operator and an SDK read besides the forwarded ones: the model list, health,
readiness (every tuned upstream serves its model; the probe scheduler runs, where configured)
and the Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tunewatch.proxy.auth import bearer_matches
from tunewatch.proxy.errors import error_response
from tunewatch.proxy.runtime import Runtime
from tunewatch.proxy.upstreams import ModelRoute, served_entry


def status_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()
    models_body = orjson.dumps(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": int(time.time()),
                 "owned_by": "tunewatch"}
                for name in runtime.routes
            ],
        }
    )  # fmt: skip

    @router.get("/v1/models")
    async def list_models(request: Request) -> Response:
        # OpenAI requires a key here too: configured keys guard every /v1 route alike.
        auth = request.headers.get("authorization", "").encode("latin-1")
        if runtime.api_keys and not bearer_matches(auth, runtime.api_keys):
            return error_response(401, "Invalid or missing API key.", "invalid_api_key")
        return Response(models_body, media_type="application/json")

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        assert runtime.upstreams is not None  # opened at start-up, before any request
        checks = await check_upstreams(runtime.upstreams, runtime.routes)
        # ready when every model's tuned side has an upstream that serves it (of its list)
        ready = all(
            any(c["ok"] for c in checks if c["model"] == name and c["role"] == "tuned")
            for name in runtime.routes
        )
        body: dict[str, Any] = {"ready": ready, "upstreams": checks}
        if runtime.scheduler is not None:
            # Configured probes that do not run leave the canaries blind: not ready either.
            body["probes"] = "running" if runtime.probes_running else "not running"
            body["probe_packs"] = len(runtime.scheduler.registry.packs)
            body["ready"] = ready = ready and runtime.probes_running
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics")
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


async def check_upstreams(
    client: httpx.AsyncClient, routes: dict[str, ModelRoute]
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
            status, entry = await served_entry(client, url, served, headers, timeout=3.0)
        except (httpx.HTTPError, TimeoutError, ValueError) as exc:
            return {**result, "ok": False, "error": type(exc).__name__}
        if status != 200:
            return {**result, "ok": False, "error": f"HTTP {status}"}
        if entry is None:
            return {**result, "ok": False, "error": "model not served"}
        return {**result, "ok": True}

    targets = [(route.name, *t) for route in routes.values() for t in route.targets()]
    return list(await asyncio.gather(*(probe(*t) for t in targets)))
