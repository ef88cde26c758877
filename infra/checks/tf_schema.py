"""Check every resource, data source and provider block of a Terraform directory against the provider
schemas of the exact provider versions that ``terraform.tf`` pins, without Terraform or the registry.

(Past 400 lines: the jsii reader, the HCL walk and the report are one pass over one schema model.)

``terraform validate`` needs the providers from the Terraform registry, which is out of reach offline.
The PyPI packages ``cdktn-provider-<name>`` are generated from those providers' schemas: their jsii
assembly (``package/.jsii`` in ``_jsii/*.jsii.tgz``) has, for every resource and data source, a
``*Config`` struct whose properties are the arguments and nested blocks, with ``optional`` absent for
required ones, and ``package.json`` names the provider version (``cdktn.provider.version``). The
packages live in the validators environment (tools/validators/pyproject.toml); this module only reads
their files, so it runs in the project's environment beside python-hcl2.

Reported, per block address:

- ``unknown``: an argument or nested block the schema does not have (a misspelling, a removed
  argument, an argument of another resource), at any depth;
- ``missing``: a required argument or block that is absent (one given through ``dynamic`` counts);
- ``unknown type``: a resource or data source type the provider does not have;
- ``unchecked``: a type of a provider without a schema package (reported, not failed);
- ``deprecated``: an argument, block or type that the provider's next major version no longer has.

Deprecations: the assemblies carry no Terraform deprecation flags (cdktn drops them), but azurerm
removes in a major release what it deprecated during the previous one. So the configuration is also
checked against the next major's schema (``cdktn-provider-azurerm`` 18.0.0 = azurerm 5.0.1, in its own
environment, tools/validators/next/): whatever that schema lacks is reported as deprecated, unless
``REVIEWED_REMOVALS`` says why it stays (a major also renames things the current one has no
replacement for).

Names: a property's documentation links to the registry page with the Terraform name as anchor
(``...docs/resources/kubernetes_cluster#local_account_disabled``); where a property has no such
link (azapi writes prose), its camelCase name is converted to snake_case. Meta-arguments (``count``,
``for_each``, ``depends_on``, ``lifecycle``, ``provider``, ``provisioner``, ``connection``) are not
schema arguments; ``dynamic "x" { content { ... } }`` is checked as block ``x``.

Not in the assemblies, so not checked here: value types and allowed values, ``ConflictsWith`` and
``ExactlyOneOf`` rules, and what Azure itself accepts (tests/assets/test_terraform_azure_rules.py).

Parsing an assembly (87 MB of JSON for azurerm) takes a few seconds; the compact schema is cached
next to the package (keyed by its file name and size), so later runs take well under a second.

Usage: ``python -m infra.checks.tf_schema [DIR]`` prints the problems as JSON and exits 1 if any.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from infra.checks.tf_graph import parse_file
from tools.validators.locate import BOOTSTRAP_HINT, VALIDATORS_DIR, ValidatorsMissing

# Terraform provider local name -> the schema package's Python module in the validators environment.
SCHEMA_MODULES: Final = {
    "azurerm": "cdktn_provider_azurerm",
    "azapi": "cdktn_provider_azapi",
    "random": "cdktn_provider_random",
}
# Arguments Terraform itself handles in a resource or data source block (not in any provider schema).
META_ARGUMENTS: Final = frozenset(
    {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"}
)
# Environments holding the next major's schema package, per provider (deprecation report).
NEXT_MAJOR_ENVIRONMENTS: Final = {"azurerm": VALIDATORS_DIR / "next" / ".venv"}
# `<type>.<path>` used by infra/ that the next major removes without a replacement in the pinned
# version: reviewed, with the reason it stays until the major upgrade.
REVIEWED_REMOVALS: Final = {
    "azurerm_private_dns_zone_virtual_network_link.private_dns_zone_name": (
        "azurerm 5 takes private_dns_zone_id instead; 4.81 has no private_dns_zone_id, so the name stays"
    ),
    "azurerm_private_dns_zone_virtual_network_link.resource_group_name": (
        "azurerm 5 derives the resource group from private_dns_zone_id, which 4.81 lacks"
    ),
    "azurerm_subnet.service_endpoints": (
        "azurerm 5 replaces the list with service_endpoint blocks, which 4.81 does not have"
    ),
}
_PARSER_KEYS: Final = frozenset({"__is_block__", "__comments__", "__inline_comments__"})
_CACHE_DIR: Final = VALIDATORS_DIR / ".venv" / "tf-schema-cache"
_ANCHOR = re.compile(r"/docs(?:/(resources|data-sources)/(\w+))?#(\w+) ")
_TYPE_LINK = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/[^ ]+/docs/(resources|data-sources)/(\w+) "
)


@dataclass(frozen=True)
class Argument:
    """One argument or nested block of a schema; ``block`` is the nested schema, if it has one."""

    required: bool
    block: dict[str, Argument] | None = None


Schema = dict[str, Argument]


@dataclass
class ProviderSchema:
    """The schemas of one provider version: resources, data sources and the provider block."""

    name: str
    version: str
    resources: dict[str, Schema] = field(default_factory=dict)
    data_sources: dict[str, Schema] = field(default_factory=dict)
    provider: Schema = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    address: str  # resource.azurerm_x.name, data.azurerm_y.name, provider.azurerm
    path: str  # dotted path inside the block: default_node_pool.upgrade_settings.max_surge
    kind: str  # unknown, missing, unknown type, unchecked

    def __str__(self) -> str:
        where = f"{self.address}.{self.path}" if self.path else self.address
        return f"{self.kind}: {where}"


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _struct_fqn(kind: dict[str, Any], types: dict[str, Any]) -> str | None:
    """The struct a property's type refers to (directly, in a list, or in a union), if any."""
    if "fqn" in kind:
        target = types.get(kind["fqn"])
        return kind["fqn"] if target is not None and target.get("datatype") else None
    if "collection" in kind:
        return _struct_fqn(kind["collection"]["elementtype"], types)
    for member in kind.get("union", {}).get("types", []):
        found = _struct_fqn(member, types)
        if found:
            return found
    return None


