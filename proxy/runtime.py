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
from tunewatch.monitoring.store_backends import open_failure
from tunewatch.probes.registry import PackRegistry
from tunewatch.probes.runner import ProbeResult, Target, upstream_client
from tunewatch.probes.scheduler import ModelPair, Scheduler, ScheduleSettings
from tunewatch.proxy import http1
from tunewatch.proxy.config import Config, ConfigError, categories, drift_settings, secret
from tunewatch.proxy.forward import Forwarder
from tunewatch.proxy.upstreams import (
    ModelRoute,
    UpstreamCollector,
    build_routes,
    tls_contexts,
    upstream_headers,
)
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
    probing: asyncio.Task[None] | None = None  # the scheduler's task, while it serves

    @property
    def probes_running(self) -> bool:
        """The scheduler runs and has packs to run (False when it is not configured)."""
        return (
            self.scheduler is not None
            and self.probing is not None
            and not self.probing.done()
            and bool(self.scheduler.registry.packs)
        )


def build_runtime(config: Config, metrics: Metrics) -> Runtime:
    """The runtime's parts; raises `ConfigError` for what the file's schema cannot see: a
    client key or a probe path missing from this machine."""
    routes = build_routes(config)
    # failovers and each upstream's health, read from the routes at scrape time
    metrics.registry.register(UpstreamCollector(routes))
    problems: list[str] = []
    try:
        check_client_auth(config)
    except ConfigError as err:
        problems += err.errors
    registry = None
    try:
        registry = probe_registry(config, routes)
    except ConfigError as err:
        problems += err.errors
    if problems:  # all of them at once, before anything opens a file
        raise ConfigError(problems)
    api_keys, client_names = client_keys(config)
    engine = DriftEngine(drift_settings(config))
    store = open_store(config)
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
        client_names=client_names,
        watch=monitor,
        observed_headers=(MIRROR_HEADER.encode(), CATEGORY_HEADER.encode()),
        forward_headers=config.server.forward_headers,
    )
    admin_secret = secret(config.auth.admin_token_env)
    admin_token = admin_secret.encode() if admin_secret else None
    scheduler = build_scheduler(config, routes, metrics, monitor, registry)
    return Runtime(
        config, metrics, routes, api_keys, admin_token, engine, store, monitor, client, forwarder,
        scheduler,
    )  # fmt: skip


def open_store(config: Config) -> Store:
    """The configured store, its schema migrated (or checked); `ConfigError` naming the store,
    never its password, when it cannot be opened."""
    url = config.store.resolved_url()
    try:
        return Store(
            url,
            retention_seconds=config.store.retention,
            audit_keep_seconds=config.audit.keep_days * 86400.0,
            migrate=config.store.migrate_on_start,
        )
    except Exception as exc:
        said = open_failure(url, exc)
        if said is None:
            raise
        raise ConfigError([f"store: {said}"]) from exc


def check_client_auth(config: Config) -> None:
    """Client keys are required to serve: at least one configured, and every env var that the
    config names for them set. `auth.allow_anonymous: true` turns both into warnings."""
    auth = config.auth
    unset = []
    keys_env = auth.api_keys_env
    if keys_env and not any(k.strip() for k in (secret(keys_env) or "").split(",")):
        unset.append(
            f"auth.api_keys_env: the environment variable {keys_env} is unset or empty "
            "(it holds the client API keys, comma-separated)"
        )
    for i, client in enumerate(auth.clients):
        if not (secret(client.key_env) or "").strip():
            unset.append(
                f"auth.clients.{i}.key_env: client {client.name!r}: the environment variable "
                f"{client.key_env} is unset or empty"
            )
    if auth.allow_anonymous:
        for problem in unset:
            log.warning("%s; serving on, as auth.allow_anonymous is true", problem)
        if len(unset) == int(bool(keys_env)) + len(auth.clients):  # not one key in force
            log.warning(
                "serving WITHOUT client API keys (auth.allow_anonymous: true): anyone who "
                "reaches the port can use the models"
            )
        return
    if not keys_env and not auth.clients:
        raise ConfigError([
            "auth: no client API keys configured, and without them anyone who reaches the port "
            "uses the models: set auth.api_keys_env (or auth.clients) to env vars holding the "
            "keys, or set auth.allow_anonymous: true to serve without keys"
        ])  # fmt: skip
    if unset:
        raise ConfigError(unset)


def client_keys(config: Config) -> tuple[list[bytes], list[str]]:
    """The client API keys, named clients' first, and those clients' names (the keys from
    auth.api_keys_env have none: they count as client "unnamed")."""
    named = [(key.encode(), c.name) for c in config.auth.clients if (key := secret(c.key_env))]
    keys_env = config.auth.api_keys_env
    unnamed = [k.strip().encode() for k in (secret(keys_env) or "").split(",") if k.strip()]
    return [key for key, _ in named] + unnamed, [name for _, name in named]


@asynccontextmanager
async def running(runtime: Runtime) -> AsyncIterator[None]:
    """Restore the evidence, start the background work; stop it all on the way out."""
    await runtime.monitor.adopt_classifier()
    if runtime.monitor.fleet is not None:
        restored = await runtime.monitor.read_fleet()
    else:
        restored = await asyncio.to_thread(runtime.store.rebuild, runtime.engine)
    async with upstream_client(tls_contexts(runtime.routes)) as upstreams:
        runtime.upstreams = upstreams
        await runtime.monitor.start(upstreams, runtime.client)
        probing = None
        if runtime.scheduler is not None:
            probing = asyncio.create_task(runtime.scheduler.run(upstreams))
            runtime.probing = probing
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
                runtime.probing = None
            await runtime.monitor.stop()
            runtime.client.close()
            gc.unfreeze()  # a process may build another app after this one (tests, embedding)


def probe_pairs(routes: dict[str, ModelRoute]) -> list[ModelPair]:
    """Every configured model that has a base, with the targets probes call."""
    return [
        ModelPair(
            route.name,
            Target(route.upstream, route.target_model, _auth_only(route.headers)),
            Target(base.upstream, base.model, _auth_only(upstream_headers(base.api_key_env))),
        )
        for route in routes.values()
        if (base := route.config.base) is not None
    ]


def probe_registry(config: Config, routes: dict[str, ModelRoute]) -> PackRegistry | None:
    """The packs the scheduler starts with, loaded, when it runs at all (enabled, and some
    model has a base). Raises `ConfigError` for a `probes.paths` entry that does not exist or
    gives no valid pack: the canaries would otherwise be silently off."""
    if not config.probes.enabled or not config.probes.paths or not probe_pairs(routes):
        return None
    registry = PackRegistry(config.probes.paths)
    registry.reload()
    problems = registry.unusable_paths()
    if problems:
        raise ConfigError(problems)
    return registry


def build_scheduler(
    config: Config,
    routes: dict[str, ModelRoute],
    metrics: Metrics,
    monitor: Monitor,
    registry: PackRegistry | None = None,
) -> Scheduler | None:
    """The probe scheduler, when enabled and some model has a base to compare with; its packs
    loaded (and their metric series created) before it returns."""
    if registry is None:
        registry = probe_registry(config, routes)
    if registry is None:
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

    scheduler = Scheduler(registry, probe_pairs(routes), settings, metrics, monitor.analyse, record)
    scheduler.reload()  # the series exist (at zero) from the first scrape
    return scheduler


def _auth_only(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() == "authorization"}
