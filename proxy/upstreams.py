"""Routing of public model names to upstreams, precomputed so the hot path only looks up.

A model (and its base) may list several upstream URLs, replicas of one server. Calls go
round-robin over those not marked down, with passive health checks, all without locks or tasks:

- **failures**: a connection that cannot be opened (refused, unreachable, connect time-out,
  an untrusted TLS certificate), or an answer with status 502, 503 or 504 (what a gateway or
  an overloaded server says). A read time-out or an answer broken mid-way is not one: a slow
  generation is no sign of a dead server, and a crashed one refuses the next connection.
- **back-off**: a failed upstream is skipped for `BACKOFF_START` (10 s), doubled on each
  further failure up to `BACKOFF_CAP` (60 s); failures of calls already under way when it was
  marked do not double it. When its time is up one call tries it (the others keep skipping it
  while that call connects: the connect time-out, at most 10 s); an answer that is not a
  failure clears the mark.
- **all down**: the call still goes, to the upstream whose last failure is the oldest.
- **retry**: a call whose connection failed, so that nothing was sent, is retried once on
  another upstream (`tunewatch_upstream_failovers_total`). Nothing is retried once the request
  was written (a POST is not idempotent); a 502-504 answer goes back to the client unchanged.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import orjson
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tunewatch.proxy import http1
from tunewatch.proxy.config import Config, ConfigError, ModelConfig, TlsConfig, secret
from tunewatch.proxy.http1 import header_lines

BACKOFF_START = 10.0  # seconds an upstream is skipped after a failure
BACKOFF_CAP = 60.0  # ... doubling on each further failure, up to this
FAILING_STATUS = (502, 503, 504)  # answers that mark an upstream down (and still go back)
_FAILING_LOW, _FAILING_HIGH = FAILING_STATUS[0], FAILING_STATUS[-1]

_R = TypeVar("_R", http1.Response, http1.Stream)


class Upstream:
    """One configured URL and its passive health."""

    __slots__ = ("calls", "failed_at", "failures", "index", "trial", "until", "url")

    def __init__(self, url: str, index: int) -> None:
        self.url = url
        self.index = index
        self.until = 0.0  # skipped before this time (time.perf_counter)
        self.failed_at = 0.0
        self.failures = 0  # consecutive; 0: healthy
        self.trial = False  # picked once its back-off ran out; its outcome decides
        self.calls = 0  # calls sent to it (a metric, read at scrape)

    @property
    def up(self) -> bool:
        return self.failures == 0


class UpstreamSet:
    """A model's (or its base's) upstream URLs: which one a call goes to, and failover."""

    __slots__ = ("connect_timeout", "failovers", "members", "model", "next", "role", "tls",
                 "trial_hold")  # fmt: skip

    def __init__(
        self,
        urls: Iterable[str],
        *,
        model: str,
        role: str,
        connect_timeout: float,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.members = tuple(Upstream(url, i) for i, url in enumerate(urls))
        assert self.members, "at least one upstream"
        self.model = model
        self.role = role
        self.connect_timeout = connect_timeout
        # how long the others skip an upstream that one call is trying again: its connection
        # has failed or been made by then
        self.trial_hold = min(connect_timeout, BACKOFF_START)
        self.tls = tls  # for https URLs; None: the system's trust
        self.next = 0
        self.failovers = 0  # calls retried on another upstream (a metric, read at scrape)

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(m.url for m in self.members)

    # -- choosing -----------------------------------------------------------------------
    def pick(self) -> Upstream:
        """The next upstream not marked down, round-robin; when all are, the one whose last
        failure is the oldest. While all are healthy: an index increment and one test."""
        members = self.members
        n = len(members)
        if n == 1:
            return members[0]
        i = self.next
        up = members[i]
        self.next = i + 1 if i + 1 < n else 0
        if not up.failures:
            return up
        return self._pick_past(i)

    def _pick_past(self, i: int) -> Upstream:
        """`pick` when the next in turn has failed: the first from it whose back-off is over."""
        members = self.members
        n = len(members)
        now = time.perf_counter()
        for _ in range(n):
            up = members[i]
            i = i + 1 if i + 1 < n else 0
            if up.until <= now:
                self.next = i
                if up.failures:  # its back-off is over: this call tries it, others wait
                    up.trial = True
                    up.until = now + self.trial_hold
                return up
        return min(members, key=_failed_at)

    def preferred(self) -> str:
        """The first configured URL not marked down (the first when all are): for calls off
        the request path, which neither advance the rotation nor report back."""
        for up in self.members:
            if up.failures == 0:
                return up.url
        return min(self.members, key=_failed_at).url

    def failed(self, up: Upstream) -> None:
        """Mark `up` down after a failed call."""
        now = time.perf_counter()
        if now < up.until and not up.trial:
            return  # already marked by a call that failed first: no doubling
        up.failures += 1
        up.trial = False
        up.failed_at = now
        up.until = now + min(BACKOFF_START * 2 ** min(up.failures - 1, 16), BACKOFF_CAP)

    @staticmethod
    def recovered(up: Upstream) -> None:
        up.failures = 0
        up.trial = False
        up.until = 0.0

    # -- calling ------------------------------------------------------------------------
    # (plain functions handing back `_call`'s coroutine: no extra frame per request)
    def post(
        self, client: http1.Client, path: str, body: bytes, headers: bytes, *,
        read_timeout: float | None,
    ) -> Coroutine[Any, Any, http1.Response]:  # fmt: skip
        """`client.post` to the next upstream, retried once on another when nothing was sent."""
        return self._call(client.post, path, body, headers, read_timeout)

    def stream(
        self, client: http1.Client, path: str, body: bytes, headers: bytes, *,
        read_timeout: float | None,
    ) -> Coroutine[Any, Any, http1.Stream]:  # fmt: skip
        """`client.stream` likewise; the answer's head is in when it returns."""
        return self._call(client.stream, path, body, headers, read_timeout)

    async def _call(
        self,
        send: Callable[..., Awaitable[_R]],
        path: str,
        body: bytes,
        headers: bytes,
        read_timeout: float | None,
    ) -> _R:
        up = self.pick()
        retry = len(self.members) > 1  # once, elsewhere, and only when nothing was sent
        while True:
            up.calls += 1
            try:
                resp = await send(
                    up.url, path, body, headers, connect_timeout=self.connect_timeout,
                    read_timeout=read_timeout, tls=self.tls,
                )  # fmt: skip
                break
            except http1.NOT_SENT:
                self.failed(up)
                if not retry:
                    raise
                retry = False
                self.failovers += 1
                up = self._other(up)
        if _FAILING_LOW <= resp.status <= _FAILING_HIGH:
            self.failed(up)
        elif up.failures:
            self.recovered(up)
        return resp

    def _other(self, failed: Upstream) -> Upstream:
        up = self.pick()
        if up is failed:  # all down and this one picked again: take its neighbour
            up = self.members[(failed.index + 1) % len(self.members)]
        return up


