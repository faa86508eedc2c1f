"""`x-request-id` on every answer: the client's when short and printable, else a new one."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunewatch.proxy.forward import new_request_id, valid_request_id

REQUEST_ID = "tunewatch.request_id"  # the scope key RequestIds leaves for the handlers


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's `x-request-id` when short and printable (forward.py's rule), else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            given = valid_request_id(value)
            if given:
                return given
            break
    return new_request_id()


class RequestIds:
    """Every answer the app gives carries `x-request-id` (404s and 405s from routing included):
    the client's when valid, else a new one. Answers that set their own are left alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope["headers"])
        scope[REQUEST_ID] = rid
        id_header = (b"x-request-id", rid.encode())

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    message = {**message, "headers": [*headers, id_header]}
            await send(message)

        await self.app(scope, receive, sending)
