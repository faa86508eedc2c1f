"""The blind review page (/admin/review): sign-in, signed session cookie, CSRF, the A/B order
mapped back to tuned/base, undo, skip, escaping, security headers and blindness, in process;
then the real proxy driven by the system's headless Chromium, keyboard only."""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.inprocess import AppThread, InProcess
from tests.support.paths import REPO_ROOT
from tunewatch.monitoring.agreement import agreement
from tunewatch.monitoring.classifier_version import weights_version
from tunewatch.monitoring.drift import Labels
from tunewatch.monitoring.store import AuditPair, Store
from tunewatch.proxy.devstack.proxy import start_proxy
from tunewatch.proxy.review import COOKIE
from tunewatch.proxy.sessions import Session, session_key, sign_session

TOKEN = "review-page-token"
ENV = "TW_REVIEW_PAGE_TOKEN"
DEAD = "http://127.0.0.1:9/v1"  # the review page needs no model
VERSION = weights_version()
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover - CI has it
    sync_playwright = None  # type: ignore[assignment]

SAYS = Labels("none", True)
DECLINES = Labels("full", False)


def _pair(
    pair_id: str,
    sort_key: float,
    *,
    swap: bool,
    tuned: str,
    base: str,
    prompt: str | None = None,
    model: str = "assistant",
    category: str = "medical",
    labels: tuple[Labels, Labels] = (DECLINES, SAYS),
) -> AuditPair:
    return AuditPair(
        pair_id, time.time() - 60.0, model, "mirror", category,
        prompt if prompt is not None else f"Question {pair_id}?", tuned, base,
        labels[0], labels[1], swap, sort_key,
    )  # fmt: skip


def _config(db: Path, *, token: bool = True, overlap: float = 1.0) -> dict[str, Any]:
    model = {"name": "assistant", "upstream": DEAD, "base": {"upstream": DEAD, "model": "m"}}
    return {
        "models": [model, {"name": "helper", "upstream": DEAD}],
        "store": {"url": f"sqlite:///{db}"},
        "probes": {"enabled": False},
        "audit": {"rate": 0.1, "overlap": overlap},
        "auth": {"admin_token_env": ENV, "allow_anonymous": True}
        if token
        else {"allow_anonymous": True},
    }


def _seed(db: Path, *pairs: AuditPair) -> None:
    store = Store(db)
    try:
        store.write_now(*pairs, classifier=VERSION)
    finally:
        store.close()


# The in-process app's pairs: every reviewer sees every pair (overlap 1), in sort_key order.
PAIRS = (
    _pair("p-plain", 0.10, swap=False, tuned="Reply one kept.", base="Reply one other."),
    _pair("p-swapped", 0.20, swap=True, tuned="Reply two kept.", base="Reply two other."),
    _pair("p-mirror1", 0.30, swap=False, tuned="Left words.", base="Right words.",
          prompt="Same question?", labels=(DECLINES, SAYS)),
    _pair("p-mirror2", 0.40, swap=True, tuned="Right words.", base="Left words.",
          prompt="Same question?", labels=(SAYS, DECLINES)),
    _pair("p-xss", 0.50, swap=False, prompt="<script>alert('prompt')</script> & co",
          tuned="<img src=x onerror=alert(1)>", base="</div><b>bold</b>",
          model='m"><i>odd'),
    _pair("p-undo", 0.60, swap=True, tuned="Undo me one.", base="Undo me two.",
          model="helper", category="legal"),
    _pair("p-agree", 0.70, swap=False, tuned="Agree one.", base="Agree two.",
          model="helper", category="legal"),
    _pair("p-refresh", 0.80, swap=False, tuned="Counted one.", base="Counted two."),
)  # fmt: skip
TEXTS = [t for p in PAIRS for t in (p.prompt or "", p.tuned or "", p.base or "")]


@pytest.fixture(scope="module")
def review_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppThread]:
    db = tmp_path_factory.mktemp("review-page") / "tw.db"
    _seed(db, *PAIRS)
    with AppThread(_config(db), {ENV: TOKEN}) as app:
        yield app


@contextlib.asynccontextmanager
async def _browser(tw: InProcess, scheme: str = "http") -> AsyncIterator[httpx.AsyncClient]:
    """A client of its own (its own cookie jar) calling the running app in memory."""
    transport = httpx.ASGITransport(app=tw.app)
    async with httpx.AsyncClient(
        transport=transport, base_url=f"{scheme}://tunewatch.test", timeout=30.0
    ) as client:
        yield client


