"""The lean upstream client against a scripted server: framing, keep-alive and every failure.

The real-vLLM tests (test_proxy_vllm.py, test_mirror.py) cover it against the server it is
for; this file covers what a real server will not do on demand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tunewatch.proxy.http1 import Client, ConnectFailed, Pool, UpstreamError, header_lines

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, list[bytes], list[int]]:
    """A server that reads whole requests and lets `handler` answer (False: close)."""
    requests: list[bytes] = []
    connections: list[int] = []

    async def conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                requests.append(request)
                if not await handler(request, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(conn, "127.0.0.1", 0)
    return server, requests, connections


def _url(server: asyncio.Server, path: str = "/v1") -> str:
    port = server.sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def _ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s"
        % (len(body), extra, body)
    )


def run(check: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(check(), 30))


def test_requests_are_framed_and_connections_kept_alive() -> None:
    async def check() -> None:
        async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
            writer.write(_ok(b'{"n":%d}' % len(request)))
            return True

        server, requests, connections = await _serve(answer)
        port = server.sockets[0].getsockname()[1]
        client = Client()
        try:
            headers = header_lines({"Content-Type": "application/json", "Authorization": "B k"})
            for i in range(3):
                resp = await client.post(
                    _url(server), "/chat/completions", b'{"i":%d}' % i, headers
                )
                assert resp.status == 200 and resp.content_type == "application/json"
                assert resp.body.startswith(b'{"n":')
        finally:
            client.close()
            server.close()
        assert len(connections) == 1  # one connection, reused
        head, _, body = requests[0].partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == b"POST /v1/chat/completions HTTP/1.1"
        assert b"Host: 127.0.0.1:%d" % port in lines
        assert b"Content-Length: 7" in lines and b"Authorization: B k" in lines
        assert body == b'{"i":0}'

    run(check)


def test_chunked_and_connection_close_and_eof_delimited_bodies() -> None:
    async def check() -> None:
        replies = [
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            _ok(b"closing", b"connection: close\r\n"),
            b"HTTP/1.1 503 Busy\r\ncontent-type: text/plain\r\n\r\nuntil the end",  # no length
        ]

        async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
            reply = replies.pop(0)
            writer.write(reply)
            return b"close" not in reply and b"until" not in reply

        server, _, connections = await _serve(answer)
        pool = Pool(_url(server))
        try:
            first = await pool.post(b"/x", b"{}", b"")
            assert (first.status, first.body) == (200, b"abcde")
            second = await pool.post(b"/x", b"{}", b"")
            assert second.body == b"closing"
            third = await pool.post(b"/x", b"{}", b"")  # a new connection: the last one closed
            assert (third.status, third.body, third.content_type) == (
                503,
                b"until the end",
                "text/plain",
            )
        finally:
            pool.close()
            server.close()
        assert len(connections) == 2

    run(check)


def test_failures_are_typed_and_never_reuse_the_connection() -> None:
    async def check() -> None:
        async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
            if b"drop" in request:
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                return False
            if b"garbage" in request:
                writer.write(b"\x00\xff not http\r\n\r\n")
                return True
            if b"hang" in request:
                await asyncio.sleep(5)
                return False
            writer.write(_ok())
            return True

        server, _, connections = await _serve(answer)
        pool = Pool(_url(server))
        try:
            with pytest.raises(UpstreamError, match="mid-response"):
                await pool.post(b"/x", b"drop", b"")
            with pytest.raises(UpstreamError, match="malformed"):
                await pool.post(b"/x", b"garbage", b"")
            with pytest.raises(TimeoutError):
                await pool.post(b"/x", b"hang", b"", read_timeout=0.2)
            # A cancelled call (a client that left) closes its connection too.
            task = asyncio.ensure_future(pool.post(b"/x", b"hang", b""))
            await asyncio.sleep(0.1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not pool._idle
            assert (await pool.post(b"/x", b"fine", b"")).status == 200
        finally:
            pool.close()
            server.close()
        assert len(connections) == 5  # every failure cost its connection

    run(check)


def test_unreachable_and_stale_connections() -> None:
    async def check() -> None:
        async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
            writer.write(_ok())
            return True

        server, _, connections = await _serve(answer)
        url = _url(server)
        # Idle longer than `keepalive`: closed (a burst's sockets do not stay open), and the
        # next call opens a new connection.
        pool = Pool(url, keepalive=0.1)
        try:
            await pool.post(b"/x", b"{}", b"")
            assert len(pool._idle) == 1
            await asyncio.sleep(0.25)
            assert not pool._idle
            await pool.post(b"/x", b"{}", b"")
            assert len(connections) == 2
        finally:
            pool.close()
        # The server closes an idle connection: the pool notices and does not send on it.
        closing: list[asyncio.StreamWriter] = []

        async def answer_once(request: bytes, writer: asyncio.StreamWriter) -> bool:
            writer.write(_ok())
            closing.append(writer)
            return True

        other, _, opened = await _serve(answer_once)
        pool = Pool(_url(other))
        try:
            await pool.post(b"/x", b"{}", b"")
            closing[0].close()
            await asyncio.sleep(0.1)
            assert (await pool.post(b"/x", b"{}", b"")).status == 200
            assert len(opened) == 2
        finally:
            pool.close()
            other.close()
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectFailed):
            await Pool(url).post(b"/x", b"{}", b"")

    run(check)


def test_only_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        Pool("unix:///tmp/sock")
    assert Pool("https://example.org/v1").port == 443
    assert Pool("http://example.org:80/v1").host_header == b"example.org"
    assert Pool("http://example.org:8000/v1").host_header == b"example.org:8000"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def test_a_stream_arrives_as_sent_and_frees_its_connection_at_the_end() -> None:
    async def check() -> None:
        go_on = asyncio.Event()

        async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
            go_on.clear()
            writer.write(STREAM_HEAD + _chunk(b"data: 1\n\n"))
            await writer.drain()
            await go_on.wait()  # the rest only once the client has the first event
            writer.write(_chunk(b"data: 2\n\n") + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
            return True

        server, _, connections = await _serve(answer)
        pool = Pool(_url(server))
        try:
            for _ in range(2):
                stream = await pool.stream(b"/x", b"{}", b"")
                assert (stream.status, stream.content_type) == (200, "text/event-stream")
                received = []
                async for chunk in stream.chunks():
                    received.append(chunk)
                    if len(received) == 1:
                        go_on.set()
                assert b"".join(received) == b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
                assert received[0] == b"data: 1\n\n"
            # Left before its end: the connection cannot serve another request.
            stream = await pool.stream(b"/x", b"{}", b"")
            stream.close()
            assert not pool._idle
            assert len(connections) == 1  # so far, every stream on the first connection
            again = await pool.stream(b"/x", b"{}", b"")
            async for _ in again.chunks():
                go_on.set()
        finally:
            pool.close()
            server.close()
        assert len(connections) == 2

    run(check)


def test_a_stream_that_breaks_or_stalls_raises() -> None:
    async def check() -> None:
        async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
            writer.write(STREAM_HEAD + _chunk(b"data: 1\n\n"))
            await writer.drain()
            if b"stall" in request:
                await asyncio.sleep(5)
            return False  # drop: the chunked body never ends

        server, _, _ = await _serve(answer)
        pool = Pool(_url(server))
        try:
            for body, error in ((b"drop", UpstreamError), (b"stall", TimeoutError)):
                stream = await pool.stream(b"/x", body, b"", read_timeout=0.3)
                received = []
                with pytest.raises(error):
                    async for chunk in stream.chunks():
                        received.append(chunk)
                assert received == [b"data: 1\n\n"]
            assert not pool._idle
        finally:
            pool.close()
            server.close()

    run(check)


def test_a_slow_reader_pauses_the_upstream_and_loses_nothing() -> None:
    async def check() -> None:
        piece = b"x" * 65536

        async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
            writer.write(STREAM_HEAD)
            for _ in range(32):  # 2 MiB, far above the high-water mark
                writer.write(_chunk(piece))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            return True

        server, _, _ = await _serve(answer)
        pool = Pool(_url(server))
        try:
            stream = await pool.stream(b"/x", b"{}", b"", read_timeout=0.2)
            await asyncio.sleep(0.5)  # read nothing for longer than the read timeout
            conn = stream._conn
            assert conn is not None and conn.paused
            assert len(await stream.read()) == 32 * len(piece)  # and no timeout fired
            assert len(pool._idle) == 1
        finally:
            pool.close()
            server.close()

    run(check)
