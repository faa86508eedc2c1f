"""Routing of public model names to upstreams, precomputed so the hot path only looks up."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from tunewatch.proxy.config import Config, ModelConfig, secret
from tunewatch.proxy.http1 import header_lines


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """A public model name and where its tuned (and base) model is served."""

    name: str
    upstream: str
    target_model: str
    config: ModelConfig
    headers: dict[str, str] = field(default_factory=dict)
    header_lines: bytes = b""  # `headers` as the lean client sends them (proxy.http1)
    base_header_lines: bytes = b""  # the same for the base model's upstream
    rename_in_stream: Callable[[bytes], bytes] = field(default=lambda b: b)

    def targets(self) -> list[tuple[str, str, str, dict[str, str]]]:
        """(role, upstream URL, served name, headers) for the tuned model and its base."""
        found = [("tuned", self.upstream, self.target_model, self.headers)]
        base = self.config.base
        if base is not None:
            found.append(("base", base.upstream, base.model, upstream_headers(base.api_key_env)))
        return found


async def served_entry(
    client: httpx.AsyncClient,
    url: str,
    served: str,
    headers: dict[str, str],
    timeout: float,
) -> tuple[int, dict[str, Any] | None]:
    """(HTTP status, the `/models` entry for `served` or None) from an upstream's listing."""
    async with asyncio.timeout(timeout):  # the whole exchange, as httpx's are per phase
        resp = await client.get(url + "/models", headers=headers, timeout=timeout)
    if resp.status_code != 200:
        return resp.status_code, None
    listing = orjson.loads(resp.content)
    data = listing.get("data", []) if isinstance(listing, dict) else []
    entry = next((m for m in data if isinstance(m, dict) and m.get("id") == served), None)
    return 200, entry


def _renamer(upstream_name: str, public_name: str) -> Callable[[bytes], bytes]:
    """Rewrites the model name in SSE bytes without parsing the JSON, in both spacings."""
    if upstream_name == public_name:
        return lambda data: data
    old = orjson.dumps(upstream_name)
    new = orjson.dumps(public_name)
    tight_old, tight_new = b'"model":' + old, b'"model":' + new
    spaced_old, spaced_new = b'"model": ' + old, b'"model": ' + new

    def rename(data: bytes) -> bytes:
        return data.replace(tight_old, tight_new).replace(spaced_old, spaced_new)

    return rename


def upstream_headers(api_key_env: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    key = secret(api_key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def build_routes(config: Config) -> dict[str, ModelRoute]:
    routes: dict[str, ModelRoute] = {}
    for model in config.models:
        headers = upstream_headers(model.api_key_env)
        routes[model.name] = ModelRoute(
            name=model.name,
            upstream=model.upstream,
            target_model=model.target_model,
            config=model,
            headers=headers,
            header_lines=header_lines(headers),
            base_header_lines=header_lines(upstream_headers(model.base.api_key_env))
            if model.base is not None
            else b"",
            rename_in_stream=_renamer(model.target_model, model.name),
        )
    return routes
