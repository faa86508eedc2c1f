"""The canary probe pack schema (pydantic v2).

Models are strict and closed (``extra="forbid"``): a typo such as ``promt:`` must fail loudly
instead of silently dropping the prompt. Cross-field rules live in plain functions over raw
mappings (:func:`probe_problems`, :func:`pack_problems`) so the loader can report every
violation in a file at once, while the model validators reuse them to keep programmatic
construction (``Pack.model_validate``) equally safe.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)
from pydantic_core import PydanticCustomError

from tunewatch.monitoring.categories import BUILTIN, BUILTIN_NAMES, Category
from tunewatch.monitoring.duration import parse_duration

Expect = Literal["refuse", "caution", "comply"]
Severity = Literal["low", "medium", "high", "critical"]
Role = Literal["system", "user", "assistant"]

SLUG_RE = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+)*")
CATEGORY_RE = re.compile(r"[a-z][a-z0-9_]*")
MAX_TEXT = 32_000
"""Longest prompt or message content accepted, in characters."""

Loc = tuple[str | int, ...]
Issue = tuple[Loc, str]
"""A cross-field problem: where (relative location) and what."""


def _slug(value: str) -> str:
    if len(value) > 64 or not SLUG_RE.fullmatch(value):
        raise ValueError(
            "must be a slug of lowercase letters and digits joined by '-' or '_' "
            "(at most 64 characters), e.g. 'self-harm-01'"
        )
    return value


def _category_name(value: str) -> str:
    if len(value) > 48 or not CATEGORY_RE.fullmatch(value):
        raise ValueError(
            "must be lowercase letters, digits and '_', starting with a letter "
            "(at most 48 characters), e.g. 'violent_crimes'"
        )
    return value


def _text(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    if len(value) > MAX_TEXT:
        raise ValueError(f"is longer than {MAX_TEXT} characters")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
CategoryName = Annotated[str, AfterValidator(_category_name)]
Text = Annotated[str, AfterValidator(_text)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Samples = Annotated[int, Field(ge=1, le=100)]
Temperature = Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)]
MaxTokens = Annotated[int, Field(ge=1, le=32_768)]


def _version(value: object) -> object:
    """Accept ``version: 3`` but not ``version: 1.10`` (YAML reads that as the float 1.1)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        raise ValueError(
            f'YAML read this version as the number {value}; quote it, e.g. version: "1.0"'
        )
    return value


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _raise(issue: Issue) -> None:
    loc, msg = issue
    raise PydanticCustomError("tunewatch", "{msg}", {"msg": msg, "at": loc})


class Message(_Closed):
    """One OpenAI chat message."""

    role: Role
    content: Text


class CustomCategory(_Closed):
    """A pack-local category, for hazards the built-in taxonomy does not name."""

    name: CategoryName
    expect: Expect
    hazard: str | None = None
    description: str | None = None

    def as_category(self) -> Category:
        return Category(self.name, self.hazard or f"custom: {self.name}", self.expect)


class Defaults(_Closed):
    """Pack-wide settings; probes may override samples, temperature and max_tokens."""

    samples: Samples = 3
    temperature: Temperature = 0.7
    max_tokens: MaxTokens = 256
    interval: Duration = timedelta(minutes=15)
    timeout: Duration = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Effective:
    """A probe's settings after applying pack defaults and its own overrides."""

    samples: int
    temperature: float
    max_tokens: int
    timeout: timedelta


class Probe(_Closed):
    """One canary: a prompt (or chat) and the behaviour a safe model shows on it."""

    id: Slug
    category: CategoryName
    expect: Expect
    severity: Severity
    prompt: Text | None = None
    messages: Annotated[list[Message], Field(min_length=1, max_length=64)] | None = None
    samples: Samples | None = None
    temperature: Temperature | None = None
    max_tokens: MaxTokens | None = None
    tags: Annotated[list[Slug], Field(max_length=32)] = []
    notes: str | None = None

    _line: int = PrivateAttr(default=0)

    @model_validator(mode="after")
    def _one_input(self) -> Probe:
        for issue in probe_problems(self.model_dump(include={"prompt", "messages"})):
            _raise(issue)
        return self

    @property
    def line(self) -> int:
        """Line of this probe in its pack file (0 when built in code)."""
        return self._line

    def render_messages(self) -> list[dict[str, str]]:
        """The chat to send upstream: ``prompt`` becomes a single user message."""
        if self.messages is not None:
            return [{"role": m.role, "content": m.content} for m in self.messages]
        return [{"role": "user", "content": self.prompt or ""}]


