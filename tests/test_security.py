"""Access control and leaks: tokens on every admin route, client keys on every /v1 route, no
text or secrets where operators look, bounded metric labels, upstreams clients cannot choose,
and a non-root container."""

from __future__ import annotations

import json
import random
import re
import sqlite3
import string
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ProxyFactory
from tests.support.paths import REPO_ROOT
from tests.support.processes import Process, start_fake_upstream
from tests.support.reliability import (
    metric,
    metrics_text,
    raw_http,
    series_count,
    wait_until,
)
from tests.support.startup import seed_packs
from tunewatch.proxy.devstack.vllm import free_port

MESSAGES: Any = [{"role": "user", "content": "How long should I knead bread dough?"}]
ADMIN_ROUTES: list[tuple[str, str, bytes]] = [
    ("POST", "/admin/drift/reset", b"{}"),
    ("GET", "/admin/packs", b""),
    ("PUT", "/admin/packs/secpack", b"id: secpack\n"),
    ("GET", "/admin/probes/results", b""),
]
V1_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/chat/completions", {"model": "m", "messages": MESSAGES}),
    ("POST", "/v1/completions", {"model": "m", "prompt": "hi"}),
    ("POST", "/v1/embeddings", {"model": "m", "input": "hi"}),
    ("GET", "/v1/models", None),
]


def _config(upstream: str, db: Path, **extra: Any) -> dict[str, Any]:
    """A one-model config; serving without client keys unless `auth` says otherwise."""
    model: dict[str, Any] = {"name": "m", "upstream": upstream, "upstream_model": "mixed"}
    model.update(extra.pop("model", {}))
    return {
        "models": [model],
        "store": {"url": f"sqlite:///{db}"},
        "probes": extra.pop("probes", {"enabled": False}),
        "auth": extra.pop("auth", {"allow_anonymous": True}),
        **extra,
    }


def _mirrors_ended(proc: Process) -> float:
    """Mirrors that ended as a pair or as no pair (a side with nothing to label)."""
    return sum(
        metric(proc, f'tunewatch_mirror_requests_total{{model="m",outcome="{outcome}"}}')
        for outcome in ("completed", "unlabelled")
    )


def _with_base(upstream: str) -> dict[str, Any]:
    return {"base": {"upstream": upstream, "model": "mixed-base"}, "mirror": {"rate": 1.0}}


