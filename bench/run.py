"""`make bench`: tunewatch's overhead, streaming, mirroring, classifier, memory and real-vLLM
share, each side by side with its baseline, measured in one run. Prints a table and writes
`bench/results/latest.json`. Timings on a shared machine are noisy: baselines and candidates
run interleaved, in rounds, and the table shows medians over rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson

from bench import REPO_ROOT, monitor_cost, procs, store_writes, streaming
from bench.procs import Proc
from bench.wrk import WrkResult, chat_body, run_wrk, write_script
from tunewatch.proxy.devstack.vllm import start_vllm, vllm_python

RESULTS = Path(__file__).resolve().parent / "results"
Row = dict[str, Any]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


@contextmanager
def running(*starters: Callable[[], Proc]) -> Iterator[list[Proc]]:
    started: list[Proc] = []
    try:
        for start in starters:
            started.append(start())
        yield started
    finally:
        for proc in reversed(started):
            proc.stop()


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT
        ).stdout.strip()
    except OSError:  # no git on this machine (a copied tree)
        commit = ""
    commit = commit or os.environ.get("TUNEWATCH_COMMIT", "unknown")
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "load_average_at_start": list(os.getloadavg()),
    }


# -- 1. overhead ----------------------------------------------------------------------------
# The default row classifies every answer; this one only mirrored pairs plus a tenth of the rest.
SAMPLED = "tunewatch classify 10%"
# The request path alone: no mirroring, nothing classified. Not a way to run tunewatch, but
# it splits the overhead into the proxy's and the monitoring's.
BARE = "tunewatch unmonitored"


def overhead(work: Path, args: argparse.Namespace) -> list[Row]:
    up = procs.start_upstream(work)
    tuned = up.root + "/v1"
    direct_script = write_script(work / "direct.lua", chat_body("bench-tuned"))
    proxied_script = write_script(work / "proxied.lua", chat_body("bench"))
    starters: list[tuple[str, Callable[[], Proc], Path]] = [
        ("aiohttp passthrough", lambda: procs.start_passthrough(work, tuned), direct_script),
        ("tunewatch", lambda: procs.start_tunewatch(
            work, procs.tunewatch_config(work, tuned, tuned, 0.1)), proxied_script),
        (SAMPLED, lambda: procs.start_tunewatch(work, procs.tunewatch_config(
            work, tuned, tuned, 0.1, classify_rate=0.1)), proxied_script),
        (BARE, lambda: procs.start_tunewatch(work, procs.tunewatch_config(
            work, tuned, tuned, 0.0, classify_rate=0.0)), proxied_script),
    ]  # fmt: skip
    for label, source in _variants(work, args):
        config = procs.tunewatch_config(work, tuned, tuned, 0.1)
        starters.append((label, _tunewatch_starter(work, config, source), proxied_script))
    litellm = procs.litellm_binary() if not args.no_litellm else None
    if litellm is not None:
        starters.append(
            ("litellm proxy", lambda: procs.start_litellm(work, litellm, tuned), direct_script)
        )
    servers: list[tuple[str, Proc | None, Path]] = [("direct", None, direct_script)]
    try:
        for name, start, script in starters:
            try:
                servers.append((name, start(), script))
            except (RuntimeError, TimeoutError) as exc:
                print(f"  {name}: not started ({str(exc).splitlines()[0]})", file=sys.stderr)

        def url(proc: Proc | None) -> str:
            return (proc.root if proc else up.root) + "/v1/chat/completions"

        for _, proc, script in servers:  # warm-up: pools, caches, the classifier worker
            run_wrk(url(proc), script, 8, 1.0)
        runs: dict[tuple[str, int], list[tuple[WrkResult, WrkResult, float, float]]] = {}
        for r in range(args.rounds):
            for conns in args.connections:
                base = None
                for name, proc, script in servers:
                    monitored = proc if proc is not None and name.startswith("tunewatch") else None
                    if monitored:
                        _drained(monitored)
                    cpu0 = proc.cpu_seconds() if proc else 0.0
                    counts0 = _classified(monitored) if monitored else (0.0, 0.0)
                    result = run_wrk(url(proc), script, conns, args.seconds)
                    cpu = proc.cpu_seconds() - cpu0 if proc else float("nan")
                    kept = float("nan")
                    if monitored:
                        counts = _classified(monitored)
                        kept = (counts[0] - counts0[0]) / max(counts[1] - counts0[1], 1.0)
                    if proc is None:
                        base = result
                    assert base is not None
                    runs.setdefault((name, conns), []).append((result, base, cpu, kept))
                    print(f"  round {r + 1} c={conns:<3d} {name:20s} {result.rps:9.0f} req/s "
                          f"p50 {result.p50_ms:7.2f} ms p99 {result.p99_ms:8.2f} ms "
                          f"errors {result.errors + result.non2xx} "
                          f"classified in run {kept:.2f}", file=sys.stderr)  # fmt: skip
    finally:
        for _, proc, _ in servers:
            if proc is not None:
                proc.stop()
        up.stop()
    rows = []
    for (name, conns), samples in runs.items():
        rows.append(
            {
                "target": name,
                "connections": conns,
                "rps": median([s.rps for s, *_ in samples]),
                "ratio": median([s.rps / b.rps for s, b, *_ in samples]),
                "p50_ms": median([s.p50_ms for s, *_ in samples]),
                "p99_ms": median([s.p99_ms for s, *_ in samples]),
                "added_p50_ms": median([s.p50_ms - b.p50_ms for s, b, *_ in samples]),
                "added_p99_ms": median([s.p99_ms - b.p99_ms for s, b, *_ in samples]),
                "cpu_us_per_request": median(
                    [cpu / s.requests * 1e6 for s, _, cpu, _ in samples if s.requests]
                ),
                # Tuned answers the proxy classified while the run lasted (starting with nothing
                # queued), per request answered: below the share configured (1.0, or ~0.19 at
                # classify_rate 0.1 with 10% mirrored), classification was falling behind and,
                # under sustained load, would drop what its queue cannot hold.
                "classified_in_run": median([kept for *_, kept in samples]),
                "errors": sum(s.errors + s.non2xx for s, *_ in samples),
                "rounds": len(samples),
            }
        )
    return rows


def _tunewatch_starter(work: Path, config: dict[str, Any], source: Path) -> Callable[[], Proc]:
    return lambda: procs.start_tunewatch(work, config, source=source)


def _variants(work: Path, args: argparse.Namespace) -> list[tuple[str, Path]]:
    """Other tunewatch trees timed in the same rounds: `--baseline-ref`, `--variant`."""
    out: list[tuple[str, Path]] = []
    for ref in args.baseline_ref:
        out.append((f"tunewatch@{ref}", procs.export_ref(ref, work / f"ref-{len(out)}")))
    for spec in args.variant:
        label, _, path = spec.partition("=")
        out.append((f"tunewatch[{label}]", Path(path).resolve()))
    return out


# -- 2. streaming ---------------------------------------------------------------------------
def stream_timing(work: Path, args: argparse.Namespace) -> Row:
    with running(lambda: procs.start_upstream(work, "stream-upstream", chunks=200, gap=0.005)) as (
        up,
    ):
        tuned = up.root + "/v1"
        config = procs.tunewatch_config(work, tuned, tuned, 0.1)
        with running(
            lambda: procs.start_tunewatch(work, config),
            lambda: procs.start_passthrough(work, tuned),
        ) as (tw, bare):
            timings = streaming.run(
                {
                    "direct": (tuned + "/chat/completions", "bench-tuned"),
                    "aiohttp passthrough": (bare.root + "/v1/chat/completions", "bench-tuned"),
                    "tunewatch": (tw.root + "/v1/chat/completions", "bench"),
                },
                args.streams,
            )
    out: Row = {"chunks_sent": 201, "gap_ms": 5.0, "streams": args.streams}
    for name, runs in timings.items():
        gaps = [g for t in runs for g in t.gaps_ms]
        out[name] = {
            "ttfb_p50_ms": median([t.ttfb_ms for t in runs]),
            "ttfb_max_ms": max(t.ttfb_ms for t in runs),
            "gap_p50_ms": pct(gaps, 50),
            "gap_p99_ms": pct(gaps, 99),
            "gap_max_ms": max(gaps),
            "events_min": min(t.events for t in runs),
            "events_max": max(t.events for t in runs),
            "merged_reads": sum(t.merged_reads for t in runs),
        }
    direct, relayed, proxied = (
        timings["direct"],
        timings["aiohttp passthrough"],
        timings["tunewatch"],
    )
    out["added_ttfb_p50_ms"] = median(
        [p.ttfb_ms - d.ttfb_ms for d, p in zip(direct, proxied, strict=True)]
    )
    out["passthrough_added_ttfb_p50_ms"] = median(
        [p.ttfb_ms - d.ttfb_ms for d, p in zip(direct, relayed, strict=True)]
    )
    return out


# -- 3. mirroring ---------------------------------------------------------------------------
def mirroring(work: Path, args: argparse.Namespace) -> list[Row]:
    with running(
        lambda: procs.start_upstream(work, "tuned-upstream"),
        lambda: procs.start_upstream(work, "slow-base", delay=0.2),
    ) as (up, slow):
        tuned, base = up.root + "/v1", slow.root + "/v1"
        rates = (0.0, 0.1, 1.0)
        script = write_script(work / "mirror.lua", chat_body("bench"))
        starters = [
            (lambda r=r: procs.start_tunewatch(work, procs.tunewatch_config(work, tuned, base, r)))
            for r in rates
        ]
        with running(*starters) as proxies:
            for proc in proxies:
                run_wrk(proc.root + "/v1/chat/completions", script, 8, 1.0)
            samples: dict[tuple[float, int], list[WrkResult]] = {}
            for _ in range(args.rounds):
                for conns in (1, 8):
                    for rate, proc in zip(rates, proxies, strict=True):
                        result = run_wrk(
                            proc.root + "/v1/chat/completions", script, conns, args.seconds
                        )
                        samples.setdefault((rate, conns), []).append(result)
            mirrored = {
                rate: _metric(proc, "tunewatch_mirror_requests_total")
                for rate, proc in zip(rates, proxies, strict=True)
            }
    rows = []
    for (rate, conns), results in samples.items():
        zero = samples[(0.0, conns)]
        rows.append(
            {
                "rate": rate,
                "connections": conns,
                "rps": median([r.rps for r in results]),
                "p50_ms": median([r.p50_ms for r in results]),
                "p99_ms": median([r.p99_ms for r in results]),
                "p50_vs_rate0": median(
                    [r.p50_ms / z.p50_ms for r, z in zip(results, zero, strict=True)]
                ),
                "mirror_outcomes": mirrored[rate],
            }
        )
    return rows


def _drained(proc: Proc, timeout: float = 60.0) -> None:
    """Wait until the proxy has classified what earlier runs left queued."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        depth = _metric(proc, 'tunewatch_monitor_queue_depth{queue="classify"}')
        if sum(depth.values()) == 0:
            return
        time.sleep(0.5)


