"""Load probe pack files and turn every problem into ``file:line: field.path: message``.

Security teams edit these files by hand, often without running Python; an error they can
act on names the file, the line and the field, and a file with five mistakes reports five.
Nothing raised here escapes as a traceback: all failures become :class:`PackError`.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .schema import Loc, Pack, fields_at, pack_problems, probe_problems
from .yaml_lines import LineMap, YamlRejected, parse

MAX_FILE_BYTES = 2 * 1024 * 1024
"""Larger files are refused: a pack is hand-written text, and parsing is not free."""

PACK_SUFFIXES = (".yaml", ".yml")
BUILTIN_PACKS_DIR = Path(__file__).resolve().parent / "packs"
"""The packs shipped with tunewatch, for configs that want them without knowing the path."""
FILE = "(file)"
"""Field shown for problems with the file as a whole (encoding, size, syntax)."""


class PackError(Exception):
    """A pack file (or set of files) is invalid; ``errors`` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(slots=True)
class LoadResult:
    """Outcome of :func:`load_packs`: the valid packs, and every error in every file."""

    packs: dict[str, Pack] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    """pack id → the file it came from."""
    scanned: list[Path] = field(default_factory=list)
    """Every pack file examined, valid or not, in load order."""

    @property
    def ok(self) -> bool:
        return not self.errors


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """Escape control characters so every error stays on exactly one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


def format_loc(loc: Sequence[str | int]) -> str:
    """``("probes", 3, "messages", 0)`` → ``probes[3].messages[0]``; odd keys are quoted."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            shown = part if len(part) <= 40 else part[:37] + "..."
            out += f"[{shown!r}]"
    return one_line(out) or "(root)"


def _fmt(path: str, line: int, loc: Sequence[str | int] | str, msg: str) -> str:
    where = loc if isinstance(loc, str) else format_loc(loc)
    return f"{one_line(path)}:{line}: {where}: {one_line(msg)}"


def _shown(value: Any) -> str | None:
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return None


