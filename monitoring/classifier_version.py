"""Which classifier labelled an answer, without loading it (the proxy's process never does)."""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHTS_PATH = Path(__file__).parent / "classifier" / "weights.json.gz"


def weights_version(path: str | Path | None = None) -> str:
    """A weights file's version: the start of its SHA-256, recorded with every label so that
    evidence from two classifiers is never mixed in one test."""
    data = Path(path or WEIGHTS_PATH).read_bytes()
    return hashlib.sha256(data).hexdigest()[:12]