def _terraform_name(prop: dict[str, Any]) -> str:
    docs = prop.get("docs", {})
    match = _ANCHOR.search(f"{docs.get('summary', '')} {docs.get('remarks', '')}")
    return match.group(3) if match else _snake(prop["name"])


def _struct(fqn: str, types: dict[str, Any], seen: tuple[str, ...] = ()) -> Schema:
    schema: Schema = {}
    for prop in types[fqn].get("properties", []):
        nested = _struct_fqn(prop["type"], types)
        block = _struct(nested, types, (*seen, fqn)) if nested and nested not in seen else None
        schema[_terraform_name(prop)] = Argument(required=not prop.get("optional", False), block=block)
    return schema


def schema_from_assembly(assembly: dict[str, Any], provider: str, version: str) -> ProviderSchema:
    """Compact schemas from a jsii assembly: resource and data source ``*Config`` structs by the
    Terraform type their class documents, and the provider's own ``*ProviderConfig``."""
    types: dict[str, Any] = assembly["types"]
    result = ProviderSchema(name=provider, version=version)
    for entry in types.values():
        base = entry.get("base")
        if entry.get("kind") != "class" or base not in (
            "cdktn.TerraformResource",
            "cdktn.TerraformDataSource",
            "cdktn.TerraformProvider",
        ):
            continue
        params = entry.get("initializer", {}).get("parameters", [])
        config = next(
            (p["type"]["fqn"] for p in params if p["name"] == "config" and "fqn" in p["type"]), None
        )
        if config is None:
            continue
        if base == "cdktn.TerraformProvider":
            result.provider = _struct(config, types)
            continue
        match = _TYPE_LINK.search(entry.get("docs", {}).get("summary", ""))
        if not match:
            continue
        kind, name = match.groups()
        # The link text is the full type name (azurerm_client_config); the path part may lack the prefix.
        full = entry["docs"]["summary"][match.end() :].split("}", 1)[0].strip()
        target = result.resources if kind == "resources" else result.data_sources
        target[full or f"{provider}_{name}"] = _struct(config, types)
    return result


