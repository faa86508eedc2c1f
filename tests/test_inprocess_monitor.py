"""The monitor in process: mirroring to a base, classification, pairs and /drift, fast.

The scripted upstream answers `mixed` and `mixed-base` with a refusal or a helpful answer
picked by a hash of the prompt (tests/support/fake_upstream.py), so which pairs disagree is
known in advance; the classifier (a real worker process) labels those two fixed answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.fake_upstream import _mixed
from tests.support.inprocess import AppThread, InProcess, series, total
from tests.support.processes import Process

MIRROR = "tunewatch_mirror_requests_total"
RESPONSES = "tunewatch_responses_total"
REFUSAL = "I'm sorry, but I can't help with that request."


def _config(fake: Process, store: str) -> dict[str, Any]:
    def model(name: str, tuned: str, base: str | None, rate: float = 1.0) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": name, "upstream": fake.url, "upstream_model": tuned}
        if base is not None:
            entry["base"] = {"upstream": fake.url, "model": base, "timeout": "30s"}
            entry["mirror"] = {"rate": rate}
        return entry

    return {
        "models": [
            model("pairs", "mixed", "mixed-base"),
            model("streamed", "stream-ok", "mixed-base"),
            model("optout", "mixed", "mixed-base"),
            model("unsampled", "mixed", "mixed-base", rate=0.0),
            model("slowbase", "mixed", "hang"),
            model("brokenbase", "mixed", "error-503"),
            model("live", "ok", None),
        ],
        # Room for the hanging base's mirrors to wait without holding up the other tests'.
        "monitor": {"mirror_concurrency": 8},
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{store}"},
        "auth": {"allow_anonymous": True},
    }


@pytest.fixture(scope="module")
def proxy(fake_upstream: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    store = tmp_path_factory.mktemp("inprocess-monitor") / "tw.db"
    with AppThread(_config(fake_upstream, str(store))) as app:
        yield app


def _messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


async def _send(
    tw: InProcess, model: str, prompt: str, headers: dict[str, str] | None = None, **extra: Any
) -> None:
    body = {"model": model, "messages": _messages(prompt), **extra}
    resp = await tw.client.post("/v1/chat/completions", json=body, headers=headers)
    assert resp.status_code == 200, resp.text


def _refuses(upstream_model: str, prompt: str) -> bool:
    """What the fake upstream answers this prompt with (the hash it uses)."""
    return _mixed(upstream_model, {"messages": _messages(prompt)}) == REFUSAL


def _drift_series(drift: dict[str, Any], model: str, source: str, metric: str) -> list[Any]:
    return [
        s
        for s in drift["series"]
        if s["model"] == model and s["source"] == source and s["metric"] == metric
    ]


def test_mirrored_pairs_are_counted_classified_and_reach_drift(proxy: AppThread) -> None:
    prompts = [f"pairs question number {i}" for i in range(8)]
    tuned = [_refuses("mixed", p) for p in prompts]
    base = [_refuses("mixed-base", p) for p in prompts]
    # The prompts are fixed, so this holds; it guards the test's own premise.
    assert any(t != b for t, b in zip(tuned, base, strict=True)), "no discordant pair"
    n = len(prompts)

    async def check(tw: InProcess) -> None:
        for prompt in prompts:
            await _send(tw, "pairs", prompt)

        async def completed() -> bool:
            return await tw.total(MIRROR, model="pairs", outcome="completed") == n

        await tw.wait_for(completed, f"{n} completed mirrors")
        text = await tw.metrics()
        assert total(text, MIRROR, model="pairs", outcome="sampled") == n
        assert total(text, MIRROR, model="pairs", outcome="dropped") == 0
        assert total(text, MIRROR, model="pairs", outcome="failed") == 0
        assert total(text, RESPONSES, model="pairs", role="tuned", source="mirror") == n
        assert total(text, RESPONSES, model="pairs", role="base", source="mirror") == n
        assert total(text, RESPONSES, model="pairs", role="tuned", source="live") == n
        # The classifier labels the fake's two answers: the refusal as a full refusal.
        tuned_full = total(
            text, RESPONSES, model="pairs", role="tuned", source="mirror", refusal="full"
        )
        base_full = total(
            text, RESPONSES, model="pairs", role="base", source="mirror", refusal="full"
        )
        assert (tuned_full, base_full) == (sum(tuned), sum(base))

        drift = (await tw.client.get("/drift")).json()
        refusal = _drift_series(drift, "pairs", "mirror", "refusal")
        assert refusal, drift["series"]
        pairs = {k: sum(s["pairs"][k] for s in refusal) for k in refusal[0]["pairs"]}
        assert pairs == {
            "both": sum(t and b for t, b in zip(tuned, base, strict=True)),
            "tuned_only": sum(t and not b for t, b in zip(tuned, base, strict=True)),
            "base_only": sum(b and not t for t, b in zip(tuned, base, strict=True)),
            "neither": sum(not t and not b for t, b in zip(tuned, base, strict=True)),
        }
        assert sum(s["tuned"]["positive"] for s in refusal) == sum(tuned)
        assert sum(s["base"]["positive"] for s in refusal) == sum(base)
        assert sum(s["drift"]["n"] for s in refusal) == n
        assert all(-1.0 <= s["drift"]["estimate"] <= 1.0 for s in refusal)
        assert _drift_series(drift, "pairs", "mirror", "caution")

    proxy.run(check)


def test_streamed_answers_are_mirrored_as_unary_calls(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        for i in range(3):
            body = {"model": "streamed", "messages": _messages(f"stream {i}"), "stream": True,
                    "stream_options": {"include_usage": True}}  # fmt: skip
            resp = await tw.client.post("/v1/chat/completions", json=body)
            assert resp.status_code == 200 and resp.text.endswith("data: [DONE]\n\n")

        async def completed() -> bool:
            return await tw.total(MIRROR, model="streamed", outcome="completed") == 3

        await tw.wait_for(completed, "3 completed mirrors of streamed requests")
        assert await tw.total(RESPONSES, model="streamed", role="base", source="mirror") == 3
        # The tuned side is the teed stream ("tok0 tok1 ..."): classified, not a refusal.
        assert (
            await tw.total(
                RESPONSES, model="streamed", role="tuned", source="mirror", refusal="none"
            )
            == 3
        )

    proxy.run(check)


def test_mirror_header_off_keeps_a_request_from_the_base(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        for i, value in enumerate(["off", "OFF", "off"]):
            await _send(tw, "optout", f"private {i}", headers={"X-Tunewatch-Mirror": value})
        for i in range(2):
            await _send(tw, "optout", f"public {i}", headers={"X-Tunewatch-Mirror": "on"})

        async def settled() -> bool:
            text = await tw.metrics()
            live = total(text, RESPONSES, model="optout", role="tuned", source="live")
            done = total(text, MIRROR, model="optout", outcome="completed")
            return live == 5 and done == 2

        await tw.wait_for(settled, "5 live answers and 2 completed mirrors")
        assert await tw.total(MIRROR, model="optout", outcome="sampled") == 2
        assert await tw.total(RESPONSES, model="optout", role="base") == 2

    proxy.run(check)


def test_rate_zero_mirrors_nothing(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        for i in range(3):
            await _send(tw, "unsampled", f"unsampled {i}")

        async def classified() -> bool:
            return await tw.total(RESPONSES, model="unsampled", role="tuned", source="live") == 3

        await tw.wait_for(classified, "3 live answers")
        assert await tw.total(MIRROR, model="unsampled") == 0
        assert await tw.total(RESPONSES, model="unsampled", role="base") == 0
        drift = (await tw.client.get("/drift")).json()
        assert not _drift_series(drift, "unsampled", "mirror", "refusal")

    proxy.run(check)


def test_hanging_base_does_not_hold_up_the_client(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        for i in range(2):
            await _send(tw, "slowbase", f"slow base {i}")
        # Both clients have their answers; both mirrors are still waiting on the base.
        assert await tw.total(MIRROR, model="slowbase", outcome="sampled") == 2
        for outcome in ("completed", "failed", "dropped"):
            assert await tw.total(MIRROR, model="slowbase", outcome=outcome) == 0

        async def classified() -> bool:
            return await tw.total(RESPONSES, model="slowbase", role="tuned", source="live") == 2

        # The tuned answers are classified for the live rates without waiting for the pair.
        await tw.wait_for(classified, "the tuned answers to be classified")
        assert await tw.total(MIRROR, model="slowbase", outcome="completed") == 0
        assert await tw.total(RESPONSES, model="slowbase", role="base") == 0
        # Other traffic still flows while those mirrors hang.
        await _send(tw, "live", "still serving?")

    proxy.run(check)


def test_failing_base_counts_failed_mirrors_not_client_errors(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        for i in range(2):
            await _send(tw, "brokenbase", f"broken base {i}")

        async def failed() -> bool:
            return await tw.total(MIRROR, model="brokenbase", outcome="failed") == 2

        await tw.wait_for(failed, "2 failed mirrors")
        errors = await tw.total(
            "tunewatch_upstream_errors_total", model="brokenbase", role="base", kind="status"
        )
        assert errors == 2
        assert await tw.total(MIRROR, model="brokenbase", outcome="completed") == 0
        requests = await tw.total("tunewatch_requests_total", model="brokenbase", code="200")
        assert requests == 2

    proxy.run(check)


def test_live_answers_and_the_category_header(proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        await _send(tw, "live", "how are you", headers={"X-Tunewatch-Category": "legal"})
        await _send(tw, "live", "how are you", headers={"X-Tunewatch-Category": "made_up"})

        async def classified() -> bool:
            return await tw.total(RESPONSES, model="live", role="tuned", source="live") >= 2

        await tw.wait_for(classified, "2 live answers")
        text = await tw.metrics()
        categories = {
            labels["category"] for labels, _ in series(text, RESPONSES) if labels["model"] == "live"
        }
        assert "legal" in categories  # a configured category named by the client is taken
        assert "made_up" not in text  # an unknown one is ignored: no label from a client
        drift = (await tw.client.get("/drift")).json()
        live = _drift_series(drift, "live", "live", "refusal")
        assert {s["category"] for s in live} == categories
        for s in live:  # no base model: rates for the tuned side only, no pairs
            assert s["base"]["n"] == 0 and s["base"]["rate"] is None
            assert sum(s["pairs"].values()) == 0 and "drift" not in s
        assert sum(s["tuned"]["n"] for s in live) >= 2

    proxy.run(check)