def _message(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        hint = difflib.get_close_matches(name, fields_at(loc[:-1]), n=1, cutoff=0.75)
        return f"unknown field {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif msg[:1].isupper():
        msg = msg[0].lower() + msg[1:]
    shown = _shown(err.get("input"))
    if shown is not None and kind != "value_error":
        msg += f" (got {shown})"
    return msg


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


@dataclass(slots=True)
class _FileReport:
    """Everything one file contributes, valid or not, so cross-file checks see it all."""

    path: Path
    shown: str
    pack: Pack | None = None
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # (line, field, message)
    pack_id: tuple[str, int] | None = None
    probe_ids: list[tuple[str, int, Loc]] = field(default_factory=list)

    def add(self, line: int, loc: Sequence[str | int] | str, msg: str) -> None:
        where = loc if isinstance(loc, str) else format_loc(loc)
        self.errors.append((line, where, msg))

    def rendered(self) -> list[str]:
        seen: set[tuple[int, str, str]] = set()
        out = []
        for line, where, msg in sorted(self.errors, key=lambda e: e[0]):
            if (line, where, msg) not in seen:
                seen.add((line, where, msg))
                out.append(f"{one_line(self.shown)}:{line}: {where}: {one_line(msg)}")
        return out


def _read_text(report: _FileReport) -> tuple[str, str] | None:
    """The file's text and the sha256 of its bytes, or None after reporting why not."""
    try:
        with report.path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        report.add(1, FILE, f"cannot read file: {exc.strerror or exc}")
        return None
    if len(data) > MAX_FILE_BYTES:
        report.add(1, FILE, f"file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        return None
    fingerprint = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bad = f"0x{data[exc.start]:02x}"
        report.add(line, FILE, f"not valid UTF-8 (byte {bad} at offset {exc.start})")
        return None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        report.add(line, FILE, "contains a NUL character; packs are text files")
        return None
    return text, fingerprint


def _check(report: _FileReport) -> None:
    read = _read_text(report)
    if read is None:
        return
    text, fingerprint = read
    try:
        parsed = parse(text)
    except YamlRejected as exc:
        report.add(exc.line, FILE, exc.message)
        return
    if parsed is None:
        report.add(1, FILE, "file is empty; a pack needs id, version, description, owner, probes")
        return
    data, lines = parsed.data, parsed.lines
    for problem in parsed.problems:
        report.add(problem.line, problem.loc, problem.message)
    if not isinstance(data, dict):
        report.add(
            lines.line_for(()), "(root)", f"the top level must be a mapping, not {_kind(data)}"
        )
        return
    _collect_ids(report, data, lines)
    for loc, msg in _rule_problems(data):
        report.add(lines.line_for(loc), loc, msg)
    try:
        pack = Pack.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            if err["type"] == "tunewatch":
                continue  # the same rules already ran over the raw data, for every probe
            loc = tuple(err["loc"])
            report.add(lines.line_for(loc), loc, _message(err))
        return
    if report.errors:
        return
    pack._path = report.path
    pack._fingerprint = fingerprint
    for i, probe in enumerate(pack.probes):
        probe._line = lines.line_for(("probes", i))
    report.pack = pack


def _rule_problems(data: Mapping[str, Any]) -> Iterable[tuple[Loc, str]]:
    yield from pack_problems(data)
    probes = data.get("probes")
    for i, raw in enumerate(probes if isinstance(probes, list) else []):
        if isinstance(raw, Mapping):
            for loc, msg in probe_problems(raw):
                yield ("probes", i, *loc), msg


def _collect_ids(report: _FileReport, data: Mapping[str, Any], lines: LineMap) -> None:
    if isinstance(data.get("id"), str):
        report.pack_id = (data["id"], lines.line_for(("id",)))
    probes = data.get("probes")
    for i, raw in enumerate(probes if isinstance(probes, list) else []):
        if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
            loc: Loc = ("probes", i, "id")
            report.probe_ids.append((raw["id"], lines.line_for(loc), loc))


def _load_one(path: Path, shown: str | None = None) -> _FileReport:
    report = _FileReport(path=path, shown=shown if shown is not None else str(path))
    try:
        _check(report)
    except Exception as exc:  # last line of defence: a bad file must never crash a reload
        report.add(1, FILE, f"internal error while loading: {type(exc).__name__}: {exc}")
    return report


def load_pack_file(path: str | os.PathLike[str]) -> Pack:
    """Load and validate one pack file; raise :class:`PackError` listing every problem."""
    report = _load_one(Path(path), str(path))
    if report.pack is None:
        raise PackError(report.rendered() or [_fmt(str(path), 1, FILE, "invalid pack")])
    return report.pack


def _walk(root: Path) -> list[Path]:
    """Pack files under ``root``, sorted; hidden entries (editor backups, .git) are skipped
    and symlinked directories are not followed, so a link loop cannot hang a reload."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(PACK_SUFFIXES):
                found.append(Path(dirpath) / name)
    return found


def iter_pack_files(paths: Sequence[str | os.PathLike[str]]) -> tuple[list[Path], list[str]]:
    """Expand files and directories (recursively, ``*.yaml``/``*.yml``) in a stable order.

    Returns the files and a ``file:1: (file): ...`` error for each path that does not exist.
    """
    files: list[Path] = []
    errors: list[str] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = _walk(p)
        elif p.is_file():
            found = [p]
        else:
            errors.append(_fmt(str(p), 1, FILE, "no such file or directory"))
            continue
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files, errors


def load_packs(paths: Sequence[str | os.PathLike[str]]) -> LoadResult:
    """Load every pack under ``paths``; invalid files are reported, valid ones returned.

    Pack ids and probe ids must be unique across all files; the later file (in load order)
    gets the error and is left out, so a stray copy cannot shadow the pack it duplicates.
    """
    files, errors = iter_pack_files(paths)
    result = LoadResult(errors=errors, scanned=files)
    packs_at: dict[str, str] = {}
    probes_at: dict[str, tuple[str, int]] = {}  # probe id -> (file, line) where first seen
    for path in files:
        report = _load_one(path)
        if report.pack_id is not None:
            pid, line = report.pack_id
            if pid in packs_at:
                report.add(line, "id", f"duplicate pack id {pid!r} (also in {packs_at[pid]})")
            else:
                packs_at[pid] = f"{report.shown}:{line}"
        for probe_id, line, loc in report.probe_ids:
            first = probes_at.setdefault(probe_id, (report.shown, line))
            if first[0] != report.shown:  # same-file duplicates are reported by pack_problems
                where = f"{first[0]}:{first[1]}"
                report.add(line, loc, f"duplicate probe id {probe_id!r} (also in {where})")
        result.errors.extend(report.rendered())
        if report.pack is not None and not report.errors:
            result.packs[report.pack.id] = report.pack
            result.files[report.pack.id] = path
    return result