def _to_json(schema: Schema) -> dict[str, Any]:
    return {
        name: {"r": arg.required, **({"b": _to_json(arg.block)} if arg.block is not None else {})}
        for name, arg in schema.items()
    }


def _from_json(data: dict[str, Any]) -> Schema:
    return {
        name: Argument(required=item["r"], block=_from_json(item["b"]) if "b" in item else None)
        for name, item in data.items()
    }


def _package_tgz(module: str, environment: Path) -> Path:
    for root in sorted((environment / "lib").glob("python*/site-packages")):
        found = sorted((root / module / "_jsii").glob("*.jsii.tgz"))
        if found:
            return found[0]
    raise ValidatorsMissing(f"schema package {module} is not installed in {environment}; {BOOTSTRAP_HINT}")


def load_provider_schema(provider: str, *, environment: Path = VALIDATORS_DIR / ".venv") -> ProviderSchema:
    """The schema of the provider version that the ``cdktn-provider-*`` package installed in
    ``environment`` was generated from (cached after the first parse)."""
    tgz = _package_tgz(SCHEMA_MODULES[provider], environment)
    cache = _CACHE_DIR / f"{tgz.name}-{tgz.stat().st_size}.json"
    if cache.exists():
        data = json.loads(cache.read_text(encoding="utf-8"))
    else:
        with tarfile.open(tgz) as archive:
            package = json.load(archive.extractfile("package/package.json"))  # type: ignore[arg-type]
            assembly = json.load(archive.extractfile("package/.jsii"))  # type: ignore[arg-type]
        parsed = schema_from_assembly(assembly, provider, package["cdktn"]["provider"]["version"])
        data = {
            "name": parsed.name,
            "version": parsed.version,
            "resources": {k: _to_json(v) for k, v in parsed.resources.items()},
            "data_sources": {k: _to_json(v) for k, v in parsed.data_sources.items()},
            "provider": _to_json(parsed.provider),
        }
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.tmp")  # atomic: a parallel run never reads half
        partial.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        partial.replace(cache)
    return ProviderSchema(
        name=data["name"],
        version=data["version"],
        resources={k: _from_json(v) for k, v in data["resources"].items()},
        data_sources={k: _from_json(v) for k, v in data["data_sources"].items()},
        provider=_from_json(data["provider"]),
    )


