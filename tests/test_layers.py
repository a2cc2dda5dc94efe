"""Imports follow DESIGN's one-way flow: sources -> store -> interactions -> spaces/models ->
hybrid -> services -> app / cli / api / export, with personality, features and evaluation from
the side; only sources and services (and the front ends) hold a store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "timbre"

#: Layer name, its rank, and the module prefixes in it. A module may import a layer of lower
#: rank, or its own layer; never a higher one, nor a sibling of the same rank.
LAYERS: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("base", 0, ("timbre.errors", "timbre.config", "timbre.records", "timbre")),
    ("store", 1, ("timbre.store", "timbre.migrations")),
    ("sources", 2, ("timbre.sources",)),
    ("interactions", 3, ("timbre.interactions", "timbre.matrix_cache")),
    ("features", 4, ("timbre.features",)),
    ("personality", 4, ("timbre.personality", "timbre.music_attributes")),
    ("models", 5, ("timbre.models",)),
    ("spaces", 6, ("timbre.spaces",)),
    ("evaluation", 7, ("timbre.evaluation",)),
    ("hybrid", 8, ("timbre.hybrid",)),
    ("similarity", 8, ("timbre.similarity",)),
    ("services", 9, ("timbre.services",)),
    ("plots", 10, ("timbre.plots",)),
    ("export", 10, ("timbre.export",)),
    ("app", 11, ("timbre.app",)),
    ("api", 11, ("timbre.api",)),
    # the command line starts everything, the API server too (``timbre serve``)
    ("cli", 12, ("timbre.cli", "timbre.__main__")),
)
#: Layers that may hold a store (import ``timbre.store`` or ``timbre.sources``).
STORE_HOLDERS = {"store", "sources", "services", "app", "cli", "api"}


def layer_of(module: str) -> tuple[str, int]:
    best: tuple[int, str, int] = (-1, "", -1)
    for name, rank, prefixes in LAYERS:
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best[0]:
                best = (len(prefix), name, rank)
    if best[0] < 0:
        raise KeyError(f"{module} is in no layer: add it to LAYERS")
    return best[1], best[2]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool) -> set[str]:
    """Every ``timbre`` module ``source`` imports, at any depth (functions, TYPE_CHECKING)."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "timbre" or m.startswith("timbre.")}


def violations(module: str, targets: set[str]) -> list[str]:
    name, rank = layer_of(module)
    out = []
    for target in sorted(targets):
        try:
            other, other_rank = layer_of(target)
        except KeyError:
            continue  # ``from timbre.x import name`` also names ``timbre.x.name``
        if other == name or other == "base":
            continue
        if other_rank >= rank:
            out.append(f"{module} ({name}) imports {target} ({other}): against the flow")
        elif other in ("store", "sources") and name not in STORE_HOLDERS:
            out.append(f"{module} ({name}) imports {target}: only services hold a store")
    return out


def all_violations() -> list[str]:
    found = []
    for path in sorted(CORE.rglob("*.py")):
        if "migrations" in path.parts and path.name != "env.py":
            continue
        module = module_name(path)
        targets = imports_of(path.read_text(), module, path.name == "__init__.py")
        found += violations(module, targets)
    return found


def test_every_import_follows_the_flow() -> None:
    assert all_violations() == []


def test_every_module_is_in_a_layer() -> None:
    for path in CORE.rglob("*.py"):
        layer_of(module_name(path))


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("timbre.models.base", "from timbre.store import Store"),
        ("timbre.hybrid.engine", "from timbre.services.runs import load_run"),
        ("timbre.evaluation", "import timbre.hybrid"),
        ("timbre.similarity", "from timbre.hybrid import Weights"),
        ("timbre.spaces", "from timbre.sources.demo import DEMO_DATASET"),
        ("timbre.store.schema", "from ..interactions import InteractionData"),
        ("timbre.interactions", "def f():\n    from timbre.app.state import shared\n"),
        ("timbre.api.routes", "from timbre.app.state import shared"),
        ("timbre.api.server", "from timbre.cli.common import open_store"),
        ("timbre.services.people", "from timbre.api.cache import cache_key"),
    ],
)
def test_the_check_catches_an_import_against_the_flow(module: str, source: str) -> None:
    targets = imports_of(source, module, is_package=False)
    assert violations(module, targets), (module, source)


def test_the_check_allows_the_designed_direction() -> None:
    for module, source in [
        ("timbre.services.runs", "from timbre.store import Store"),
        ("timbre.hybrid.panel", "from timbre.evaluation import Split"),
        ("timbre.cli.recommend", "from timbre.services.engines import engine_for_run"),
        ("timbre.sources.lastfm", "from timbre.store import Store"),
        ("timbre.api.routes", "from timbre.services.recommendations import rank_listener"),
        ("timbre.cli.serve", "from timbre.api import create_app"),
    ]:
        assert violations(module, imports_of(source, module, False)) == [], (module, source)
