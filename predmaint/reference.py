"""Reference documentation generated from the code, and the names the documentation may use.

``python -m predmaint.reference`` rewrites every block between ``<!-- generated:NAME -->`` and
``<!-- /generated:NAME -->`` in ``README.md`` and ``docs/*.md`` (``--check`` only reports stale ones).
``tests/unit/docs/test_docs.py`` fails when a block is stale, or when the prose names a setting
(``SCORING_*``, ``DRIFT_*``, ...), a route, an error code or a ``predmaint`` option that the code
no longer has. Every name is read from the code: settings classes are found by scanning the source
for ``BaseSettings`` subclasses, error codes from the exception classes of the project's packages,
routes from the apps' route tables, options from the CLI's command tree.

Past 400 lines because it is the single place that reads those four name sources and generates their
tables; the generator and the checker must agree, so they stay together.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import os
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

REPO = Path(__file__).resolve().parents[1]
PACKAGES: tuple[str, ...] = tuple(
    tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "packages"
    ]
)
"""The project's Python packages (one per top-level folder): the wheel's list in pyproject.toml."""
DOC_FILES = ("README.md", "docs/*.md")
BLOCK = re.compile(
    r"(<!-- generated:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)", re.S
)


def doc_paths(root: Path = REPO) -> list[Path]:
    return sorted({p for pattern in DOC_FILES for p in root.glob(pattern)})


def _modules_defining(pattern: str) -> Iterator[str]:
    """Dotted names of project modules whose source matches ``pattern``."""
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if re.search(pattern, path.read_text()):
                yield ".".join(path.relative_to(REPO).with_suffix("").parts)


# --- settings ------------------------------------------------------------------------------------


@functools.cache
def settings_classes() -> list[type[BaseSettings]]:
    """Every ``BaseSettings`` subclass of the project, by env prefix."""
    from pydantic_settings import BaseSettings

    found: dict[str, type[BaseSettings]] = {}
    for name in _modules_defining(r"class \w+\([^)]*BaseSettings[^)]*\)"):
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseSettings) and cls is not BaseSettings and cls.__module__ == name:
                found[cls.__name__] = cls
    return sorted(found.values(), key=lambda c: env_prefix(c))


def env_prefix(cls: type[BaseSettings]) -> str:
    return str(cls.model_config.get("env_prefix", ""))


def field_docs(cls: type[BaseSettings]) -> dict[str, str]:
    """Each field's description: ``Field(description=...)``, else the docstring under the field."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith(("pydantic", "builtins")):
            continue
        try:
            tree = ast.parse(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, [*body[1:], None], strict=True):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    for name, info in cls.model_fields.items():
        if info.description:
            docs[name] = " ".join(info.description.split())
    return docs


def env_names(cls: type[BaseSettings]) -> dict[str, str]:
    """``{environment variable: field}`` of a settings class (prefixed names and aliases)."""
    from pydantic import AliasChoices

    prefix = env_prefix(cls)
    names: dict[str, str] = {}
    for name, info in cls.model_fields.items():
        names[f"{prefix}{name}".upper()] = name
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
        for choice in choices:
            if isinstance(choice, str):
                names[choice.upper()] = name
    return names


def _default(info: Any) -> str:
    from pydantic_core import PydanticUndefined

    if info.default_factory is not None:
        return "computed"
    value = info.default
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def settings_table(cls: type[BaseSettings]) -> str:
    docs = field_docs(cls)
    prefix = env_prefix(cls)
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in cls.model_fields.items():
        env = f"{prefix}{name}".upper()
        alias = info.validation_alias
        if alias is not None and not any(
            isinstance(c, str) and c.upper() == env for c in getattr(alias, "choices", [alias])
        ):
            env = next(str(c).upper() for c in getattr(alias, "choices", [alias]) if isinstance(c, str))
        meaning = docs.get(name, "").replace("|", "\\|")
        lines.append(f"| `{env}` | {_default(info)} | {meaning} |")
    return "\n".join(lines) + "\n"


def settings_by_prefix(prefix: str) -> type[BaseSettings]:
    return next(c for c in settings_classes() if env_prefix(c) == prefix)


# --- CLI -----------------------------------------------------------------------------------------


def cli_root() -> Any:
    """The click command tree of ``predmaint`` (typer vendors click: duck-typed below)."""
    import typer

    from predmaint.cli import app

    return typer.main.get_command(app)


