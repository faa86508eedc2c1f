"""A lean HTTP/1.1 client for the calls to the model servers: the tuned model's answers on the
request path (whole or streamed), and the base model's for mirrored copies.

Why not a general client here: on this project's 2-core benchmark machine an aiohttp `POST`
costs the proxy ~200 µs of CPU a call and httpx's ~1,750 µs (request and response objects,
header containers, reader tasks), about half of what the proxy spends on a whole forwarded
request or more; a protocol that writes the request in one `write` and lets httptools
(llhttp, the parser uvicorn already runs for the server side) cut the response costs ~25 µs
(docs/performance.md). The upstream is a known OpenAI-compatible server, so the client needs
only keep-alive pooling, a read timeout, flow control for streams, and clear failures. Model
listings and probes, off the request path, use httpx (`tunewatch.probes.runner`).

No retries here: a POST is not idempotent (a retried generation costs a second generation),
and an idle connection is dropped from the pool before the server's keep-alive limit would
close it (uvicorn's, and so vLLM's, is 5 s; `keepalive` here defaults to 4 s). A call that
failed before a byte was written raises one of `NOT_SENT`, which `proxy.upstreams` may retry
once on another replica. https upstreams are verified with the `ssl.SSLContext` given (the
system's trust by default), hostname included.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

# A stream's unread body above this pauses reading from the upstream until the relay catches up.
_HIGH_WATER = 1 << 18


class UpstreamError(Exception):
    """The upstream failed to give a whole HTTP response."""


class ConnectFailed(UpstreamError):
    """No connection could be opened to the upstream (refused, unreachable, or its TLS
    certificate not trusted); nothing was sent."""


class ConnectTimeout(TimeoutError):
    """No connection within the connect timeout; nothing was sent."""


# The failures of a call whose request never left: another upstream can safely take it.
NOT_SENT = (ConnectFailed, ConnectTimeout)


def failure_kind(exc: BaseException) -> str:
    """The `kind` label of `tunewatch_upstream_errors_total` for a call that raised `exc`."""
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "connect" if isinstance(exc, ConnectFailed) else "protocol"


def with_request_id(lines: bytes, request_id: str) -> bytes:
    """A route's header lines plus `X-Request-ID`, which vLLM takes as its request id."""
    return lines + b"X-Request-ID: " + request_id.encode() + b"\r\n"


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time.

    `head` resolves when the response's head has arrived (a stream) or when the whole
    response has (a unary call); a stream's body then collects in `chunks` until `ended`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.head: asyncio.Future[Response] | None = None
        self.streaming = False
        self.in_body = False  # a stream's head is out and its body is still coming
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.wake: asyncio.Future[None] | None = None
        self.ended = False
        self.error: BaseException | None = None
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
        if self.head is None and not self.in_body:  # bytes nobody asked for: out of step
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
        if (self.head is not None and not self.head.done()) or self.in_body:
            if self.headers_done and not self.delimited:  # the body ended with the connection
                self.on_message_complete()
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
        if self.streaming:
            self.in_body = True
            self._resolve(b"")

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        if self.in_body:
            self.buffered += len(body)
            if self.buffered > _HIGH_WATER and self.transport is not None and not self.paused:
                self.paused = True
                self.transport.pause_reading()
            self._wake()

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.reusable = False
        self._stop_timer()
        if self.in_body:
            self.in_body = False
            self.ended = True
            self._wake()
        else:
            self._resolve(b"".join(self.chunks))
            self.chunks = []

    # requests
    def request(
        self, data: bytes, read_timeout: float | None, *, stream: bool
    ) -> asyncio.Future[Response]:
        assert self.transport is not None
        self.head = self.loop.create_future()
        self.streaming, self.in_body, self.ended, self.error = stream, False, False, None
        self.chunks, self.buffered = [], 0
        self.content_type, self.delimited, self.headers_done = "", False, False
        self.last_read = self.loop.time()
        if read_timeout is not None:
            self.timer = self.loop.call_later(read_timeout, self._check_read, read_timeout)
        self.transport.write(data)
        return self.head

    def take(self) -> bytes:
        """The stream's body received so far (possibly empty); reading resumes if paused."""
        data = b"".join(self.chunks)
        self.chunks, self.buffered = [], 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def _check_read(self, timeout: float) -> None:
        self.timer = None
        if self.paused:  # the relay is behind, not the upstream: wait for it
            quiet = 0.0
            self.last_read = self.loop.time()
        else:
            quiet = self.loop.time() - self.last_read
        if quiet >= timeout:
            self._fail(TimeoutError(f"no data from the upstream for {timeout:g} s"))
        elif self.head is not None or self.in_body:
            self.timer = self.loop.call_later(timeout - quiet, self._check_read, timeout)

    def _stop_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _resolve(self, body: bytes) -> None:
        head, self.head = self.head, None
        if head is not None and not head.done():
            head.set_result(Response(self.parser.get_status_code(), body, self.content_type))

    def _wake(self) -> None:
        wake, self.wake = self.wake, None
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        head, self.head = self.head, None
        self.close()
        if head is not None and not head.done():
            head.set_exception(exc)
        elif self.in_body:
            self.in_body = False
            self.error = exc
            self._wake()

    def close(self) -> None:
        self.reusable = False
        self._stop_timer()
        if self.transport is not None:
            self.transport.close()