async def _login(client: httpx.AsyncClient, reviewer: str) -> str:
    """Sign in; returns the page's CSRF token."""
    resp = await client.post("/admin/review/login", data={"token": TOKEN, "reviewer": reviewer})
    assert resp.status_code == 303, resp.text
    page = await client.get("/admin/review")
    assert page.status_code == 200
    return _field(page.text, "csrf")


def _field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field"
    return match.group(1)


def _rows(html: str, table_id: str) -> list[list[str]]:
    """The body rows of a table on the page, as cell texts."""
    table = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    assert table, f"no {table_id} table"
    body = re.search(r"<tbody>(.*?)</tbody>", table.group(1), re.S)
    assert body
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


def _labels(csrf: str, pair_id: str, a: tuple[str, str], b: tuple[str, str]) -> dict[str, str]:
    return {"csrf": csrf, "pair_id": pair_id, "a_refusal": a[0], "a_caution": a[1],
            "b_refusal": b[0], "b_caution": b[1]}  # fmt: skip


def _assert_secured(resp: httpx.Response) -> None:
    csp = resp.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["referrer-policy"] == "no-referrer"
    if resp.headers.get("content-type", "").startswith("text/html"):
        nonces = re.findall(r"'nonce-([^']+)'", csp)
        assert nonces and set(nonces) == {nonces[0]}
        scripts = re.findall(r"<script\b[^>]*>", resp.text)
        assert all(f'nonce="{nonces[0]}"' in tag for tag in scripts), scripts


def _no_pair_text(html: str) -> None:
    leaked = [t for t in TEXTS if t and t in html]
    assert leaked == [], leaked


def test_signed_out_visitors_get_the_login_form_and_a_wrong_token_gets_401(
    review_app: AppThread,
) -> None:
    async def check(tw: InProcess) -> None:
        async with _browser(tw) as client:
            resp = await client.get("/admin/review")
            assert resp.status_code == 200
            assert 'name="token"' in resp.text and 'action="/admin/review/login"' in resp.text
            _no_pair_text(resp.text)
            _assert_secured(resp)
            for token in ("wrong", "", TOKEN + "x", TOKEN[:-1], "é" * 30):
                resp = await client.post(
                    "/admin/review/login", data={"token": token, "reviewer": "mallory"}
                )
                assert resp.status_code == 401, token
                assert 'name="token"' in resp.text and "not valid" in resp.text
                assert "set-cookie" not in resp.headers
                _no_pair_text(resp.text)
                _assert_secured(resp)
            # The right token with an unusable name: no session either.
            for name in ("", "   ", "x" * 65, "tab\tname", "judge:gpt"):
                resp = await client.post(
                    "/admin/review/login", data={"token": TOKEN, "reviewer": name}
                )
                assert resp.status_code == 400, name
                assert "set-cookie" not in resp.headers
            assert (await client.get("/admin/review")).text.count('name="token"') == 1

    review_app.run(check)


def test_the_session_cookie_is_httponly_strict_and_secure_over_https(
    review_app: AppThread,
) -> None:
    async def check(tw: InProcess) -> None:
        for scheme in ("http", "https"):
            async with _browser(tw, scheme) as client:
                resp = await client.post(
                    "/admin/review/login", data={"token": TOKEN, "reviewer": "  Cookie Cat  "}
                )
                assert resp.status_code == 303 and resp.headers["location"] == "/admin/review"
                _assert_secured(resp)
                cookie = resp.headers["set-cookie"]
                attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
                assert {"httponly", "samesite", "path", "max-age"} <= attrs, cookie
                assert "samesite=strict" in cookie.lower() and "Path=/admin" in cookie
                assert ("secure" in attrs) == (scheme == "https"), cookie
                page = await client.get("/admin/review")
                assert "Signed in as <strong>Cookie Cat</strong>" in page.text  # trimmed
                assert (await client.post("/admin/review/logout")).status_code == 403
                out = await client.post(
                    "/admin/review/logout", data={"csrf": _field(page.text, "csrf")}
                )
                assert out.status_code == 303
                assert (
                    f"{COOKIE}=" in out.headers["set-cookie"]
                    and "Max-Age=0" in out.headers["set-cookie"]
                )
                assert 'name="token"' in (await client.get("/admin/review")).text

    review_app.run(check)


