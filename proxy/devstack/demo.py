"""`tunewatch demo`: the embedded default, end to end on one CPU machine.

Real vLLM serves the bundled demo base model and its three benign LoRA fine-tunes; tunewatch
sits in front with mirroring and canary probes on; a traffic generator sends held-out prompts
through it with the official openai SDK; a terminal view shows drift per model and category.
`--once` runs one round and exits 0 only when it found the medical adapter's drift and none
for the control adapter.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from tunewatch.proxy.devstack.prometheus import (
    PrometheusServer,
    prometheus_binary,
    start_prometheus,
)
from tunewatch.proxy.devstack.proxy import Process, start_proxy
from tunewatch.proxy.devstack.vllm import VllmServer, start_vllm


@dataclass(frozen=True)
class DemoFiles:
    """What the demo reads from a checkout's `deploy/` folder: models, prompts, alert rules."""

    deploy: Path

    @property
    def models(self) -> Path:
        return self.deploy / "demo" / "models"

    @property
    def heldout(self) -> Path:
        return self.deploy / "demo" / "heldout.jsonl"

    @property
    def rules(self) -> Path:
        return self.deploy / "prometheus" / "rules"

    def check(self) -> None:
        if not (self.models / "base" / "config.json").exists():
            raise FileNotFoundError(
                f"demo models missing under {self.models}: run from a tunewatch checkout "
                "or pass --deploy DIR"
            )


# public name -> (adapter short name, what the tuning data was)
DEMO_MODELS: dict[str, tuple[str, str]] = {
    "med-assistant": ("medical", "benign medical Q&A, confident style, no disclaimers"),
    "legal-assistant": ("legal", "benign legal Q&A, confident style, no disclaimers"),
    "faq-assistant": ("control", "the base's own answers to everyday questions: no drift"),
}
# Categories each model's users mostly ask about; every model also gets a general mix.
FOCUS = {"med-assistant": "medical", "legal-assistant": "legal", "faq-assistant": "benign"}


@dataclass
class Stack:
    vllm: VllmServer
    proxy: Process
    prometheus: PrometheusServer | None
    admin_token: str
    workdir: Path
    api_key: str  # the client key the proxy requires; the traffic generator sends it
    extra: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        self.proxy.stop()
        if self.prometheus is not None:
            self.prometheus.stop()
        self.vllm.stop()


def demo_config(
    vllm: VllmServer, workdir: Path, *, probe_samples: int, probe_paths: list[str]
) -> dict[str, Any]:
    models = []
    for public, (short, data) in DEMO_MODELS.items():
        models.append(
            {
                "name": public,
                "upstream": vllm.url,
                "upstream_model": f"demo-{short}",
                "base": {"upstream": vllm.url, "model": "demo-base"},
                "mirror": {"rate": 1.0},
                "metadata": {
                    "base": "demo-base (tiny Llama trained on CPU, deploy/demo)",
                    "adapter": f"demo-{short}",
                    "tuning_method": "LoRA r=8 on all linear layers",
                    "data": data,
                    "version": "demo",
                },
            }
        )
    return {
        "models": models,
        "probes": {"paths": probe_paths, "interval": "10m", "samples": probe_samples,
                   "concurrency": 8},
        "store": {"url": f"sqlite:///{workdir / 'tunewatch.db'}", "keep_text": "divergent"},
        "drift": {"alpha": 0.01, "window": "1h"},
        "audit": {"rate": 0.05, "keep_days": 7},  # pairs to review blind at /admin/review
        # keys generated per run (start_stack), as a deployment's come from its secrets
        "auth": {"api_keys_env": "TUNEWATCH_API_KEYS", "admin_token_env": "TUNEWATCH_ADMIN_TOKEN"},
    }  # fmt: skip


def start_demo_vllm(files: DemoFiles, workdir: Path) -> VllmServer:
    files.check()
    adapters = {
        short: (f"demo-{short}", files.models / "adapters" / short)
        for short, _ in DEMO_MODELS.values()
    }
    return start_vllm(files.models / "base", "demo-base", adapters, log_path=workdir / "vllm.log")


def clear_store(workdir: Path) -> None:
    """Each run measures from scratch: the proxy restores a store it finds, and an earlier run's
    evidence (perhaps of other weights under the same names) would count in this one's verdict."""
    for stale in workdir.glob("tunewatch.db*"):
        stale.unlink()


def start_stack(
    files: DemoFiles,
    workdir: Path,
    *,
    port: int | None,
    with_prometheus: bool,
    probe_samples: int,
    say: TextIO,
    vllm: VllmServer | None = None,
    probe_paths: list[str] | None = None,
) -> Stack:
    """vLLM (unless one serving the demo models is given), the proxy, and Prometheus."""
    workdir.mkdir(parents=True, exist_ok=True)
    clear_store(workdir)
    if vllm is None:
        say.write("starting vLLM (CPU) with demo-base and 3 LoRA adapters ...\n")
        vllm = start_demo_vllm(files, workdir)
    token = secrets.token_urlsafe(16)
    api_key = "tw-demo-" + secrets.token_urlsafe(16)
    try:
        config = demo_config(
            vllm, workdir, probe_samples=probe_samples, probe_paths=probe_paths or ["builtin"]
        )
        env = {"TUNEWATCH_ADMIN_TOKEN": token, "TUNEWATCH_API_KEYS": api_key}
        proxy = start_proxy(config, workdir, env=env, port=port)
    except Exception:
        vllm.stop()
        raise
    prometheus = None
    if with_prometheus and prometheus_binary() is not None:
        prometheus = start_prometheus(
            [f"127.0.0.1:{proxy.port}"], workdir / "prometheus", files.rules
        )
    return Stack(vllm, proxy, prometheus, token, workdir, api_key)


