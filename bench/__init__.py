"""tunewatch's benchmarks: `python -m bench` (see BENCHMARKS.md). They run from a checkout."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