def _classified(proc: Proc) -> tuple[float, float]:
    """Tuned answers classified so far, and requests answered so far."""
    responses = _metric(proc, "tunewatch_responses_total")
    requests = _metric(proc, "tunewatch_requests_total")
    # A mirrored answer is counted as live and again in its pair: count it once.
    tuned = sum(v for k, v in responses.items() if 'role="tuned"' in k and 'source="live"' in k)
    return tuned, sum(requests.values())


def _metric(proc: Proc, name: str) -> dict[str, float]:
    """Series of one metric, keyed by its label text, from the proxy's /metrics."""
    text = httpx.get(proc.root + "/metrics", timeout=10).text
    out = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, _, value = line.rpartition(" ")
            out[key[len(name) :]] = float(value)
    return out


# -- 4. classifier and drift engine ---------------------------------------------------------
def classifier_rate(args: argparse.Namespace) -> Row:
    # The classifier's own benchmark helpers, on one pinned core, in a child process so the
    # pinning does not follow the rest of this run.
    code = (
        "import json, os\n"
        "from tunewatch.monitoring.classifier import load_classifier\n"
        "from training.classifier.bench import _rate, _texts, analysis_rates\n"
        "os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})\n"
        "clf = load_classifier()\n"
        "out = {}\n"
        "for size in (256, 1024):\n"
        f"    texts = _texts({args.classifier_n}, size)\n"
        "    [clf.classify(t) for t in texts[:50]]\n"
        "    wall, cpu = _rate(lambda: [clf.classify(t) for t in texts], len(texts))\n"
        "    out[str(size)] = {'wall': wall, 'cpu': cpu}\n"
        f"print(json.dumps({{'sizes': out, 'analysis': analysis_rates({args.classifier_n})}}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    rates = orjson.loads(done.stdout.strip().splitlines()[-1])
    row: Row = {
        f"chars_{size}": {"responses_per_s_wall": r["wall"], "responses_per_s_cpu": r["cpu"]}
        for size, r in rates["sizes"].items()
    }
    row["analysis_1024"] = {
        name: {"answers_per_s_wall": r["wall"], "answers_per_s_cpu": r["cpu"]}
        for name, r in rates["analysis"].items()
    }
    return row


def drift_rate() -> Row:
    from tunewatch.monitoring.categories import BUILTIN
    from tunewatch.monitoring.drift import DriftEngine, DriftSettings, Labels

    engine = DriftEngine(DriftSettings(alpha=0.01, family_size=2 * len(BUILTIN)))
    labels = [Labels(r, c) for r in ("none", "partial", "full") for c in (False, True)]
    cats = [c.name for c in BUILTIN]
    n = 200_000
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        for i in range(n):
            engine.add_pair("m", "mirror", cats[i % len(cats)], labels[i % 6], labels[i * 7 % 6])
        best = min(best, time.process_time() - t0)
    t0 = time.process_time()
    summaries = engine.summaries()
    scrape = time.process_time() - t0
    return {"add_pair_per_s_cpu": n / best, "summaries_ms": scrape * 1000,
            "series": len(summaries)}  # fmt: skip


# -- 5. memory ------------------------------------------------------------------------------
def memory(work: Path, args: argparse.Namespace) -> Row:
    with running(
        lambda: procs.start_upstream(work, "mem-tuned"),
        lambda: procs.start_upstream(work, "mem-slow-base", delay=0.2),
    ) as (up, slow):
        config = procs.tunewatch_config(
            work, up.root + "/v1", slow.root + "/v1", 1.0, mirror_queue_size=64
        )
        with running(lambda: procs.start_tunewatch(work, config)) as (tw,):
            url = tw.root + "/v1/chat/completions"
            script = write_script(work / "mem.lua", chat_body("bench"))
            samples = [{"requests": 0, "rss_mib": tw.rss_mib()}]
            for goal in (args.memory_requests // 2, args.memory_requests):
                # wrk runs for a set time, so run it in short bursts until the proxy has
                # answered `goal` requests (read from its own counter), then sample RSS.
                while (served := _served(tw)) < goal:
                    run_wrk(url, script, 32, 5.0, threads=2)
                time.sleep(1.0)
                samples.append({"requests": int(served), "rss_mib": tw.rss_mib()})
            worker = max((procs.rss_mib(p) for p in procs.descendants(tw.pid)), default=0.0)
            outcomes = _metric(tw, "tunewatch_mirror_requests_total")
            dropped = _metric(tw, "tunewatch_monitor_dropped_total")
    first, second = samples[1]["rss_mib"], samples[2]["rss_mib"]
    return {
        "samples": samples,
        "growth": (second - first) / first,
        "classifier_worker_rss_mib": worker,
        "mirror_outcomes": outcomes,
        "dropped": dropped,
    }


def _served(proc: Proc) -> float:
    return sum(_metric(proc, "tunewatch_requests_total").values())


# -- 6. real vLLM ---------------------------------------------------------------------------
def real_vllm(work: Path, args: argparse.Namespace) -> Row | None:
    python = vllm_python()
    if not python.exists():
        print("  vLLM: .venv-vllm missing, skipped", file=sys.stderr)
        return None
    demo = REPO_ROOT / "deploy" / "demo" / "models"
    if (demo / "base" / "config.json").exists() and (demo / "adapters" / "medical").exists():
        model_dir, base_name = demo / "base", "demo-base"
        adapters = {"medical": ("demo-medical", demo / "adapters" / "medical")}
    else:
        subprocess.run(
            [str(python), str(REPO_ROOT / "tests/support/make_tiny_model.py"), str(work)],
            check=True,
            capture_output=True,
        )
        model_dir, base_name = work / "base", "tiny-base"
        adapters = {"lora": ("tiny-lora", work / "lora")}
    tuned_name = next(iter(adapters.values()))[0]
    server = start_vllm(model_dir, base_name, adapters, log_path=work / "vllm.log")
    try:
        config = procs.tunewatch_config(
            work, server.url, server.url, 0.1, name="assistant",
            upstream_model=tuned_name, base_model=base_name,
        )  # fmt: skip
        with running(lambda: procs.start_tunewatch(work, config)) as (tw,):
            timings = asyncio.run(
                _vllm_latencies(
                    {"direct": (server.url, tuned_name), "tunewatch": (tw.root + "/v1",
                                                                       "assistant")},
                    args.vllm_requests,
                )
            )  # fmt: skip
    finally:
        server.stop()
    direct, proxied = median(timings["direct"]), median(timings["tunewatch"])
    return {
        "model": f"{base_name} + {tuned_name}",
        "max_tokens": 8,
        "requests": args.vllm_requests,
        "direct_p50_ms": direct,
        "tunewatch_p50_ms": proxied,
        "direct_p99_ms": pct(timings["direct"], 99),
        "tunewatch_p99_ms": pct(timings["tunewatch"], 99),
        "added_p50_ms": proxied - direct,
        "proxy_share": (proxied - direct) / proxied,
    }


async def _vllm_latencies(targets: dict[str, tuple[str, str]], n: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {name: [] for name in targets}
    async with aiohttp.ClientSession() as session:

        async def once(url: str, model: str) -> float:
            body = {"model": model, "max_tokens": 8, "temperature": 0,
                    "messages": [{"role": "user", "content": "Say hello."}]}  # fmt: skip
            t0 = time.perf_counter()
            async with session.post(url + "/chat/completions", json=body) as resp:
                await resp.read()
                resp.raise_for_status()
            return (time.perf_counter() - t0) * 1000

        for url, model in targets.values():
            for _ in range(3):
                await once(url, model)
        for _ in range(n):
            for name, (url, model) in targets.items():
                out[name].append(await once(url, model))
    return out


# -- table ----------------------------------------------------------------------------------
def targets(results: Row) -> list[Row]:
    """The issue's targets, each with the measured value and whether it held."""
    out: list[Row] = []

    def add(name: str, value: float | None, goal: str, ok: bool | None) -> None:
        out.append({"target": name, "value": value, "goal": goal, "met": ok})

    by = {(r["target"], r["connections"]): r for r in results.get("overhead", [])}
    tw8 = by.get(("tunewatch", 8))
    pt8 = by.get(("aiohttp passthrough", 8))
    if tw8:
        add("throughput vs direct, c=8", tw8["ratio"], ">= 0.25", tw8["ratio"] >= 0.25)
    tw1 = by.get(("tunewatch", 1))
    if tw1:
        add("added p50, c=1 (ms)", tw1["added_p50_ms"], "<= 1.0", tw1["added_p50_ms"] <= 1.0)
    if tw8 and pt8:
        rel = tw8["rps"] / pt8["rps"]
        add("throughput vs bare passthrough, c=8", rel, ">= 0.9", rel >= 0.9)
        # Below 1.0 the idle-priority classifier got less CPU than the load asked for: under
        # sustained load its queue fills and drops (counted); mirrored pairs go first.
        add("  answers classified during the run", tw8["classified_in_run"], "", None)
    sampled8 = by.get((SAMPLED, 8))
    if sampled8 and pt8:
        rel = sampled8["rps"] / pt8["rps"]
        add("  same, classify_rate 0.1", rel, ">= 0.9", rel >= 0.9)
    bare8 = by.get((BARE, 8))
    if bare8 and pt8:
        add("  request path alone (no monitoring)", bare8["rps"] / pt8["rps"], "", None)
    s = results.get("streaming")
    if s:
        add("streaming added TTFB p50 (ms)", s["added_ttfb_p50_ms"], "<= 1.0",
            s["added_ttfb_p50_ms"] <= 1.0)  # fmt: skip
        add("  bare passthrough's, same run (ms)", s["passthrough_added_ttfb_p50_ms"], "", None)
        t = s["tunewatch"]
        add("streaming chunks received (min of runs)", t["events_min"], "= 201",
            t["events_min"] == s["chunks_sent"])  # fmt: skip
    m = {(r["rate"], r["connections"]): r for r in results.get("mirroring", [])}
    if m:
        add("mirror 1.0 primary p50 vs rate 0, c=1", m[(1.0, 1)]["p50_vs_rate0"], "<= 1.10",
            m[(1.0, 1)]["p50_vs_rate0"] <= 1.10)  # fmt: skip
    c = results.get("classifier")
    if c:
        rate = c["chars_1024"]["responses_per_s_cpu"]
        add("classifier responses/s, 1 core, 1 KiB", rate, ">= 2000", rate >= 2000)
    mem = results.get("memory")
    if mem:
        add("RSS growth 50k -> 100k", mem["growth"], "< 0.10", mem["growth"] < 0.10)
    return out


def print_table(results: Row) -> None:
    w = sys.stdout.write
    if results.get("overhead"):
        w("\nOverhead (fast scripted upstream; medians over rounds)\n")
        w(f"{'target':22s}{'conns':>6s}{'req/s':>10s}{'x direct':>10s}{'p50 ms':>9s}"
          f"{'p99 ms':>9s}{'+p50 ms':>9s}{'+p99 ms':>9s}{'cpu us/req':>11s}"
          f"{'classified':>11s}\n")  # fmt: skip
        for r in results["overhead"]:
            w(f"{r['target']:22s}{r['connections']:6d}{r['rps']:10.0f}{r['ratio']:10.3f}"
              f"{r['p50_ms']:9.2f}{r['p99_ms']:9.2f}{r['added_p50_ms']:9.2f}"
              f"{r['added_p99_ms']:9.2f}{r['cpu_us_per_request']:11.0f}"
              f"{r['classified_in_run']:11.2f}\n")  # fmt: skip
    s = results.get("streaming")
    if s:
        w(f"\nStreaming ({s['streams']} streams each, 200 chunks + [DONE], 5 ms apart)\n")
        w(f"{'target':20s}{'TTFB p50':>10s}{'gap p50':>9s}{'gap p99':>9s}{'gap max':>9s}"
          f"{'chunks':>10s}{'merged':>8s}\n")  # fmt: skip
        for name in ("direct", "aiohttp passthrough", "tunewatch"):
            t = s[name]
            w(f"{name:20s}{t['ttfb_p50_ms']:10.2f}{t['gap_p50_ms']:9.2f}{t['gap_p99_ms']:9.2f}"
              f"{t['gap_max_ms']:9.2f}{t['events_min']:>5d}-{t['events_max']:<4d}"
              f"{t['merged_reads']:8d}\n")  # fmt: skip
    if results.get("mirroring"):
        w("\nMirroring (base answers after 200 ms; primary latency)\n")
        w(f"{'rate':>6s}{'conns':>6s}{'req/s':>10s}{'p50 ms':>9s}{'p99 ms':>9s}"
          f"{'p50/rate0':>11s}\n")  # fmt: skip
        for r in sorted(results["mirroring"], key=lambda r: (r["connections"], r["rate"])):
            w(f"{r['rate']:6.1f}{r['connections']:6d}{r['rps']:10.0f}{r['p50_ms']:9.2f}"
              f"{r['p99_ms']:9.2f}{r['p50_vs_rate0']:11.3f}\n")  # fmt: skip
    c = results.get("classifier")
    if c:
        w("\nClassifier (one core) and drift engine\n")
        for size in ("256", "1024"):
            r = c[f"chars_{size}"]
            w(f"  classify {size}-char responses: {r['responses_per_s_cpu']:8.0f}/s cpu-time, "
              f"{r['responses_per_s_wall']:8.0f}/s wall\n")  # fmt: skip
        for name, r in c.get("analysis_1024", {}).items():
            w(f"  analyse 1 KiB answers, {name + ':':24s}{r['answers_per_s_cpu']:8.0f}/s cpu-time "
              f"(prompt tagged, answer classified)\n")  # fmt: skip
    d = results.get("drift")
    if d:
        w(f"  DriftEngine.add_pair: {d['add_pair_per_s_cpu']:,.0f}/s; summaries() of "
          f"{d['series']} series: {d['summaries_ms']:.1f} ms\n")  # fmt: skip
    mon = results.get("monitor")
    if mon:
        w(f"  proxy process CPU per classified answer (hand-off, recording, store): "
          f"{mon['proxy_cpu_us_per_answer']:.0f} us\n")  # fmt: skip
    mem = results.get("memory")
    if mem:
        w("\nMemory (mirror 1.0 to a 200 ms base, mirror queue 64: full and dropping)\n")
        for sample in mem["samples"]:
            w(f"  after {sample['requests']:>7,d} requests: RSS {sample['rss_mib']:7.1f} MiB\n")
        w(f"  growth between the two: {mem['growth'] * 100:+.1f}%; classifier worker "
          f"{mem['classifier_worker_rss_mib']:.0f} MiB\n")  # fmt: skip
    if results.get("store"):
        store_writes.print_table(results["store"], w)
    v = results.get("vllm")
    if v:
        w(f"\nReal vLLM on CPU ({v['model']}, {v['max_tokens']} tokens, {v['requests']} each)\n")
        w(f"  direct p50 {v['direct_p50_ms']:.1f} ms, through tunewatch p50 "
          f"{v['tunewatch_p50_ms']:.1f} ms: +{v['added_p50_ms']:.2f} ms, "
          f"{v['proxy_share'] * 100:.1f}% of end-to-end\n")  # fmt: skip
    if results.get("targets"):
        w("\nTargets\n")
        for t in results["targets"]:
            mark = "" if t["met"] is None else "met" if t["met"] else "NOT MET"
            w(f"  {t['target']:42s}{t['value']:10.3f}  {t['goal']:>9s}  {mark}\n")


SECTIONS = ("overhead", "streaming", "mirroring", "classifier", "memory", "store", "vllm")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", nargs="*", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--skip", nargs="*", choices=SECTIONS, default=[], help="skip these")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per scenario")
    parser.add_argument("--seconds", type=float, default=3.0, help="wrk duration per run")
    parser.add_argument("--connections", type=int, nargs="*", default=[1, 8, 32])
    parser.add_argument("--streams", type=int, default=16, help="streams per target")
    parser.add_argument("--classifier-n", type=int, default=2000)
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--vllm-requests", type=int, default=30)
    parser.add_argument("--store-pairs", type=int, default=10_000, help="pairs per store run")
    parser.add_argument(
        "--baseline-ref",
        action="append",
        default=[],
        metavar="REF",
        help="also time tunewatch as of this git ref (overhead section)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="also time tunewatch imported from this source tree",
    )
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM even if present")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args(argv)
    wanted = [s for s in (args.only or SECTIONS) if s not in args.skip]
    results: Row = {"machine": machine(), "settings": {
        "rounds": args.rounds, "seconds": args.seconds, "connections": args.connections,
        "load_tool": "wrk -t1 (one thread), Lua script POSTing a chat body"}}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tw-bench-") as tmp:
        work = Path(tmp)
        for section in wanted:
            print(f"== {section}", file=sys.stderr)
            t0 = time.monotonic()
            if section == "overhead":
                results["overhead"] = overhead(work, args)
            elif section == "streaming":
                results["streaming"] = stream_timing(work, args)
            elif section == "mirroring":
                results["mirroring"] = mirroring(work, args)
            elif section == "classifier":
                results["classifier"] = classifier_rate(args)
                results["drift"] = drift_rate()
                results["monitor"] = monitor_cost.measure()
            elif section == "memory":
                results["memory"] = memory(work, args)
            elif section == "store":
                results["store"] = store_writes.measure(work, args.store_pairs, args.rounds)
            elif section == "vllm":
                v = real_vllm(work, args)
                if v is not None:
                    results["vllm"] = v
            print(f"   {time.monotonic() - t0:.0f} s", file=sys.stderr)
    results["machine"]["load_average_at_end"] = list(os.getloadavg())
    results["targets"] = targets(results)
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
    print(f"\nwrote {args.out}")
    return 0
