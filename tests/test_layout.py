"""The package's shape: one import name in the wheel, no bare `proxy`/`probes`/`monitoring`
imports, dependencies pointing one way (proxy -> probes -> monitoring), no import cycle."""

from __future__ import annotations

import ast
import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.paths import REPO_ROOT
from tunewatch.proxy.devstack.proxy import start_proxy

ROOMS = ("proxy", "probes", "monitoring")
PYTHON_TREES = ("proxy", "probes", "monitoring", "training", "bench", "tests", "deploy")


def _modules() -> Iterator[tuple[str, Path]]:
    """(dotted name, file) of every module of the installed package, as `tunewatch.x.y`."""
    for room in ROOMS:
        for path in sorted((REPO_ROOT / room).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join(("tunewatch", *parts)), path


def _imports(path: Path, package: str) -> set[str]:
    """Every module a file imports, anywhere in it (functions and TYPE_CHECKING blocks too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_no_module_imports_a_bare_room_name() -> None:
    offenders = []
    for tree in PYTHON_TREES:
        for path in (REPO_ROOT / tree).rglob("*.py"):
            for name in _imports(path, "x"):
                if name.split(".")[0] in ROOMS:
                    offenders.append(f"{path.relative_to(REPO_ROOT)}: {name}")
    assert offenders == []


def test_dependencies_point_one_way_and_have_no_cycle() -> None:
    modules = dict(_modules())
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        graph[name] = {m for m in _imports(path, package) if m in modules and m != name}
    rank = {"monitoring": 0, "probes": 1, "proxy": 2}
    upward = [
        f"{a} -> {b}"
        for a, targets in graph.items()
        for b in targets
        if rank[b.split(".")[1]] > rank[a.split(".")[1]]
    ]
    assert upward == [], "monitoring and probes must not import what sits above them"

    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


@pytest.mark.slow
def test_the_wheel_holds_one_top_level_package_and_no_training_corpus(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    for room in ("tunewatch", *ROOMS):
        shutil.copytree(REPO_ROOT / room, source / room, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("tunewatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "tunewatch",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    assert "tunewatch/proxy/app.py" in names and "tunewatch/probes/packs/medical.yaml" in names
    assert "tunewatch/monitoring/classifier/weights.json.gz" in names
    assert "tunewatch/monitoring/classifier/features.py" in names
    assert "tunewatch/proxy/templates/review.html" in names  # the review page ships
    assert not [n for n in names if n.rsplit("/", 1)[-1] in ("corpus.py", "fragments.py",
                                                              "handwritten.py", "train.py")]  # fmt: skip


def test_tunewatch_serves_beside_another_distributions_proxy_package(tmp_path: Path) -> None:
    """proxy.py (a dev dependency) installs a top-level `proxy`; tunewatch still starts."""
    assert importlib.metadata.distribution("proxy.py")
    probe = subprocess.run(
        [sys.executable, "-c", "import proxy, tunewatch.proxy.cli; print(proxy.__file__)"],
        cwd=tmp_path, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert "site-packages" in probe.stdout and str(REPO_ROOT / "proxy") not in probe.stdout
    config = {
        "models": [{"name": "m", "upstream": "http://127.0.0.1:9/v1"}],
        "store": {"url": f"sqlite:///{tmp_path / 'tw.db'}"},
        "probes": {"enabled": False},
        "auth": {"allow_anonymous": True},
    }
    proc = start_proxy(config, tmp_path)  # runs in tmp_path, where only the installed names are
    try:
        assert httpx.get(proc.root + "/healthz", timeout=10).status_code == 200
    finally:
        proc.stop()
