"""OpenAI-shaped error bodies, so every OpenAI SDK raises its usual exception types."""

from __future__ import annotations

import orjson
from starlette.responses import Response

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    502: "api_error",
    503: "api_error",
    504: "api_error",
}


class ApiError(Exception):
    """An error answered to the client in OpenAI's shape; never carries request content."""

    def __init__(
        self, status: int, message: str, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param

    def body(self) -> bytes:
        return error_body(self.status, self.message, self.code, self.param)


def error_body(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> bytes:
    return orjson.dumps(
        {
            "error": {
                "message": message,
                "type": _TYPES.get(status, "api_error"),
                "param": param,
                "code": code,
            }
        }
    )


def error_response(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> Response:
    return Response(error_body(status, message, code, param), status, media_type="application/json")


def stream_error_event(status: int, message: str, code: str) -> bytes:
    """The SSE event that ends a failed stream; the OpenAI SDK raises APIError on it."""
    return b"data: " + error_body(status, message, code) + b"\n\n"
