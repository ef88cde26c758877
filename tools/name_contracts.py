"""Names that the deployment assets and the code must agree on, collected from where each is spelt.

Environment variables: what each deployment *sets* (Terraform ``app_settings``/``env`` blocks, the
chart's rendered containers, ``environment_variables`` in the AzureML YAML, ``ENV`` in Dockerfiles),
grouped by the deployable that receives them, and what each deployable *reads* (the fields of its
pydantic-settings classes, with their ``env_prefix`` and aliases as pydantic-settings itself resolves
them, plus the few names read outside a settings class, each named by the constant that spells it).

Other names: AzureML computes and datastores that Terraform creates, and what the AzureML YAML refers
to. tests/assets/test_name_contracts.py judges; this module only collects.

It runs past 400 lines because each collector is one small reader of one asset kind (Terraform,
chart, AzureML YAML, Dockerfiles, settings classes) and they share the one name model defined here;
split by asset they would each need that model and the deployable map.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from infra.checks.tf_graph import parse_file

REPO: Final = Path(__file__).resolve().parents[1]
INFRA: Final = REPO / "infra"
AML: Final = REPO / "aml"
PACKAGES: Final = (
    "core", "features", "simulator", "aml", "service", "scoring", "drift", "functions", "ingest", "predmaint"
)  # fmt: skip
"""Where settings classes may live (the packages ``make lint`` type-checks)."""


@dataclass(frozen=True)
class Deployable:
    """One thing that runs somewhere and reads its environment."""

    name: str
    settings: tuple[str, ...] = ()
    """``module:Class`` of the pydantic-settings classes it builds."""
    constants: tuple[str, ...] = ()
    """``module:NAME`` of constants naming a variable the code reads outside a settings class."""


DEPLOYABLES: Final = {
    d.name: d
    for d in (
        Deployable(
            "facade",
            ("scoring.settings:ScoringSettings",),
            ("core.layout:DATA_DIR_ENV", "core.registry:TRACKING_URI_ENV"),
        ),
        Deployable(
            "drift",
            ("drift.settings:DriftSettings",),
            ("core.layout:DATA_DIR_ENV", "core.registry:TRACKING_URI_ENV"),
        ),
        Deployable("ingest", ("ingest.settings:IngestSettings",), ("core.layout:DATA_DIR_ENV",)),
        Deployable("function", ("functions.function_app:TriggerSettings", "aml.submit:AzureMLSettings")),
        Deployable("endpoint", (), ("scoring.score:MODEL_VERSION_ENV",)),
        Deployable("training", (), ("core.registry:TRACKING_URI_ENV",)),
    )
}

# Where each deployment's environment goes. A source that sets variables but is not listed here is
# reported, so a new app setting, container or image cannot escape the check.
TERRAFORM_TARGETS: Final = {"azurerm_linux_function_app.retrain": "function"}
CHART_CONTAINERS: Final = {"facade": "facade", "drift": "drift", "ingest": "ingest"}
DOCKERFILES: Final = {
    "scoring/Dockerfile": "facade",
    "drift/Dockerfile": "drift",
    "ingest/Dockerfile": "ingest",
    "aml/endpoints/environment/Dockerfile": "endpoint",
    "aml/environments/train/Dockerfile": "training",
}
AML_KINDS: Final = {
    "kubernetesOnlineDeployment": "endpoint",
    "managedOnlineDeployment": "endpoint",
    "commandComponent": "training",
    "pipelineJob": "training",
}


@dataclass(frozen=True)
class Library:
    """A variable read by something other than our code, and where that is visible."""

    reason: str
    proof: tuple[str, str] | None = None
    """``(path, text)``: ``text`` occurs in ``path`` (relative to the repository, or ``site:`` for an
    installed package's file), so the reason is checked, not asserted."""


LIBRARY_READS: Final = {
    "PYTHONUNBUFFERED": Library("the Python interpreter (unbuffered stdout for container logs)"),
    "PYTHONDONTWRITEBYTECODE": Library("the Python interpreter (no .pyc writes on a read-only root)"),
    "PIP_NO_CACHE_DIR": Library("pip, at image build time (smaller layers)"),
    "PIP_DISABLE_PIP_VERSION_CHECK": Library("pip, at image build time (no network check)"),
    "HOME": Library("libraries that keep caches in the home directory; /tmp on a read-only root"),
    "AzureWebJobsFeatureFlags": Library("the Functions host: EnableWorkerIndexing for the Python v2 model"),
    "SCM_DO_BUILD_DURING_DEPLOYMENT": Library("Kudu: remote build of requirements.txt at zip deploy"),
    "FUNCTIONS_WORKER_PROCESS_COUNT": Library(
        "the Functions host: one Python worker process, as the trigger's one-instance design assumes"
    ),
    "RETRAIN_TIMER_SCHEDULE": Library(
        "the Functions host, through the timer trigger's binding expression",
        ("functions/function_app.py", 'schedule="%RETRAIN_TIMER_SCHEDULE%"'),
    ),
    "AZUREML_LOG_LEVEL": Library(
        "azureml-inference-server-http, the endpoint's server",
        ("site:azureml_inference_server_http/server/config.py", "AZUREML_LOG_LEVEL"),
    ),
}


# --- what deployments set -----------------------------------------------------------------------


@dataclass
class EnvSetting:
    """One variable set by one source for one deployable; ``value`` is ``None`` when it is computed
    at deploy time (a Terraform expression, a secret)."""

    deployable: str
    name: str
    source: str
    value: str | None = None


@dataclass
class Unmapped:
    """A source that sets variables but names no deployable in this module's tables."""

    source: str
    names: list[str] = field(default_factory=list)


def _unquote(text: Any) -> Any:
    if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def tf_literal(
    value: Any, variables: dict[str, Any] | None = None, locals_: dict[str, Any] | None = None
) -> str | None:
    """A Terraform value as a plain string: a literal, ``${var.x}`` with a default or ``${local.x}``
    that is itself such a value; else ``None``."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\$\{(var|local)\.([A-Za-z_][\w-]*)\}", value)
    if match:
        kind, name = match.groups()
        if kind == "var":
            default = (variables or {}).get(name)
            return default if isinstance(default, str) else None
        return tf_literal((locals_ or {}).get(name), variables)
    if "${" in value:
        return None
    return str(_unquote(value))


def terraform_blocks(directory: Path = INFRA) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(kind, address, body)`` for every resource (kind ``resource``) and data source (``data``)."""
    for path in sorted(directory.glob("*.tf")):
        parsed = parse_file(path)
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        yield kind, f"{_unquote(rtype)}.{_unquote(name)}", body


def terraform_variables(directory: Path = INFRA) -> dict[str, Any]:
    """Variable defaults (strings unquoted)."""
    out: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse_file(path).get("variable", []):
            for name, body in block.items():
                if "default" in body:
                    out[_unquote(name)] = _unquote(body["default"])
    return out


def terraform_locals(directory: Path = INFRA) -> dict[str, Any]:
    """Local values as written (strings unquoted; expressions stay ``${...}``)."""
    out: dict[str, Any] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse_file(path).get("locals", []):
            out.update({name: _unquote(value) for name, value in block.items()})
    return out


def _tf_env(body: Any) -> Iterator[tuple[str, Any]]:
    """Variables in a resource body: ``app_settings`` maps, ``environment_variables`` maps and
    ``env`` blocks (``name``/``value``) at any depth."""
    if isinstance(body, list):
        for item in body:
            yield from _tf_env(item)
        return
    if not isinstance(body, dict):
        return
    for key, value in body.items():
        if key in ("app_settings", "environment_variables") and isinstance(value, dict):
            for name, item in value.items():
                yield str(_unquote(name)), item
        elif key == "env" and isinstance(value, list):
            for item in value:
                if isinstance(item, dict) and "name" in item:
                    yield str(_unquote(item["name"])), item.get("value")
        else:
            yield from _tf_env(value)


def terraform_env(directory: Path = INFRA) -> tuple[list[EnvSetting], list[Unmapped]]:
    settings, unmapped = [], []
    for _, address, body in terraform_blocks(directory):
        found = list(_tf_env(body))
        if not found:
            continue
        target = TERRAFORM_TARGETS.get(address)
        if target is None:
            unmapped.append(Unmapped(f"infra: {address}", [n for n, _ in found]))
            continue
        settings += [EnvSetting(target, n, f"infra: {address}", tf_literal(v)) for n, v in found]
    return settings, unmapped


def chart_env(manifests: str, scenario: str) -> tuple[list[EnvSetting], list[Unmapped]]:
    """Variables of the rendered Deployment's containers: ``env`` entries and every key of the
    ConfigMaps they load with ``envFrom`` (a ``secretKeyRef`` value is a secret: ``value`` None)."""
    docs = [d for d in yaml.safe_load_all(manifests) if d]
    config_maps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
    settings, unmapped = [], []
    for doc in docs:
        if doc["kind"] not in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"):
            continue
        pod = doc["spec"]["template"]["spec"]
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            source = f"chart {scenario}: {doc['kind']}/{container['name']}"
            names: list[tuple[str, str | None]] = []
            for ref in container.get("envFrom", []):
                if "configMapRef" in ref:
                    data = config_maps[ref["configMapRef"]["name"]]
                    names += [(k, str(v)) for k, v in data.items()]
                else:
                    names.append((f"<envFrom {sorted(ref)}>", None))
            for item in container.get("env", []):
                names.append((item["name"], item.get("value")))
            target = CHART_CONTAINERS.get(container["name"])
            if target is None:
                if names:
                    unmapped.append(Unmapped(source, [n for n, _ in names]))
                continue
            settings += [EnvSetting(target, n, source, v) for n, v in names]
    return settings, unmapped


def aml_env(directory: Path = AML) -> tuple[list[EnvSetting], list[Unmapped]]:
    """``environment_variables`` of every AzureML YAML (top level and pipeline jobs)."""
    settings, unmapped = [], []
    for path in sorted(directory.rglob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict):
            continue
        kind = str(doc.get("$schema", "")).rsplit("/", 1)[-1].removesuffix(".schema.json")
        bodies = [doc] + [j for j in (doc.get("jobs") or {}).values() if isinstance(j, dict)]
        found = [(str(n), v) for b in bodies for n, v in (b.get("environment_variables") or {}).items()]
        if not found:
            continue
        source = f"aml: {path.relative_to(REPO)}"
        target = AML_KINDS.get(kind)
        if target is None:
            unmapped.append(Unmapped(source, [n for n, _ in found]))
            continue
        settings += [EnvSetting(target, n, source, None if v is None else str(v)) for n, v in found]
    return settings, unmapped


def dockerfile_env(path: Path) -> list[tuple[str, str]]:
    """``ENV`` pairs of a Dockerfile (``key=value`` forms, with line continuations)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pairs = []
    for line in text.splitlines():
        match = re.match(r"^\s*ENV\s+(.*)$", line)
        if not match:
            continue
        body = match.group(1).strip()
        if "=" not in body.split()[0]:  # legacy ``ENV key value``
            key, _, value = body.partition(" ")
            pairs.append((key, value.strip()))
            continue
        for item in re.findall(r'(\w+)=("[^"]*"|\S*)', body):
            pairs.append((item[0], item[1].strip('"')))
    return pairs


def dockerfiles_env(dockerfiles: list[Path]) -> tuple[list[EnvSetting], list[Unmapped]]:
    settings, unmapped = [], []
    for path in dockerfiles:
        relative = path.relative_to(REPO).as_posix()
        pairs = dockerfile_env(path)
        target = DOCKERFILES.get(relative)
        if target is None:
            if pairs:
                unmapped.append(Unmapped(relative, [k for k, _ in pairs]))
            continue
        settings += [EnvSetting(target, k, relative, v) for k, v in pairs]
    return settings, unmapped


# --- what deployables read ----------------------------------------------------------------------


def _load(ref: str) -> Any:
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


def settings_env_names(cls: Any) -> dict[str, set[str]]:
    """Field name -> the environment variable names pydantic-settings reads it from (upper case)."""
    from pydantic_settings import EnvSettingsSource

    source = EnvSettingsSource(cls)
    return {
        name: {env.upper() for _, env, _ in source._extract_field_info(info, name)}
        for name, info in cls.model_fields.items()
    }


def required_env_names(cls: Any) -> set[str]:
    """The variables of the fields without a default (one name per field; any of its names does)."""
    names = settings_env_names(cls)
    return {sorted(names[n])[0] for n, info in cls.model_fields.items() if info.is_required()}


def reads(deployable: Deployable) -> dict[str, str]:
    """Variable name (upper case) -> who reads it, for one deployable."""
    out: dict[str, str] = {}
    for ref in deployable.settings:
        for field_name, names in settings_env_names(_load(ref)).items():
            out.update({n: f"{ref}.{field_name}" for n in names})
    for ref in deployable.constants:
        out[str(_load(ref)).upper()] = ref
    return out


def discovered_settings_classes() -> set[str]:
    """``module:Class`` of every class in the packages that derives from ``BaseSettings`` (by name:
    an AST scan, so no package is imported to find them)."""
    found = set()
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(
                    (isinstance(b, ast.Name) and b.id == "BaseSettings")
                    or (isinstance(b, ast.Attribute) and b.attr == "BaseSettings")
                    for b in node.bases
                ):
                    module = ".".join(path.relative_to(REPO).with_suffix("").parts)
                    found.add(f"{module}:{node.name}")
    return found


def library_proof_holds(library: Library) -> bool:
    if library.proof is None:
        return True
    where, text = library.proof
    if where.startswith("site:"):
        import sysconfig

        path = Path(sysconfig.get_paths()["purelib"]) / where.removeprefix("site:")
    else:
        path = REPO / where
    return path.is_file() and text in path.read_text()


# --- AzureML names ------------------------------------------------------------------------------


def terraform_aml_names(directory: Path = INFRA) -> dict[str, set[str]]:
    """Names Terraform gives AzureML workspace children: ``compute`` (clusters, instances, attached
    computes) and ``datastore``; a name it cannot resolve offline is listed as ``<address>``."""
    variables = terraform_variables(directory)
    locals_ = terraform_locals(directory)
    out: dict[str, set[str]] = {"compute": set(), "datastore": set()}
    for kind, address, body in terraform_blocks(directory):
        if kind != "resource":
            continue
        rtype = address.split(".")[0]
        if rtype.startswith("azurerm_machine_learning_compute_") or rtype == (
            "azurerm_machine_learning_inference_cluster"
        ):
            group = "compute"
        elif rtype.startswith("azurerm_machine_learning_datastore_"):
            group = "datastore"
        elif rtype == "azapi_resource" and "/workspaces/computes@" in str(body.get("type", "")):
            group = "compute"
        elif rtype == "azapi_resource" and "/workspaces/datastores@" in str(body.get("type", "")):
            group = "datastore"
        else:
            continue
        out[group].add(tf_literal(body.get("name"), variables, locals_) or f"<{address}>")
    return out


def aml_compute_refs(directory: Path = AML) -> list[tuple[str, str]]:
    """``(file, name)`` of every compute an AzureML YAML names (``azureml:<name>``): pipeline
    ``settings.default_compute``, ``compute`` of jobs, components and endpoints, and schedules'
    ``create_job`` overrides."""
    refs = []

    def visit(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("compute", "default_compute") and isinstance(value, str):
                    refs.append((where, value.removeprefix("azureml:")))
                else:
                    visit(value, where)
        elif isinstance(node, list):
            for item in node:
                visit(item, where)

    for path in sorted(directory.rglob("*.yml")):
        visit(yaml.safe_load(path.read_text()), str(path.relative_to(REPO)))
    return refs


def aml_datastore_refs(directory: Path = AML) -> list[tuple[str, str]]:
    """``(file, name)`` of every ``azureml://datastores/<name>/`` path in the AzureML YAML."""
    refs = []
    for path in sorted(directory.rglob("*.yml")):
        for name in re.findall(r"azureml://datastores/([^/\s]+)/", path.read_text()):
            refs.append((str(path.relative_to(REPO)), name))
    return refs