# -- admin token ------------------------------------------------------------------------------
def test_every_admin_route_needs_the_admin_token(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    packs = seed_packs(tmp_path / "packs")
    config = _config(
        fake_upstream.url, tmp_path / "tw.db", model=_with_base(fake_upstream.url),
        auth={"admin_token_env": "TW_SEC_ADMIN", "allow_anonymous": True},
        probes={"paths": [str(packs)], "interval": "1h"},
    )  # fmt: skip
    proc = proxy_factory(config, env={"TW_SEC_ADMIN": "the-admin-token"})
    denied = {
        "missing": {},
        "wrong": {"Authorization": "Bearer not-the-token"},
        "prefix": {"Authorization": "Bearer the-admin"},
        "longer": {"Authorization": "Bearer the-admin-token-and-more"},
        "scheme": {"Authorization": "Basic the-admin-token"},
        "bare": {"Authorization": "the-admin-token"},
        "client-key header": {"X-Api-Key": "the-admin-token"},
    }
    for method, path, body in ADMIN_ROUTES:
        for why, headers in denied.items():
            resp = httpx.request(method, proc.root + path, content=body, headers=headers)
            assert resp.status_code == 401, (method, path, why, resp.text)
            assert resp.json()["error"]["code"] == "invalid_admin_token"
        ok = httpx.request(
            method, proc.root + path, content=body,
            headers={"Authorization": "Bearer the-admin-token"},
        )  # fmt: skip
        # authorised: the route runs (the uploaded pack is invalid, so 400; the others 200)
        assert ok.status_code == (400 if method == "PUT" else 200), (path, ok.text)
    assert not (packs / "secpack.yaml").exists()


def test_admin_api_is_off_without_a_configured_token(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    # Configured env var but empty, and not configured at all: 403 either way, whatever is sent.
    for auth in ({"admin_token_env": "TW_SEC_EMPTY", "allow_anonymous": True},
                 {"allow_anonymous": True}):  # fmt: skip
        proc = proxy_factory(
            _config(fake_upstream.url, tmp_path / "tw.db", auth=auth), env={"TW_SEC_EMPTY": ""}
        )
        for method, path, body in ADMIN_ROUTES:
            for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer x"}):
                resp = httpx.request(method, proc.root + path, content=body, headers=headers)
                assert resp.status_code == 403, (auth, method, path, resp.text)
                assert resp.json()["error"]["code"] == "admin_disabled"
        proc.stop()


# -- client API keys --------------------------------------------------------------------------
def test_client_keys_guard_every_v1_route(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    config = _config(fake_upstream.url, tmp_path / "tw.db", auth={"api_keys_env": "TW_SEC_KEYS"})
    config["models"][0]["upstream_model"] = "ok"  # echoes the Authorization it received
    proc = proxy_factory(config, env={"TW_SEC_KEYS": "key-one, key-two"})
    denied = [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Bearer key-one2"},
              {"Authorization": "Bearer key"}, {"Authorization": "Basic key-one"},
              {"Authorization": "key-one"}, {"Authorization": "Bearer key-one,key-two"}]  # fmt: skip
    for method, path, body in V1_ROUTES:
        for headers in denied:
            resp = httpx.request(method, proc.root + path, json=body, headers=headers)
            assert resp.status_code == 401, (path, headers, resp.text)
            assert resp.json()["error"]["code"] == "invalid_api_key"
        for key in ("key-one", "key-two"):
            resp = httpx.request(
                method, proc.root + path, json=body, headers={"Authorization": f"Bearer {key}"}
            )
            assert resp.status_code == 200, (path, resp.text)
    # the client's key is never forwarded upstream (no upstream key is configured here)
    reply = httpx.post(
        proc.url + "/chat/completions",
        json={"model": "m", "messages": MESSAGES},
        headers={"Authorization": "Bearer key-one"},
    ).json()
    assert reply["choices"][0]["message"]["content"] == "auth="
    assert metric(proc, 'tunewatch_requests_total{code="401",endpoint="chat",model="unknown"}') == 7


# -- no text where operators look -------------------------------------------------------------
def test_no_prompt_or_response_text_in_logs_metrics_drift_or_store(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    db = tmp_path / "tw.db"
    config = _config(fake_upstream.url, db, model=_with_base(fake_upstream.url))
    proc = proxy_factory(config)
    prompts = [f"{canary} how do I bake bread {i}?" for i in range(8)]
    for i, prompt in enumerate(prompts):
        body = {"model": "m", "messages": [{"role": "user", "content": prompt}]}
        if i % 2:
            body["stream"] = True
        assert httpx.post(proc.url + "/chat/completions", json=body, timeout=10).status_code == 200
    # and where errors are answered: bad JSON, unknown model, bad types carrying the canary
    httpx.post(proc.url + "/chat/completions", content=f'{{"model": "m", "x": "{canary}'.encode())
    httpx.post(proc.url + "/chat/completions", json={"model": "m", "stream": canary})
    httpx.post(proc.url + "/completions", json={"model": "m", "prompt": canary, "stream": True})
    # the fake's `mixed` answers a streamed request with plain JSON: nothing to label there,
    # so those mirrors end unpaired ("unlabelled") rather than "completed"
    wait_until(lambda: _mirrors_ended(proc) == 9, "9 mirrors ended", 60)
    answers = ("Knead the dough", "can't help with that")  # the fake models' answer texts
    places = {
        "stderr": proc.log(),
        "/metrics": metrics_text(proc),
        "/drift": httpx.get(proc.root + "/drift").text,
        "/readyz": httpx.get(proc.root + "/readyz").text,
    }
    for where, text in places.items():
        assert canary not in text, where
        for answer in answers:
            assert answer not in text, (where, answer)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT COUNT(*), COUNT(prompt), COUNT(response) FROM observations")
        total, with_prompt, with_response = rows.fetchone()
    assert total > 0 and with_prompt == 0 and with_response == 0  # keep_text: none by default


def test_metric_label_cardinality_is_bounded_whatever_clients_send(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    proc = proxy_factory(_config(fake_upstream.url, tmp_path / "tw.db"))
    rng = random.Random(9)

    def junk(n: int = 12) -> str:
        return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))

    with httpx.Client(base_url=proc.root, timeout=10) as http:

        def send(model: str, category: str, path: str, method: str = "POST") -> None:
            headers = {"X-Tunewatch-Category": category, "X-Request-ID": junk(),
                       "X-Tunewatch-Mirror": junk(3)}  # fmt: skip
            body = {"model": model, "messages": MESSAGES, "stream": rng.random() < 0.3}
            http.request(method, path, json=body, headers=headers)

        # every legitimate series first: a good request, each error code, each endpoint
        for path in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
            send("m", "legal", path)
            send("nope", "legal", path)
            send("m", "legal", path, "GET")
            http.post(path, content=b"{")
        wait_until(lambda: metric(proc, _responses(proc)) > 0, "classified answers", 30)
        before_text = metrics_text(proc)
        before = series_count(before_text)
        sent: list[str] = []
        for i in range(1000):
            model, category, path = junk(), junk(), "/v1/" + junk()
            sent += [model, category, path]
            choice = i % 4
            if choice == 0:
                send(model, category, "/v1/chat/completions")
            elif choice == 1:
                send("m", category, rng.choice(["/v1/chat/completions", "/v1/completions"]))
            elif choice == 2:
                send(model, category, path, rng.choice(["GET", "POST", "PUT"]))
            else:
                send(model, category, "/" + junk(30))
    wait_until(lambda: series_count(metrics_text(proc)) >= before, "metrics", 5)
    after_text = metrics_text(proc)
    after = series_count(after_text)
    print(f"series: {before} before, {after} after 1,000 requests with random labels")
    assert after - before <= 40, sorted(
        set(after_text.splitlines()) - set(before_text.splitlines())
    )
    leaked = [s for s in sent if s in after_text]
    assert leaked == []
    models = set(re.findall(r'model="([^"]*)"', after_text))
    assert models <= {"m", "unknown"}
    categories = set(re.findall(r'category="([^"]*)"', after_text))
    assert all(re.fullmatch(r"[a-z_]+", c) for c in categories) and len(categories) <= 16


def _responses(proc: Process) -> str:
    for line in metrics_text(proc).splitlines():
        if line.startswith("tunewatch_responses_total{"):
            return line.rsplit(" ", 1)[0]
    return "tunewatch_responses_total{none}"


# -- upstreams are configuration, never request input ----------------------------------------
def test_clients_cannot_choose_the_upstream(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    decoy = start_fake_upstream(tmp_path, free_port())
    try:
        config = _config(
            fake_upstream.url, tmp_path / "tw.db",
            model={"upstream_model": "echo-request",
                   "base": {"upstream": fake_upstream.url, "model": "echo-request"},
                   "mirror": {"rate": 1.0}},
        )  # fmt: skip
        proc = proxy_factory(config)
        configured_host = fake_upstream.url.split("/")[2]
        decoy_host = decoy.url.split("/")[2]
        body = {
            "model": "m", "messages": MESSAGES, "base_url": decoy.url, "upstream": decoy.url,
            "api_base": decoy.url, "url": decoy.url + "/chat/completions",
        }  # fmt: skip
        payload = json.dumps(body).encode()
        attempts = [
            # Host header pointing at the decoy, plus forwarding headers
            (
                f"POST /v1/chat/completions HTTP/1.1\r\nHost: {decoy_host}\r\n"
                f"X-Forwarded-Host: {decoy_host}\r\nForwarded: host={decoy_host}\r\n"
            ),
            # absolute-form request target naming the decoy
            f"POST {decoy.url}/chat/completions HTTP/1.1\r\nHost: {decoy_host}\r\n",
            # a path that tries to climb out of /v1
            "POST /v1/../v1/chat/completions HTTP/1.1\r\nHost: t\r\n",
        ]
        answered = 0
        for head in attempts:
            raw = (head + f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                   "Connection: close\r\n\r\n").encode() + payload  # fmt: skip
            status, _, reply = raw_http(proc.port, raw)
            if status != 200:
                assert status in (400, 404), (head, status, reply[:200])
                continue
            answered += 1
            seen = json.loads(json.loads(reply)["choices"][0]["message"]["content"])
            assert seen["path"] == "/v1/chat/completions"
            assert seen["host"] == configured_host
            assert {"base_url", "upstream", "api_base"} <= set(seen["keys"])  # passed, unused
        assert answered >= 2
        # a model name shaped like a URL is just an unknown model
        for name in (decoy.url, decoy_host, f"m@{decoy_host}"):
            resp = httpx.post(proc.url + "/chat/completions", json={**body, "model": name})
            assert resp.status_code == 404
        wait_until(
            lambda: (
                metric(proc, 'tunewatch_mirror_requests_total{model="m",outcome="completed"}')
                + metric(proc, 'tunewatch_mirror_requests_total{model="m",outcome="failed"}')
                == answered
            ),
            "the mirrored copies",
            60,
        )
        assert httpx.get(decoy.url + "/stats").json()["requests"] == 0
    finally:
        decoy.stop()


# -- secrets ------------------------------------------------------------------------------------
def test_secrets_from_env_never_appear(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    secrets = {
        "TW_SEC_UP": f"sk-upstream-{uuid.uuid4().hex}",
        "TW_SEC_BASE": f"sk-base-{uuid.uuid4().hex}",
        "TW_SEC_ADMIN": f"admin-{uuid.uuid4().hex}",
        "TW_SEC_KEYS": f"client-{uuid.uuid4().hex},client2-{uuid.uuid4().hex}",
    }
    dead = f"http://127.0.0.1:{free_port()}/v1"
    config = {
        "models": [
            {"name": "m", "upstream": fake_upstream.url, "upstream_model": "mixed",
             "api_key_env": "TW_SEC_UP",
             "base": {"upstream": fake_upstream.url, "model": "mixed-base",
                      "api_key_env": "TW_SEC_BASE"},
             "mirror": {"rate": 1.0}},
            {"name": "down", "upstream": dead, "api_key_env": "TW_SEC_UP",
             "base": {"upstream": dead, "model": "x", "api_key_env": "TW_SEC_BASE"}},
            {"name": "e503", "upstream": fake_upstream.url, "upstream_model": "error-503",
             "api_key_env": "TW_SEC_UP"},
        ],
        "auth": {"api_keys_env": "TW_SEC_KEYS", "admin_token_env": "TW_SEC_ADMIN"},
        "server": {"log_level": "debug"},
        "store": {"url": f"sqlite:///{tmp_path / 'tw.db'}"},
        "probes": {"enabled": False},
        "drift": {"check_identity": "1s"},
    }  # fmt: skip
    proc = proxy_factory(config, env=secrets)
    key = secrets["TW_SEC_KEYS"].split(",")[0]
    bodies: list[str] = []
    with httpx.Client(base_url=proc.root, timeout=10) as http:
        good = {"Authorization": f"Bearer {key}"}
        for model in ("m", "down", "e503", "nope"):
            for stream in (False, True):
                body = {"model": model, "messages": MESSAGES, "stream": stream}
                bodies.append(http.post("/v1/chat/completions", json=body, headers=good).text)
        bodies.append(http.post("/v1/chat/completions", json={"model": "m"}).text)  # 401
        bodies.append(http.get("/v1/models", headers=good).text)
        bodies.append(http.get("/v1/models").text)
        admin = {"Authorization": f"Bearer {secrets['TW_SEC_ADMIN']}"}
        bodies.append(http.get("/admin/packs", headers={"Authorization": "Bearer x"}).text)
        bodies.append(http.get("/admin/packs", headers=admin).text)
        bodies.append(http.get("/admin/probes/results", headers=admin).text)
        bodies.append(http.post("/admin/drift/reset", json={"model": "nope"}, headers=admin).text)
        wait_until(lambda: _mirrors_ended(proc) == 2, "the mirrored pairs", 60)
        readyz = http.get("/readyz")
        assert readyz.status_code == 503  # `down` is down: its detail is in the body
        bodies += [readyz.text, http.get("/drift").text, http.get("/metrics").text]
    proc.stop()
    bodies.append(proc.log())
    everything = "\n".join(bodies)
    for name, value in secrets.items():
        for part in value.split(","):
            assert part not in everything, f"{name} leaked"


# -- the container ------------------------------------------------------------------------------
def test_container_runs_as_non_root() -> None:
    lines = _dockerfile_instructions(REPO_ROOT / "Dockerfile")
    final_stage = max(i for i, (op, _) in enumerate(lines) if op == "FROM")
    stage = lines[final_stage:]
    installs = [i for i, (op, arg) in enumerate(stage)
                if op == "RUN" and re.search(r"\b(pip|apt-get|apk|dnf|yum)\b.*\binstall\b", arg)]  # fmt: skip
    users = [(i, arg.split()[0]) for i, (op, arg) in enumerate(stage) if op == "USER"]
    assert installs, "no install step found in the final stage"
    assert users and users[-1][0] > max(installs), "USER must come after the last install step"
    user = users[-1][1].split(":")[0]
    if user.isdigit():
        uid = int(user)
    else:  # a name: find the uid it was created with
        created = re.search(rf"useradd\b[^&]*--uid\s+(\d+)[^&]*\b{re.escape(user)}\b",
                            " ".join(a for _, a in stage))  # fmt: skip
        assert created, f"cannot tell the uid of {user}"
        uid = int(created.group(1))
    assert uid != 0 and user != "root"
    entry = [arg for op, arg in stage[users[-1][0] :] if op in ("RUN", "USER")]
    assert not any(a.split()[0] in ("root", "0", "0:0") for a in entry if a)


def _dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        current += " " + stripped.rstrip("\\").strip()
        if stripped.endswith("\\"):
            continue
        op, _, arg = current.strip().partition(" ")
        out.append((op.upper(), arg.strip()))
        current = ""
    return out


def test_v1_routes_are_open_when_no_keys_are_configured(
    proxy_factory: ProxyFactory, fake_upstream: Process, tmp_path: Path
) -> None:
    # the counterpart of the key checks: serving without keys (auth.allow_anonymous, which
    # _config sets) nothing asks for a key
    proc = proxy_factory(_config(fake_upstream.url, tmp_path / "tw.db"))
    assert httpx.get(proc.url + "/models").status_code == 200
    chat = httpx.post(proc.url + "/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert chat.status_code == 200
