"""Helpers for the reliability and security tests: process gauges, raw HTTP, waiting, metrics."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.promtext import sample
from tunewatch.proxy.devstack.proxy import Process

SUPPORT = Path(__file__).resolve().parent


def open_fds(pid: int) -> int:
    """File descriptors the process holds (sockets included)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float = 30.0, every: float = 0.1
) -> float:
    """Poll until `condition()`; returns the seconds it took, fails with `what`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def metrics_text(proc: Process) -> str:
    return httpx.get(proc.root + "/metrics", timeout=10).text


def metric(proc: Process, series: str) -> float:
    return sample(metrics_text(proc), series, default=0.0)


def series_count(text: str) -> int:
    """Distinct time series in a Prometheus exposition."""
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def raw_http(port: int, data: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (no client-side framing fixes); read until close or timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
            head, sep, body = out.partition(b"\r\n\r\n")
            if sep:
                headers = _headers(head)
                length = headers.get("content-length")
                if length is not None and len(body) >= int(length):
                    break
    return parse_response(out)


def _headers(head: bytes) -> dict[str, str]:
    headers = {}
    for line in head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers


def parse_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split(b" ")
    assert len(status_line) >= 2 and status_line[0].startswith(b"HTTP/"), raw[:200]
    return int(status_line[1]), _headers(head), body


def assert_openai_error(status: int, body: Any, where: str = "") -> None:
    """An OpenAI-style error: {"error": {"message": str, "type": str, "param", "code"}}."""
    assert 400 <= status < 500, f"{where}: status {status}: {body!r}"[:500]
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), f"{where}: {body!r}"
    error = body["error"]
    assert {"message", "type", "param", "code"} <= set(error), f"{where}: {error!r}"
    assert isinstance(error["message"], str) and error["message"], where
    assert isinstance(error["type"], str) and error["type"], where


async def aborted_stream(port: int, body: bytes, path: str = "/v1/chat/completions") -> bool:
    """POST a streaming request, wait for the first SSE event, then drop the connection.

    True when a first event arrived before the abort."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        got = b""
        while b"data: " not in got:
            chunk = await asyncio.wait_for(reader.read(4096), 10)
            if not chunk:
                return False
            got += chunk
        return True
    finally:
        writer.transport.abort()


async def full_stream(port: int, body: bytes, path: str = "/v1/chat/completions") -> bytes:
    """POST a streaming request on its own connection and read the response to the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 120)
    finally:
        writer.transport.abort()
