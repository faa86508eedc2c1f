"""Safe YAML loading that remembers the source line of every node.

Pydantic reports errors by location (``("probes", 3, "prompt")``); authors need a line number.
We compose the YAML node graph ourselves and build plain Python data from it, recording the
line of each mapping key and sequence item, so any location can be mapped back to a line.
Building the containers ourselves also lets us bound what a hostile file could abuse: aliases
are allowed (authors reuse a long system prompt with ``&name`` / ``*name``) but the expanded
document is capped, so an alias bomb stops early; custom tags, duplicate keys and nesting
deep enough to exhaust the stack are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_DEPTH = 32
"""Deepest container nesting accepted; a pack needs about five levels."""

MAX_NODES = 200_000
"""Most nodes the document may expand to once aliases are followed (a 2 MiB pack has fewer)."""

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """A YAML-level problem: 1-based line, location of the node, message."""

    line: int
    loc: Loc
    message: str


@dataclass(slots=True)
class LineMap:
    """Location → 1-based line of the node (for mapping entries: the line of the key)."""

    lines: dict[Loc, int] = field(default_factory=dict)

    def line_for(self, loc: Sequence[str | int]) -> int:
        """Line of ``loc``, or of its nearest ancestor that exists in the file."""
        key = tuple(loc)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)


@dataclass(slots=True)
class Parsed:
    data: Any
    lines: LineMap
    problems: list[Problem]


class YamlRejected(Exception):
    """Fatal: the text is not one well-formed YAML document of the kind packs may use."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


def _mark_line(err: yaml.YAMLError) -> int:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return mark.line + 1 if mark is not None else 1


def _describe(err: yaml.YAMLError) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, yaml.MarkedYAMLError):
        parts = [p for p in (err.context, err.problem) if p]
        if parts:
            text = "; ".join(parts)
        ctx, prob = err.context_mark, err.problem_mark
        if ctx is not None and prob is not None and ctx.line != prob.line:
            text += f" (see line {ctx.line + 1})"
    return f"YAML syntax error: {text}"


def _check_depth(text: str) -> None:
    """Stream events (iterative, no recursion) and refuse documents nested too deeply."""
    loader = _Loader(text)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else 1
                    raise YamlRejected(line, f"nesting deeper than {MAX_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def parse(text: str) -> Parsed | None:
    """Parse one YAML document; ``None`` for an empty document.

    Raises :class:`YamlRejected` for anything that prevents building data at all.
    """
    try:
        _check_depth(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None or (
                isinstance(node, yaml.ScalarNode) and node.value == "" and not node.style
            ):
                return None  # nothing, or a bare "---"
            builder = _Builder(loader)
            data = builder.build(node, ())
            return Parsed(data, builder.lines, builder.problems)
        finally:
            loader.dispose()
    except yaml.YAMLError as err:
        raise YamlRejected(_mark_line(err), _describe(err)) from None
    except RecursionError:  # belt and braces: _check_depth should prevent this
        raise YamlRejected(1, "document nested too deeply") from None


class _Builder:
    """Turns composed nodes into dicts/lists/scalars, recording lines and soft problems."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self._loader = loader
        self.lines = LineMap()
        self.problems: list[Problem] = []
        self._nodes = 0

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        line = node.start_mark.line + 1
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise YamlRejected(line, f"document expands to more than {MAX_NODES} nodes (aliases?)")
        if len(loc) > MAX_DEPTH:  # aliases can nest deeper than the text shows, even cyclically
            raise YamlRejected(line, f"nesting deeper than {MAX_DEPTH} levels (through aliases?)")
        self.lines.lines.setdefault(loc, line)
        if isinstance(node, yaml.ScalarNode):
            return self._loader.construct_object(node, deep=True)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ_TAG:
                raise YamlRejected(line, f"unsupported YAML tag {node.tag!r}")
            items: list[Any] = []
            for i, child in enumerate(node.value):
                items.append(self.build(child, (*loc, i)))
            return items
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP_TAG:
                raise YamlRejected(line, f"unsupported YAML tag {node.tag!r}")
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YamlRejected(key_line, "mapping keys must be plain scalars")
                key = self._loader.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    key = str(key)  # e.g. `1:` or `true:` as a key: keep it reportable
                if key in out:
                    self.problems.append(
                        Problem(key_line, (*loc, key), f"duplicate key {key!r} in this mapping")
                    )
                    continue
                self.lines.lines[(*loc, key)] = key_line
                out[key] = self.build(value_node, (*loc, key))
                # the key's line stays authoritative for the entry
                self.lines.lines[(*loc, key)] = key_line
            return out
        raise YamlRejected(line, f"unsupported YAML node {type(node).__name__}")
