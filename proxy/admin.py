"""Drift read-out and the admin API. Admin calls need the admin token, compared in constant
time; without a configured token the admin API is off."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Header
from fastapi.responses import Response

from proxy.errors import error_body

if TYPE_CHECKING:
    from proxy.app import Runtime


def _error(status: int, message: str, code: str) -> Response:
    return Response(error_body(status, message, code), status, media_type="application/json")


def check_admin(runtime: Runtime, authorization: str | None) -> Response | None:
    """None when the caller holds the admin token; else the error response to send."""
    if runtime.admin_token is None:
        return _error(403, "The admin API is disabled: set auth.admin_token_env.", "admin_disabled")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), runtime.admin_token.encode()
    ):
        return _error(401, "A valid admin token is required.", "invalid_admin_token")
    return None


def admin_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.get("/drift")
    async def drift() -> dict[str, Any]:
        engine = runtime.engine
        return {
            "alpha": engine.settings.alpha,
            "family_size": engine.settings.family_size,
            "threshold": engine.settings.threshold,
            "rho": engine.settings.rho,
            "resets": engine.resets,
            "series": engine.summaries(),
        }

    @router.post("/admin/drift/reset", response_model=None)
    async def reset(
        payload: Annotated[dict[str, Any] | None, Body()] = None,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response | dict[str, Any]:
        denied = check_admin(runtime, authorization)
        if denied is not None:
            return denied
        model = (payload or {}).get("model")
        if model is not None and model not in runtime.routes:
            return _error(404, f"The model `{model}` is not configured.", "model_not_found")
        return {"reset": await runtime.monitor.reset(model, "admin")}

    return router
