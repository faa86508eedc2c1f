"""``tunewatch probes validate`` / ``probes list``: plain functions the argparse CLI calls.

They take output streams rather than printing to sys.stdout so they are testable and so the
CLI owner decides where output goes. Exit codes: 0 all valid, 1 any problem.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import TextIO

from .loader import load_packs
from .runner import samples_for
from .schema import Pack

DEFAULT_SAMPLES = 3  # the config's probes.samples when it does not say


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def validate(paths: list[str], out: TextIO, err: TextIO) -> int:
    """Print every error as ``file:line: field: message`` and a one-line summary."""
    result = load_packs(paths)
    n_files = len(result.scanned)
    for line in result.errors:
        print(line, file=err)
    n_probes = sum(len(p.probes) for p in result.packs.values())
    if n_files == 0 and not result.errors:
        print(f"no pack files (*.yaml, *.yml) found in: {' '.join(paths)}", file=err)
        return 1
    if result.errors:
        bad = n_files - len(result.packs)
        print(
            f"{_plural(len(result.errors), 'error')} in {_plural(bad, 'file')}; "
            f"{_plural(len(result.packs), 'pack')}, {_plural(n_probes, 'probe')} OK",
            file=err,
        )
        return 1
    print(f"{_plural(len(result.packs), 'pack')}, {_plural(n_probes, 'probe')} OK", file=out)
    return 0


def round_samples(pack: Pack, samples: int = DEFAULT_SAMPLES) -> int:
    """Answers one round of `pack` asks of each model: the probes' own sample counts, else the
    pack's, else `samples` (the config's probes.samples)."""
    return sum(samples_for(pack, probe, samples) for probe in pack.probes)


def _summary(pack: Pack, samples: int = DEFAULT_SAMPLES) -> dict[str, object]:
    counts = Counter(p.category for p in pack.probes)
    return {
        "id": pack.id,
        "version": pack.version,
        "owner": pack.owner,
        "description": pack.description,
        "probes": len(pack.probes),
        # per round and model with a base: every sample asked of the tuned and the base model
        "generations_per_round": 2 * round_samples(pack, samples),
        "categories": dict(sorted(counts.items())),
        "file": str(pack.path) if pack.path else None,
        "fingerprint": pack.fingerprint,
    }


def list_packs(
    paths: list[str],
    out: TextIO,
    as_json: bool,
    err: TextIO | None = None,
    samples: int = DEFAULT_SAMPLES,
) -> int:
    """A table (or JSON list) of the valid packs with the generations a round of each costs
    (at `samples`, the config's probes.samples, where a pack does not set its own), and the
    total; errors go to ``err`` and make it return 1."""
    result = load_packs(paths)
    for line in result.errors:
        print(line, file=err or sys.stderr)
    rows = [_summary(p, samples) for _, p in sorted(result.packs.items())]
    if as_json:
        json.dump(rows, out, indent=2)
        out.write("\n")
        return 1 if result.errors else 0
    table = [["PACK", "VERSION", "OWNER", "PROBES", "GENERATIONS", "CATEGORIES"]]
    for row in rows:
        cats = row["categories"]
        assert isinstance(cats, dict)
        table.append(
            [
                str(row["id"]),
                str(row["version"]),
                str(row["owner"]),
                str(row["probes"]),
                str(row["generations_per_round"]),
                ", ".join(f"{k}({v})" for k, v in cats.items()),
            ]
        )
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    for r in table:
        cells = [r[i].ljust(widths[i]) if i < 3 else r[i].rjust(widths[i]) for i in range(5)]
        print("  ".join([*cells, r[5]]).rstrip(), file=out)
    if rows:
        total = sum(int(str(row["generations_per_round"])) for row in rows)
        print(
            f"\n{_plural(total, 'generation')} per round of {_plural(len(rows), 'pack')} for each "
            f"model with a base (tuned + base answers; samples {samples} where a pack or probe "
            "does not set its own)",
            file=out,
        )
    return 1 if result.errors else 0
