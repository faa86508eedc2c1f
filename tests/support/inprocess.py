"""tunewatch's ASGI app run inside the test process: no `tunewatch serve`, no vLLM.

`serve(config)` builds the app the way `serve` does (`parse_config`, then `create_app`), runs
its lifespan (httpx's ASGITransport does not) and hands back an `httpx.AsyncClient` that calls
the app in memory. The upstreams stay real servers (the app's own HTTP/1.1 client dials TCP):
the scripted fake upstream (`tests/support/fake_upstream.py`) stands in for vLLM.

Each lifespan starts a classifier process, about a second's work, so a test module shares one
app: `AppThread` serves it on an event loop of its own, in a thread, and runs each test's
coroutine there (the app's queues and connections belong to that loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import yaml

from tunewatch.proxy.app import create_app
from tunewatch.proxy.config import Config, parse_config

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tunewatch.proxy.runtime import Runtime

T = TypeVar("T")

_SERIES = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def build_config(data: dict[str, Any]) -> Config:
    """A config dict through the project's own YAML loading and validation."""
    return parse_config(yaml.safe_dump(data, sort_keys=False), "<test config>")


@contextlib.contextmanager
def environment(env: dict[str, str] | None) -> Iterator[None]:
    """`env` set in os.environ while the block runs (the app reads its secrets at build time)."""
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def series(metrics_text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample of `name` in a Prometheus exposition: (labels, value)."""
    found = []
    for line in metrics_text.splitlines():
        match = _SERIES.match(line)
        if match is None or match.group(1) != name:
            continue
        labels = dict(_LABEL.findall(match.group(2) or ""))
        found.append((labels, float(match.group(3))))
    return found


def total(metrics_text: str, name: str, **labels: str) -> float:
    """The sum of `name` over the series whose labels include `labels` (0 when none)."""
    return sum(
        value
        for have, value in series(metrics_text, name)
        if all(have.get(k) == v for k, v in labels.items())
    )


@dataclass
class InProcess:
    """A running app and a client that calls it in memory."""

    app: FastAPI
    client: httpx.AsyncClient

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def metrics(self) -> str:
        resp = await self.client.get("/metrics")
        assert resp.status_code == 200, resp.text
        return resp.text

    async def total(self, name: str, **labels: str) -> float:
        return total(await self.metrics(), name, **labels)

    async def wait_for(
        self, condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0
    ) -> None:
        """Poll `condition` until it holds; fail naming `what` (and the monitoring metrics).

        Quick on an idle machine; the bound is loose because the classifier process runs at
        idle CPU priority (SCHED_IDLE) and waits for a busy machine, parallel tests included.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await condition():
                return
            await asyncio.sleep(0.05)
        interesting = [
            line
            for line in (await self.metrics()).splitlines()
            if line.startswith(("tunewatch_mirror", "tunewatch_responses", "tunewatch_monitor"))
        ]
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}:\n" + "\n".join(interesting)
        )


@contextlib.asynccontextmanager
async def serve(
    config: Config | dict[str, Any], env: dict[str, str] | None = None
) -> AsyncIterator[InProcess]:
    """The app built from `config` (secrets from `env`), started, with a client; stopped after."""
    if not isinstance(config, Config):
        config = build_config(config)
    with environment(env):
        app = create_app(config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://tunewatch.test", timeout=30.0
        ) as client:
            yield InProcess(app, client)


class AppThread:
    """One app, served on an event loop in a thread of its own, for a test module to share.

    `run(check)` runs `check(app)` on that loop and returns its result (or raises its error).
    """

    def __init__(self, config: Config | dict[str, Any], env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = env
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="tw-app", daemon=True)
        self._serving: contextlib.AbstractAsyncContextManager[InProcess] | None = None
        self._app: InProcess | None = None

    def __enter__(self) -> AppThread:
        self._thread.start()
        try:
            self._call(self._start(), 60.0)
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._serving is not None:
                self._call(self._serving.__aexit__(None, None, None), 60.0)
        finally:
            asyncio.run_coroutine_threadsafe(self._settle(), self.loop).result(30.0)
            self._close()

    async def _start(self) -> None:
        self._serving = serve(self.config, self.env)
        self._app = await self._serving.__aenter__()

    async def _settle(self) -> None:
        """Cancel what the app left running, then let the loop's helpers finish."""
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)
        await self.loop.shutdown_asyncgens()
        await self.loop.shutdown_default_executor()

    def _call(self, coro: Awaitable[T], timeout: float) -> T:
        async def bounded() -> T:
            return await asyncio.wait_for(coro, timeout)

        return asyncio.run_coroutine_threadsafe(bounded(), self.loop).result(timeout + 5.0)

    def _close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10.0)
        if not self._thread.is_alive():
            self.loop.close()

    def run(self, check: Callable[[InProcess], Awaitable[T]], timeout: float = 120.0) -> T:
        assert self._app is not None, "use AppThread as a context manager"
        return self._call(check(self._app), timeout)

    @property
    def runtime(self) -> Runtime:
        assert self._app is not None
        return self._app.runtime