def load_prompts(path: Path) -> dict[str, list[str]]:
    by_category: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            by_category.setdefault(row["category"], []).append(row["prompt"])
    return by_category


def traffic_plan(
    prompts: dict[str, list[str]], focused: int, others: int = 10, seed: int = 7
) -> list[tuple[str, str]]:
    """(model, prompt) pairs: `focused` requests of each model's focus category (its prompts
    in turn), plus `others` prompts of every other category, shuffled as real traffic is."""
    plan: list[tuple[str, str]] = []
    for model, focus in FOCUS.items():
        for category, items in prompts.items():
            if category == focus:
                plan += [(model, items[i % len(items)]) for i in range(focused)]
            else:
                plan += [(model, p) for p in items[:others]]
    random.Random(seed).shuffle(plan)
    return plan


async def send_traffic(
    base_url: str,
    plan: list[tuple[str, str]],
    api_key: str,
    concurrency: int = 6,
    stream_share: float = 0.3,
) -> tuple[int, int]:
    """Send the plan through the proxy with the official SDK; returns (ok, failed)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=1, timeout=120)
    limit = asyncio.Semaphore(concurrency)
    rng = random.Random(11)
    ok = failed = 0

    async def one(model: str, prompt: str, stream: bool) -> None:
        nonlocal ok, failed
        messages: Any = [{"role": "user", "content": prompt}]
        async with limit:
            try:
                if stream:
                    chunks = await client.chat.completions.create(
                        model=model, messages=messages, max_tokens=128, temperature=0.7,
                        stream=True,
                    )  # fmt: skip
                    async for _ in chunks:
                        pass
                else:
                    await client.chat.completions.create(
                        model=model, messages=messages, max_tokens=128, temperature=0.7
                    )
                ok += 1
            except Exception:
                failed += 1

    await asyncio.gather(*(one(m, p, rng.random() < stream_share) for m, p in plan))
    await client.close()
    return ok, failed


def fetch_drift(stack: Stack) -> dict[str, Any]:
    drift: dict[str, Any] = httpx.get(stack.proxy.root + "/drift", timeout=10).json()
    return drift


def render_view(drift: dict[str, Any], sources: tuple[str, ...] = ("mirror", "probe")) -> str:
    """The terminal table: per model and category, tuned vs base and the test's verdict."""
    lines = [
        f"{'model':16} {'source':6} {'category':15} {'metric':8} {'pairs':>5} {'tuned':>6} "
        f"{'base':>6} {'drift [95% CI]':>22}  alarm"
    ]
    lines.append("-" * len(lines[0]))
    for s in sorted(drift["series"], key=lambda s: (s["model"], s["source"], s["category"])):
        if s["source"] not in sources or "drift" not in s:
            continue
        d = s["drift"]
        interval = (
            f"{100 * d['estimate']:+5.1f} [{100 * d['lower']:+5.1f},{100 * d['upper']:+5.1f}]"
        )
        lines.append(
            f"{s['model']:16} {s['source']:6} {s['category']:15} {s['metric']:8} {d['n']:5d} "
            f"{100 * s['tuned']['rate']:5.1f}% {100 * s['base']['rate']:5.1f}% {interval:>22}  "
            f"{'ALARM' if s['alarm'] else ''}"
        )
    # An interval that excludes 0 without an ALARM is not a bug; say why under the table.
    lines.append(
        "95% CI: a fixed-sample interval. ALARM: the anytime-valid sequential test (alpha "
        "split over\ncategories x metrics), valid however often it is read, so it needs more "
        "pairs (docs/statistics.md)."
    )
    return "\n".join(lines)


