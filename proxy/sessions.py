"""Review-page sessions: a signed cookie (HMAC-SHA256, key derived from the admin token), so
sessions need no server-side state, survive restarts and work across replicas; rotating the
token ends them all."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

MAX_REVIEWER = 64


@dataclass(frozen=True, slots=True)
class Session:
    reviewer: str
    expires: int
    csrf: str


def session_key(admin_token: bytes) -> bytes:
    """The cookie-signing key: derived from the admin token, so every replica and restart
    shares it and a new token logs everyone out."""
    return hashlib.sha256(b"tunewatch-review-session:" + admin_token).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(key: bytes, session: Session) -> str:
    payload = _b64(
        json.dumps({"r": session.reviewer, "e": session.expires, "c": session.csrf}).encode()
    )
    mac = hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def read_session(key: bytes, cookie: str | None, now: float) -> Session | None:
    """The session a cookie holds, or None when it is absent, forged, malformed or expired."""
    if not cookie or cookie.count(".") != 1:
        return None
    payload, mac = cookie.split(".")
    expected = hmac.new(key, payload.encode("ascii", "replace"), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(expected, _unb64(mac)):
            return None
        data = json.loads(_unb64(payload))
    except ValueError:  # bad base64, bad JSON, bad UTF-8
        return None
    if not isinstance(data, dict):
        return None
    reviewer, expires, csrf = data.get("r"), data.get("e"), data.get("c")
    if not (isinstance(reviewer, str) and isinstance(expires, int) and isinstance(csrf, str)):
        return None
    if expires <= now or clean_reviewer(reviewer) != reviewer:
        return None
    return Session(reviewer, expires, csrf)


def token_matches(given: str, token: bytes) -> bool:
    """Constant time, and length-blind too: both sides are hashed before they are compared."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest(),
        hashlib.sha256(token).digest(),
    )


def clean_reviewer(name: str) -> str | None:
    """A reviewer name trimmed, or None when unusable: 1-64 printable characters, and not a
    judge's `judge:` labeller name (those rows are the judge model's)."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_REVIEWER or not name.isprintable():
        return None
    return None if name.lower().startswith("judge:") else name
