"""Which of the repository's own packages a file set imports but does not hold.

Every ``import x`` / ``from x import ...`` in every module of the set counts, including imports
inside functions (the lazy ones a start-up probe never reaches) and ``TYPE_CHECKING`` blocks are
skipped. Only the repository's top-level packages are judged; third-party imports are the
requirements' business, checked by starting the entrypoints.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[2]


def repository_packages(repo: Path = REPO) -> frozenset[str]:
    """Top-level packages of the repository (folders with an ``__init__.py``)."""
    return frozenset(p.parent.name for p in repo.glob("*/__init__.py"))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_top_levels(source: str) -> set[str]:
    """Top-level names of the absolute imports of a module (outside ``if TYPE_CHECKING:``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def missing_packages(root: Path, repo: Path = REPO) -> dict[str, list[str]]:
    """Repository packages imported by modules under ``root`` but absent from it:
    ``{package: [importing module, ...]}``."""
    if not root.is_dir():
        raise FileNotFoundError(f"no file set at {root}")
    ours = repository_packages(repo)
    present = {p.parent.name for p in root.glob("*/__init__.py")}
    missing: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root).as_posix()
        for name in sorted(imported_top_levels(path.read_text(encoding="utf-8-sig")) & ours - present):
            missing.setdefault(name, []).append(relative)
    return missing


def _imported_names(source: str) -> set[str]:
    """Dotted names a module imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def _module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def third_party_imports(root: Path, entry: str) -> set[str]:
    """Top-level names of the non-standard-library, non-repository modules imported (anywhere,
    lazily too) by module ``entry`` and every module of ``root`` it reaches."""
    import sys

    ours = repository_packages() | {p.parent.name for p in root.glob("*/__init__.py")}
    seen: set[Path] = set()
    pending = [entry]
    external: set[str] = set()
    while pending:
        dotted = pending.pop()
        parts = dotted.split(".")
        for depth in range(1, len(parts) + 1):  # a module's packages run their __init__ first
            path = _module_file(root, ".".join(parts[:depth]))
            if path is None or path in seen:
                continue
            seen.add(path)
            for name in _imported_names(path.read_text(encoding="utf-8-sig")):
                top = name.split(".")[0]
                if top in ours:
                    pending.append(name)
                elif top not in sys.stdlib_module_names and top != "__future__":
                    external.add(top)
    return external
