"""What Azure (not the provider schema) accepts: rules from Azure's documentation that a configuration
can pass `terraform validate` and still break at apply time or at run time, checked offline on the
parsed ``*.tf`` files (python-hcl2).

Each rule returns the problems it finds as ``"<rule>: <what> (<why>)"`` strings. The rules, with the
source they come from:

- ``acr-content-trust``: no ``trust_policy_enabled = true`` on a registry; content trust is
  deprecated and Azure rejects it on new registries (ContentTrustUnsupported).
- ``aks-local-accounts``: a cluster with the AzureML extension keeps local accounts; the extension
  does not support AKS with local accounts disabled (AzureML "Deploy the extension", Limitations).
- ``aml-namespace``: the namespace of an attached Kubernetes compute is created before the attach
  (AzureML Kubernetes compute YAML: "The namespace must be created ... before the cluster can be
  attached"), here by an AKS managed namespace the compute depends on.
- ``aks-version``: the default Kubernetes minor is GA on AKS and not past its end of life (AKS
  release calendar, ``AKS_END_OF_LIFE``).
- ``aml-datastores``: every ``azureml://datastores/<name>/`` in the AzureML YAML is a datastore that
  Terraform creates or one of the workspace's built-in ones.
- ``identity-storage``: with identity-based workspace storage, every principal that works in the
  workspace (AzureML Data Scientist) has a blob data role on the workspace's storage account.
- ``private-function``: a Function whose host storage can be private has VNet integration (a subnet
  delegated to Microsoft.Web/serverFarms, all outbound traffic routed through it) and private
  endpoints for the host's blob, queue and table services.
- ``private-image-build``: a workspace whose registry can be private builds images on one of its
  compute clusters (``image_build_compute_name``).
- ``urlencode-secret``: a key or password interpolated into a URL is ``urlencode()``d.
- ``provider-registration``: Microsoft.KubernetesConfiguration (cluster extensions) is registered.
- ``keda-identity``: when the chart scales with KEDA through workload identity (a
  TriggerAuthentication with ``provider: azure-workload``), the cluster runs the KEDA add-on
  (``workload_autoscaler_profile.keda_enabled``) and the identity the TriggerAuthentication names
  (``KEDA_IDENTITY_OUTPUT``) is federated with KEDA's operator ServiceAccount (keda.sh, "Azure AD
  Workload Identity", Considerations about Federations and Overrides: the operator's ServiceAccount
  must be federated with every identity it may assume; AKS, "Securely scale your applications using
  the KEDA add-on and workload identity": subject ``system:serviceaccount:kube-system:keda-operator``).

Usage: ``python -m infra.checks.tf_azure_rules [DIR]`` prints the problems and exits 1 if any.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from infra.checks.tf_graph import parse_file

REPO_ROOT: Final = Path(__file__).resolve().parents[2]
AML_DIR: Final = REPO_ROOT / "aml"
CHART_TEMPLATES: Final = REPO_ROOT / "charts" / "pred-maint" / "templates"
# The Terraform output the chart's KEDA TriggerAuthentication takes as podIdentity.identityId
# (chart value ingest.clientId, set from it by .github/workflows/deploy.yml).
KEDA_IDENTITY_OUTPUT: Final = "ingest_client_id"
# The ServiceAccount of the AKS KEDA add-on's operator (the pod that reads the scalers' metrics).
KEDA_OPERATOR_SUBJECT: Final = "system:serviceaccount:kube-system:keda-operator"
# AKS release calendar (Supported Kubernetes versions in AKS, 2026 edition): GA minors and the last
# day of their support. Update when the calendar moves; the aks-version rule fails past a date.
AKS_END_OF_LIFE: Final = {
    "1.34": dt.date(2026, 11, 30),
    "1.35": dt.date(2027, 3, 31),
    "1.36": dt.date(2027, 6, 30),
    "1.37": dt.date(2027, 10, 31),
}
# Datastores every AzureML workspace has without Terraform creating them.
BUILTIN_DATASTORES: Final = frozenset(
    {"workspaceblobstore", "workspaceartifactstore", "workspacefilestore", "workspaceworkingdirectory"}
)
_DATASTORE_URI = re.compile(r"azureml://datastores/([A-Za-z0-9_]+)/")
_BLOB_ROLES: Final = frozenset(
    {"Storage Blob Data Contributor", "Storage Blob Data Owner", "Storage Blob Data Reader"}
)
_SECRET_ATTRIBUTE = re.compile(r"\b[\w.\[\]]+\.(\w*(?:access_key|password|secret)\w*)\b")


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _expr(value: Any) -> str:
    """A python-hcl2 value as comparable text: ``${a.b}`` -> ``a.b``, ``"x"`` -> ``x``."""
    text = str(_unquote(value))
    return text[2:-1] if text.startswith("${") and text.endswith("}") and text.count("${") == 1 else text


@dataclass
class Config:
    """The parsed configuration: resources by (type, name), locals, variables, provider bodies."""

    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: body for (k, name), body in self.resources.items() if k == kind}


def load(directory: Path) -> Config:
    config = Config()
    for path in sorted(directory.glob("*.tf")):
        document = parse_file(path)
        for block in document.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    if name != "__is_block__":
                        config.resources[(_unquote(kind), _unquote(name))] = body
        for block in document.get("locals", []):
            config.locals.update({k: v for k, v in block.items() if not k.startswith("__")})
        for block in document.get("variable", []):
            config.variables.update({_unquote(k): v for k, v in block.items()})
        for block in document.get("provider", []):
            config.providers.update({_unquote(k): v for k, v in block.items()})
        for block in document.get("output", []):
            config.outputs.update({_unquote(k): v for k, v in block.items()})
    return config


def _first(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    return value[0] if isinstance(value, list) and value and isinstance(value[0], dict) else {}


def _may_be_false(value: Any) -> bool:
    """True unless the value is the literal true: an expression may evaluate to false."""
    return value is not True


def _role_assignments(config: Config) -> list[tuple[str, str, str]]:
    """(scope, role, principal) expressions of every role assignment, with ``for_each`` over a local
    map expanded and ``local.M[each.value.k]`` lookups resolved."""
    found = []
    for body in config.of_type("azurerm_role_assignment").values():
        each = _expr(body.get("for_each", ""))
        entries: list[dict[str, Any]] = [{}]
        if each.startswith("local.") and isinstance(config.locals.get(each[6:]), dict):
            entries = [v for v in config.locals[each[6:]].values() if isinstance(v, dict)]

        def resolve(value: Any, entry: dict[str, Any]) -> str:
            text = _expr(value)
            lookup = re.fullmatch(r"local\.(\w+)\[each\.value\.(\w+)\]", text)
            if lookup:
                table, key = lookup.groups()
                return _expr(config.locals.get(table, {}).get(_unquote(entry.get(key, "")), ""))
            direct = re.fullmatch(r"each\.value\.(\w+)", text)
            return _expr(entry.get(direct.group(1), "")) if direct else text

        for entry in entries:
            found.append(
                (
                    resolve(body.get("scope"), entry),
                    resolve(body.get("role_definition_name"), entry),
                    resolve(body.get("principal_id"), entry),
                )
            )
    return found


def acr_content_trust(config: Config) -> list[str]:
    return [
        f"acr-content-trust: azurerm_container_registry.{name} sets trust_policy_enabled "
        "(content trust is deprecated; Azure answers ContentTrustUnsupported): sign with Notation"
        for name, body in config.of_type("azurerm_container_registry").items()
        if body.get("trust_policy_enabled") not in (None, False)
    ]


def aks_local_accounts(config: Config) -> list[str]:
    clusters = {
        _expr(body.get("cluster_id")).removesuffix(".id")
        for body in config.of_type("azurerm_kubernetes_cluster_extension").values()
        if _unquote(body.get("extension_type")) == "Microsoft.AzureML.Kubernetes"
    }
    return [
        f"aks-local-accounts: azurerm_kubernetes_cluster.{name} disables local accounts, which the "
        "AzureML extension does not support"
        for name, body in config.of_type("azurerm_kubernetes_cluster").items()
        if f"azurerm_kubernetes_cluster.{name}" in clusters
        and body.get("local_account_disabled") not in (None, False)
    ]


def aml_namespace(config: Config) -> list[str]:
    azapi = config.of_type("azapi_resource")
    namespaces = {
        f"azapi_resource.{name}": _expr(body.get("name"))
        for name, body in azapi.items()
        if _unquote(body.get("type", "")).startswith(
            "Microsoft.ContainerService/managedClusters/managedNamespaces@"
        )
    }
    problems = []
    for name, body in azapi.items():
        if not _unquote(body.get("type", "")).startswith(
            "Microsoft.MachineLearningServices/workspaces/computes@"
        ):
            continue
        properties = body.get("body", {}).get("properties", {})
        if _unquote(properties.get("computeType")) != "Kubernetes":
            continue
        namespace = _expr(properties.get("properties", {}).get("namespace", '"default"'))
        if namespace == "default":
            continue
        depends = {_expr(item) for item in body.get("depends_on", [])}
        if not any(address in depends and ns == namespace for address, ns in namespaces.items()):
            problems.append(
                f"aml-namespace: azapi_resource.{name} attaches namespace {namespace}, which no managed "
                "namespace it depends on creates (the namespace must exist before the attach)"
            )
    return problems


def aks_version(config: Config, today: dt.date | None = None) -> list[str]:
    today = today or dt.date.today()
    default = _unquote(config.variables.get("kubernetes_version", {}).get("default"))
    end = AKS_END_OF_LIFE.get(str(default))
    if end is None:
        return [
            f"aks-version: Kubernetes {default} is not a GA minor on the AKS calendar "
            f"{sorted(AKS_END_OF_LIFE)}"
        ]
    if end < today:
        return [f"aks-version: Kubernetes {default} reached its AKS end of life on {end}"]
    return []


def aml_datastores(config: Config, aml_dir: Path = AML_DIR) -> list[str]:
    created = {
        _unquote(body.get("name"))
        for (kind, _), body in config.resources.items()
        if kind.startswith("azurerm_machine_learning_datastore_")
    }
    problems = []
    for path in sorted(aml_dir.rglob("*.yml")):
        for name in sorted(set(_DATASTORE_URI.findall(path.read_text(encoding="utf-8")))):
            if name not in created | BUILTIN_DATASTORES:
                problems.append(
                    f"aml-datastores: {path.relative_to(aml_dir.parent)} reads datastore {name}, "
                    "which nothing creates"
                )
    return problems


def identity_storage(config: Config) -> list[str]:
    assignments = _role_assignments(config)
    problems = []
    for name, workspace in config.of_type("azurerm_machine_learning_workspace").items():
        if _unquote(workspace.get("storage_account_access_type")) != "identity":
            continue
        storage = _expr(workspace.get("storage_account_id"))
        users = {
            principal
            for scope, role, principal in assignments
            if scope == f"azurerm_machine_learning_workspace.{name}.id" and role == "AzureML Data Scientist"
        }
        with_data = {
            principal for scope, role, principal in assignments if scope == storage and role in _BLOB_ROLES
        }
        problems += [
            f"identity-storage: {principal} works in workspace {name} but has no blob data role on {storage} "
            "(identity-based storage: uploads and downloads use the caller's identity)"
            for principal in sorted(users - with_data)
        ]
    return problems


def private_function(config: Config) -> list[str]:
    problems = []
    subnets = config.of_type("azurerm_subnet")
    endpoints = config.locals.get("private_endpoint_catalog", {})
    delegations = config.locals.get("subnet_delegations", {})
    for name, app in config.of_type("azurerm_linux_function_app").items():
        storage_name = _expr(app.get("storage_account_name")).removesuffix(".name")
        storage = config.resources.get(tuple(storage_name.split(".", 1)))  # type: ignore[arg-type]
        if storage is None or not _may_be_false(storage.get("public_network_access_enabled", True)):
            continue
        subnet = re.fullmatch(
            r"azurerm_subnet\.(\w+)(?:\[\"(\w+)\"\])?\.id", _expr(app.get("virtual_network_subnet_id", ""))
        )
        if subnet is None or subnet.group(1) not in subnets:
            problems.append(
                f"private-function: azurerm_linux_function_app.{name} has private storage "
                "but no VNet integration"
            )
        elif subnet.group(2) and _unquote(delegations.get(subnet.group(2))) != "Microsoft.Web/serverFarms":
            problems.append(
                f"private-function: the subnet of azurerm_linux_function_app.{name} is not delegated "
                "to Microsoft.Web/serverFarms"
            )
        if _first(app, "site_config").get("vnet_route_all_enabled") is not True:
            problems.append(
                f"private-function: azurerm_linux_function_app.{name} does not route all outbound "
                "traffic through the VNet"
            )
        covered = {
            _unquote(entry.get("subresource"))
            for entry in endpoints.values()
            if isinstance(entry, dict) and _expr(entry.get("resource_id")) == f"{storage_name}.id"
        }
        missing = sorted({"blob", "queue", "table"} - covered)
        if missing:
            problems.append(
                f"private-function: {storage_name} has no private endpoint for {', '.join(missing)}"
            )
    return problems


def private_image_build(config: Config) -> list[str]:
    clusters = {
        _expr(body.get("name"))
        for body in config.of_type("azurerm_machine_learning_compute_cluster").values()
    }
    problems = []
    for name, workspace in config.of_type("azurerm_machine_learning_workspace").items():
        registry = _expr(workspace.get("container_registry_id", "")).removesuffix(".id").split(".", 1)
        body = config.resources.get(tuple(registry))  # type: ignore[arg-type]
        if body is None or not _may_be_false(body.get("public_network_access_enabled", True)):
            continue
        build = _expr(workspace.get("image_build_compute_name", ""))
        if build not in clusters:
            problems.append(
                f"private-image-build: azurerm_machine_learning_workspace.{name} uses a registry that can be "
                f"private but builds images on {build or 'the shared build service'}, not one of its clusters"
            )
    return problems


def urlencode_secret(config: Config) -> list[str]:
    problems = []
    for (kind, name), body in config.resources.items():
        for key, value in body.items():
            text = str(value)
            if "://" not in text:
                continue
            for expression in re.findall(r"\$\{([^}]*)\}", text):
                match = _SECRET_ATTRIBUTE.search(expression)
                if match and not expression.strip().startswith("urlencode("):
                    problems.append(
                        f"urlencode-secret: {kind}.{name}.{key} puts {match.group(0)} into a URL "
                        "without urlencode()"
                    )
    return problems


def provider_registration(config: Config) -> list[str]:
    if not config.of_type("azurerm_kubernetes_cluster_extension"):
        return []
    azurerm = config.providers.get("azurerm", {})
    registered = {_unquote(item) for item in azurerm.get("resource_providers_to_register", [])}
    if (
        _unquote(azurerm.get("resource_provider_registrations")) == "all"
        or "Microsoft.KubernetesConfiguration" in registered
    ):
        return []
    return ["provider-registration: cluster extensions need Microsoft.KubernetesConfiguration registered"]


def _chart_uses_keda_workload_identity(templates: Path = CHART_TEMPLATES) -> bool:
    for path in sorted(templates.glob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if "kind: TriggerAuthentication" in text and re.search(r"provider:\s*azure-workload\b", text):
            return True
    return False


def _resolved(config: Config, value: Any) -> str:
    """An expression with a ``local.x`` that holds a plain string replaced by that string."""
    text = _expr(value)
    name = re.fullmatch(r"local\.(\w+)", text)
    return _expr(config.locals.get(name.group(1), text)) if name else text


def keda_identity(config: Config, templates: Path = CHART_TEMPLATES) -> list[str]:
    if not _chart_uses_keda_workload_identity(templates):
        return []
    problems = [
        f"keda-identity: azurerm_kubernetes_cluster.{name} does not run the KEDA add-on "
        "(workload_autoscaler_profile.keda_enabled), which the chart's ScaledObject needs"
        for name, body in config.of_type("azurerm_kubernetes_cluster").items()
        if _first(body, "workload_autoscaler_profile").get("keda_enabled") is not True
    ]
    output = _expr(config.outputs.get(KEDA_IDENTITY_OUTPUT, {}).get("value", ""))
    identity = output.removesuffix(".client_id")
    if not identity.startswith("azurerm_user_assigned_identity."):
        return [*problems, f"keda-identity: output {KEDA_IDENTITY_OUTPUT} is not an identity's client_id"]
    federated = any(
        _expr(body.get("user_assigned_identity_id")) == f"{identity}.id"
        and _resolved(config, body.get("subject")) == KEDA_OPERATOR_SUBJECT
        for body in config.of_type("azurerm_federated_identity_credential").values()
    )
    if not federated:
        problems.append(
            f"keda-identity: {identity} (the chart's TriggerAuthentication identityId) is not federated with "
            f"{KEDA_OPERATOR_SUBJECT}, so KEDA's operator cannot assume it"
        )
    return problems


RULES: Final[dict[str, Callable[[Config], list[str]]]] = {
    "acr-content-trust": acr_content_trust,
    "aks-local-accounts": aks_local_accounts,
    "aml-namespace": aml_namespace,
    "aks-version": aks_version,
    "aml-datastores": aml_datastores,
    "identity-storage": identity_storage,
    "private-function": private_function,
    "private-image-build": private_image_build,
    "urlencode-secret": urlencode_secret,
    "provider-registration": provider_registration,
    "keda-identity": keda_identity,
}


def check(directory: Path) -> list[str]:
    config = load(directory)
    return [problem for rule in RULES.values() for problem in rule(config)]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    problems = check(Path(args[0] if args else "infra"))
    print(json.dumps({"rules": len(RULES), "problems": problems}, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
