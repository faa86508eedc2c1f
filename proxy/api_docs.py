"""`/openapi.json` and `/docs`, behind the admin token (server.api_docs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response

from tunewatch.proxy.admin import check_admin

if TYPE_CHECKING:
    from tunewatch.proxy.runtime import Runtime


def api_docs_router(app: FastAPI, runtime: Runtime, raw_routes: dict[str, str]) -> APIRouter:
    """`/openapi.json` and `/docs` (Swagger UI, the schema inlined so one authorised request
    renders it), both only for the admin token. `raw_routes` (path -> summary) are the raw
    ASGI routes FastAPI cannot describe itself."""
    router = APIRouter()
    built: dict[str, Any] = {}

    def schema() -> dict[str, Any]:
        if not built:
            built.update(app.openapi())
            paths = dict(built.get("paths", {}))
            for path, summary in raw_routes.items():
                method = "get" if path.startswith("/v1/models/") else "post"
                paths.setdefault(path, {})[method] = {
                    "summary": summary,
                    "tags": ["API"],
                    "responses": {"200": {"description": "The upstream's answer"}},
                }
            built["paths"] = dict(sorted(paths.items()))
        return built

    @router.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> Response:
        refused = check_admin(runtime, request.headers.get("authorization"))
        if refused is not None:
            return refused
        return JSONResponse(schema())

    @router.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        refused = check_admin(runtime, request.headers.get("authorization"))
        if refused is not None:
            return refused
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            swagger_ui_parameters={"spec": schema()},  # no second, unauthorised fetch
        )

    return router
