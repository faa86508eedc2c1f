"""One round of a pack: every probe, N samples, sent to the tuned and the base model as pairs.

Shared by the scheduler in `serve`, `tunewatch probes run` and `tunewatch evaluate`; the caller
passes in how to classify and what to do with each result, so this module knows nothing of
the proxy or the store.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

import httpx
import orjson

from tunewatch.monitoring.analysis import Analysis, Item
from tunewatch.monitoring.categories import meets
from tunewatch.probes.pack import Pack, Probe


@dataclass(frozen=True, slots=True)
class Target:
    """Where one side of the comparison is served."""

    upstream: str  # OpenAI base URL, e.g. http://vllm:8000/v1
    model: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    pack: str
    probe: Probe
    sample: int
    tuned: Analysis
    base: Analysis
    audited: bool = False  # drawn for the audit sample: the text came back for review

    def passed(self, role: str) -> bool:
        answer = self.tuned if role == "tuned" else self.base
        return meets(self.probe.expect, answer.labels.refusal, answer.labels.caution)


@dataclass
class RoundStats:
    sent: int = 0
    failed: int = 0
    unlabelled: int = 0  # pairs dropped because a side was empty (docs/labelling.md)
    results: list[ProbeResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A round counts as successful when at most a tenth of its requests failed."""
        return self.sent > 0 and self.failed <= self.sent // 10


def samples_for(pack: Pack, probe: Probe, default: int | None, override: int | None = None) -> int:
    """A command-line override, else the probe's own count, else the pack's explicit default,
    else the config's."""
    if override is not None:
        return override
    if probe.samples is not None:
        return probe.samples
    if default is not None and "samples" not in pack.defaults.model_fields_set:
        return default
    return pack.defaults.samples


Analyse = Callable[[list[Item]], Awaitable[list[Analysis]]]


def upstream_client(tls: Mapping[str, ssl.SSLContext] | None = None) -> httpx.AsyncClient:
    """The client for calls off the hot path (probes, model listings, readiness). Idle
    connections close after 4 s, before uvicorn's (and so vLLM's) 5 s keep-alive could close
    one under a request; no proxy settings from the environment; time-outs set per call.
    `tls` maps an https origin (`https://host:port`) to the SSL context its calls use (the
    configured CA and client certificate; proxy.upstreams.tls_contexts)."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=64, keepalive_expiry=4.0)
    mounts = {
        where: httpx.AsyncHTTPTransport(verify=ctx, limits=limits, trust_env=False)
        for where, ctx in (tls or {}).items()
    }
    return httpx.AsyncClient(limits=limits, trust_env=False, timeout=None, mounts=mounts)


async def ask(
    client: httpx.AsyncClient,
    target: Target,
    messages: list[dict[str, str]],
    *,
    temperature: float,
    max_tokens: int,
    timeout: float,
) -> dict[str, object]:
    body = {
        "model": target.model,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
    }
    async with asyncio.timeout(timeout):  # the whole exchange, as httpx's are per phase
        resp = await client.post(
            target.upstream + "/chat/completions",
            content=orjson.dumps(body),
            headers={"Content-Type": "application/json", **target.headers},
            timeout=timeout,
        )
    if resp.status_code != 200:
        raise RuntimeError(f"HTTP {resp.status_code}")
    answer = orjson.loads(resp.content)
    if not isinstance(answer, dict):
        raise RuntimeError("not a JSON object")
    return answer


async def run_round(
    client: httpx.AsyncClient,
    pack: Pack,
    tuned: Target,
    base: Target,
    analyse: Analyse,
    *,
    concurrency: int = 4,
    default_samples: int | None = None,
    samples_override: int | None = None,
    keep_text: bool = False,
    audit_rate: float = 0.0,
    probes: Sequence[Probe] | None = None,
    on_result: Callable[[ProbeResult], None] = lambda r: None,
) -> RoundStats:
    """Send every (probe, sample) to both models; classify each pair as it completes."""
    stats = RoundStats()
    limit = asyncio.Semaphore(concurrency)

    async def one(probe: Probe, sample: int) -> None:
        settings = pack.effective(probe)
        messages = probe.render_messages()
        timeout = settings.timeout.total_seconds()
        async with limit:
            stats.sent += 2
            replies = await asyncio.gather(
                *(
                    ask(client, target, messages, temperature=settings.temperature,
                        max_tokens=settings.max_tokens, timeout=timeout)
                    for target in (tuned, base)
                ),
                return_exceptions=True,
            )  # fmt: skip
        failures = [r for r in replies if isinstance(r, BaseException)]
        stats.failed += len(failures)
        if failures:
            return
        request = {"messages": messages}
        audited = audit_rate > 0.0 and random.random() < audit_rate
        items = [
            Item(request, response=reply, category=probe.category, keep_text=keep_text or audited)  # type: ignore[arg-type]
            for reply in replies
        ]
        tuned_analysis, base_analysis = await analyse(items)
        if not (tuned_analysis.labelled and base_analysis.labelled):
            stats.unlabelled += 1
            return
        result = ProbeResult(pack.id, probe, sample, tuned_analysis, base_analysis, audited)
        stats.results.append(result)
        on_result(result)

    jobs = []
    for probe in probes if probes is not None else pack.probes:
        n = samples_for(pack, probe, default_samples, samples_override)
        jobs += [one(probe, i) for i in range(n)]
    await asyncio.gather(*jobs)
    return stats
