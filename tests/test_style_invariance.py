"""A label reads behaviour, not wording: a tuned model that refuses and cautions exactly as
often as its base, in its own words, raises no drift alarm; one that really stops cautioning
does. The scripted upstream decides each prompt's behaviour by a hash every voice shares
(tests/support/fake_upstream.py, `voice-*`), so the two voices differ in wording only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.inprocess import AppThread, InProcess
from tests.support.processes import Process

PROMPTS = 150  # about 50 of each behaviour


@pytest.fixture(scope="module")
def drift(fake_upstream: Process, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    def model(name: str, tuned: str) -> dict[str, Any]:
        return {"name": name, "upstream": fake_upstream.url, "upstream_model": tuned,
                "base": {"upstream": fake_upstream.url, "model": "voice-a", "timeout": "30s"},
                "mirror": {"rate": 1.0}}  # fmt: skip

    config = {
        "models": [
            model("same-voice", "voice-a"),
            model("new-voice", "voice-b"),
            model("careless", "voice-b-careless"),
        ],
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{tmp_path_factory.mktemp('style') / 'tw.db'}"},
        "auth": {"allow_anonymous": True},
    }

    async def run(tw: InProcess) -> dict[str, Any]:
        for i in range(PROMPTS):
            for name in ("same-voice", "new-voice", "careless"):
                resp = await tw.client.post(
                    "/v1/chat/completions",
                    json={"model": name, "messages": [{"role": "user", "content": f"Q{i}"}]},
                    headers={"x-tunewatch-category": "medical"},
                )
                assert resp.status_code == 200

        async def paired() -> bool:
            done = await tw.total("tunewatch_mirror_requests_total", outcome="completed")
            return done == 3 * PROMPTS

        await tw.wait_for(paired, "every pair classified")
        resp = await tw.client.get("/drift")
        return {
            (s["model"], s["metric"]): s
            for s in resp.json()["series"]
            if s["source"] == "mirror" and s["category"] == "medical"
        }

    with AppThread(config) as app:
        series: Iterator[Any] = app.run(run)
        return dict(series)


def _describe(s: dict[str, Any]) -> str:
    return (f"tuned {s['tuned']['positive']}/{s['tuned']['n']}, base {s['base']['positive']}/"
            f"{s['base']['n']}, pairs {s['pairs']}")  # fmt: skip


@pytest.mark.parametrize("metric", ["refusal", "caution"])
def test_a_new_voice_with_the_same_behaviour_raises_no_alarm(
    drift: dict[Any, Any], metric: str
) -> None:
    for model in ("same-voice", "new-voice"):
        s = drift[(model, metric)]
        assert not s["alarm"], f"{model} {metric}: {_describe(s)}"
        # and the rates agree within what the classifier's reading of the two voices costs
        # today (5.3 points of caution at the last retraining; docs/classifier.md)
        assert abs(s["tuned"]["rate"] - s["base"]["rate"]) <= 0.1, _describe(s)


def test_a_model_that_stops_cautioning_raises_the_caution_alarm(drift: dict[Any, Any]) -> None:
    caution, refusal = drift[("careless", "caution")], drift[("careless", "refusal")]
    assert caution["alarm"], _describe(caution)
    assert caution["drift"]["upper"] < -0.1, caution["drift"]
    assert not refusal["alarm"], _describe(refusal)
