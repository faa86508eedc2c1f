"""CORS for the API routes, installed only when `cors.origins` lists any."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunewatch.proxy.config import CorsConfig
from tunewatch.proxy.errors import error_body
from tunewatch.proxy.request_ids import request_id

_CORS_DONE = "tunewatch.cors"  # set by the outermost Cors, so an inner one stands aside


class Cors:
    """CORS for the API routes (/v1/... and the passed-through ones), installed only when
    `cors.origins` lists any: without it no request pays for this wrapper.

    An allowed origin's preflight (OPTIONS with Access-Control-Request-Method) is answered 204
    here; any other origin's gets a 403 without CORS headers; its other answers get
    Access-Control-Allow-Origin (and expose x-request-id). Credentials are never allowed: the
    API key travels in Authorization, which browsers send cross-origin without them.
    """

    METHODS = b"GET, POST, OPTIONS"

    def __init__(self, app: ASGIApp, config: CorsConfig, paths: Iterable[str]) -> None:
        self.app = app
        origins = {o.rstrip("/").lower() for o in config.origins}
        self.any = "*" in origins
        self.origins = frozenset(o.encode("latin-1") for o in origins if o != "*")
        self.allow_headers = ", ".join(config.allow_headers).encode("latin-1")
        self.max_age = str(config.max_age).encode()
        self.paths = frozenset(paths)  # API routes outside /v1/

    def _allowed(self, origin: bytes) -> bytes | None:
        """The Access-Control-Allow-Origin value for `origin`, or None."""
        if self.any:
            return b"*"
        return origin if origin.lower() in self.origins else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get(_CORS_DONE):
            await self.app(scope, receive, send)
            return
        scope[_CORS_DONE] = True
        path = scope["path"]
        if not (path.startswith("/v1/") or path in self.paths):
            await self.app(scope, receive, send)
            return
        origin = b""
        preflight = False
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = True
        if not origin:
            await self.app(scope, receive, send)
            return
        allowed = self._allowed(origin)
        if preflight and scope["method"] == "OPTIONS":
            await self._preflight(scope, send, allowed)
            return
        if allowed is None:
            await self.app(scope, receive, send)
            return
        added = [(b"access-control-allow-origin", allowed),
                 (b"access-control-expose-headers", b"x-request-id")]  # fmt: skip
        if allowed != b"*":
            added.append((b"vary", b"Origin"))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), *added]}
            await send(message)

        await self.app(scope, receive, sending)

    async def _preflight(self, scope: Scope, send: Send, allowed: bytes | None) -> None:
        rid = request_id(scope["headers"]).encode()
        if allowed is None:
            body = error_body(403, "This origin is not allowed (cors.origins).", "cors_forbidden")
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", rid),
            ]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        headers = [
            (b"access-control-allow-origin", allowed),
            (b"access-control-allow-methods", self.METHODS),
            (b"access-control-allow-headers", self.allow_headers),
            (b"access-control-max-age", self.max_age),
            (b"x-request-id", rid),
        ]
        if allowed != b"*":
            headers.append((b"vary", b"Origin"))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