def _failed_at(up: Upstream) -> float:
    return up.failed_at


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """A public model name and where its tuned (and base) model is served."""

    name: str
    tuned: UpstreamSet
    target_model: str
    config: ModelConfig
    headers: dict[str, str] = field(default_factory=dict)
    header_lines: bytes = b""  # `headers` as the lean client sends them (proxy.http1)
    base: UpstreamSet | None = None  # the base model's upstreams, when it has one
    base_header_lines: bytes = b""  # the same for the base model's upstream
    rename_in_stream: Callable[[bytes], bytes] = field(default=lambda b: b)

    @property
    def upstream(self) -> str:
        """The tuned model's first URL not marked down: for calls off the request path
        (pass-through routes, probes, listings)."""
        return self.tuned.preferred()

    def targets(self) -> list[tuple[str, str, str, dict[str, str]]]:
        """(role, upstream URL, served name, headers) for every URL of the tuned model and
        of its base."""
        found = [("tuned", url, self.target_model, self.headers) for url in self.tuned.urls]
        base = self.config.base
        if base is not None:
            headers = upstream_headers(base.api_key_env)
            found += [("base", url, base.model, headers) for url in base.upstreams]
        return found

    def upstream_sets(self) -> list[UpstreamSet]:
        return [self.tuned] if self.base is None else [self.tuned, self.base]


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


def _no_password() -> bytes:
    raise ValueError("the key is encrypted; give an unencrypted PEM key")


def ssl_context(tls: TlsConfig | None, where: str) -> ssl.SSLContext:
    """The context for a model's (or base's) https upstreams: the certificate and hostname
    verified against the system's trust plus `ca_file`; `cert_file`/`key_file` as the client
    certificate. Raises ConfigError naming the field (`where`.ca_file, ...) when a file is
    missing or does not parse."""
    ctx = ssl.create_default_context()
    if tls is None:
        return ctx
    problems = []
    for name in ("ca_file", "cert_file", "key_file"):
        path = getattr(tls, name)
        if path is not None:
            try:
                with open(path, "rb"):
                    pass
            except OSError as exc:
                problems.append(f"{where}.{name}: cannot read {path}: {exc.strerror or exc}")
    if problems:
        raise ConfigError(problems)
    if tls.ca_file:
        try:
            ctx.load_verify_locations(cafile=tls.ca_file)
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError(
                [f"{where}.ca_file: {tls.ca_file} holds no PEM certificate that loads ({exc})"]
            ) from None
    if tls.cert_file:
        try:
            ctx.load_cert_chain(tls.cert_file, tls.key_file, password=_no_password)
        except (ssl.SSLError, ValueError) as exc:
            field_name = "key_file" if "KEY_VALUES_MISMATCH" in str(exc) else "cert_file"
            if tls.key_file and "PEM lib" in str(exc) and not _has_pem(tls.key_file, "KEY"):
                field_name = "key_file"
            raise ConfigError(
                [f"{where}.{field_name}: the client certificate and key do not load ({exc})"]
            ) from None
    return ctx


