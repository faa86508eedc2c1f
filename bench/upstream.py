"""A minimal OpenAI-compatible upstream for timing only: raw asyncio protocol on uvloop.

It parses just enough HTTP/1.1 (keep-alive, Content-Length bodies) to answer every POST with a
canned chat completion, as fast as Python can, so that what a benchmark measures is the proxy
in front of it. Options shape the answer:

  --delay S          answer non-streamed requests after S seconds (a slow base model)
  --chunks N --gap S a request whose body holds `"stream":true` gets an SSE stream of N
                     chunks, S seconds apart (chunked transfer encoding), then `[DONE]`

`GET .../models` lists `bench-tuned` and `bench-base`. Not a faithful server: no pipelining
guarantees beyond in-order answers, no chunked request bodies, no error handling to speak of.
Usage: python -m bench.upstream --port P [--delay S] [--chunks N] [--gap S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import uvloop

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "bench-tuned",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Sure. Drink plenty of water, rest, and see a doctor if the fever "
                    "lasts more than three days or goes above 39.5 C.",
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 30, "total_tokens": 50},
    },
    separators=(",", ":"),
).encode()
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + f"content-length: {len(COMPLETION)}\r\n\r\n".encode()
    + COMPLETION
)
_MODELS = json.dumps(
    {
        "object": "list",
        "data": [
            {"id": "bench-tuned", "object": "model", "root": "bench", "parent": None},
            {"id": "bench-base", "object": "model", "root": "bench", "parent": None},
        ],
    }
).encode()
_MODELS_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    + f"content-length: {len(_MODELS)}\r\n\r\n".encode()
    + _MODELS
)
_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def _sse_chunk(i: int) -> bytes:
    event = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "bench-tuned",
        "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}],
    }
    data = b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class Upstream(asyncio.Protocol):
    def __init__(self, delay: float, chunks: int, gap: float) -> None:
        self.delay = delay
        self.chunks = chunks
        self.gap = gap
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end].lower()
            at = head.find(b"content-length:")
            length = 0
            if at >= 0:
                stop = head.find(b"\r\n", at)
                length = int(head[at + 15 : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(buffer) < total:
                break
            body = buffer[end + 4 : total]
            buffer = buffer[total:]
            self.answer(head, body)
        self.buffer = buffer

    def answer(self, head: bytes, body: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        if head.startswith(b"get") and b"/models" in head[:64]:
            transport.write(_MODELS_RESPONSE)
        elif self.chunks and b'"stream":true' in body:
            transport.write(_STREAM_HEAD)
            self.loop.create_task(self.stream(transport))
        elif self.delay:
            self.loop.call_later(self.delay, self._write_later, transport)
        else:
            transport.write(_RESPONSE)

    @staticmethod
    def _write_later(transport: asyncio.Transport) -> None:
        if not transport.is_closing():
            transport.write(_RESPONSE)

    async def stream(self, transport: asyncio.Transport) -> None:
        # Each chunk is due at start + i * gap, so the gaps don't drift with the loop's lag.
        start = time.perf_counter()
        for i in range(self.chunks):
            if transport.is_closing():
                return
            transport.write(_sse_chunk(i))
            due = start + (i + 1) * self.gap
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        done = b"data: [DONE]\n\n"
        transport.write(f"{len(done):x}\r\n".encode() + done + b"\r\n0\r\n\r\n")


async def serve(port: int, delay: float, chunks: int, gap: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Upstream(delay, chunks, gap), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="fast canned OpenAI-compatible upstream")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--chunks", type=int, default=0)
    parser.add_argument("--gap", type=float, default=0.005)
    args = parser.parse_args(argv)
    uvloop.run(serve(args.port, args.delay, args.chunks, args.gap))


if __name__ == "__main__":
    main()
