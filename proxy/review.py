"""The blind review page of the audit: people label audited pairs in the browser.

Blind: the two answers are shown as "Answer A" and "Answer B" in each pair's stored random
order (`swap`), and nothing on the page (text, attributes, the classifier's labels) says
which came from which model; only the server maps A/B back when a review is stored.

Sessions are a signed cookie (HMAC-SHA256, key derived from the admin token), so they need no
server-side state, survive restarts and work across replicas; rotating the token ends them.
The page is server-rendered with autoescaping Jinja2 templates under a strict CSP whose only
script is the page's own, nonce-tagged, keyboard-shortcut script.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tunewatch.monitoring.agreement import agreement
from tunewatch.monitoring.drift import Labels
from tunewatch.proxy.admin import read_limited
from tunewatch.proxy.sessions import (
    Session,
    clean_reviewer,
    read_session,
    session_key,
    sign_session,
    token_matches,
)

if TYPE_CHECKING:
    from tunewatch.proxy.runtime import Runtime

COOKIE = "tw_review"
COOKIE_PATH = "/admin"
SESSION_SECONDS = 12 * 3600
MAX_FORM_BYTES = 16 * 1024
MAX_REVIEWER = 64
REFUSALS = ("none", "partial", "full")
CAUTIONS = {"yes": True, "no": False}
TEMPLATES = Path(__file__).with_name("templates")
R = TypeVar("R", bound=Response)


# -- labels and agreement ---------------------------------------------------------------------
def parse_labels(form: Mapping[str, str], side: str) -> Labels | None:
    refusal, caution = form.get(f"{side}_refusal"), form.get(f"{side}_caution")
    if refusal not in REFUSALS or caution not in CAUTIONS:
        return None
    return Labels(refusal, CAUTIONS[caution])


def unblind(swap: bool, a: Labels, b: Labels) -> tuple[Labels, Labels]:
    """(tuned, base) from the labels given to Answer A and Answer B."""
    return (b, a) if swap else (a, b)


def shown(pair: Mapping[str, Any]) -> tuple[str, str]:
    """(Answer A, Answer B): the base answer comes first when the pair's `swap` is set."""
    tuned, base = pair["tuned"] or "", pair["base"] or ""
    return (base, tuned) if pair["swap"] else (tuned, base)