def _has_pem(path: str, kind: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f"{kind}-----".encode() in f.read(1 << 20)
    except OSError:
        return False


def origin(url: str) -> str:
    """`scheme://host[:port]`: what an httpx mount matches."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def tls_contexts(routes: Mapping[str, ModelRoute]) -> dict[str, ssl.SSLContext]:
    """Every https upstream's origin and its route's SSL context, for httpx's `mounts`
    (probes.runner.upstream_client): calls off the request path trust what the hot path does."""
    found: dict[str, ssl.SSLContext] = {}
    for route in routes.values():
        for upstreams in route.upstream_sets():
            for url in upstreams.urls:
                if url.startswith("https://") and upstreams.tls is not None:
                    found.setdefault(origin(url), upstreams.tls)
    return found


def build_routes(config: Config) -> dict[str, ModelRoute]:
    """The routes, with one SSL context per model and per base. Raises ConfigError for TLS
    files that are missing or do not load, and for one https origin given two TLS settings."""
    routes: dict[str, ModelRoute] = {}
    problems: list[str] = []
    origins: dict[str, tuple[TlsConfig | None, str]] = {}

    def context(urls: tuple[str, ...], tls: TlsConfig | None, where: str) -> ssl.SSLContext | None:
        for url in urls:
            if not url.startswith("https://"):
                continue
            seen = origins.setdefault(origin(url), (tls, where))
            if seen[0] != tls:
                problems.append(
                    f"{where}: {origin(url)} is also an upstream of {seen[1].removesuffix('.tls')}"
                    " with other tls settings; one origin takes one"
                )
        if not any(u.startswith("https://") for u in urls):
            return None
        try:
            return ssl_context(tls, where)
        except ConfigError as err:
            problems.extend(err.errors)
            return None

    for i, model in enumerate(config.models):
        headers = upstream_headers(model.api_key_env)
        tuned = UpstreamSet(
            model.upstreams, model=model.name, role="tuned",
            connect_timeout=model.connect_timeout,
            tls=context(model.upstreams, model.tls, f"models.{i}.tls"),
        )  # fmt: skip
        base = None
        if model.base is not None:
            # The base's calls (mirrored copies) have no connect timeout of their own.
            base = UpstreamSet(
                model.base.upstreams, model=model.name, role="base",
                connect_timeout=model.base.timeout,
                tls=context(model.base.upstreams, model.base.tls, f"models.{i}.base.tls"),
            )  # fmt: skip
        routes[model.name] = ModelRoute(
            name=model.name,
            tuned=tuned,
            target_model=model.target_model,
            config=model,
            headers=headers,
            header_lines=header_lines(headers),
            base=base,
            base_header_lines=header_lines(upstream_headers(model.base.api_key_env))
            if model.base is not None
            else b"",
            rename_in_stream=_renamer(model.target_model, model.name),
        )
    if problems:
        raise ConfigError(problems)
    return routes


class UpstreamCollector(Collector):
    """Failovers, and each configured upstream's calls and state, read from the routes at
    scrape time (the request path updates plain attributes only). Labels come from the config:
    the model, the role, the URL's index in its list and the URL (less any user:password)."""

    def __init__(self, routes: Mapping[str, ModelRoute]) -> None:
        self.routes = routes

    def describe(self) -> list[Metric]:
        return list(self.collect())

    def collect(self) -> Iterable[Metric]:
        failovers = CounterMetricFamily(
            "tunewatch_upstream_failovers",
            "Calls whose connection to one upstream failed before anything was sent, retried "
            "on another of the model's upstreams.",
            labels=["model", "role"],
        )
        calls = CounterMetricFamily(
            "tunewatch_upstream_requests",
            "Calls sent to each configured upstream (those whose connection failed included).",
            labels=["model", "role", "upstream", "url"],
        )
        up = GaugeMetricFamily(
            "tunewatch_upstream_up",
            "1 unless the upstream's last call failed (connection, or status 502-504) and no "
            "call has succeeded since: while 0 it is skipped, then tried again after a back-off. "
            "`upstream` is the URL's place in the config's list.",
            labels=["model", "role", "upstream", "url"],
        )
        for route in self.routes.values():
            for upstreams in route.upstream_sets():
                failovers.add_metric([route.name, upstreams.role], upstreams.failovers)
                for member in upstreams.members:
                    labels = [route.name, upstreams.role, str(member.index),
                              _without_userinfo(member.url)]  # fmt: skip
                    calls.add_metric(labels, member.calls)
                    up.add_metric(labels, float(member.up))
        return [failovers, calls, up]


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()
