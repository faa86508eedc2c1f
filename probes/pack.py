"""Public API for canary probe packs: the schema models and the loader, in one import.

Kept as a thin façade so callers (scheduler, evaluate, CLI) depend on one stable module
while the schema, YAML line mapping and loading stay small separate modules.
"""

from __future__ import annotations

from tunewatch.monitoring.duration import format_duration, parse_duration

from .loader import (
    BUILTIN_PACKS_DIR,
    MAX_FILE_BYTES,
    LoadResult,
    PackError,
    iter_pack_files,
    load_pack_file,
    load_packs,
)
from .schema import CustomCategory, Defaults, Effective, Message, Pack, Probe

__all__ = [
    "BUILTIN_PACKS_DIR",
    "MAX_FILE_BYTES",
    "CustomCategory",
    "Defaults",
    "Effective",
    "LoadResult",
    "Message",
    "Pack",
    "PackError",
    "Probe",
    "format_duration",
    "iter_pack_files",
    "load_pack_file",
    "load_packs",
    "parse_duration",
]
