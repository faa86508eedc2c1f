"""Drift read-out and the admin API. Admin calls need the admin token, compared in constant
time; without a configured token the admin API is off."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from tunewatch.monitoring.audit import annotate, audit_overview
from tunewatch.probes.pack import BUILTIN_PACKS_DIR, MAX_FILE_BYTES, PackError, load_pack_file
from tunewatch.probes.registry import PackRegistry
from tunewatch.proxy.auth import bearer_matches
from tunewatch.proxy.errors import error_response

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

if TYPE_CHECKING:
    from tunewatch.proxy.runtime import Runtime


_MAX_RESET_BYTES = 64 * 1024


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to exceed `limit` (the rest is never read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)


def check_admin(runtime: Runtime, authorization: str | None) -> Response | None:
    """None when the caller holds the admin token; else the error response to send."""
    if runtime.admin_token is None:
        return error_response(
            403, "The admin API is disabled: set auth.admin_token_env.", "admin_disabled"
        )
    if not bearer_matches((authorization or "").encode("latin-1"), [runtime.admin_token]):
        return error_response(401, "A valid admin token is required.", "invalid_admin_token")
    return None


def admin_router(runtime: Runtime) -> APIRouter:
    router = APIRouter()

    @router.get("/drift")
    async def drift() -> dict[str, Any]:
        engine = runtime.engine
        monitor = runtime.monitor
        judge = runtime.config.audit.judge
        return {
            "alpha": engine.settings.alpha,
            "family_size": engine.settings.family_size,
            "threshold": engine.settings.threshold,
            "rho": engine.settings.rho,
            "resets": engine.resets,
            "series": annotate(engine.summaries(), monitor.audit,
                               monitor.judged if judge is not None and judge.counts else None),
            "audit": audit_overview(monitor.audit, monitor.classifier_version),
        }  # fmt: skip

    @router.post("/admin/drift/reset", response_model=None)
    async def reset(
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response | dict[str, Any]:
        # The token is checked before the body is read: strangers' bodies are never parsed.
        denied = check_admin(runtime, authorization)
        if denied is not None:
            return denied
        body = await read_limited(request, _MAX_RESET_BYTES)
        if body is None:
            return error_response(413, "The request body is too large.", "request_too_large")
        try:
            payload = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            return error_response(400, "The request body is not valid JSON.", "invalid_json")
        if payload is None:
            payload = {}
        if not isinstance(payload, dict):
            return error_response(400, "The request body must be a JSON object.", "invalid_request")
        model = payload.get("model")
        if model is not None and not isinstance(model, str):
            return error_response(400, "`model` must be a string.", "invalid_type", "model")
        if model is not None and model not in runtime.routes:
            return error_response(404, f"The model `{model}` is not configured.", "model_not_found")
        return {"reset": await runtime.monitor.reset(model, "admin")}

    @router.get("/admin/packs", response_model=None)
    async def packs(
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response | dict[str, Any]:
        denied = check_admin(runtime, authorization)
        if denied is not None:
            return denied
        scheduler = runtime.scheduler
        if scheduler is None:
            return {"enabled": False, "packs": [], "errors": []}
        listed = [
            {
                "id": pack.id,
                "version": pack.version,
                "owner": pack.owner,
                "file": str(pack.path),
                "fingerprint": pack.fingerprint,
                "probes": len(pack.probes),
                "interval_seconds": scheduler.interval(pack),
                "rounds": [r for k, r in scheduler.last_rounds.items() if k[0] == pack.id],
            }
            for pack in scheduler.registry.packs.values()
        ]
        return {"enabled": True, "packs": listed, "errors": scheduler.registry.errors}

    @router.put("/admin/packs/{pack_id}", response_model=None)
    async def upload_pack(
        pack_id: str,
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
    ) -> Response | dict[str, Any]:
        """Accept a pack as YAML; it replaces the file of that id only if it is valid."""
        denied = check_admin(runtime, authorization)
        if denied is not None:
            return denied
        scheduler = runtime.scheduler
        if scheduler is None:
            return error_response(
                409, "The probe scheduler is not running here.", "probes_disabled"
            )
        body = await read_limited(request, MAX_FILE_BYTES)
        if body is None:
            return error_response(413, "The pack is too large.", "request_too_large")
        try:
            await asyncio.to_thread(install_pack, scheduler.registry, pack_id, body)
        except PackError as err:
            return Response(
                orjson.dumps({"error": {"message": "invalid probe pack", "type":
                              "invalid_request_error", "param": None, "code": "invalid_pack",
                              "details": err.errors}}),
                400,
                media_type="application/json",
            )  # fmt: skip
        except ValueError as err:
            return error_response(400, str(err), "invalid_pack")
        outcome = scheduler.reload()
        return {"accepted": pack_id, "added": outcome.added, "changed": outcome.changed}

    @router.get("/admin/probes/results", response_model=None)
    async def probe_results(
        authorization: Annotated[str | None, Header()] = None,
        model: str | None = None,
        pack: str | None = None,
        limit: str = "200",  # parsed after the token check: strangers learn nothing
    ) -> Response | dict[str, Any]:
        denied = check_admin(runtime, authorization)
        if denied is not None:
            return denied
        try:
            count = int(limit)
        except ValueError:
            return error_response(400, "`limit` must be an integer.", "invalid_type", "limit")
        rows = await asyncio.to_thread(
            runtime.store.observations, model=model, source="probe", pack=pack,
            limit=max(1, min(count, 5000)), newest_first=True,
        )  # fmt: skip
        return {"results": rows}

    return router


def install_pack(registry: PackRegistry, pack_id: str, body: bytes) -> None:
    """Validate an uploaded pack in a scratch file, then move it into the first writable path."""
    if not SLUG.match(pack_id):
        raise ValueError("pack id must be a lowercase slug")
    targets = [p for p in registry.paths if p != BUILTIN_PACKS_DIR]
    if not targets:
        raise ValueError("no probes path to write to: add a directory to probes.paths")
    directory = targets[0] if targets[0].is_dir() else targets[0].parent
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=directory, suffix=".upload", delete=False) as f:
        f.write(body)
        scratch = Path(f.name)
    try:
        pack = load_pack_file(scratch)
        if pack.id != pack_id:
            raise ValueError(f"the pack's id is {pack.id!r}, not {pack_id!r}")
        existing = registry.packs.get(pack_id)
        final = existing.path if existing is not None and existing.path else None
        os.replace(scratch, final or directory / f"{pack_id}.yaml")
    finally:
        scratch.unlink(missing_ok=True)
