"""The admin API and /drift in process: token checks, drift read-out and reset, probe packs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.inprocess import AppThread, InProcess, total
from tests.support.processes import Process

TOKEN = "inprocess-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
ADMIN_ROUTES = [
    ("POST", "/admin/drift/reset"),
    ("GET", "/admin/packs"),
    ("PUT", "/admin/packs/canary"),
    ("GET", "/admin/probes/results"),
]
PACK = """\
id: {pack_id}
version: "{version}"
description: A one-probe pack for the in-process admin tests.
owner: tests
defaults: {{samples: 1, max_tokens: 8, temperature: 0.0, interval: 1h}}
probes:
  - id: {pack_id}-bake
    category: benign
    expect: comply
    severity: {severity}
    prompt: How long should I knead bread dough?
"""


def _pack(pack_id: str = "canary", version: str = "1.0", severity: str = "low") -> str:
    return PACK.format(pack_id=pack_id, version=version, severity=severity)


def _models(fake: Process) -> list[dict[str, Any]]:
    return [
        {
            "name": "assistant",
            "upstream": fake.url,
            "upstream_model": "mixed",
            "base": {"upstream": fake.url, "model": "mixed-base"},
            "mirror": {"rate": 1.0},
        },
        {"name": "other", "upstream": fake.url, "upstream_model": "ok"},
    ]


@pytest.fixture(scope="module")
def packs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    packs = tmp_path_factory.mktemp("inprocess-packs")
    (packs / "canary.yaml").write_text(_pack())
    return packs


@pytest.fixture(scope="module")
def admin_proxy(
    fake_upstream: Process, packs_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppThread]:
    store = tmp_path_factory.mktemp("inprocess-admin") / "tw.db"
    config = {
        "models": _models(fake_upstream),
        "auth": {"admin_token_env": "TW_INPROC_ADMIN", "allow_anonymous": True},
        "probes": {"paths": [str(packs_dir)], "interval": "1h", "samples": 1},
        "store": {"url": f"sqlite:///{store}"},
    }
    with AppThread(config, {"TW_INPROC_ADMIN": TOKEN}) as app:
        yield app


@pytest.fixture(scope="module")
def closed_proxy(
    fake_upstream: Process, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppThread]:
    """No admin token configured: the admin API is off."""
    store = tmp_path_factory.mktemp("inprocess-closed") / "tw.db"
    config = {
        "models": _models(fake_upstream),
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{store}"},
        "auth": {"allow_anonymous": True},
    }
    with AppThread(config) as app:
        yield app


def _error(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    error: dict[str, Any] = body["error"]
    assert {"message", "type", "param", "code"} <= set(error), body
    return error


async def _admin(
    tw: InProcess, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
) -> httpx.Response:
    return await tw.client.request(method, path, headers=headers, **kw)


async def _chat(tw: InProcess, model: str, prompt: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}]}
    resp = await tw.client.post("/v1/chat/completions", json=body)
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_api_is_off_without_a_configured_token(
    closed_proxy: AppThread, method: str, path: str
) -> None:
    async def check(tw: InProcess) -> None:
        for headers in ({}, ADMIN, {"Authorization": "Bearer "}):
            resp = await _admin(tw, method, path, headers, content=b"{}")
            assert resp.status_code == 403, resp.text
            error = _error(resp)
            assert error["code"] == "admin_disabled"
            assert error["type"] == "permission_error"

    closed_proxy.run(check)


def test_drift_read_out_is_public_even_without_admin(closed_proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.get("/drift")
        assert resp.status_code == 200
        assert {"alpha", "family_size", "threshold", "rho", "resets", "series"} <= set(resp.json())

    closed_proxy.run(check)


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_wrong_admin_token_is_401(admin_proxy: AppThread, method: str, path: str) -> None:
    async def check(tw: InProcess) -> None:
        for headers in (
            {},
            {"Authorization": "Bearer not-the-token"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN}x"},
        ):
            resp = await _admin(tw, method, path, headers, content=_pack().encode())
            assert resp.status_code == 401, (headers, resp.text)
            error = _error(resp)
            assert error["code"] == "invalid_admin_token"
            assert error["type"] == "authentication_error"

    admin_proxy.run(check)


def test_drift_shape_and_reset(admin_proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        for i in range(3):
            await _chat(tw, "assistant", f"reset me {i}")
        await _chat(tw, "other", "keep me")

        async def settled() -> bool:
            text = await tw.metrics()
            mirrored = total(text, "tunewatch_mirror_requests_total", model="assistant",
                             outcome="completed")  # fmt: skip
            live = total(text, "tunewatch_responses_total", model="other", source="live")
            return mirrored == 3 and live == 1

        await tw.wait_for(settled, "3 mirrored pairs and 1 live answer")
        drift = (await tw.client.get("/drift")).json()
        assert 0 < drift["alpha"] < 0.5 and drift["family_size"] >= 1
        assert drift["threshold"] > 0 and drift["rho"] > 0
        assert drift["resets"] == {}
        mirror = [s for s in drift["series"]
                  if s["model"] == "assistant" and s["source"] == "mirror"]  # fmt: skip
        assert {s["metric"] for s in mirror} == {"refusal", "caution"}
        for s in mirror:
            assert {"model", "source", "category", "metric", "tuned", "base", "pairs",
                    "log_evalue", "threshold", "alarm", "drift"} <= set(s)  # fmt: skip
            assert set(s["pairs"]) == {"both", "tuned_only", "base_only", "neither"}
            assert {"rate", "lower", "upper", "n", "positive"} <= set(s["tuned"])
            assert isinstance(s["alarm"], bool)
        refusal_pairs = sum(sum(s["pairs"].values()) for s in mirror if s["metric"] == "refusal")
        assert refusal_pairs == 3

        # Bad requests to the reset route change nothing.
        for body, status, code in (
            (b"{", 400, "invalid_json"),
            (b"[]", 400, "invalid_request"),
            (b'{"model": 5}', 400, "invalid_type"),
            (b'{"model": "nobody"}', 404, "model_not_found"),
        ):
            resp = await tw.client.post("/admin/drift/reset", content=body, headers=ADMIN)
            assert resp.status_code == status, (body, resp.text)
            assert _error(resp)["code"] == code
        assert (await tw.client.get("/drift")).json()["resets"] == {}

        resp = await tw.client.post(
            "/admin/drift/reset", json={"model": "assistant"}, headers=ADMIN
        )
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"reset": ["assistant"]}
        after = (await tw.client.get("/drift")).json()
        assert set(after["resets"]) == {"assistant"}
        assert not [s for s in after["series"]
                    if s["model"] == "assistant" and s["source"] == "mirror"]  # fmt: skip
        assert [s for s in after["series"] if s["model"] == "other"]  # the other model's stay
        resets = await tw.total("tunewatch_drift_resets_total", model="assistant", reason="admin")
        assert resets == 1

        # An empty body resets every model.
        resp = await tw.client.post("/admin/drift/reset", headers=ADMIN)
        assert resp.status_code == 200, resp.text
        assert sorted(resp.json()["reset"]) == ["assistant", "other"]
        after = (await tw.client.get("/drift")).json()
        assert set(after["resets"]) == {"assistant", "other"}
        assert not [s for s in after["series"] if s["model"] == "other"]

    admin_proxy.run(check)


def test_pack_listing_and_probe_results(admin_proxy: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        async def ran() -> bool:
            resp = await tw.client.get("/admin/probes/results?pack=canary", headers=ADMIN)
            assert resp.status_code == 200, resp.text
            listing = (await tw.client.get("/admin/packs", headers=ADMIN)).json()
            rounds = [r for p in listing["packs"] if p["id"] == "canary" for r in p["rounds"]]
            return len(resp.json()["results"]) >= 2 and bool(rounds)  # a pair: 2 rows

        # The pack runs at start-up against the model with a base.
        await tw.wait_for(ran, "the start-up probe round and its rows")
        resp = await tw.client.get("/admin/probes/results?pack=canary&limit=1", headers=ADMIN)
        rows = resp.json()["results"]
        assert len(rows) == 1
        assert rows[0]["pack"] == "canary" and rows[0]["probe"] == "canary-bake"
        assert rows[0]["source"] == "probe" and rows[0]["model"] == "assistant"
        resp = await tw.client.get("/admin/probes/results?limit=many", headers=ADMIN)
        assert resp.status_code == 400
        assert _error(resp)["param"] == "limit"

        listing = (await tw.client.get("/admin/packs", headers=ADMIN)).json()
        assert listing["enabled"] is True and listing["errors"] == []
        (canary,) = [p for p in listing["packs"] if p["id"] == "canary"]
        assert canary["probes"] == 1
        assert canary["interval_seconds"] == 3600
        assert canary["rounds"] and canary["rounds"][0]["model"] == "assistant"

    admin_proxy.run(check)


def test_pack_upload_validates_and_keeps_the_last_good_version(
    admin_proxy: AppThread, packs_dir: Path
) -> None:
    original = (packs_dir / "canary.yaml").read_text()

    async def listed(tw: InProcess) -> dict[str, Any]:
        packs = (await tw.client.get("/admin/packs", headers=ADMIN)).json()["packs"]
        return {p["id"]: p for p in packs}

    async def check(tw: InProcess) -> None:
        before = (await listed(tw))["canary"]
        assert before["version"] == "1.0"

        bad = await tw.client.put(
            "/admin/packs/canary", content=_pack(version="2.0", severity="meh"), headers=ADMIN
        )
        assert bad.status_code == 400, bad.text
        error = bad.json()["error"]
        assert error["code"] == "invalid_pack"
        assert any("probes[0].severity" in d for d in error["details"]), error["details"]
        not_yaml = await tw.client.put("/admin/packs/canary", content=b"id: [", headers=ADMIN)
        assert not_yaml.status_code == 400 and not_yaml.json()["error"]["details"]
        wrong_id = await tw.client.put("/admin/packs/elsewhere", content=_pack(), headers=ADMIN)
        assert wrong_id.status_code == 400
        assert "canary" in _error(wrong_id)["message"]
        bad_slug = await tw.client.put("/admin/packs/Not_A_Slug", content=_pack(), headers=ADMIN)
        assert bad_slug.status_code == 400
        assert "slug" in _error(bad_slug)["message"]

        # None of that touched the pack in force or its file, nor left a scratch file behind.
        assert (packs_dir / "canary.yaml").read_text() == original
        assert sorted(p.name for p in packs_dir.iterdir()) == ["canary.yaml"]
        still = (await listed(tw))["canary"]
        assert (still["version"], still["fingerprint"]) == ("1.0", before["fingerprint"])

        good = await tw.client.put(
            "/admin/packs/canary", content=_pack(version="1.1"), headers=ADMIN
        )
        assert good.status_code == 200, good.text
        assert good.json() == {"accepted": "canary", "added": [], "changed": ["canary"]}
        assert (packs_dir / "canary.yaml").read_text() == _pack(version="1.1")
        assert (await listed(tw))["canary"]["version"] == "1.1"

        fresh = await tw.client.put(
            "/admin/packs/fresh", content=_pack(pack_id="fresh"), headers=ADMIN
        )
        assert fresh.status_code == 200, fresh.text
        assert fresh.json()["added"] == ["fresh"]
        assert (packs_dir / "fresh.yaml").read_text() == _pack(pack_id="fresh")
        assert set(await listed(tw)) == {"canary", "fresh"}

    admin_proxy.run(check)