def cli_commands(root: Any = None) -> dict[tuple[str, ...], Any]:
    """Every command by its path (``("features", "get")``), the root as ``()``."""
    out: dict[tuple[str, ...], Any] = {}

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        out[path] = cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*path, name))

    walk(root or cli_root(), ())
    return out


def cli_options(cmd: Any) -> set[str]:
    """Every option spelling of a command, hidden deprecated aliases included."""
    names = {"--help"}
    for param in cmd.params:
        if param.param_type_name == "option":
            names.update(n for n in (*param.opts, *param.secondary_opts) if n.startswith("--"))
    return names


def cli_help(path: tuple[str, ...], width: int = 80) -> str:
    """``predmaint <path> --help`` as printed in a terminal ``width`` columns wide."""
    from typer.testing import CliRunner

    from predmaint.cli import app

    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(width)}, prog_name="predmaint")
    if result.exit_code != 0:
        raise RuntimeError(f"predmaint {' '.join(path)} --help failed: {result.output}")
    return result.output


def cli_reference() -> str:
    parts = []
    for path, cmd in cli_commands().items():
        if cmd.hidden:
            continue
        title = " ".join(("predmaint", *path))
        parts.append(f"### `{title}`\n\n```text\n{cli_help(path).rstrip()}\n```\n")
    return "\n".join(parts)


# --- HTTP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    service: str


def _methods_and_paths(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (method, path) of a route list; FastAPI 0.14x keeps an included router whole (its
    ``original_router`` and prefix) instead of copying its routes into the app's list."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _methods_and_paths(included.routes, prefix + route.include_context.prefix)
            continue
        for method in getattr(route, "methods", None) or ():
            yield method, prefix + str(getattr(route, "path", ""))


@functools.cache
def routes() -> frozenset[Route]:
    """The facade's, the sidecar's and the retrain Function's routes."""
    from drift.drift_service import create_app as drift_app
    from drift.settings import DriftSettings
    from scoring.main import create_app as scoring_app
    from scoring.settings import ScoringSettings

    found: set[Route] = set()
    for service, app in (
        ("scoring", scoring_app(ScoringSettings(online_store="none", log_enabled=False))),
        ("drift", drift_app(DriftSettings(background=False))),
    ):
        for method, path in _methods_and_paths(app.routes):
            found.add(Route(method, path, service))
    source = (REPO / "functions" / "function_app.py").read_text()
    for m in re.finditer(r'route\(route="([^"]+)", methods=\[([^\]]+)\]', source):
        for method in re.findall(r'"(\w+)"', m.group(2)):
            found.add(Route(method, f"/api/{m.group(1)}", "functions"))
    return frozenset(found)


@functools.cache
def error_codes() -> frozenset[str]:
    """Every ``error`` code an answer can carry: the ``code`` of each project exception class (or,
    for classes without one, its name in snake case, as the facade's handler derives it)."""
    for name in _modules_defining(r"class \w+\([^)]*(Error|Exception)[^)]*\)"):
        importlib.import_module(name)
    codes: set[str] = set()
    stack: list[type[BaseException]] = [Exception]
    seen: set[type[BaseException]] = set()
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub in seen:
                continue
            seen.add(sub)
            stack.append(sub)
            if sub.__module__.split(".")[0] not in PACKAGES:
                continue
            code = sub.__dict__.get("code")
            if isinstance(code, str):
                codes.add(code)
            else:
                codes.add(re.sub(r"(?<!^)(?=[A-Z])", "_", sub.__name__).lower())
    # literal codes in handlers (e.g. "internal_error") are found in the source of the services
    for package in ("scoring", "drift", "core", "functions"):
        for path in (REPO / package).rglob("*.py"):
            codes.update(re.findall(r'"error":\s*"([a-z_]+)"', path.read_text()))
    return frozenset(codes)


# --- generated blocks ----------------------------------------------------------------------------


def generated(name: str) -> str:
    if name == "drift-settings":
        return settings_table(settings_by_prefix("DRIFT_"))
    if name == "cli":
        return cli_reference()
    raise KeyError(f"unknown generated block {name!r}")


def refresh(text: str) -> str:
    return BLOCK.sub(lambda m: f"{m.group(1)}{generated(m.group('name'))}{m.group(4)}", text)


def main(argv: list[str]) -> int:
    stale = []
    for path in doc_paths():
        text = path.read_text()
        new = refresh(text)
        if new != text:
            stale.append(path)
            if "--check" not in argv:
                path.write_text(new)
    for path in stale:
        print(f"{'stale' if '--check' in argv else 'rewrote'}: {path.relative_to(REPO)}")
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


# --- checks: names in the prose that the code must still have ----------------------------------

ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[A-Za-z0-9_/{}.-]*)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
STATUS_ROW = re.compile(r"^\|\s*(\d{3}(?:\s*/\s*\d{3})*)\s*\|([^|]*)\|", re.M)


