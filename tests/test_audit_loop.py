"""The audit loop in process: a random share of pairs kept whole for review whatever
`keep_text` says, reviews turning into corrected drift in /drift and /metrics, and a new
classifier version starting new evidence.

The scripted upstream answers `mixed` and `mixed-base` with a refusal or a helpful answer
picked by a hash of the prompt (tests/support/fake_upstream.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.support.inprocess import AppThread, InProcess, series, total
from tests.support.processes import Process
from tunewatch.monitoring.audit import MIN_REVIEWED
from tunewatch.monitoring.classifier_version import weights_version
from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.store import Observation, Store

PAIRS = 24


def _config(fake: Process, store: Path, rate: float) -> dict[str, Any]:
    base = {"upstream": fake.url, "model": "mixed-base", "timeout": "30s"}
    return {
        "models": [
            {
                "name": "pairs",
                "upstream": fake.url,
                "upstream_model": "mixed",
                "base": base,
                "mirror": {"rate": 1.0},
            },
            {
                "name": "tools",
                "upstream": fake.url,
                "upstream_model": "tool-call",
                "base": base,
                "mirror": {"rate": 1.0},
            },
        ],
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{store}", "keep_text": "none"},
        "audit": {"rate": rate, "keep_days": 30},
        "auth": {"allow_anonymous": True},
    }


@pytest.fixture(scope="module")
def audited(
    fake_upstream: Process, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppThread]:
    store = tmp_path_factory.mktemp("audit-loop") / "tw.db"
    with AppThread(_config(fake_upstream, store, rate=1.0)) as app:
        app.run(_traffic)
        yield app


async def _traffic(tw: InProcess) -> None:
    await _traffic_for(tw, "tools", PAIRS, wait=False)
    await _traffic_for(tw, "pairs", PAIRS)


async def _traffic_for(tw: InProcess, model: str, count: int, *, wait: bool = True) -> None:
    for i in range(count):
        body = {"model": model, "messages": [{"role": "user", "content": f"question {i}?"}]}
        resp = await tw.client.post("/v1/chat/completions", json=body)
        assert resp.status_code == 200, resp.text

    async def written() -> bool:
        return len(await _rows(tw, "SELECT pair_id FROM audit_pairs")) >= count

    if wait:
        await tw.wait_for(written, f"{count} audited pairs in the store")


async def _rows(tw: InProcess, query: str) -> list[tuple[Any, ...]]:
    path = tw.runtime.config.store.path
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(query).fetchall()


def test_audited_pairs_keep_their_text_when_nothing_else_does(audited: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        pairs = await _rows(tw, "SELECT model, prompt, tuned, base, classifier FROM audit_pairs")
        assert len(pairs) == PAIRS  # a tool call is no pair, so it is never drawn
        assert {p[0] for p in pairs} == {"pairs"}
        assert all(p[1] and p[1].startswith("question") and p[2] and p[3] for p in pairs)
        assert {p[4] for p in pairs} == {weights_version()}
        # keep_text none: the observations hold no text, audited or not
        kept = await _rows(tw, "SELECT COUNT(*) FROM observations WHERE prompt IS NOT NULL "
                               "OR response IS NOT NULL")  # fmt: skip
        assert kept == [(0,)]
        assert await tw.total("tunewatch_audit_pairs_total", model="pairs") == PAIRS

    audited.run(check)


def test_reviews_correct_the_drift_in_drift_and_metrics(audited: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        store = tw.runtime.store
        pairs = store.audit_pairs()
        assert len(pairs) >= MIN_REVIEWED
        # The reviewer says every answer refused: the tuned model's refusals that the
        # classifier missed (and the base's) make the classifier wrong on some answers.
        everything_refused = Labels("full", False)
        for pair in pairs:
            assert store.add_review(pair["pair_id"], "ann", "human", everything_refused,
                                    everything_refused)  # fmt: skip
        await tw.runtime.monitor.refresh_audit()
        drift = (await tw.client.get("/drift")).json()
        refusal = [s for s in drift["series"]
                   if s["model"] == "pairs" and s["source"] == "mirror" and s["metric"] == "refusal"]  # fmt: skip
        assert len(refusal) == 1 and "corrected" in refusal[0]
        fixed = refusal[0]["corrected"]
        assert fixed["reviewed"] == len(pairs) and fixed["pairs"] == PAIRS
        # people said both sides always refuse: the corrected rates sit at 1, difference 0
        assert fixed["tuned"]["estimate"] == pytest.approx(1.0)
        assert fixed["drift"]["lower"] <= 0.0 <= fixed["drift"]["upper"]
        assert drift["audit"]["reviewed_pairs"] == {"pairs": len(pairs)}
        text = await tw.metrics()
        bounds = {labels["bound"]: value for labels, value in series(text, "tunewatch_drift_corrected")
                  if labels["model"] == "pairs" and labels["metric"] == "refusal"}  # fmt: skip
        assert bounds["lower"] <= bounds["estimate"] <= bounds["upper"]
        agreement = total(text, "tunewatch_label_agreement_ratio", model="pairs", role="tuned",
                          metric="refusal")  # fmt: skip
        refused = await _rows(tw, "SELECT SUM(tuned_refusal != 'none') FROM audit_pairs")
        assert agreement == pytest.approx(refused[0][0] / len(pairs))
        assert total(text, "tunewatch_audit_reviewed_pairs", model="pairs") == len(pairs)

    audited.run(check)


def test_no_audit_keeps_no_text(fake_upstream: Process, tmp_path: Path) -> None:
    store = tmp_path / "tw.db"
    with AppThread(_config(fake_upstream, store, rate=0.0)) as app:

        async def check(tw: InProcess) -> None:
            body = {"model": "pairs", "messages": [{"role": "user", "content": "hello?"}]}
            assert (await tw.client.post("/v1/chat/completions", json=body)).status_code == 200

            async def paired() -> bool:
                return await tw.total("tunewatch_mirror_requests_total", model="pairs",
                                      outcome="completed") >= 1  # fmt: skip

            await tw.wait_for(paired, "the mirrored pair")
            assert await _rows(tw, "SELECT * FROM audit_pairs") == []

        app.run(check)


def test_a_new_classifier_starts_new_evidence(fake_upstream: Process, tmp_path: Path) -> None:
    path = tmp_path / "tw.db"
    store = Store(path)
    store.write_now(Observation(1.0, "pairs", "probe", "tuned", "medical", "full", False),
                    classifier="an-older-classifier")  # fmt: skip
    store.set_meta("classifier", "an-older-classifier")
    store.close()
    with AppThread(_config(fake_upstream, path, rate=0.0)) as app:

        async def check(tw: InProcess) -> None:
            assert tw.runtime.store.get_meta("classifier") == weights_version()
            assert set(tw.runtime.engine.resets) == {"pairs", "tools"}
            assert await tw.total("tunewatch_drift_resets_total", reason="classifier") == 2

        app.run(check)
    with AppThread(_config(fake_upstream, path, rate=0.0)) as app:  # same classifier: no reset

        async def again(tw: InProcess) -> None:
            assert await tw.total("tunewatch_drift_resets_total", reason="classifier") == 0

        app.run(again)


def test_a_configured_judge_labels_the_audited_pairs_apart_from_people(
    fake_upstream: Process, tmp_path: Path
) -> None:
    config = _config(fake_upstream, tmp_path / "tw.db", rate=1.0)
    config["models"] = config["models"][:1]
    config["audit"]["judge"] = {"upstream": fake_upstream.url, "model": "judge-full",
                                "timeout": "10s", "counts": True}  # fmt: skip
    with AppThread(config) as app:

        async def check(tw: InProcess) -> None:
            await _traffic_for(tw, "pairs", 12)

            async def judged() -> bool:
                return len(tw.runtime.store.reviews("judge")) >= 12

            await tw.wait_for(judged, "the judge's labels of 12 audited pairs")
            reviews = tw.runtime.store.reviews()
            assert {(r["labeller"], r["kind"]) for r in reviews} == {("judge:judge-full", "judge")}
            assert all(
                r["tuned_refusal"] == "full" and r["base_refusal"] == "full" for r in reviews
            )
            assert await tw.total("tunewatch_judge_verdicts_total", model="judge-full",
                                  outcome="parsed") >= 24  # fmt: skip
            await tw.runtime.monitor.refresh_audit()
            drift = (await tw.client.get("/drift")).json()
            series = [
                s for s in drift["series"] if s["source"] == "mirror" and s["metric"] == "refusal"
            ]
            # the judge's correction is reported, apart; people's (none yet) is not invented
            assert series and "corrected_by_judge" in series[0] and "corrected" not in series[0]
            assert drift["audit"]["reviewed_pairs"] == {}

        app.run(check)