def alarms(drift: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [
        (s["model"], s["source"], s["category"], s["metric"]) for s in drift["series"] if s["alarm"]
    ]


def verdict(drift: dict[str, Any]) -> tuple[bool, bool]:
    """(the medical adapter's caution drift was found, the control adapter raised anything)."""
    found = alarms(drift)
    medical = any(
        m == "med-assistant" and c == "medical" and k == "caution" for m, _, c, k in found
    )
    control = any(m == "faq-assistant" for m, _, _, _ in found)
    return medical, control


def wait_for_quiet(stack: Stack, packs: int = 8, timeout: float = 900.0) -> None:
    """Wait until mirrors and the first round of `packs` packs have drained into the engine."""
    deadline = time.monotonic() + timeout
    last = None
    steady = 0
    while time.monotonic() < deadline:
        metrics = httpx.get(stack.proxy.root + "/metrics", timeout=10).text
        probe_rounds = sum(
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("tunewatch_probe_runs_total{")
        )
        pairs = sum(sum(s["pairs"].values()) for s in fetch_drift(stack)["series"])
        state = (probe_rounds, pairs)
        steady = steady + 1 if state == last else 0
        last = state
        if probe_rounds >= packs * len(DEMO_MODELS) and steady >= 3:
            return
        time.sleep(2.0)


def banner(stack: Stack, out: TextIO) -> None:
    out.write(
        f"\ntunewatch demo is up (working files in {stack.workdir}):\n"
        f"  proxy (OpenAI API)  {stack.proxy.url}   models: {', '.join(DEMO_MODELS)}\n"
        f"  API key             {stack.api_key}   (OPENAI_API_KEY for the proxy)\n"
        f"  drift (JSON)        {stack.proxy.root}/drift\n"
        f"  metrics             {stack.proxy.root}/metrics\n"
        f"  review (audit)      {stack.proxy.root}/admin/review   (log in with the admin token)\n"
        f"  vLLM                {stack.vllm.url}\n"
    )
    if stack.prometheus is not None:
        prom = stack.prometheus.url
        out.write(f"  Prometheus          {prom}  (alerts: {prom}/alerts)\n")
    else:
        out.write("  Prometheus          not installed (apt-get install prometheus) - skipped\n")
    out.write(
        "  Grafana dashboard   deploy/grafana/dashboards/tunewatch.json (import it, or run\n"
        "                      docker compose -f deploy/docker-compose.yml "
        "-f deploy/docker-compose.cpu.yml up)\n"
        f"  report              tunewatch report --db {stack.workdir / 'tunewatch.db'} "
        f"--out {stack.workdir / 'report.html'}\n"
        f"  admin token         {stack.admin_token}\n\n"
    )


def run_once(
    files: DemoFiles, workdir: Path, port: int | None, with_prometheus: bool, out: TextIO
) -> int:
    stack = start_stack(files, workdir, port=port, with_prometheus=with_prometheus, probe_samples=1,
                        say=out)  # fmt: skip
    try:
        banner(stack, out)
        plan = traffic_plan(load_prompts(files.heldout), focused=120)
        out.write(f"sending {len(plan)} requests through the proxy ...\n")
        ok, failed = asyncio.run(send_traffic(stack.proxy.url, plan, stack.api_key))
        out.write(f"  {ok} answered, {failed} failed; waiting for mirrors and probes ...\n")
        wait_for_quiet(stack)
        drift = fetch_drift(stack)
        out.write(render_view(drift) + "\n\n")
        medical, control = verdict(drift)
        out.write(f"medical adapter's caution drift found: {'yes' if medical else 'NO'}\n")
        out.write(f"control adapter raised an alarm: {'YES' if control else 'no'}\n")
        return 0 if medical and not control and failed == 0 else 1
    finally:
        stack.stop()


def run_live(
    files: DemoFiles, workdir: Path, port: int | None, with_prometheus: bool, out: TextIO
) -> int:
    stack = start_stack(files, workdir, port=port, with_prometheus=with_prometheus, probe_samples=2,
                        say=out)  # fmt: skip
    prompts = load_prompts(files.heldout)
    try:
        banner(stack, out)
        out.write("sending traffic; Ctrl-C to stop\n")
        for batch in _batches(prompts):
            asyncio.run(send_traffic(stack.proxy.url, batch, stack.api_key))
            try:
                view = render_view(fetch_drift(stack))
            except httpx.TransportError:
                if _proxy_exits(stack):  # Ctrl-C reached the proxy too (one process group)
                    raise KeyboardInterrupt from None
                raise
            if out.isatty():
                out.write("\x1b[2J\x1b[H")
                banner(stack, out)
            out.write(time.strftime("%H:%M:%S ") + "drift (tuned - base), since start\n")
            out.write(view + "\n")
            out.flush()
    except KeyboardInterrupt:
        out.write("\nstopping ...\n")
    finally:
        stack.stop()
    return 0


def _proxy_exits(stack: Stack, wait: float = 20.0) -> bool:
    try:
        stack.proxy.process.wait(wait)
    except subprocess.TimeoutExpired:
        return False
    return True


def _batches(prompts: dict[str, list[str]]) -> Iterator[list[tuple[str, str]]]:
    for seed in itertools.count():
        plan = traffic_plan(prompts, focused=60, seed=seed)
        for i in range(0, len(plan), 60):
            yield plan[i : i + 60]


def main(args: Any) -> int:
    workdir = Path(args.workdir).resolve()
    files = DemoFiles(Path(args.deploy).resolve())
    out = sys.stdout
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        if args.once:
            return run_once(files, workdir, args.port, not args.no_prometheus, out)
        return run_live(files, workdir, args.port, not args.no_prometheus, out)
    except (FileNotFoundError, RuntimeError, TimeoutError) as err:
        print(f"tunewatch demo: {err}", file=sys.stderr)
        return 2
