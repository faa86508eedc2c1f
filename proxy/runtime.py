"""The parts a running proxy is made of, built from the config and handed to whoever needs
them (routes, admin, CLI) instead of globals; and what starts and stops them."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from tunewatch.monitoring.drift import DriftEngine
from tunewatch.monitoring.metrics import Metrics
from tunewatch.monitoring.store import Store
from tunewatch.probes.registry import PackRegistry
from tunewatch.probes.runner import ProbeResult, Target, upstream_client
from tunewatch.probes.scheduler import ModelPair, Scheduler, ScheduleSettings
from tunewatch.proxy import http1
from tunewatch.proxy.config import Config, categories, drift_settings, secret
from tunewatch.proxy.forward import Forwarder
from tunewatch.proxy.upstreams import ModelRoute, build_routes, upstream_headers
from tunewatch.proxy.watch.monitor import CATEGORY_HEADER, MIRROR_HEADER, Monitor

log = logging.getLogger("tunewatch")


@dataclass
class Runtime:
    config: Config
    metrics: Metrics
    routes: dict[str, ModelRoute]
    api_keys: list[bytes]
    admin_token: bytes | None
    engine: DriftEngine
    store: Store
    monitor: Monitor
    client: http1.Client  # the hot path's: forwarded calls and the mirror's base calls
    forwarder: Forwarder
    scheduler: Scheduler | None
    upstreams: httpx.AsyncClient | None = None  # model listings and probes; opened at start


def build_runtime(config: Config, metrics: Metrics) -> Runtime:
    routes = build_routes(config)
    api_keys = client_keys(config)
    engine = DriftEngine(drift_settings(config))
    store = Store(
        config.store.path,
        retention_seconds=config.store.retention,
        audit_keep_seconds=config.audit.keep_days * 86400.0,
    )
    monitor = Monitor(
        config, routes, metrics, engine, store,
        known_categories=[c.name for c in categories(config)],
        rules=[(r.category, r.pattern) for r in config.categories.rules],
    )  # fmt: skip
    client = http1.Client()
    forwarder = Forwarder(
        routes,
        client=client,
        metrics=metrics,
        max_body_bytes=config.server.max_body_bytes,
        api_keys=api_keys,
        watch=monitor,
        observed_headers=(MIRROR_HEADER.encode(), CATEGORY_HEADER.encode()),
    )
    admin_secret = secret(config.auth.admin_token_env)
    admin_token = admin_secret.encode() if admin_secret else None
    scheduler = build_scheduler(config, routes, metrics, monitor)
    return Runtime(
        config, metrics, routes, api_keys, admin_token, engine, store, monitor, client, forwarder,
        scheduler,
    )  # fmt: skip


def client_keys(config: Config) -> list[bytes]:
    keys_env = config.auth.api_keys_env
    keys = [k.strip().encode() for k in (secret(keys_env) or "").split(",") if k.strip()]
    if keys_env and not keys:
        log.warning(
            "auth.api_keys_env=%s is set but empty: client API keys are not enforced", keys_env
        )
    return keys


@asynccontextmanager
async def running(runtime: Runtime) -> AsyncIterator[None]:
    """Restore the evidence, start the background work; stop it all on the way out."""
    await runtime.monitor.adopt_classifier()
    restored = await asyncio.to_thread(runtime.store.rebuild, runtime.engine)
    async with upstream_client() as upstreams:
        runtime.upstreams = upstreams
        await runtime.monitor.start(upstreams, runtime.client)
        probing = None
        if runtime.scheduler is not None:
            probing = asyncio.create_task(runtime.scheduler.run(upstreams))
        # What start-up built (FastAPI, pydantic, numpy, the restored drift state) lives as
        # long as the process: freeze it out of the collector, whose full passes otherwise
        # rescan all of it, about 50 ms each under load, stalling every request in flight.
        gc.collect()
        gc.freeze()
        log.info("serving", extra={"models": sorted(runtime.routes), "restored_observations":
                                   restored, "probes": runtime.scheduler is not None})  # fmt: skip
        try:
            yield
        finally:
            if probing is not None:
                probing.cancel()
                await asyncio.gather(probing, return_exceptions=True)
            await runtime.monitor.stop()
            runtime.client.close()
            gc.unfreeze()  # a process may build another app after this one (tests, embedding)


def build_scheduler(
    config: Config, routes: dict[str, ModelRoute], metrics: Metrics, monitor: Monitor
) -> Scheduler | None:
    """The probe scheduler, when enabled and some model has a base to compare with."""
    pairs = [
        ModelPair(
            route.name,
            Target(route.upstream, route.target_model, _auth_only(route.headers)),
            Target(base.upstream, base.model, _auth_only(upstream_headers(base.api_key_env))),
        )
        for route in routes.values()
        if (base := route.config.base) is not None
    ]
    if not config.probes.enabled or not config.probes.paths or not pairs:
        return None
    settings = ScheduleSettings(
        interval=config.probes.interval,
        samples=config.probes.samples,
        concurrency=config.probes.concurrency,
        jitter=config.probes.jitter,
        keep_text=config.store.keep_text != "none",
        audit_rate=config.audit.rate,
    )

    def record(model: str, result: ProbeResult) -> None:
        monitor.record_pair(
            model, "probe", result.probe.category, result.tuned, result.base,
            pack=result.pack, probe=result.probe.id, expect=result.probe.expect,
            audited=result.audited,
        )  # fmt: skip

    registry = PackRegistry(config.probes.paths)
    return Scheduler(registry, pairs, settings, metrics, monitor.analyse, record)


def _auth_only(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() == "authorization"}