def progress_rows(rows: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The progress table's rows and its totals."""
    keys = ("audited", "reviewed", "mine")
    table = [{"model": r["model"], "category": r["category"], **{k: int(r[k] or 0) for k in keys}}
             for r in rows]  # fmt: skip
    return table, {k: sum(r[k] for r in table) for k in keys}


# -- the router -------------------------------------------------------------------------------
def review_router(runtime: Runtime) -> APIRouter:
    """`/admin/review`: the login form, the pair to label, and the label, undo and logout
    actions. Everything comes from `runtime`; blocking store calls run off the event loop."""
    router = APIRouter()
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    store = runtime.store

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        nonce = secrets.token_urlsafe(18)
        html = templates.get_template(name).render(nonce=nonce, **context)
        return _secured(HTMLResponse(html, status), nonce)

    def message(status: int, title: str, text: str) -> HTMLResponse:
        return page("message.html", status, title=title, text=text)

    def disabled() -> HTMLResponse:
        return message(403, "Review is off", "The admin token is not configured "
                       "(auth.admin_token_env), so the review page is disabled.")  # fmt: skip

    def current(request: Request) -> Session | None:
        assert runtime.admin_token is not None
        key = session_key(runtime.admin_token)
        return read_session(key, request.cookies.get(COOKIE), time.time())

    def redirect(url: str) -> Response:
        return _secured(RedirectResponse(url, 303), None)

    @router.get("/admin/review", response_model=None)
    async def review(request: Request) -> Response:
        if runtime.admin_token is None:
            return disabled()
        session = current(request)
        if session is None:
            return page("login.html", error=None, reviewer="")
        query = request.query_params
        if "pair" in query:
            pair = await asyncio.to_thread(store.audit_pair, query["pair"])
            if pair is None or pair["prompt"] is None:
                return message(404, "Pair not found", "That pair is not in the audit sample "
                               "any more, or its text has been deleted.")  # fmt: skip
        else:
            after = _float(query.get("after", "-1"))
            if after is None:
                return message(400, "Bad request", "`after` must be a number.")
            pair = await asyncio.to_thread(
                store.next_for_review, session.reviewer, after=after,
                overlap=runtime.config.audit.overlap,
            )  # fmt: skip
        progress, totals = progress_rows(
            await asyncio.to_thread(store.audit_progress, session.reviewer)
        )
        agreed = agreement(await asyncio.to_thread(store.reviews, "human"))
        answer_a, answer_b = shown(pair) if pair is not None else ("", "")
        return page(
            "review.html",
            reviewer=session.reviewer,
            csrf=session.csrf,
            pair=None if pair is None else {
                "id": pair["pair_id"], "model": pair["model"], "category": pair["category"],
                "prompt": pair["prompt"], "skip": f"/admin/review?after={pair['sort_key']!r}",
            },
            answer_a=answer_a,
            answer_b=answer_b,
            progress=progress,
            totals=totals,
            agreement=agreed,
        )  # fmt: skip

    @router.post("/admin/review/login", response_model=None)
    async def login(request: Request) -> Response:
        if runtime.admin_token is None:
            return disabled()
        form = await _form(request)
        if form is None:
            return message(400, "Bad request", "The form could not be read.")
        name = clean_reviewer(form.get("reviewer", ""))
        if not token_matches(form.get("token", ""), runtime.admin_token):
            return page("login.html", 401, error="That admin token is not valid.",
                        reviewer=name or "")  # fmt: skip
        if name is None:
            return page("login.html", 400, error="Give a reviewer name of 1 to 64 printable "
                        "characters (not starting with judge:).", reviewer="")  # fmt: skip
        session = Session(name, int(time.time()) + SESSION_SECONDS, secrets.token_urlsafe(24))
        response = redirect("/admin/review")
        response.set_cookie(
            COOKIE, sign_session(session_key(runtime.admin_token), session),
            max_age=SESSION_SECONDS, path=COOKIE_PATH, httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
        )  # fmt: skip
        return response

    async def authorised(request: Request) -> tuple[Session, dict[str, str]] | Response:
        """The session and form of a state-changing POST, or the 403/400 to answer."""
        if runtime.admin_token is None:
            return disabled()
        session = current(request)
        if session is None:
            return message(403, "Not signed in", "Your session has expired: sign in again.")
        form = await _form(request)
        if form is None:
            return message(400, "Bad request", "The form could not be read.")
        if not hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode()):
            return message(403, "Forbidden", "The form's security token did not match: "
                           "reload the page and try again.")  # fmt: skip
        return session, form

    @router.post("/admin/review/label", response_model=None)
    async def label(request: Request) -> Response:
        checked = await authorised(request)
        if isinstance(checked, Response):
            return checked
        session, form = checked
        a, b = parse_labels(form, "a"), parse_labels(form, "b")
        if a is None or b is None:
            return message(400, "Incomplete labels", "Choose a refusal and a caution value "
                           "for both answers.")  # fmt: skip
        pair = await asyncio.to_thread(store.audit_pair, form.get("pair_id", ""))
        if pair is None:
            return message(404, "Pair not found", "That pair is not in the audit sample.")
        tuned, base = unblind(bool(pair["swap"]), a, b)
        await asyncio.to_thread(
            store.add_review, pair["pair_id"], session.reviewer, "human", tuned, base
        )
        await runtime.monitor.refresh_audit()
        return redirect(f"/admin/review?after={pair['sort_key']!r}")

    @router.post("/admin/review/undo", response_model=None)
    async def undo(request: Request) -> Response:
        checked = await authorised(request)
        if isinstance(checked, Response):
            return checked
        pair_id = await asyncio.to_thread(store.undo_review, checked[0].reviewer)
        if pair_id is None:
            return redirect("/admin/review")
        await runtime.monitor.refresh_audit()
        return redirect(f"/admin/review?pair={pair_id}")

    @router.post("/admin/review/logout", response_model=None)
    async def logout(request: Request) -> Response:
        # A live session needs its CSRF token (no other site may sign a reviewer out); a dead
        # or absent one is cleared whatever the form says.
        if runtime.admin_token is not None and current(request) is not None:
            checked = await authorised(request)
            if isinstance(checked, Response):
                return checked
        response = redirect("/admin/review")
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
        return response

    return router


def _secured(response: R, nonce: str | None) -> R:
    """No framing, no caching, no referrer, and no script but the page's own."""
    script = f"'nonce-{nonce}'" if nonce else "'none'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src {script}; style-src {script}; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


async def _form(request: Request) -> dict[str, str] | None:
    """A small urlencoded form's first value per field; None when too large or not UTF-8."""
    body = await read_limited(request, MAX_FORM_BYTES)
    if body is None:
        return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None
