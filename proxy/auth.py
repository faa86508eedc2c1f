"""Bearer tokens: the client API keys on /v1 and the admin token on /admin."""

from __future__ import annotations

import hmac
from collections.abc import Sequence


def bearer_matches(authorization: bytes, tokens: Sequence[bytes]) -> bool:
    """Whether `Authorization: Bearer <t>` carries one of `tokens`.

    Every token is compared, in constant time, so the reply's timing says nothing about how
    close a guess came or which key it resembled.
    """
    scheme, _, given = authorization.partition(b" ")
    given = given.strip()
    if scheme.lower() != b"bearer" or not given:
        return False
    ok = False
    for token in tokens:
        ok |= hmac.compare_digest(token, given)
    return ok


def bearer_index(authorization: bytes, tokens: Sequence[bytes]) -> int:
    """Which of `tokens` `Authorization: Bearer <t>` carries (its index), or -1; compared as
    `bearer_matches` does, every token in constant time."""
    scheme, _, given = authorization.partition(b" ")
    given = given.strip()
    if scheme.lower() != b"bearer" or not given:
        return -1
    found = -1
    for index, token in enumerate(tokens):
        if hmac.compare_digest(token, given):
            found = index
    return found
