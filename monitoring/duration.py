"""Human durations ("30s", "15m", "1h30m", "250ms", "1.5s"): one grammar for the config, probe
packs and command-line options.

A bare number is refused on purpose: "interval: 15" could mean seconds or minutes, and a probe
schedule or drift window that is off by 60x is a silent failure.
"""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
MAX_SECONDS = 366 * 86400.0  # beyond a year is a typo, and huge values break timers


def parse_duration(value: object) -> timedelta:
    """Parse "30s", "15m", "1h", "1h30m", "500ms", "1.5s", "7d"; raise ValueError otherwise."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise ValueError(f'a duration needs a unit, e.g. "{value}s" or "{value}m"')
        raise ValueError('a duration must be a string like "30s", "15m" or "1h"')
    text = value.strip()
    if not _WHOLE.fullmatch(text):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise ValueError(f'invalid duration {shown!r}; use e.g. "30s", "15m", "1h" or "1h30m"')
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be greater than zero")
    if seconds > MAX_SECONDS:
        raise ValueError(f"duration {text!r} is longer than 366 days")
    return timedelta(seconds=seconds)


def parse_seconds(value: object) -> float:
    """`parse_duration` in seconds, for timers and pydantic fields."""
    return parse_duration(value).total_seconds()


def format_duration(value: timedelta) -> str:
    """Inverse of :func:`parse_duration` for whole seconds (e.g. 5400s -> "1h30m")."""
    total = int(value.total_seconds())
    if total <= 0:
        return f"{int(value.total_seconds() * 1000)}ms"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            out.append(f"{total // size}{unit}")
            total %= size
    return "".join(out)