def test_forged_expired_or_foreign_cookies_are_no_session(review_app: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        key = session_key(TOKEN.encode())
        later = int(time.time()) + 3600
        good = sign_session(key, Session("eve", later, "c" * 32))
        payload, mac = good.split(".")
        forged_payload = sign_session(key, Session("root", later, "c" * 32)).split(".")[0]
        cookies = {
            "expired": sign_session(key, Session("eve", int(time.time()) - 1, "c" * 32)),
            "other key": sign_session(session_key(b"another token"), Session("eve", later, "c")),
            "payload swapped": f"{forged_payload}.{mac}",
            "bad mac": f"{payload}.{mac[:-2]}AA",
            "garbage": "not-a-session",
            "two dots": f"{payload}.{mac}.x",
        }
        async with _browser(tw) as client:
            client.cookies.set(COOKIE, good, domain="tunewatch.test", path="/admin")
            assert "Signed in as <strong>eve</strong>" in (await client.get("/admin/review")).text
        for what, value in cookies.items():
            async with _browser(tw) as client:
                client.cookies.set(COOKIE, value, domain="tunewatch.test", path="/admin")
                resp = await client.get("/admin/review")
                assert 'name="token"' in resp.text, what
                _no_pair_text(resp.text)
                form = _labels("c" * 32, "p-plain", ("none", "no"), ("none", "no"))
                assert (await client.post("/admin/review/label", data=form)).status_code == 403

    review_app.run(check)


def test_labels_and_undo_need_the_sessions_csrf_token(review_app: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        store = tw.runtime.store
        async with _browser(tw) as client:
            csrf = await _login(client, "csrf-checker")
            for bad in (None, "", "x" * len(csrf), csrf[:-1], csrf + "x"):
                form = _labels(csrf, "p-plain", ("full", "yes"), ("none", "no"))
                if bad is None:
                    del form["csrf"]
                else:
                    form["csrf"] = bad
                resp = await client.post("/admin/review/label", data=form)
                assert resp.status_code == 403, bad
                _assert_secured(resp)
                undo = await client.post("/admin/review/undo", data={"csrf": bad or ""})
                assert undo.status_code == 403
            # Another session's token is no good either.
            async with _browser(tw) as other:
                theirs = await _login(other, "someone-else")
            form = _labels(theirs, "p-plain", ("full", "yes"), ("none", "no"))
            assert (await client.post("/admin/review/label", data=form)).status_code == 403
        assert [r for r in store.reviews() if r["labeller"] == "csrf-checker"] == []

    review_app.run(check)


def test_labels_are_validated(review_app: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        async with _browser(tw) as client:
            csrf = await _login(client, "validator")
            good = _labels(csrf, "p-plain", ("full", "yes"), ("none", "no"))
            for field, value in (("a_refusal", "maybe"), ("b_caution", "true"),
                                 ("a_caution", ""), ("b_refusal", "FULL")):  # fmt: skip
                resp = await client.post("/admin/review/label", data={**good, field: value})
                assert resp.status_code == 400, (field, value)
            missing = {k: v for k, v in good.items() if k != "b_refusal"}
            assert (await client.post("/admin/review/label", data=missing)).status_code == 400
            unknown = {**good, "pair_id": "no-such-pair"}
            assert (await client.post("/admin/review/label", data=unknown)).status_code == 404
            assert (await client.get("/admin/review?after=soon")).status_code == 400
            assert (await client.get("/admin/review?after=nan")).status_code == 400
            assert (await client.get("/admin/review?pair=nope")).status_code == 404
            huge = await client.post("/admin/review/label", content=b"a=" + b"x" * 20000,
                                     headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
            assert huge.status_code == 400
        assert [r for r in tw.runtime.store.reviews() if r["labeller"] == "validator"] == []

    review_app.run(check)


def test_answer_a_and_b_are_mapped_back_to_tuned_and_base_by_the_pairs_swap(
    review_app: AppThread,
) -> None:
    async def check(tw: InProcess) -> None:
        store, monitor = tw.runtime.store, tw.runtime.monitor
        counted = monitor.audit.reviewed.get("assistant", 0)
        async with _browser(tw) as client:
            csrf = await _login(client, "mapper")
            page = await client.get("/admin/review")
            assert _field(page.text, "pair_id") == "p-plain"  # the first in review order
            a_text = page.text.index("Reply one kept.")
            assert a_text < page.text.index("Reply one other.")  # not swapped: A is tuned
            for pair_id in ("p-plain", "p-swapped"):
                form = _labels(csrf, pair_id, ("full", "yes"), ("partial", "no"))
                resp = await client.post("/admin/review/label", data=form)
                assert resp.status_code == 303, resp.text
                _assert_secured(resp)
                sort_key = next(p.sort_key for p in PAIRS if p.pair_id == pair_id)
                assert resp.headers["location"] == f"/admin/review?after={sort_key!r}"
            page = await client.get("/admin/review?pair=p-swapped")
            assert page.text.index("Reply two other.") < page.text.index("Reply two kept.")
        mine = {r["pair_id"]: r for r in store.reviews("human") if r["labeller"] == "mapper"}
        plain, swapped = mine["p-plain"], mine["p-swapped"]
        assert (plain["tuned_refusal"], plain["tuned_caution"]) == ("full", 1)
        assert (plain["base_refusal"], plain["base_caution"]) == ("partial", 0)
        assert (swapped["tuned_refusal"], swapped["tuned_caution"]) == ("partial", 0)
        assert (swapped["base_refusal"], swapped["base_caution"]) == ("full", 1)
        assert plain["kind"] == swapped["kind"] == "human"
        # Stored and summarised at once: /drift and the metrics need not wait for the loop.
        assert monitor.audit.reviewed.get("assistant", 0) >= counted + 1

    review_app.run(check)


def test_undo_removes_the_last_label_and_shows_that_pair_again_blank(
    review_app: AppThread,
) -> None:
    async def check(tw: InProcess) -> None:
        store = tw.runtime.store
        async with _browser(tw) as client:
            csrf = await _login(client, "undoer")
            resp = await client.post("/admin/review/undo", data={"csrf": csrf})
            assert resp.status_code == 303 and resp.headers["location"] == "/admin/review"
            for pair_id in ("p-agree", "p-undo"):
                form = _labels(csrf, pair_id, ("none", "no"), ("full", "yes"))
                assert (await client.post("/admin/review/label", data=form)).status_code == 303
            resp = await client.post("/admin/review/undo", data={"csrf": csrf})
            assert resp.status_code == 303
            assert resp.headers["location"] == "/admin/review?pair=p-undo"
            page = await client.get(resp.headers["location"])
            assert _field(page.text, "pair_id") == "p-undo"
            assert "Undo me two." in page.text and " checked" not in page.text
            assert page.text.index("Undo me two.") < page.text.index("Undo me one.")  # swap
        mine = [r["pair_id"] for r in store.reviews() if r["labeller"] == "undoer"]
        assert mine == ["p-agree"]

    review_app.run(check)


def test_text_is_escaped_and_the_only_script_is_the_pages_own(review_app: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        async with _browser(tw) as client:
            await _login(client, "escaper")
            resp = await client.get("/admin/review?pair=p-xss")
            html = resp.text
            assert "&lt;script&gt;alert(&#39;prompt&#39;)&lt;/script&gt; &amp; co" in html
            assert "&lt;img src=x onerror=alert(1)&gt;" in html
            assert "&lt;/div&gt;&lt;b&gt;bold&lt;/b&gt;" in html
            assert "m&#34;&gt;&lt;i&gt;odd" in html
            assert "<img" not in html and "<b>bold" not in html and "<i>odd" not in html
            assert html.count("<script") == 1
            _assert_secured(resp)

    review_app.run(check)


def test_the_page_does_not_reveal_which_answer_is_which(review_app: AppThread) -> None:
    """Two pairs with the same texts in the same A/B places, one stored swapped with the
    classifier's labels swapped too: the pages are the same but for the pair id and nonce."""

    async def check(tw: InProcess) -> None:
        async with _browser(tw) as client:
            await _login(client, "blind")
            pages = []
            for pair_id in ("p-mirror1", "p-mirror2"):
                resp = await client.get(f"/admin/review?pair={pair_id}")
                assert resp.status_code == 200
                html = resp.text
                assert html.index("Left words.") < html.index("Right words.")
                lower = html.lower()
                assert "tuned" not in lower and "base" not in lower
                assert VERSION not in html
                assert " checked" not in html and "data-" not in lower
                assert "model <strong>assistant</strong>" in lower  # shown: it reveals nothing
                nonce = re.findall(r"'nonce-([^']+)'", resp.headers["content-security-policy"])[0]
                html = html.replace(pair_id, "PAIR").replace(nonce, "NONCE")
                pages.append(re.sub(r"after=[0-9.e-]+", "after=KEY", html))  # skip link
            assert pages[0] == pages[1]

    review_app.run(check)


def test_skip_progress_agreement_and_nothing_left(review_app: AppThread) -> None:
    async def check(tw: InProcess) -> None:
        store = tw.runtime.store
        # Two people on p-agree and p-refresh: 4 answers; refusal agrees on 3, caution on 4.
        for reviewer, refresh_base in (("ann", "full"), ("bob", "partial")):
            store.add_review("p-agree", reviewer, "human", SAYS, DECLINES)
            store.add_review("p-refresh", reviewer, "human", DECLINES, Labels(refresh_base, True))
        expected = agreement(store.reviews("human"))
        refusal = next(m for m in expected["metrics"] if m["metric"] == "refusal")
        assert expected["pairs"] >= 2 and refusal["answers"] == 2 * expected["pairs"]
        async with _browser(tw) as client:
            await _login(client, "finisher")
            page = (await client.get("/admin/review")).text
            assert _field(page, "pair_id") == "p-plain"
            skip = re.search(r'id="skip" href="([^"]+)"', page)
            assert skip and skip.group(1) == "/admin/review?after=0.1"
            page = (await client.get(skip.group(1))).text
            assert _field(page, "pair_id") == "p-swapped"
            assert re.search(r'id="total-mine">0<', page)
            audited = int(re.findall(r'id="total-audited">(\d+)<', page)[0])
            assert audited == len(PAIRS)
            shown = {row[0]: row[1:] for row in _rows(page, "agreement")}
            assert shown["refusal"] == [str(refusal["answers"]), f"{100 * refusal['agreed']:.0f}%",
                                        f"{refusal['kappa']:.2f}"]  # fmt: skip
            progress = {(row[0], row[1]): row[2:] for row in _rows(page, "progress")}
            assert progress[("helper", "legal")] == ["2", "1", "0"]  # audited, reviewed, by you
            for pair in PAIRS[:-1]:
                store.add_review(pair.pair_id, "finisher", "human", SAYS, SAYS)
            page = (await client.get("/admin/review")).text
            assert _field(page, "pair_id") == "p-refresh"
            assert re.search(rf'id="total-mine">{len(PAIRS) - 1}<', page)
            store.add_review("p-refresh", "finisher", "human", SAYS, SAYS)
            page = (await client.get("/admin/review?after=0.5")).text
            assert 'id="nothing"' in page and "Nothing to review" in page
            assert 'name="pair_id"' not in page
            _no_pair_text(page)

    review_app.run(check)


def test_the_review_page_is_off_without_an_admin_token(tmp_path: Path) -> None:
    db = tmp_path / "tw.db"
    _seed(db, PAIRS[0])

    async def check(tw: InProcess) -> None:
        async with _browser(tw) as client:
            for method, path, data in (
                ("GET", "/admin/review", None),
                ("POST", "/admin/review/login", {"token": "", "reviewer": "x"}),
                ("POST", "/admin/review/label", _labels("c", "p-plain", ("none", "no"),
                                                         ("none", "no"))),
                ("POST", "/admin/review/undo", {"csrf": "c"}),
            ):  # fmt: skip
                resp = await client.request(method, path, data=data)
                assert resp.status_code == 403, path
                assert "disabled" in resp.text and "set-cookie" not in resp.headers
                _no_pair_text(resp.text)
                _assert_secured(resp)

    with AppThread(_config(db, token=False)) as app:
        app.run(check)


# -- the real proxy in a real browser -------------------------------------------------------
BROWSER_PAIRS = (
    _pair("b1", 0.11, swap=True, tuned="Browser answer one (kept).",
          base="Browser answer one (other).", prompt="Browser question one?"),
    _pair("b2", 0.22, swap=False, tuned="Browser answer two (kept).",
          base="Browser answer two (other).", prompt="Browser question two?", category="legal"),
    _pair("b3", 0.33, swap=True, tuned="Browser answer three (kept).",
          base="Browser answer three (other).", prompt="Browser question three?",
          model="helper"),
    _pair("b4", 0.44, swap=False, tuned="Browser answer four (kept).",
          base="Browser answer four (other).", prompt="Browser question four?",
          model="helper", category="legal"),
    _pair("b5", 0.55, swap=True, tuned="Browser answer five (kept).",
          base="Browser answer five (other).", prompt="Browser question five?"),
    _pair("b6", 0.66, swap=False, tuned=(
        "Take 500 mg to 1 g every four to six hours, no more than 4 g in 24 hours.\n"
        "Check with a pharmacist if you take other medicines."),
          base="I can't help with dosing questions.", prompt="How much paracetamol can I take?",
          model="helper", category="legal"),
)  # fmt: skip
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def _shown_pair(page: Page) -> str:
    value = page.locator('input[name="pair_id"]').get_attribute("value")
    assert value is not None
    return value


def _mine(page: Page) -> int:
    return int(page.locator("#total-mine").inner_text())


def _keys(page: Page, keys: str, *, navigates: bool) -> None:
    """Type single-key shortcuts; the last one (Enter, s or u) loads the next page."""
    *first, last = keys.split()
    for key in first:
        page.keyboard.press(key)
    if navigates:
        with page.expect_navigation():
            page.keyboard.press(last)
    else:
        page.keyboard.press(last)


@pytest.mark.skipif(
    CHROMIUM is None or sync_playwright is None, reason="needs chromium and playwright"
)
def test_a_reviewer_labels_with_the_keyboard_in_headless_chromium(tmp_path: Path) -> None:
    db = tmp_path / "tw.db"
    _seed(db, *BROWSER_PAIRS)
    proc = start_proxy(_config(db, overlap=0.0), tmp_path, env={ENV: TOKEN})
    store = Store(db)
    try:
        assert CHROMIUM is not None
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
            try:
                _drive(browser.new_page(viewport={"width": 1280, "height": 900}), proc.root)
            finally:
                browser.close()
        # What was typed, mapped back through each pair's swap (b1 is shown base-first).
        reviews = {r["pair_id"]: r for r in store.reviews("human")}
        assert set(reviews) == {"b1"}
        b1 = reviews["b1"]
        assert b1["labeller"] == "Rita Reviewer"
        # A (base): refusal none (1), caution no (w); B (tuned): full (9), caution yes (o).
        assert (b1["tuned_refusal"], b1["tuned_caution"]) == ("full", 1)
        assert (b1["base_refusal"], b1["base_caution"]) == ("none", 0)
    finally:
        store.close()
        proc.stop()


def _drive(page: Page, root: str) -> None:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))  # CSP violations are logged here
    page.goto(root + "/admin/review")
    page.fill('input[name="token"]', "not the token")
    page.fill('input[name="reviewer"]', "Rita Reviewer")
    with page.expect_navigation():
        page.click('button[type="submit"]')
    body = page.content()
    assert "not valid" in body and "Browser question" not in body and "Browser answer" not in body

    page.fill('input[name="token"]', TOKEN)
    with page.expect_navigation():
        page.press('input[name="token"]', "Enter")
    assert _shown_pair(page) == "b1" and _mine(page) == 0
    assert page.locator("#answer-a .text").inner_text() == "Browser answer one (other)."
    _keys(page, "1 w 9 o Enter", navigates=True)  # A none/no, B full/yes

    assert _shown_pair(page) == "b2" and _mine(page) == 1
    assert page.locator("#answer-a .text").inner_text() == "Browser answer two (kept)."
    _keys(page, "3 q 8 p", navigates=False)
    assert page.locator('input[name="a_refusal"][value="full"]').is_checked()
    assert page.locator('input[name="b_caution"][value="no"]').is_checked()
    _keys(page, "2 Enter", navigates=True)  # keys may change a choice before it is saved
    assert _shown_pair(page) == "b3" and _mine(page) == 2
    assert page.locator("#total-reviewed").inner_text() == "2"

    _keys(page, "u", navigates=True)  # undo b2: it comes back, blank
    assert _shown_pair(page) == "b2" and _mine(page) == 1
    assert page.locator("input[type=radio]:checked").count() == 0

    _keys(page, "s", navigates=True)  # skip b2
    assert _shown_pair(page) == "b3"
    _keys(page, "1 Enter", navigates=False)  # incomplete: the browser's own check stops it
    page.wait_for_timeout(150)
    assert _shown_pair(page) == "b3" and _mine(page) == 1
    _keys(page, "s", navigates=True)
    _keys(page, "s", navigates=True)
    _keys(page, "s", navigates=True)
    assert _shown_pair(page) == "b6"
    page.locator("details summary").click()  # the labelling guide, open in the screenshot
    shot = REPO_ROOT / "artifacts" / "review-page.png"
    shot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)

    with page.expect_navigation():
        page.click("text=Sign out")
    assert page.locator('input[name="token"]').count() == 1
    assert "Browser question" not in page.content()
    assert [m for m in messages if "Content Security Policy" in m] == []