def _unquote(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def _items(body: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for key, value in body.items():
        if key not in _PARSER_KEYS:
            yield _unquote(key), value


def _block_bodies(value: Any) -> list[dict[str, Any]]:
    """The bodies of a nested block (python-hcl2 gives a list of dicts marked ``__is_block__``) or of
    an object-valued attribute (a dict); an expression (a string) has no checkable keys."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    return []


def check_body(body: dict[str, Any], schema: Schema, address: str, path: str = "") -> list[Problem]:
    """Unknown and missing arguments of one block body against its schema, recursively."""
    problems: list[Problem] = []
    present: set[str] = set()
    nested: list[tuple[str, list[dict[str, Any]]]] = []
    top = path == ""
    for name, value in _items(body):
        if name == "dynamic":
            for dynamic in _block_bodies(value):
                for label, spec in _items(dynamic):
                    contents = [
                        c
                        for spec_body in _block_bodies(spec)
                        for c in _block_bodies(spec_body.get("content"))
                    ]
                    present.add(label)
                    nested.append((label, contents))
            continue
        if top and name in META_ARGUMENTS:
            continue
        present.add(name)
        nested.append((name, _block_bodies(value) if isinstance(value, list | dict) else []))
    for name, bodies in nested:
        where = f"{path}.{name}" if path else name
        arg = schema.get(name)
        if arg is None:
            problems.append(Problem(address, where, "unknown"))
            continue
        if arg.block is not None:
            for child in bodies:
                problems.extend(check_body(child, arg.block, address, where))
    for name, arg in schema.items():
        if arg.required and name not in present:
            problems.append(Problem(address, f"{path}.{name}" if path else name, "missing"))
    return problems


def _provider_of(kind: str) -> str:
    return kind.split("_", 1)[0]


def check_directory(directory: Path, schemas: dict[str, ProviderSchema]) -> list[Problem]:
    """Every resource, data source and provider block of the ``*.tf`` files in ``directory``."""
    problems: list[Problem] = []
    for path in sorted(directory.glob("*.tf")):
        document = parse_file(path)
        for block in document.get("provider", []):
            for name, body in _items(block):
                if name in schemas:
                    # `alias` and `version` are Terraform's, not the provider's.
                    cleaned = {k: v for k, v in body.items() if _unquote(k) not in {"alias", "version"}}
                    problems += check_body(cleaned, schemas[name].provider, f"provider.{name}")
                else:
                    problems.append(Problem(f"provider.{name}", "", "unchecked"))
        for key, prefix in (("resource", "resource"), ("data", "data")):
            for block in document.get(key, []):
                for kind, named in _items(block):
                    for label, body in _items(named):
                        address = f"{prefix}.{kind}.{label}"
                        provider = schemas.get(_provider_of(kind))
                        if provider is None:
                            problems.append(Problem(address, "", "unchecked"))
                            continue
                        table = provider.resources if key == "resource" else provider.data_sources
                        if kind not in table:
                            problems.append(Problem(address, "", "unknown type"))
                            continue
                        problems += check_body(body, table[kind], address)
    return problems


def pinned_versions(directory: Path) -> dict[str, str]:
    """Provider local name -> the version constraint in ``required_providers`` (terraform.tf)."""
    pins: dict[str, str] = {}
    for document in (parse_file(p) for p in sorted(directory.glob("*.tf"))):
        for terraform in document.get("terraform", []):
            for providers in terraform.get("required_providers", []):
                for name, spec in _items(providers):
                    if isinstance(spec, dict) and "version" in spec:
                        pins[name] = _unquote(str(spec["version"]))
    return pins


def removed_in_next_major(
    directory: Path, current: dict[str, ProviderSchema], following: dict[str, ProviderSchema]
) -> list[Problem]:
    """What ``directory`` uses that exists in the current schemas but not in the next major's
    (kind ``deprecated``): arguments, nested blocks and whole resource or data source types."""
    now = {
        (p.address, p.path)
        for p in check_directory(directory, current)
        if p.kind in {"unknown", "unknown type"}
    }
    return [
        Problem(p.address, p.path, "deprecated")
        for p in check_directory(directory, following)
        if p.kind in {"unknown", "unknown type"} and (p.address, p.path) not in now
    ]


def removal_key(problem: Problem) -> str:
    """``<type>.<path>`` of a problem (``azurerm_subnet.service_endpoints``), the REVIEWED_REMOVALS key."""
    kind = problem.address.split(".")[1]
    return f"{kind}.{problem.path}" if problem.path else kind


def unreviewed(deprecations: list[Problem]) -> list[Problem]:
    return [problem for problem in deprecations if removal_key(problem) not in REVIEWED_REMOVALS]


def failures(problems: list[Problem]) -> list[Problem]:
    return [problem for problem in problems if problem.kind != "unchecked"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0] if args else "infra")
    pins = pinned_versions(directory)
    schemas = {name: load_provider_schema(name) for name in SCHEMA_MODULES if name in pins}
    problems = check_directory(directory, schemas)
    following = {
        name: load_provider_schema(name, environment=env)
        for name, env in NEXT_MAJOR_ENVIRONMENTS.items()
        if name in pins
    }
    deprecations = removed_in_next_major(directory, schemas, following)
    open_deprecations = unreviewed(deprecations)
    drift = {
        name: {"pinned": pins[name], "schema": schema.version}
        for name, schema in schemas.items()
        if pins[name].lstrip("= ") != schema.version
    }
    print(
        json.dumps(
            {
                "schemas": {name: schema.version for name, schema in schemas.items()},
                "next_major_schemas": {name: schema.version for name, schema in following.items()},
                "pin_differs_from_schema": drift,
                "problems": [str(problem) for problem in problems],
                "deprecated_unreviewed": [str(problem) for problem in open_deprecations],
                "deprecated_reviewed": [str(p) for p in deprecations if p not in open_deprecations],
            },
            indent=2,
        )
    )
    return 1 if failures(problems) or drift or open_deprecations else 0


if __name__ == "__main__":
    raise SystemExit(main())
