"""Notice when vLLM starts serving different weights under the same names, and reset that
model's drift evidence: evidence about the old weights says nothing about the new ones."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

from tunewatch.monitoring.store import Store
from tunewatch.proxy.upstreams import ModelRoute, served_entry

log = logging.getLogger("tunewatch.monitor")

Reset = Callable[[str, str], Awaitable[object]]


async def identity(client: httpx.AsyncClient, route: ModelRoute) -> str | None:
    """What the upstreams say they serve under the tuned and base names (root and parent)."""
    parts = []
    for _, url, served, headers in route.targets():
        _, entry = await served_entry(client, url, served, headers, timeout=5.0)
        if entry is None:
            return None
        parts.append(f"{served}={entry.get('root')}<{entry.get('parent')}")
    return "|".join(parts)


async def watch_identity(
    routes: dict[str, ModelRoute],
    client: httpx.AsyncClient,
    store: Store | None,
    reset: Reset,
    every: float,
) -> None:
    """Every `every` seconds; the last identity seen is kept in the store across restarts."""
    seen: dict[str, str] = {}
    while True:
        for route in routes.values():
            try:
                now = await identity(client, route)
            except (httpx.HTTPError, ValueError) as exc:
                log.debug(
                    "upstream identity unknown",
                    extra={"model": route.name, "error": type(exc).__name__},
                )
                continue
            if now is None:
                continue
            key = f"identity:{route.name}"
            previous = seen.get(route.name)
            if previous is None and store is not None:
                previous = await asyncio.to_thread(store.get_meta, key)
            if previous is not None and previous != now:
                log.warning("model identity changed; drift evidence reset",
                            extra={"model": route.name})  # fmt: skip
                await reset(route.name, "model_changed")
            if previous != now and store is not None:
                await asyncio.to_thread(store.set_meta, key, now)
            seen[route.name] = now
        await asyncio.sleep(every)
