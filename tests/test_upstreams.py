"""Several upstreams per model (round-robin, passive health, one retry when nothing was sent)
and TLS to https upstreams (a private CA, mutual TLS).

The choice of upstream is checked three ways: the state machine alone, on a fake clock; the
app in process against the scripted upstream (two of them, and ports where nothing listens);
and `tunewatch serve` in front of the session's real vLLM, driven by the openai SDK. TLS runs
against a small HTTP/1.1 server over `ssl`, with certificates made here by `openssl`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import ProxyFactory
from tests.support.inprocess import AppThread, InProcess, build_config, series, total
from tests.support.processes import Process, start_fake_upstream
from tunewatch.proxy import http1, upstreams
from tunewatch.proxy.app import create_app
from tunewatch.proxy.config import ConfigError
from tunewatch.proxy.devstack.vllm import VllmServer, free_port
from tunewatch.proxy.upstreams import UpstreamSet, build_routes

FAILOVERS = "tunewatch_upstream_failovers_total"
CALLS = "tunewatch_upstream_requests_total"
UP = "tunewatch_upstream_up"
MESSAGES = [{"role": "user", "content": "How long should I knead bread dough?"}]


def _dead() -> str:
    return f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there


def _chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": MESSAGES, **extra}


# -- the state machine, on a fake clock --------------------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(upstreams, "time", fake)
    return fake


def _set(n: int, connect_timeout: float = 5.0) -> UpstreamSet:
    urls = [f"http://replica-{i}:8000/v1" for i in range(n)]
    return UpstreamSet(urls, model="m", role="tuned", connect_timeout=connect_timeout)


def _picks(ups: UpstreamSet, n: int) -> list[int]:
    return [ups.pick().index for _ in range(n)]


def test_round_robin_skips_a_failed_upstream_until_its_back_off_ends(clock: _Clock) -> None:
    ups = _set(3)
    assert _picks(ups, 6) == [0, 1, 2, 0, 1, 2]
    ups.failed(ups.members[1])
    assert _picks(ups, 4) == [0, 2, 0, 2]
    clock.now += upstreams.BACKOFF_START - 0.01
    assert 1 not in _picks(ups, 4)
    clock.now += 0.02  # the back-off is over: one call tries it, the others keep skipping it
    picks = _picks(ups, 4)
    assert picks.count(1) == 1
    ups.recovered(ups.members[1])  # that call was answered
    assert sorted(_picks(ups, 3)) == [0, 1, 2]


def test_back_off_doubles_up_to_its_cap_and_resets_on_success(clock: _Clock) -> None:
    ups = _set(2)
    dead = ups.members[0]
    waits = []
    for _ in range(5):
        ups.failed(dead)
        waits.append(round(dead.until - clock.now, 6))
        clock.now = dead.until  # over: the next pick tries it again
        assert ups.pick() is dead or ups.pick() is dead
    assert waits == [10.0, 20.0, 40.0, 60.0, 60.0]
    ups.recovered(dead)
    assert dead.up and dead.until == 0.0
    ups.failed(dead)
    assert dead.until - clock.now == upstreams.BACKOFF_START


def test_failures_of_calls_already_under_way_do_not_double_the_back_off(clock: _Clock) -> None:
    ups = _set(2)
    dead = ups.members[0]
    for _ in range(10):  # ten calls were on their way when it died
        ups.failed(dead)
    assert dead.failures == 1 and dead.until - clock.now == upstreams.BACKOFF_START


def test_all_down_still_picks_the_least_recently_failed(clock: _Clock) -> None:
    ups = _set(3)
    for i in (2, 0, 1):
        ups.failed(ups.members[i])
        clock.now += 1.0
    assert _picks(ups, 3) == [2, 2, 2]
    assert ups.preferred() == ups.members[2].url


def test_while_all_are_healthy_the_choice_reads_no_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstreams, "time", None)  # any clock read would raise
    assert _picks(_set(1), 3) == [0, 0, 0]
    assert _picks(_set(3), 4) == [0, 1, 2, 0]


@dataclass
class _Sender:
    """A stand-in for `http1.Client.post`: per URL, a status to answer or an error to raise."""

    outcomes: dict[str, int | BaseException]
    calls: list[str] = field(default_factory=list)

    async def __call__(self, url: str, *args: Any, **kwargs: Any) -> http1.Response:
        self.calls.append(url)
        outcome = self.outcomes[url]
        if isinstance(outcome, BaseException):
            raise outcome
        return http1.Response(outcome, b"{}", "application/json")


def _send(ups: UpstreamSet, sender: _Sender) -> http1.Response:
    return asyncio.run(ups._call(sender, "/chat/completions", b"{}", b"", 1.0))


def test_a_call_that_sent_nothing_is_retried_once_on_another(clock: _Clock) -> None:
    ups = _set(3)
    urls = ups.urls
    sender = _Sender({urls[0]: http1.ConnectFailed("refused"), urls[1]: 200, urls[2]: 200})
    assert _send(ups, sender).status == 200
    assert sender.calls == [urls[0], urls[1]] and ups.failovers == 1
    assert not ups.members[0].up
    sender.outcomes[urls[1]] = http1.ConnectTimeout("no connection in 5 s")
    sender.outcomes[urls[2]] = http1.ConnectFailed("refused")
    sender.calls.clear()
    with pytest.raises(http1.ConnectTimeout):  # the second failure is the client's answer
        _send(ups, sender)
    assert sender.calls == [urls[2], urls[1]]
    assert ups.failovers == 2


@pytest.mark.parametrize(
    "error", [http1.UpstreamError("closed mid-response"), TimeoutError("no data for 600 s")]
)
def test_nothing_is_retried_once_the_request_was_written(
    clock: _Clock, error: BaseException
) -> None:
    ups = _set(2)
    sender = _Sender({ups.urls[0]: error, ups.urls[1]: 200})
    with pytest.raises(type(error)):
        _send(ups, sender)
    assert sender.calls == [ups.urls[0]] and ups.failovers == 0
    assert ups.members[0].up  # a broken or slow answer is no sign of a dead server


def test_gateway_statuses_go_back_unchanged_and_mark_the_upstream_down(clock: _Clock) -> None:
    ups = _set(2)
    sender = _Sender({ups.urls[0]: 503, ups.urls[1]: 200})
    assert _send(ups, sender).status == 503  # not retried: the request was sent
    assert sender.calls == [ups.urls[0]] and not ups.members[0].up
    assert [_send(ups, sender).status for _ in range(3)] == [200, 200, 200]
    sender.outcomes[ups.urls[1]] = 500  # a server error of the request's own: still up
    assert _send(ups, sender).status == 500 and ups.members[1].up


def test_a_single_upstream_is_not_retried(clock: _Clock) -> None:
    ups = _set(1)
    sender = _Sender({ups.urls[0]: http1.ConnectFailed("refused")})
    with pytest.raises(http1.ConnectFailed):
        _send(ups, sender)
    assert sender.calls == [ups.urls[0]] and ups.failovers == 0
    sender.outcomes[ups.urls[0]] = 200  # marked down, and still the one tried
    assert _send(ups, sender).status == 200 and ups.members[0].up


# -- the app in process, the scripted upstream over TCP -----------------------------------------
BEHAVIOUR = {"only503": "error-503", "failover-stream": "stream-ok"}  # the fake's, by model


@dataclass
class Fleet:
    app: AppThread
    second: Process
    revive_port: int


@pytest.fixture(scope="module")
def fleet(fake_upstream: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    work = tmp_path_factory.mktemp("upstreams")
    second = start_fake_upstream(work)
    revive_port = free_port()
    models = {
        "spread": [fake_upstream.url, second.url],
        "failover": [_dead(), fake_upstream.url],
        "failover-stream": [_dead(), fake_upstream.url],
        "backoff": [_dead(), fake_upstream.url],
        "alldown": [_dead(), f"http://127.0.0.1:{revive_port}/v1"],
        "only503": [fake_upstream.url],
    }
    config = {
        "models": [
            {"name": name, "upstream": urls, "connect_timeout": "2s",
             "upstream_model": BEHAVIOUR.get(name, "ok")}
            for name, urls in models.items()
        ],
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{work / 'tw.db'}"},
        "auth": {"allow_anonymous": True},
    }  # fmt: skip
    try:
        with AppThread(config) as app:
            yield Fleet(app, second, revive_port)
    finally:
        second.stop()


def _per_upstream(metrics: str, name: str, model: str) -> dict[str, float]:
    return {
        labels["upstream"]: value
        for labels, value in series(metrics, name)
        if labels["model"] == model and labels["role"] == "tuned"
    }


def test_round_robin_spreads_requests_over_both_upstreams(fleet: Fleet) -> None:
    async def check(tw: InProcess) -> None:
        async with httpx.AsyncClient() as direct:
            before = (await direct.get(fleet.second.root + "/v1/stats")).json()["requests"]
            for _ in range(10):
                resp = await tw.client.post("/v1/chat/completions", json=_chat("spread"))
                assert resp.status_code == 200, resp.text
                assert resp.json()["model"] == "spread"
            after = (await direct.get(fleet.second.root + "/v1/stats")).json()["requests"]
        assert after - before == 5  # every other request went to the second server
        metrics = await tw.metrics()
        assert _per_upstream(metrics, CALLS, "spread") == {"0": 5.0, "1": 5.0}
        assert _per_upstream(metrics, UP, "spread") == {"0": 1.0, "1": 1.0}
        assert total(metrics, FAILOVERS, model="spread") == 0

    fleet.app.run(check)


@pytest.mark.parametrize("model", ["failover", "failover-stream"])
def test_a_dead_upstream_fails_over_unseen_then_is_skipped(fleet: Fleet, model: str) -> None:
    stream = model.endswith("stream")

    async def check(tw: InProcess) -> None:
        for _ in range(4):
            resp = await tw.client.post("/v1/chat/completions", json=_chat(model, stream=stream))
            assert resp.status_code == 200, resp.text
            if stream:
                assert resp.text.rstrip().endswith("data: [DONE]")
                assert f'"model":"{model}"' in resp.text
            else:
                assert resp.json()["model"] == model
        metrics = await tw.metrics()
        assert total(metrics, FAILOVERS, model=model, role="tuned") == 1
        assert _per_upstream(metrics, CALLS, model) == {"0": 1.0, "1": 4.0}
        assert _per_upstream(metrics, UP, model) == {"0": 0.0, "1": 1.0}
        assert total(metrics, "tunewatch_upstream_errors_total", model=model) == 0

    fleet.app.run(check)


def test_a_dead_upstream_is_tried_again_after_its_back_off(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstreams, "BACKOFF_START", 0.5)  # the app runs in this process

    async def send(tw: InProcess) -> None:
        resp = await tw.client.post("/v1/chat/completions", json=_chat("backoff"))
        assert resp.status_code == 200, resp.text

    async def check(tw: InProcess) -> None:
        await send(tw)  # the first call finds it dead
        for _ in range(3):
            await send(tw)  # ... and the next ones skip it
        metrics = await tw.metrics()
        assert _per_upstream(metrics, CALLS, "backoff") == {"0": 1.0, "1": 4.0}
        await asyncio.sleep(0.6)  # its back-off (0.5 s) is over
        await send(tw)  # this one tries it again, and fails over
        await send(tw)  # skipped again, now for 1 s (doubled)
        metrics = await tw.metrics()
        assert _per_upstream(metrics, CALLS, "backoff") == {"0": 2.0, "1": 6.0}
        assert total(metrics, FAILOVERS, model="backoff") == 2

    fleet.app.run(check)


def test_with_every_upstream_marked_down_requests_are_still_tried(
    fleet: Fleet, tmp_path: Path
) -> None:
    async def first(tw: InProcess) -> None:
        resp = await tw.client.post("/v1/chat/completions", json=_chat("alldown"))
        assert resp.status_code == 502, resp.text
        assert resp.json()["error"]["code"] == "upstream_unreachable"
        assert _per_upstream(await tw.metrics(), UP, "alldown") == {"0": 0.0, "1": 0.0}

    fleet.app.run(first)
    revived = start_fake_upstream(tmp_path, port=fleet.revive_port)  # the second comes back
    try:

        async def again(tw: InProcess) -> None:
            # Both are still within their back-off: rather than refuse, the proxy tries them.
            resp = await tw.client.post("/v1/chat/completions", json=_chat("alldown"))
            assert resp.status_code == 200, resp.text
            assert _per_upstream(await tw.metrics(), UP, "alldown") == {"0": 0.0, "1": 1.0}

        fleet.app.run(again)
    finally:
        revived.stop()


def test_a_503_from_the_only_upstream_reaches_the_client_unchanged(
    fleet: Fleet, fake_upstream: Process
) -> None:
    async def check(tw: InProcess) -> None:
        async with httpx.AsyncClient() as direct:
            expected = await direct.post(fake_upstream.url + "/chat/completions",
                                         json=_chat("error-503"))  # fmt: skip
        assert expected.status_code == 503
        for _ in range(2):  # marked down, and, being the only one, still asked
            resp = await tw.client.post("/v1/chat/completions", json=_chat("only503"))
            assert resp.status_code == 503
            assert resp.content == expected.content
            assert resp.headers["content-type"] == expected.headers["content-type"]
        metrics = await tw.metrics()
        assert _per_upstream(metrics, UP, "only503") == {"0": 0.0}
        assert total(metrics, FAILOVERS, model="only503") == 0

    fleet.app.run(check)


# -- TLS ------------------------------------------------------------------------------------------
@dataclass
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # trusts nothing here


def _openssl(*args: str | Path, cwd: Path) -> None:
    subprocess.run(["openssl", *map(str, args)], cwd=cwd, check=True, capture_output=True)


def _make_pki(d: Path) -> Pki:
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for name in ("ca", "other-ca"):
        _openssl("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days",
                 "2", "-subj", f"/CN=tunewatch test {name}", "-addext",
                 "basicConstraints=critical,CA:TRUE", "-addext",
                 "keyUsage=critical,keyCertSign,cRLSign", cwd=d)  # fmt: skip
    leaves = {
        "server": "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        "client": "extendedKeyUsage=clientAuth\n",
    }
    for name, ext in leaves.items():
        (d / f"{name}.ext").write_text(ext)
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                 f"/CN=tunewatch-{name}", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out",
                 f"{name}.pem", cwd=d)  # fmt: skip
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem",
               d / "client.key", d / "other-ca.pem")  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    return _make_pki(tmp_path_factory.mktemp("pki"))


class TlsUpstream:
    """An OpenAI-shaped HTTP/1.1 server over TLS, on an event loop in a thread of its own.

    Answers `GET /v1/models` and `POST /v1/chat/completions` (a whole answer, or an SSE stream
    in chunked framing); keeps connections alive; records each client certificate's subject.
    """

    MODEL = "tls-model"

    def __init__(self, pki: Pki, *, require_client_cert: bool) -> None:
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(pki.server_cert, pki.server_key)
        if require_client_cert:
            self.ctx.verify_mode = ssl.CERT_REQUIRED
            self.ctx.load_verify_locations(pki.ca)
        self.peers: list[str | None] = []
        self.requests = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._conn, "127.0.0.1", 0, ssl=self.ctx), self.loop
        ).result(10)
        self.port = self.server.sockets[0].getsockname()[1]

    def url(self, host: str = "127.0.0.1") -> str:
        return f"https://{host}:{self.port}/v1"

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cert = writer.get_extra_info("peercert")
        subject = dict(x[0] for x in cert["subject"]).get("commonName") if cert else None
        self.peers.append(subject)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests += 1
                await self._answer(head.split(b" ", 2)[1], body, writer)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _answer(self, path: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
        if path.endswith(b"/models"):
            payload = {"object": "list", "data": [{"id": self.MODEL, "object": "model"}]}
            writer.write(_whole(json.dumps(payload).encode()))
        elif json.loads(body).get("stream"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                         b"transfer-encoding: chunked\r\n\r\n")  # fmt: skip
            for word in ("over", " TLS", None):
                if word is None:
                    event = b"data: [DONE]\n\n"
                else:
                    chunk = {"object": "chat.completion.chunk", "model": self.MODEL,
                             "choices": [{"index": 0, "delta": {"content": word}}]}  # fmt: skip
                    event = b"data: " + json.dumps(chunk).encode() + b"\n\n"
                writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            answer = {"object": "chat.completion", "model": self.MODEL,
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": "over TLS"}}]}  # fmt: skip
            writer.write(_whole(json.dumps(answer).encode()))
        await writer.drain()


def _whole(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
            % (len(body), body))  # fmt: skip


@dataclass
class Tls:
    app: AppThread
    plain: TlsUpstream
    mutual: TlsUpstream


@pytest.fixture(scope="module")
def tls(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tls]:
    plain = TlsUpstream(pki, require_client_cert=False)
    mutual = TlsUpstream(pki, require_client_cert=True)
    model = TlsUpstream.MODEL
    config = {
        "models": [
            {"name": "private-ca", "upstream": plain.url(), "upstream_model": model,
             "tls": {"ca_file": str(pki.ca)}},
            # Another origin for the same server (localhost), trusting only the system's CAs.
            {"name": "untrusted", "upstream": plain.url("localhost"), "upstream_model": model,
             "connect_timeout": "2s"},
            {"name": "mutual", "upstream": mutual.url(), "upstream_model": model,
             "tls": {"ca_file": str(pki.ca), "cert_file": str(pki.client_cert),
                     "key_file": str(pki.client_key)}},
        ],
        "probes": {"enabled": False},
        "store": {"url": f"sqlite:///{tmp_path_factory.mktemp('tls') / 'tw.db'}"},
        "auth": {"allow_anonymous": True},
    }  # fmt: skip
    try:
        with AppThread(config) as app:
            yield Tls(app, plain, mutual)
    finally:
        plain.close()
        mutual.close()


def _content(events: str) -> str:
    text = ""
    for line in events.split("\n"):
        if line.startswith("data: {"):
            event = json.loads(line[len("data: ") :])
            assert event["model"] != TlsUpstream.MODEL  # renamed back, streamed chunks too
            text += event["choices"][0]["delta"].get("content") or ""
    return text


def test_a_private_ca_lets_the_proxy_verify_an_https_upstream(tls: Tls) -> None:
    async def check(tw: InProcess) -> None:
        resp = await tw.client.post("/v1/chat/completions", json=_chat("private-ca"))
        assert resp.status_code == 200, resp.text
        answer = resp.json()
        assert answer["model"] == "private-ca"
        assert answer["choices"][0]["message"]["content"] == "over TLS"
        resp = await tw.client.post("/v1/chat/completions", json=_chat("private-ca", stream=True))
        assert resp.status_code == 200, resp.text
        assert _content(resp.text) == "over TLS"
        assert resp.text.rstrip().endswith("data: [DONE]")

    tls.app.run(check)


def test_an_untrusted_certificate_is_an_unreachable_upstream(tls: Tls) -> None:
    async def check(tw: InProcess) -> None:
        before = tls.plain.requests
        for stream in (False, True):
            resp = await tw.client.post(
                "/v1/chat/completions", json=_chat("untrusted", stream=stream)
            )
            assert resp.status_code == 502, resp.text
            assert resp.json()["error"]["code"] == "upstream_unreachable"
        assert tls.plain.requests == before  # nothing was sent over the unverified connection
        metrics = await tw.metrics()
        assert total(metrics, "tunewatch_upstream_errors_total", model="untrusted",
                     kind="connect") == 2  # fmt: skip

    tls.app.run(check)


def test_mutual_tls_presents_the_client_certificate(tls: Tls) -> None:
    async def check(tw: InProcess) -> None:
        for stream in (False, True):
            resp = await tw.client.post("/v1/chat/completions", json=_chat("mutual", stream=stream))
            assert resp.status_code == 200, resp.text
        assert tls.mutual.peers and set(tls.mutual.peers) == {"tunewatch-client"}

    tls.app.run(check)


def test_calls_off_the_request_path_use_the_same_tls_settings(tls: Tls) -> None:
    """Readiness (httpx, like probes and pass-through) verifies with the configured CA and
    presents the client certificate."""

    async def check(tw: InProcess) -> None:
        resp = await tw.client.get("/readyz")
        checks = {c["model"]: c for c in resp.json()["upstreams"]}
        assert checks["private-ca"]["ok"] and checks["mutual"]["ok"], checks
        assert not checks["untrusted"]["ok"], checks
        assert resp.status_code == 503  # the untrusted model has no upstream to serve it

    tls.app.run(check)


def _tls_config(tls_settings: dict[str, Any], base: dict[str, Any] | None = None) -> Any:
    model: dict[str, Any] = {"name": "m", "upstream": "https://127.0.0.1:8443/v1",
                             "tls": tls_settings}  # fmt: skip
    if base is not None:
        model["base"] = base
    return build_config({"models": [model], "auth": {"allow_anonymous": True}})


def test_tls_files_that_are_missing_or_do_not_load_fail_start_up_naming_the_field(
    pki: Pki, tmp_path: Path
) -> None:
    missing = str(tmp_path / "nowhere.pem")
    with pytest.raises(ConfigError) as info:
        create_app(_tls_config({"ca_file": str(pki.ca), "cert_file": missing,
                                "key_file": str(pki.client_key)}))  # fmt: skip
    assert info.value.errors == [
        f"models.0.tls.cert_file: cannot read {missing}: No such file or directory"
    ]
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    cases = {
        "models.0.tls.ca_file": {"ca_file": str(not_pem)},
        "models.0.tls.key_file": {"cert_file": str(pki.client_cert), "key_file": str(not_pem)},
        "models.0.tls.cert_file": {"cert_file": str(not_pem), "key_file": str(pki.client_key)},
    }
    for where, settings in cases.items():
        with pytest.raises(ConfigError) as info:
            build_routes(_tls_config(settings))
        assert [e.split(": ", 1)[0] for e in info.value.errors] == [where], info.value.errors
    base = {"upstream": ["https://127.0.0.1:9443/v1"], "model": "b", "tls": {"ca_file": missing}}
    with pytest.raises(ConfigError) as info:
        build_routes(_tls_config({"ca_file": str(pki.ca)}, base))
    assert info.value.errors[0].startswith("models.0.base.tls.ca_file: cannot read")


def test_a_mismatched_client_key_names_key_file(pki: Pki) -> None:
    other_key = pki.server_key  # a valid key, not the client certificate's
    with pytest.raises(ConfigError) as info:
        build_routes(_tls_config({"cert_file": str(pki.client_cert), "key_file": str(other_key)}))
    assert info.value.errors[0].startswith("models.0.tls.key_file: "), info.value.errors


def test_one_https_origin_takes_one_tls_setting(pki: Pki) -> None:
    config = build_config({
        "models": [
            {"name": "a", "upstream": "https://vllm:8443/v1", "tls": {"ca_file": str(pki.ca)}},
            {"name": "b", "upstream": "https://vllm:8443/v1"},
        ],
        "auth": {"allow_anonymous": True},
    })  # fmt: skip
    with pytest.raises(ConfigError) as info:
        build_routes(config)
    assert info.value.errors[0].startswith("models.1.tls: https://vllm:8443 is also an upstream")


def test_upstream_takes_a_url_or_a_list_and_tls_needs_https() -> None:
    one = build_config({"models": [{"name": "a", "upstream": "http://a:8000/v1/"}],
                        "auth": {"allow_anonymous": True}})  # fmt: skip
    assert one.models[0].upstreams == ("http://a:8000/v1",)
    many = build_config({"models": [{"name": "a", "upstream": ["http://a:1/v1", "http://b:1/v1"],
                                     "base": {"upstream": ["http://c:1/v1"], "model": "b"}}],
                         "auth": {"allow_anonymous": True}})  # fmt: skip
    route = build_routes(many)["a"]
    assert (
        route.tuned.urls == ("http://a:1/v1", "http://b:1/v1") and route.upstream == "http://a:1/v1"
    )
    assert [t[:2] for t in route.targets()] == [
        ("tuned", "http://a:1/v1"),
        ("tuned", "http://b:1/v1"),
        ("base", "http://c:1/v1"),
    ]
    for bad, where in (
        ({"upstream": ["http://a:1/v1", "a:1"]}, "models.0.upstream.1"),
        ({"upstream": []}, "models.0.upstream"),
        ({"upstream": "http://a:1/v1", "tls": {"ca_file": "/x.pem"}}, "models.0.tls"),
        ({"upstream": "https://a:1/v1", "tls": {"key_file": "/k.pem"}}, "models.0.tls"),
    ):
        with pytest.raises(ConfigError) as info:
            build_config({"models": [{"name": "a", **bad}], "auth": {"allow_anonymous": True}})
        assert info.value.errors[0].split(": ")[1] == where, info.value.errors


# -- in front of real vLLM ------------------------------------------------------------------------
@pytest.mark.vllm
def test_failover_and_spreading_in_front_of_real_vllm(
    vllm_server: VllmServer, proxy_factory: ProxyFactory
) -> None:
    served = vllm_server.base_model
    config = {
        "models": [
            {"name": "failover", "upstream": [_dead(), vllm_server.url], "upstream_model": served},
            {"name": "spread", "upstream": [vllm_server.url, vllm_server.url],
             "upstream_model": served},
        ],
        "probes": {"enabled": False},
        "auth": {"allow_anonymous": True},
    }  # fmt: skip
    proxy = proxy_factory(config)
    client = openai.OpenAI(base_url=proxy.url, api_key="unused", max_retries=0)
    for i in range(6):
        if i % 2:
            stream = client.chat.completions.create(
                model="failover", messages=MESSAGES, max_tokens=4, temperature=0, stream=True
            )
            chunks = list(stream)
            assert chunks and all(c.model == "failover" for c in chunks)
        else:
            reply = client.chat.completions.create(
                model="failover", messages=MESSAGES, max_tokens=4, temperature=0
            )
            assert reply.model == "failover" and reply.choices
    for _ in range(6):
        reply = client.chat.completions.create(
            model="spread", messages=MESSAGES, max_tokens=4, temperature=0
        )
        assert reply.model == "spread"
    metrics = httpx.get(proxy.root + "/metrics").text
    failovers = total(metrics, FAILOVERS, model="failover", role="tuned")
    calls = _per_upstream(metrics, CALLS, "failover")
    # the dead one was tried first, then skipped (tried again at most once a back-off later)
    assert 1 <= failovers <= 2 and calls["0"] == failovers and calls["1"] == 6
    assert _per_upstream(metrics, UP, "failover") == {"0": 0.0, "1": 1.0}
    assert _per_upstream(metrics, CALLS, "spread") == {"0": 3.0, "1": 3.0}
    assert total(metrics, "tunewatch_requests_total", model="failover", code="200") == 6
    assert total(metrics, "tunewatch_requests_total", model="spread", code="200") == 6
