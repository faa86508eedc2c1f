"""A lean HTTP/1.1 client for the unary calls to the model servers: the tuned model's answers
on the request path, and the base model's for mirrored copies.

Why not aiohttp here: on this project's 2-core benchmark machine an aiohttp `POST` costs the
proxy ~200 µs of CPU a call (request and response objects, multidicts, a writer task, a stream
reader), about half of what the proxy spends on a whole forwarded request; a protocol that
writes the request in one `write` and lets httptools (llhttp, the parser uvicorn already runs
for the server side) cut the response costs ~25 µs (docs/performance.md). The upstream is a
known OpenAI-compatible server, so the client needs only keep-alive pooling, a read timeout,
and clear failures. Streams, model listings and probes keep using aiohttp.

No retries: a POST is not idempotent (a retried generation costs a second generation), and
an idle connection is dropped from the pool before the server's keep-alive limit would close
it (uvicorn's, and so vLLM's, is 5 s; `keepalive` here defaults to 4 s, as aiohttp's is set).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools


class UpstreamError(Exception):
    """The upstream failed to give a whole HTTP response."""


class ConnectFailed(UpstreamError):
    """No connection could be opened to the upstream."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Response] | None = None
        self.body: list[bytes] = []
        self.content_type = ""
        self.delimited = False  # Content-Length or chunked: the body's end is in the framing
        self.headers_done = False
        self.reusable = True
        self.idle_since = 0.0
        self.last_read = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.last_read = self.loop.time()
        if self.waiter is None:  # bytes nobody asked for: the connection is out of step
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(UpstreamError(f"malformed HTTP response: {exc}"))

    def eof_received(self) -> bool:
        self.reusable = False  # the server is closing it: never send on it again
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            if self.headers_done and not self.delimited:  # the body ended with the connection
                self._finish()
            else:
                self._fail(UpstreamError("the upstream closed the connection mid-response"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        lower = name.lower()
        if lower == b"content-type":
            self.content_type = value.decode("latin-1")
        elif lower in (b"content-length", b"transfer-encoding"):
            self.delimited = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.reusable = False
        self._finish()

    # requests
    def request(self, data: bytes, read_timeout: float | None) -> asyncio.Future[Response]:
        assert self.transport is not None
        self.waiter = self.loop.create_future()
        self.body, self.content_type, self.delimited, self.headers_done = [], "", False, False
        self.last_read = self.loop.time()
        if read_timeout is not None:
            self.timer = self.loop.call_later(read_timeout, self._check_read, read_timeout)
        self.transport.write(data)
        return self.waiter

    def _check_read(self, timeout: float) -> None:
        self.timer = None
        quiet = self.loop.time() - self.last_read
        if quiet >= timeout:
            self._fail(TimeoutError(f"no data from the upstream for {timeout:g} s"))
        elif self.waiter is not None:
            self.timer = self.loop.call_later(timeout - quiet, self._check_read, timeout)

    def _done(self) -> asyncio.Future[Response] | None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        waiter, self.waiter = self.waiter, None
        return waiter

    def _finish(self) -> None:
        waiter = self._done()
        if waiter is not None and not waiter.done():
            waiter.set_result(
                Response(self.parser.get_status_code(), b"".join(self.body), self.content_type)
            )
        self.body = []

    def _fail(self, exc: BaseException) -> None:
        waiter = self._done()
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.reusable = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Keep-alive connections to one origin (scheme, host and port)."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float | None = None,
        keepalive: float = 4.0,
        max_idle: int = 100,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        default_port = self.port == (443 if self.tls else 80)
        self.host_header = (parts.netloc if not default_port else self.host).encode("idna")
        self.connect_timeout = connect_timeout
        self.keepalive = keepalive
        self.max_idle = max_idle
        self._idle: deque[_Connection] = deque()
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self.tls else None

    async def post(
        self, target: bytes, body: bytes, headers: bytes, *, read_timeout: float | None = None
    ) -> Response:
        """POST `body` to `target` (a path); `headers` are whole `Name: value\\r\\n` lines.

        Raises ConnectFailed, TimeoutError (connecting, or no data for `read_timeout` s) or
        UpstreamError. A cancelled call closes its connection.
        """
        conn = self._take() or await self._connect()
        head = b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            target,
            self.host_header,
            len(body),
            headers,
        )
        try:
            response = await conn.request(head + body, read_timeout)
        except BaseException:
            conn.close()
            raise
        if conn.reusable and len(self._idle) < self.max_idle:
            conn.idle_since = conn.loop.time()
            self._idle.append(conn)
        else:
            conn.close()
        return response

    def _take(self) -> _Connection | None:
        """The most recently used live connection; older idle ones are closed."""
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable and conn.loop.time() - conn.idle_since < self.keepalive:
                return conn
            conn.close()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self.tls else None,
                )
        except TimeoutError:
            raise
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return conn

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


class Client:
    """One pool per origin, created on first use; `url` is an upstream's base URL."""

    def __init__(self, *, keepalive: float = 4.0) -> None:
        self.keepalive = keepalive
        self._pools: dict[tuple[str, float | None], tuple[Pool, bytes]] = {}

    async def post(
        self,
        url: str,
        path: str,
        body: bytes,
        headers: bytes,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
    ) -> Response:
        """POST to `url` + `path` (e.g. "http://vllm:8000/v1" + "/chat/completions")."""
        found = self._pools.get((url, connect_timeout))
        if found is None:
            pool = Pool(url, connect_timeout=connect_timeout, keepalive=self.keepalive)
            prefix = (urlsplit(url).path.rstrip("/") or "").encode()
            found = self._pools[(url, connect_timeout)] = (pool, prefix)
        pool, prefix = found
        return await pool.post(prefix + path.encode(), body, headers, read_timeout=read_timeout)

    def close(self) -> None:
        for pool, _ in self._pools.values():
            pool.close()
        self._pools.clear()


def header_lines(headers: dict[str, str]) -> bytes:
    """`Name: value\\r\\n` lines for `Pool.post`, rendered once per route."""
    return b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items())
