"""Time a streamed chat completion as a client sees it: first byte, gaps, chunks received."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.wrk import chat_body


@dataclass(frozen=True)
class StreamTiming:
    ttfb_ms: float  # request sent -> first SSE event received
    gaps_ms: list[float]  # between successive events
    events: int  # `data:` events received ([DONE] included)
    merged_reads: int  # socket reads that carried more than one event (coalescing)


async def one_stream(url: str, model: str) -> StreamTiming:
    """One streamed request over a raw socket: no client library buffering in the way.

    Events are counted by their `data:` lines in the raw bytes (the chunked framing lines
    never start with it); the arrival time of an event is that of the read that completed it.
    """
    parts = urlsplit(url)
    body = chat_body(model, stream=True).encode()
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + body
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    t0 = time.perf_counter()
    writer.write(request)
    arrivals: list[float] = []
    merged = 0
    data = b""
    head_done = False
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            now = time.perf_counter()
            data += chunk
            if not head_done:
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    continue
                if not data.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(data[:200].decode(errors="replace"))
                head_done, data = True, data[end + 4 :]
            *events, data = data.split(b"\n\n")
            count = sum(e.count(b"data:") for e in events)
            merged += count > 1
            arrivals += [now] * count
            if any(b"[DONE]" in e for e in events):
                break
    finally:
        writer.close()
    gaps = [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
    return StreamTiming((arrivals[0] - t0) * 1000 if arrivals else float("nan"), gaps,
                        len(arrivals), merged)  # fmt: skip


async def compare(targets: dict[str, tuple[str, str]], runs: int) -> dict[str, list[StreamTiming]]:
    """One stream at a time, alternating targets, `runs` each: {name: timings}."""
    out: dict[str, list[StreamTiming]] = {name: [] for name in targets}
    for url, model in targets.values():  # warm the pools and the servers
        await one_stream(url, model)
    for _ in range(runs):
        for name, (url, model) in targets.items():
            out[name].append(await one_stream(url, model))
    return out


def run(targets: dict[str, tuple[str, str]], runs: int) -> dict[str, list[StreamTiming]]:
    return asyncio.run(compare(targets, runs))