class Stream:
    """A streamed response: its status and content type, then its body as it arrives.

    Iterate `chunks()` to the end (the connection then goes back to its pool) or `close()` it
    (the connection is closed, as aiohttp's `release` on an unread body would not keep it).
    """

    def __init__(self, pool: Pool, conn: _Connection, head: Response) -> None:
        self.status = head.status
        self.content_type = head.content_type
        self._pool = pool
        self._conn: _Connection | None = conn

    async def chunks(self) -> AsyncIterator[bytes]:
        """Body bytes as received (not split into lines or events); raises UpstreamError or
        TimeoutError if the upstream fails before the body's end."""
        while (conn := self._conn) is not None:
            data = conn.take()
            if data:
                yield data
            elif conn.error is not None:
                self.close()
                raise conn.error
            elif conn.ended:
                self._conn = None
                self._pool.release(conn)
            else:
                conn.wake = conn.loop.create_future()
                await conn.wake

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class Pool:
    """Keep-alive connections to one origin (scheme, host and port)."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float | None = None,
        keepalive: float = 4.0,
        max_idle: int = 100,
        ssl_context: ssl.SSLContext | None = None,
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
        self._reaper: asyncio.TimerHandle | None = None
        # verify the certificate and the hostname; `ssl_context` may add trust or a client cert
        self._ssl: ssl.SSLContext | None = None
        if self.tls:
            self._ssl = ssl_context if ssl_context is not None else ssl.create_default_context()

    async def post(
        self, target: bytes, body: bytes, headers: bytes, *, read_timeout: float | None = None
    ) -> Response:
        """POST `body` to `target` (a path) and read the whole answer; `headers` are whole
        `Name: value\\r\\n` lines.

        Raises ConnectFailed or ConnectTimeout (nothing was sent), TimeoutError (no data for
        `read_timeout` s) or UpstreamError. A cancelled call closes its connection.
        """
        conn, response = await self._send(target, body, headers, read_timeout, stream=False)
        self.release(conn)
        return response

    async def stream(
        self, target: bytes, body: bytes, headers: bytes, *, read_timeout: float | None = None
    ) -> Stream:
        """POST and return once the answer's head is in; the body follows through the Stream."""
        conn, head = await self._send(target, body, headers, read_timeout, stream=True)
        return Stream(self, conn, head)

    async def _send(
        self, target: bytes, body: bytes, headers: bytes, read_timeout: float | None, *,
        stream: bool,
    ) -> tuple[_Connection, Response]:  # fmt: skip
        conn = self._take() or await self._connect()
        head = b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n" % (
            target,
            self.host_header,
            len(body),
            headers,
        )
        try:
            return conn, await conn.request(head + body, read_timeout, stream=stream)
        except BaseException:
            conn.close()
            raise

    def release(self, conn: _Connection) -> None:
        """Keep a connection whose response was read to its end, if it can serve another."""
        if conn.reusable and len(self._idle) < self.max_idle:
            conn.idle_since = conn.loop.time()
            self._idle.append(conn)
            if self._reaper is None:
                self._reaper = conn.loop.call_later(self.keepalive, self._reap)
        else:
            conn.close()

    def _reap(self) -> None:
        """Close connections idle for `keepalive`: a burst's sockets do not stay open."""
        self._reaper = None
        if not self._idle:
            return
        loop = self._idle[0].loop
        now = loop.time()
        while self._idle and now - self._idle[0].idle_since >= self.keepalive:
            self._idle.popleft().close()  # the oldest are at the left
        if self._idle:
            due = self._idle[0].idle_since + self.keepalive - now
            self._reaper = loop.call_later(due, self._reap)

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
        except TimeoutError as exc:
            raise ConnectTimeout(
                f"no connection to {self.host}:{self.port} in {self.connect_timeout:g} s"
            ) from exc
        except OSError as exc:  # ssl.SSLError (an untrusted certificate, say) included
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        return conn

    def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        while self._idle:
            self._idle.pop().close()


class Client:
    """One pool per origin, created on first use; `url` is an upstream's base URL, `path` the
    endpoint's (e.g. "http://vllm:8000/v1" and "/chat/completions")."""

    def __init__(self, *, keepalive: float = 4.0) -> None:
        self.keepalive = keepalive
        self._pools: dict[tuple[str, float | None, ssl.SSLContext | None], tuple[Pool, bytes]] = {}

    async def post(
        self, url: str, path: str, body: bytes, headers: bytes, *,
        connect_timeout: float | None = None, read_timeout: float | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Response:  # fmt: skip
        pool, target = self._pool(url, path, connect_timeout, tls)
        return await pool.post(target, body, headers, read_timeout=read_timeout)

    async def stream(
        self, url: str, path: str, body: bytes, headers: bytes, *,
        connect_timeout: float | None = None, read_timeout: float | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Stream:  # fmt: skip
        pool, target = self._pool(url, path, connect_timeout, tls)
        return await pool.stream(target, body, headers, read_timeout=read_timeout)

    def _pool(
        self, url: str, path: str, connect_timeout: float | None, tls: ssl.SSLContext | None
    ) -> tuple[Pool, bytes]:
        key = (url, connect_timeout, tls)
        found = self._pools.get(key)
        if found is None:
            pool = Pool(
                url, connect_timeout=connect_timeout, keepalive=self.keepalive, ssl_context=tls
            )
            prefix = (urlsplit(url).path.rstrip("/") or "").encode()
            found = self._pools[key] = (pool, prefix)
        pool, prefix = found
        return pool, prefix + path.encode()

    def close(self) -> None:
        for pool, _ in self._pools.values():
            pool.close()
        self._pools.clear()


def header_lines(headers: dict[str, str]) -> bytes:
    """`Name: value\\r\\n` lines for `Pool.post`, rendered once per route."""
    return b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in headers.items())
