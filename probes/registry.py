"""The packs currently in force, reloaded from disk without a restart.

A security team drops a YAML file into a probes path and it runs at the next scan. A file that
turns invalid never displaces the last good version of itself: that keeps running while the
error is logged and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tunewatch.probes.loader import iter_pack_files
from tunewatch.probes.pack import BUILTIN_PACKS_DIR, Pack, load_packs

log = logging.getLogger("tunewatch.probes")

BUILTIN = "builtin"  # a probes path naming the packs shipped with tunewatch


def resolve_paths(paths: Sequence[str]) -> list[Path]:
    return [BUILTIN_PACKS_DIR if p == BUILTIN else Path(p) for p in paths]


@dataclass
class ReloadOutcome:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # invalid now, last good version kept


class PackRegistry:
    def __init__(self, paths: Sequence[str]) -> None:
        self.configured = list(paths)  # as the config names them ("builtin" included)
        self.paths = resolve_paths(paths)
        self._by_file: dict[Path, Pack] = {}
        self.errors: list[str] = []

    @property
    def packs(self) -> dict[str, Pack]:
        return {pack.id: pack for pack in self._by_file.values()}

    def reload(self) -> ReloadOutcome:
        result = load_packs(self.paths)
        outcome = ReloadOutcome(errors=list(result.errors))
        valid = {path.resolve(): result.packs[pid] for pid, path in result.files.items()}
        scanned = {p.resolve() for p in result.scanned}
        fresh: dict[Path, Pack] = {}
        for path in scanned:
            old = self._by_file.get(path)
            new = valid.get(path)
            if new is not None:
                fresh[path] = new
                if old is None:
                    outcome.added.append(new.id)
                elif old.fingerprint != new.fingerprint:
                    outcome.changed.append(new.id)
            elif old is not None:
                fresh[path] = old
                outcome.kept.append(old.id)
        outcome.removed = [p.id for path, p in self._by_file.items() if path not in scanned]
        self._by_file = fresh
        self.errors = outcome.errors
        for error in outcome.errors:
            log.error("invalid probe pack: %s", error)
        if outcome.added or outcome.changed or outcome.removed:
            log.info("probe packs reloaded", extra={"added": outcome.added,
                     "changed": outcome.changed, "removed": outcome.removed})  # fmt: skip
        return outcome

    def unusable_paths(self) -> list[str]:
        """What makes a configured path useless, as of the last `reload`: one line per path
        that does not exist or gives no valid pack, then, indented, the errors of its files.

        Start-up refuses these (a typo in `probes.paths` would otherwise run no canaries at all,
        silently); later rescans keep running whatever is still valid.
        """
        problems: list[str] = []
        valid = set(self._by_file)
        for shown, path in zip(self.configured, self.paths, strict=True):
            if not path.exists():
                problems.append(f"probes.paths: {shown}: no such file or directory")
                continue
            files, _ = iter_pack_files([path])
            if not files:
                problems.append(
                    f"probes.paths: {shown}: holds no probe pack (no *.yaml or *.yml file)"
                )
                continue
            if any(f.resolve() in valid for f in files):
                continue
            prefixes = tuple(f"{f}:" for f in files)
            errors = [e for e in self.errors if e.startswith(prefixes)]
            count = f"{len(files)} file" + ("" if len(files) == 1 else "s")
            problems.append(f"probes.paths: {shown}: no valid probe pack ({count}, all invalid):")
            problems += [f"  {e}" for e in errors]
        return problems
