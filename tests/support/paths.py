"""Where the checkout's files are: the tests run from a checkout, the shipped code never
assumes one."""

from __future__ import annotations

import os
from pathlib import Path

from tunewatch.proxy.devstack.demo import DemoFiles

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_FILES = DemoFiles(REPO_ROOT / "deploy")
RULES_DIR = DEMO_FILES.rules
# The launchers find vLLM's interpreter through this variable; a test may run from any folder.
os.environ.setdefault("TUNEWATCH_VLLM_PYTHON", str(REPO_ROOT / ".venv-vllm" / "bin" / "python"))
