"""Imports only point down: handlers → services → storage → models (auth: pure credential helpers)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Package → packages it must never import.
FORBIDDEN: dict[str, set[str]] = {
    "models": {"handlers", "services", "auth", "notify", "storage", "wiring"},
    "storage": {"handlers", "services", "auth", "notify", "wiring"},
    "services": {"handlers", "wiring"},
    "auth": {"storage", "handlers", "services", "notify", "wiring"},
    "notify": {"handlers", "wiring"},
}

# Known violations, each removed by the engineer named (issue 14, step B); the set must end empty.
ALLOWED: set[tuple[str, str]] = set()


def imports_of(path: Path) -> set[str]:
    """Return the top-level packages a module imports (``from x.y import z`` → ``x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def violations() -> set[tuple[str, str]]:
    """Return (module path, forbidden package) for every upward import."""
    found: set[tuple[str, str]] = set()
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            module = str(path.relative_to(ROOT))
            found.update((module, bad) for bad in imports_of(path) & forbidden)
    return found


def test_imports_only_point_down() -> None:
    unexpected = violations() - ALLOWED
    assert not unexpected, "upward imports (move the shared piece down to models/, or the use case to services/):\n" + (
        "\n".join(f"  {module} imports {bad}" for module, bad in sorted(unexpected))
    )


def test_allowed_list_holds_only_live_violations() -> None:
    stale = ALLOWED - violations()
    assert not stale, f"these ALLOWED entries are fixed: delete them from tests/test_layers.py: {sorted(stale)}"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from handlers.rooms import user_room\nimport services.chat\nfrom . import sibling\n")
    assert imports_of(module) == {"handlers", "services"}