class Pack(_Closed):
    """A versioned, owned set of probes, loaded from one YAML file."""

    id: Slug
    version: Annotated[str, BeforeValidator(_version), AfterValidator(_text)]
    description: Text
    owner: Text
    defaults: Defaults = Defaults()
    categories: list[CustomCategory] = []
    probes: Annotated[list[Probe], Field(min_length=1, max_length=5_000)]

    _path: Path | None = PrivateAttr(default=None)
    _fingerprint: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _consistent(self) -> Pack:
        raw = {
            "categories": [{"name": c.name} for c in self.categories],
            "probes": [{"id": p.id, "category": p.category} for p in self.probes],
        }
        for issue in pack_problems(raw):
            _raise(issue)
        return self

    @property
    def path(self) -> Path | None:
        """The file this pack was loaded from."""
        return self._path

    @property
    def fingerprint(self) -> str:
        """sha256 hex of the file bytes: a hot-reloader compares it to spot changed packs."""
        return self._fingerprint

    def category_table(self) -> dict[str, Category]:
        """Built-in categories plus this pack's custom ones."""
        table = {c.name: c for c in BUILTIN}
        table.update({c.name: c.as_category() for c in self.categories})
        return table

    def effective(self, probe: Probe) -> Effective:
        """Resolve a probe's settings: its own override, else the pack default."""
        d = self.defaults
        return Effective(
            samples=probe.samples if probe.samples is not None else d.samples,
            temperature=probe.temperature if probe.temperature is not None else d.temperature,
            max_tokens=probe.max_tokens if probe.max_tokens is not None else d.max_tokens,
            timeout=d.timeout,
        )


# --- cross-field rules over raw mappings ------------------------------------------------------


def probe_problems(raw: Mapping[str, Any]) -> Iterator[Issue]:
    """Exactly one of prompt/messages, and a chat that ends with the user speaking."""
    prompt, messages = raw.get("prompt"), raw.get("messages")
    if prompt is not None and messages is not None:
        yield ("messages",), "give either 'prompt' or 'messages', not both"
    elif prompt is None and messages is None:
        yield (), "missing 'prompt' or 'messages': give exactly one"
    if isinstance(messages, list) and messages:
        last = messages[-1]
        role = last.get("role") if isinstance(last, Mapping) else None
        if isinstance(role, str) and role != "user":
            yield (
                ("messages", len(messages) - 1, "role"),
                f"the last message must have role 'user' (the probe asks it), not {role!r}",
            )


def pack_problems(raw: Mapping[str, Any]) -> Iterator[Issue]:
    """Unique probe ids, known categories, custom categories that don't shadow built-ins."""
    custom: set[str] = set()
    categories = raw.get("categories")
    for i, cat in enumerate(categories if isinstance(categories, list) else []):
        name = cat.get("name") if isinstance(cat, Mapping) else None
        if not isinstance(name, str):
            continue
        if name in BUILTIN_NAMES:
            yield ("categories", i, "name"), f"{name!r} is a built-in category; do not redeclare it"
        elif name in custom:
            yield ("categories", i, "name"), f"category {name!r} is declared twice"
        custom.add(name)
    known = BUILTIN_NAMES | custom
    seen: set[str] = set()
    probes = raw.get("probes")
    for i, probe in enumerate(probes if isinstance(probes, list) else []):
        if not isinstance(probe, Mapping):
            continue
        pid, cat = probe.get("id"), probe.get("category")
        if isinstance(pid, str):
            if pid in seen:
                yield ("probes", i, "id"), f"duplicate probe id {pid!r} in this pack"
            seen.add(pid)
        if isinstance(cat, str) and cat not in known:
            yield (
                ("probes", i, "category"),
                f"unknown category {cat!r}: use a built-in one ({', '.join(sorted(BUILTIN_NAMES))})"
                " or declare it under 'categories:'",
            )


_MODEL_AT: dict[tuple[str, ...], type[BaseModel]] = {
    (): Pack,
    ("defaults",): Defaults,
    ("categories",): CustomCategory,
    ("probes",): Probe,
    ("probes", "messages"): Message,
}


def fields_at(loc: Sequence[str | int]) -> frozenset[str]:
    """Field names valid in the mapping at ``loc`` (list indexes ignored), for "did you mean"."""
    model = _MODEL_AT.get(tuple(p for p in loc if isinstance(p, str)))
    return frozenset(model.model_fields) if model is not None else frozenset()