@functools.cache
def _code_literals() -> str:
    """The source the non-settings names must appear in: code, configs, charts, Terraform, CI
    (hidden folders other than ``.github`` are skipped, and so are docs and the lock file)."""
    keep = {".py", ".yml", ".yaml", ".tf", ".sh", ".json", ".toml", ".tpl", ".txt", ".in"}
    parts = []
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if (not d.startswith(".") or d == ".github") and d != "docs"]
        for name in files:
            path = Path(folder, name)
            if name in ("Makefile", "Dockerfile") or (path.suffix in keep and name != "uv.lock"):
                parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


def unknown_env_names(text: str) -> list[str]:
    """Environment variables named in ``text`` that nothing reads: with a settings class's prefix,
    not one of its fields; otherwise not spelt anywhere in the code."""
    classes = settings_classes()
    prefixes = {env_prefix(c): set(env_names(c)) for c in classes if env_prefix(c)}
    known_anywhere = set().union(*prefixes.values())
    literals: str | None = None
    local = {n for block in FENCE.findall(text) for n in re.findall(r"\b([A-Z][A-Z0-9_]*)=", block)}
    unknown = []
    for span in CODE_SPAN.findall(text) + FENCE.findall(text):
        for name in ENV_NAME.findall(span):
            prefix = next((p for p in prefixes if name.startswith(p)), None)
            if prefix is not None:
                if name in prefixes[prefix]:
                    continue
                if literals is None:
                    literals = _code_literals()
                # a constant of that name (``DRIFT_FEATURES``) or an app setting (``%RETRAIN_...%``)
                if not re.search(rf"^{name}\b\s*[:=]|%{name}%", literals, re.M):
                    unknown.append(name)
                continue
            if name in local and name not in known_anywhere:
                continue
            if name in known_anywhere:
                continue
            if literals is None:
                literals = _code_literals()
            if name not in literals:
                unknown.append(name)
    return sorted(set(unknown))


def _command_lines(text: str) -> Iterator[str]:
    for block in FENCE.findall(text):
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            line = line.split(" #", 1)[0]
            yield from re.split(r"\s(?:&&|\|\||;|\|)\s|(?<=&)\s", line)
    yield from CODE_SPAN.findall(text)


def unknown_cli_options(text: str) -> list[str]:
    """``predmaint <command> --option`` in ``text`` where the command or the option does not exist."""
    commands = cli_commands()
    unknown = []
    for line in _command_lines(text):
        for m in re.finditer(r"(?:^|[\s(]|bin/)predmaint(?= |$)((?: [a-z][a-z-]*)*)(.*)", line):
            path: tuple[str, ...] = ()
            for word in m.group(1).split():
                if (*path, word) in commands:
                    path = (*path, word)
                    continue
                if getattr(commands[path], "commands", None):
                    unknown.append(f"predmaint {' '.join((*path, word))}: no such command")
                break
            rest = m.group(0)[m.group(0).index("predmaint") :]
            for option in OPTION.findall(rest):
                if option not in cli_options(commands[path]):
                    unknown.append(f"predmaint {' '.join(path)} {option}")
    return sorted(set(unknown))


def unknown_routes(text: str) -> list[str]:
    known = {(r.method, r.path) for r in routes()}
    found = {(m.group(1), m.group(2).split("?")[0].rstrip(".")) for m in ROUTE.finditer(text)}
    return sorted(f"{method} {path}" for method, path in found if (method, path) not in known)


def unknown_error_codes(text: str) -> list[str]:
    """Codes in error tables (rows whose first cell is an HTTP status) that no error carries."""
    codes = error_codes()
    unknown = []
    for m in STATUS_ROW.finditer(text):
        for code in CODE_SPAN.findall(m.group(2)):
            unknown += [c.strip() for c in code.split("/") if c.strip() and c.strip() not in codes]
    return sorted(set(unknown))
