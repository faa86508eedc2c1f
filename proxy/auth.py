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
