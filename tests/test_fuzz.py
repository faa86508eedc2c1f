"""Bad input, generated: request parsing against a running proxy, and config loading.

Every answer to a malformed request must be a 4xx in OpenAI's error shape (or a 2xx when the
input happened to be valid), never a 500; config loading raises only ConfigError, and every
message names `file:line:`. Probe packs are fuzzed in test_probe_packs.py.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.processes import Process, start_proxy
from tests.support.reliability import (
    assert_openai_error,
    metric,
    parse_response,
    raw_http,
)
from tests.support.startup import seed_packs
from tunewatch.proxy.config import ConfigError, load_config, parse_config

KEY = "fuzz-client-key"
ADMIN = "fuzz-admin-token"
MAX_BODY = 64 * 1024
POST_ROUTES = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"]
ADMIN_ROUTES = [
    ("POST", "/admin/drift/reset"),
    ("GET", "/admin/packs"),
    ("PUT", "/admin/packs/fuzzed"),
    ("GET", "/admin/probes/results"),
]
EXAMPLES = 120  # per property; each is one HTTP round trip on loopback
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples every run: a CI failure reproduces locally
)


@pytest.fixture(scope="module")
def proxy(fake_upstream: Process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    work = tmp_path_factory.mktemp("fuzz")
    seed_packs(work / "packs")  # start-up needs a valid pack in every probes path
    config = {
        "models": [
            {"name": "m", "upstream": fake_upstream.url, "upstream_model": "ok",
             "base": {"upstream": fake_upstream.url, "model": "ok"}},
            {"name": "m2", "upstream": fake_upstream.url, "upstream_model": "ok"},
        ],
        "auth": {"api_keys_env": "TW_FUZZ_KEYS", "admin_token_env": "TW_FUZZ_ADMIN"},
        "server": {"max_body_bytes": MAX_BODY},
        "probes": {"paths": [str(work / "packs")], "interval": "1h"},
        "store": {"url": f"sqlite:///{work / 'tw.db'}"},
    }  # fmt: skip
    proc = start_proxy(config, work, {"TW_FUZZ_KEYS": KEY, "TW_FUZZ_ADMIN": ADMIN})
    yield proc
    proc.stop()
    assert "Traceback" not in proc.log(), proc.log()[-4000:]


@pytest.fixture(scope="module")
def http(proxy: Process) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=proxy.root, timeout=10) as client:
        yield client


def check(resp: httpx.Response, where: str) -> None:
    """The one property every answer has: 2xx, or a 4xx with an OpenAI error body."""
    assert resp.status_code < 500, f"{where}: {resp.status_code} {resp.text[:300]}"
    if resp.status_code >= 400:
        try:
            body = resp.json()
        except ValueError:
            pytest.fail(f"{where}: {resp.status_code} body is not JSON: {resp.text[:300]!r}")
        assert_openai_error(resp.status_code, body, where)


# -- strategies ------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
requests = st.fixed_dictionaries(
    {"model": st.sampled_from(["m", "m2", "nope", "", 1, None, ["m"], {"m": 1}])},
    optional={
        "stream": st.sampled_from([True, False, None, "yes", 1, 0, []]),
        "messages": json_values,
        "prompt": json_values,
        "input": json_values,
        "max_tokens": json_values,
        "stream_options": json_values,
    },
)
auth_headers = st.sampled_from(
    [{"Authorization": f"Bearer {KEY}"}] * 3
    + [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": "Bearer"}]
)
header_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=20
).filter(lambda n: n not in {"content-length", "transfer-encoding", "host", "connection"})
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60
).map(str.strip)  # h11 refuses surrounding whitespace
extra_headers = st.dictionaries(header_names, header_values, max_size=4) | st.fixed_dictionaries(
    {
        "x-request-id": header_values,
        "x-tunewatch-category": header_values,
        "x-tunewatch-mirror": header_values,
        "content-type": header_values,
    }
)


@FUZZ
@given(route=st.sampled_from(POST_ROUTES), body=st.binary(max_size=512), auth=auth_headers)
def test_arbitrary_bytes(http: httpx.Client, route: str, body: bytes, auth: dict[str, str]) -> None:
    check(http.post(route, content=body, headers=auth), f"POST {route} {body[:80]!r}")


@FUZZ
@given(route=st.sampled_from(POST_ROUTES), value=json_values | requests, auth=auth_headers)
def test_arbitrary_json(http: httpx.Client, route: str, value: Any, auth: dict[str, str]) -> None:
    body = json.dumps(value).encode()
    check(http.post(route, content=body, headers=auth), f"POST {route} {body[:200]!r}")


@FUZZ
@given(
    route=st.sampled_from([*POST_ROUTES, "/v1/models"]),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    value=requests,
    headers=extra_headers,
    auth=auth_headers,
)
def test_arbitrary_methods_and_headers(
    http: httpx.Client,
    route: str,
    method: str,
    value: Any,
    headers: dict[str, str],
    auth: dict[str, str],
) -> None:
    resp = http.request(method, route, content=json.dumps(value), headers={**headers, **auth})
    check(resp, f"{method} {route} {headers}")


@FUZZ
@given(
    route=st.sampled_from(ADMIN_ROUTES),
    token=st.sampled_from([ADMIN, ADMIN, "wrong", "", None]),
    body=st.binary(max_size=256)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries({"model": json_values}).map(lambda v: json.dumps(v).encode()),
    query=st.dictionaries(st.sampled_from(["model", "pack", "limit"]), header_values, max_size=3),
)
def test_admin_endpoints(
    http: httpx.Client,
    route: tuple[str, str],
    token: str | None,
    body: bytes,
    query: dict[str, str],
) -> None:
    method, path = route
    headers = {"Authorization": f"Bearer {token}".strip()} if token is not None else {}
    resp = http.request(method, path, content=body, headers=headers, params=query)
    check(resp, f"{method} {path} {body[:80]!r} {query}")
    if token != ADMIN:
        assert resp.status_code == 401


# -- hand-made bad input ---------------------------------------------------------------------
def _post(http: httpx.Client, route: str, body: bytes) -> httpx.Response:
    return http.post(route, content=body, headers={"Authorization": f"Bearer {KEY}"})


@pytest.mark.parametrize("route", POST_ROUTES)
def test_deep_nesting_is_a_400(http: httpx.Client, route: str) -> None:
    depth = 100_000
    bodies = {
        "arrays": b"[" * depth + b"]" * depth,
        "objects": b'{"a":' * depth + b"1" + b"}" * depth,
        "inside a request": b'{"model":"m","messages":' + b"[" * depth + b"]" * depth + b"}",
    }
    for name, body in bodies.items():
        assert len(body) <= 4 * 1024 * 1024
        resp = http.post(
            route,
            content=body,
            headers={"Authorization": f"Bearer {KEY}"},
            extensions={"timeout": {"read": 10}},
        )
        if len(body) > MAX_BODY:
            assert resp.status_code == 413, name
        else:
            assert resp.status_code == 400, name
        check(resp, name)


def test_deep_nesting_under_the_body_limit(proxy: Process, http: httpx.Client) -> None:
    # 100k levels need 200 kB; under this proxy's 64 kB limit, 30k levels are parsed: still 400
    depth = 30_000
    for route in POST_ROUTES:
        resp = _post(http, route, b"[" * depth + b"]" * depth)
        assert resp.status_code == 400
        check(resp, route)
    admin = http.post(
        "/admin/drift/reset",
        content=b"[" * depth + b"]" * depth,
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert admin.status_code == 400
    check(admin, "admin reset")


def test_invalid_utf8_and_wrong_types(http: httpx.Client) -> None:
    cases = {
        b'{"model": "m", "messages": [{"role": "user", "content": "\xff\xfe"}]}': 400,
        b'{"model": "m\xc3"}': 400,
        b'{"model": 1}': 400,
        b'{"model": ["m"]}': 400,
        b'{"model": "m", "stream": "yes"}': 400,
        b'{"model": "m", "stream": 1}': 400,
        b"[]": 400,
        b'"m"': 400,
        b"": 400,
        b'{"model": "nope"}': 404,
    }
    for body, status in cases.items():
        resp = _post(http, "/v1/chat/completions", body)
        assert resp.status_code == status, body
        check(resp, repr(body))
    emb = _post(http, "/v1/embeddings", b'{"model": "m", "input": "x", "stream": true}')
    assert emb.status_code == 400 and emb.json()["error"]["param"] == "stream"


def test_huge_declared_body_is_refused_before_it_is_sent(proxy: Process) -> None:
    # Declares 1 GiB and sends only the headers: the 413 must come without the body.
    started = time.monotonic()
    status, _, body = raw_http(
        proxy.port,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {KEY}\r\nContent-Length: {1 << 30}\r\n\r\n".encode(),
    )
    assert status == 413 and time.monotonic() - started < 5
    assert_openai_error(status, json.loads(body))


@pytest.mark.parametrize("route", [*POST_ROUTES, "/admin/drift/reset", "/admin/packs/big"])
def test_huge_chunked_body_is_cut_off(proxy: Process, route: str) -> None:
    # 64 MiB offered in 64 KiB chunks: the proxy answers 413 once past its limit, having read
    # only a little more than the limit.
    method = "PUT" if route.startswith("/admin/packs") else "POST"
    token = ADMIN if route.startswith("/admin") else KEY
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(
            f"{method} {route} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        sock.setblocking(False)
        answer = b""
        while sent < 64 * 1024 * 1024:
            with contextlib.suppress(BlockingIOError):
                answer += sock.recv(65536)
            if b"\r\n\r\n" in answer:
                break
            try:
                sock.sendall(b"10000\r\n" + chunk + b"\r\n")
                sent += len(chunk)
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                break  # the server closed its side after answering
        sock.setblocking(True)
        sock.settimeout(5)
        while b"\r\n\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    status, _, _ = parse_response(answer)
    assert status == 413, answer[:300]
    assert sent < 16 * 1024 * 1024, f"{sent} bytes were read before the 413"


def test_missing_duplicate_and_conflicting_framing(proxy: Process) -> None:
    auth = f"Authorization: Bearer {KEY}\r\n".encode()
    good = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
    # no Content-Length, no chunking: an empty body, answered as invalid JSON
    status, _, body = raw_http(
        proxy.port,
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + auth + b"\r\n",
    )
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_json"
    # a chunked upload of a valid request is forwarded
    chunked = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n"
        + auth
        + b"Connection: close\r\n\r\n"
        + b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (good[:10], good[10:]))
        + b"0\r\n\r\n"
    )
    status, _, body = raw_http(proxy.port, chunked)
    assert status == 200 and json.loads(body)["model"] == "m"
    # framing the HTTP parser itself refuses (request smuggling shapes): 400, connection closed
    for framing in (
        b"Content-Length: 2\r\nContent-Length: 3\r\n",
        b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
        b"Content-Length: -1\r\n",
        b"Content-Length: 1x\r\n",
    ):
        status, _, _ = raw_http(
            proxy.port,
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n" + framing + auth + b"\r\n{}",
        )
        assert status == 400, framing
    # and the proxy still serves
    assert httpx.get(proxy.root + "/healthz").status_code == 200


def test_no_500_was_counted(proxy: Process) -> None:
    """After all of the above, the request counter holds no 5xx for any model."""
    text = httpx.get(proxy.root + "/metrics").text
    fives = [
        ln
        for ln in text.splitlines()
        if ln.startswith("tunewatch_requests_total") and 'code="5' in ln
    ]
    assert fives == []
    assert metric(proxy, 'tunewatch_requests_total{code="200",endpoint="chat",model="m"}') > 0


# -- config loading --------------------------------------------------------------------------
_SOURCE = "fuzz.yaml"
_LINE = re.compile(rf"^{re.escape(_SOURCE)}:\d+: \S")
_FIELD = re.compile(rf"^{re.escape(_SOURCE)}:\d+: (models|drift)\b.*: ", re.DOTALL)
_CONFIG_FRAGMENTS = [
    "models:\n", "  - name: m\n", "    upstream: http://127.0.0.1:1/v1\n", "    base: {upstream: x, model: b}\n",
    "    mirror: {rate: 2}\n", "    timeout: .inf\n", "    timeout: 30s\n", "probes: {interval: -1}\n",
    "store: {url: sqlite:///x.db, keep_text: some}\n", "auth: {api_keys_env: 3}\n", "drift: {alpha: .nan}\n",
    "server: {max_body_bytes: 1}\n", "monitor: {mirror_queue_size: 0}\n", "categories: {rules: [{category: X, pattern: '('}]}\n",
    "- \n", "  ", ": ", "&a ", "*a ", "!!binary ", "!!python/object:os.system ", "[", "]", "{", "}", "'", '"', "\t",
    "\x00", "\ufeff", "<<: *a\n", "? [1]\n", "models: []\n", "models: [1, {}]\n", "---\n", "...\n", "#",
]  # fmt: skip


def _only_config_errors(text: str) -> None:
    try:
        parse_config(text, _SOURCE)
    except ConfigError as err:
        assert err.errors, text
        for line in err.errors:
            assert _LINE.match(line), (line, text)
    # a valid config is fine too


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=300))
def test_config_arbitrary_text_only_raises_config_error(text: str) -> None:
    _only_config_errors(text)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(_CONFIG_FRAGMENTS), max_size=30).map("".join))
def test_config_yamlish_text_only_raises_config_error(text: str) -> None:
    _only_config_errors(text)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(json_values)
def test_config_arbitrary_data_names_the_field(value: Any) -> None:
    # well-formed YAML of arbitrary data: every validation error names file:line: field
    text = yaml.safe_dump({"models": [{"name": "m", "upstream": "http://u/v1", "extra": value}],
                           "drift": value})  # fmt: skip
    with pytest.raises(ConfigError) as info:
        parse_config(text, _SOURCE)
    for line in info.value.errors:
        assert _FIELD.match(line), line


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.binary(max_size=300))
def test_config_arbitrary_bytes_from_a_file(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("cfg") / _SOURCE
    path.write_bytes(data)
    try:
        load_config(path)
    except ConfigError as err:
        for line in err.errors:
            assert line.startswith(f"{path}:") and re.match(
                r"^\d+: ", line[len(str(path)) + 1 :]
            ), line


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 100_000 + "]" * 100_000, ":1: "),
        ("models:\n" + "  " * 1 + "- " + "{a: " * 5000 + "1" + "}" * 5000, "nesting deeper"),
        ("models: &a [*a]", "nesting deeper"),
        (
            "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
            "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
            "nodes",
        ),
        ("models: []\nmodels: [{name: m, upstream: 'http://u'}]\n", ":2: models: duplicate key"),
        ("models: [{name: m, upstream: 'http://u', timeout: .inf}]", "models.0.timeout: "),
        ("models: [{name: m, upstream: 'http://u', timeout: .nan}]", "models.0.timeout: "),
        ("models: [{name: m, upstream: 'http://u', timeout: 1.0e+300}]", "models.0.timeout: "),
    ],
    ids=[
        "deep-flow",
        "deep-map",
        "alias-cycle",
        "alias-bomb",
        "duplicate-key",
        "inf",
        "nan",
        "huge",
    ],
)
def test_config_hostile_yaml(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, _SOURCE)
    assert any(expected in line for line in info.value.errors), info.value.errors
    assert all(_LINE.match(line) for line in info.value.errors)
