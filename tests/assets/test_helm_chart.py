"""charts/pred-maint: renders with the defaults and every ci/*-values.yaml (helm-python-sdk, Helm v4,
no binary), strict lint, kubernetes-validate --strict for the Kubernetes minor that infra/ deploys
(KUBERNETES_VERSION), and what the Pod must be: two containers sharing the inference log, probes,
limits, a locked-down security context, workload identity. checkov on the rendered manifests is in
test_checkov.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.checks.tf_graph import parse_file
from tools.validators.locate import VENV_BIN, ValidatorsMissing, validator
from tools.validators.runners import CHART, KUBERNETES_VERSION, render_chart

SCENARIOS = sorted(CHART.glob("ci/*-values.yaml"))
KUBE_VERSION = KUBERNETES_VERSION
INFRA_VARIABLES = Path(__file__).resolve().parents[2] / "infra" / "variables.tf"
NAMESPACE = "pred-maint"
# Custom resources whose schemas kubernetes-validate does not bundle.
CRD_KINDS = {"PodMonitor", "PrometheusRule", "SecretProviderClass", "ScaledObject", "TriggerAuthentication"}
INGEST = "ingest"
"""``app.kubernetes.io/component`` of the ingest workers' objects (their own Deployment)."""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    try:
        return render_chart(tmp_path_factory.mktemp("rendered"), kube_version=f"v{KUBE_VERSION}")
    except ValidatorsMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def rendered(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    docs = {}
    for name, result in report["renders"].items():
        assert "error" not in result, f"{name}: {result.get('error')}"
        docs[name] = [doc for doc in yaml.safe_load_all(result["manifests"]) if doc]
    return docs


def _component(doc: dict[str, Any]) -> str | None:
    labels: dict[str, str] = doc["metadata"].get("labels") or {}
    return labels.get("app.kubernetes.io/component")


def _one(docs: list[dict[str, Any]], kind: str, component: str | None = None) -> dict[str, Any]:
    """The one ``kind`` of the facade Pod's release objects (``component=INGEST``: of the workers)."""
    found = [
        doc for doc in docs if doc["kind"] == kind and (_component(doc) == INGEST) == (component == INGEST)
    ]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def test_scenarios_exist() -> None:
    assert {p.name for p in SCENARIOS} >= {
        "default-values.yaml",
        "production-values.yaml",
        "minimal-values.yaml",
    }


def test_every_scenario_renders(rendered: dict[str, list[dict[str, Any]]]) -> None:
    assert set(rendered) == {"values.yaml"} | {p.name.removesuffix("-values.yaml") for p in SCENARIOS}


def test_strict_lint_is_clean(report: dict[str, Any]) -> None:
    for name, lint in report["lint"].items():
        problems = [m for m in lint["messages"] if m["severity"] >= 2] + lint["errors"]
        assert not problems, f"{name}: {problems}"


def test_chart_is_validated_against_the_kubernetes_minor_that_terraform_deploys() -> None:
    variables = {}
    for block in parse_file(INFRA_VARIABLES)["variable"]:
        variables.update({name.strip('"'): body for name, body in block.items()})
    deployed = variables["kubernetes_version"]["default"].strip('"')
    assert KUBE_VERSION.rsplit(".", 1)[0] == deployed, (
        f"infra/variables.tf deploys Kubernetes {deployed}; the chart is validated against {KUBE_VERSION} "
        "(tools/validators/runners.py KUBERNETES_VERSION): change them together"
    )
    bundled = sorted(
        VENV_BIN.parent.glob(
            f"lib/python*/site-packages/kubernetes_validate/kubernetes-json-schema/v{KUBE_VERSION}-local-strict"
        )
    )
    assert bundled, f"kubernetes-validate bundles no schemas for {KUBE_VERSION}"


def test_manifests_validate_strictly_against_the_deployed_kubernetes(
    report: dict[str, Any], tmp_path: Path
) -> None:
    files = []
    for name, result in report["renders"].items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(result["manifests"])
        files.append(str(path))
    done = subprocess.run(
        [str(validator("kubernetes-validate")), "--strict", "-k", KUBE_VERSION, "--quiet", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for line in (done.stdout + done.stderr).splitlines():
        if line.strip():
            assert "Couldn't find schema for kind" in line, line
            assert re.search(r"kind (\w+)", line).group(1) in CRD_KINDS, line  # type: ignore[union-attr]


def test_pod_runs_facade_and_drift_sharing_the_inference_log(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for name, docs in rendered.items():
        pod = _one(docs, "Deployment")["spec"]["template"]["spec"]
        containers = {c["name"]: c for c in pod["containers"]}
        assert set(containers) == {"facade", "drift"}, name
        log_volumes = [v for v in pod["volumes"] if v["name"] == "inference-log"]
        assert log_volumes and "emptyDir" in log_volumes[0], name
        mounts = {c: {m["name"]: m["mountPath"] for m in containers[c]["volumeMounts"]} for c in containers}
        assert mounts["facade"]["inference-log"] == mounts["drift"]["inference-log"] == "/var/log/predmaint"
        assert mounts["facade"]["facade-tmp"] == mounts["drift"]["drift-tmp"] == "/tmp"
        # the main port, then the probes' own (service.health_listener)
        assert [p["containerPort"] for p in containers["facade"]["ports"]] == [8000, 8080]
        assert [p["containerPort"] for p in containers["drift"]["ports"]] == [8001, 8082]


def test_both_containers_have_probes_limits_and_a_locked_down_security_context(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for name, docs in rendered.items():
        pod = _one(docs, "Deployment")["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            assert container["livenessProbe"]["httpGet"]["path"] == "/health/live", where
            assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready", where
            assert container["startupProbe"]["httpGet"]["path"] == "/health/live", where
            assert set(container["resources"]["limits"]) == {"cpu", "memory"}, where
            assert set(container["resources"]["requests"]) == {"cpu", "memory"}, where
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert ":latest" not in container["image"], where


def test_workload_identity_wiring(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["default"]
    account = _one(docs, "ServiceAccount")
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    deployment = _one(docs, "Deployment")
    assert deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_secrets_are_references_only(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        assert not [d for d in docs if d["kind"] == "Secret"], (
            f"{name}: the chart must not carry secret values"
        )
        for container in _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]:
            for env in container.get("env", []):
                assert "value" not in env and "secretKeyRef" in env["valueFrom"], f"{name}: {env}"
    production = rendered["production"]
    provider = _one(production, "SecretProviderClass")
    assert provider["spec"]["provider"] == "azure"
    assert provider["spec"]["parameters"]["clientID"]


def test_every_pod_reading_a_key_vault_secret_mounts_its_class_as_its_own_identity(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """The Secrets Store CSI driver syncs a SecretProviderClass's ``secretObjects`` into a Secret only
    while some pod mounts that class, and it reads Key Vault as the identity of the mounting pod
    (secrets-store-csi-driver, "Sync as Kubernetes Secret"). So every pod that reads a synced Secret
    mounts the class that syncs it, and that class's clientID is the pod's own workload identity. (The
    workers read the facade's synced Secret without mounting anything: they could not start while no
    facade pod held the mount, and could not mount the facade's class as their own identity.)"""
    checked = 0
    for name, docs in rendered.items():
        synced = {
            secret["secretName"]: provider
            for provider in docs
            if provider["kind"] == "SecretProviderClass"
            for secret in provider["spec"].get("secretObjects", [])
        }
        accounts = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ServiceAccount"}
        for deployment in (d for d in docs if d["kind"] == "Deployment"):
            pod = deployment["spec"]["template"]["spec"]
            mounted = {
                v["csi"]["volumeAttributes"]["secretProviderClass"] for v in pod["volumes"] if "csi" in v
            }
            annotations = accounts[pod["serviceAccountName"]]["metadata"].get("annotations") or {}
            for container in pod["containers"]:
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef", {})
                    provider = synced.get(ref.get("name"))
                    if provider is None:
                        continue
                    where = f"{name}: {deployment['metadata']['name']} {env['name']} ({ref['name']})"
                    assert provider["metadata"]["name"] in mounted, f"{where}: its class is not mounted"
                    assert (
                        provider["spec"]["parameters"]["clientID"]
                        == annotations["azure.workload.identity/client-id"]
                    ), f"{where}: the class reads Key Vault as another pod's identity"
                    keys = {
                        item["key"]
                        for secret in provider["spec"]["secretObjects"]
                        if secret["secretName"] == ref["name"]
                        for item in secret["data"]
                    }
                    assert ref["key"] in keys, f"{where}: the class syncs no key {ref['key']}"
                    checked += 1
    assert checked >= 2, "no scenario reads Key Vault secrets in both deployments: nothing was checked"


AMQPS_PORT = 5671
"""azure-eventhub's default transport (``TransportType.Amqp``): AMQP over TLS on this port."""


def _container_env(docs: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    maps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps.get(source.get("configMapRef", {}).get("name"), {}))
    env.update({e["name"]: e.get("value", "") for e in container.get("env", [])})
    return env


def test_pods_with_an_event_hubs_client_may_reach_event_hubs(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """A pod that talks to Event Hubs (the workers; the facade with SCORING_INGEST_BACKEND=eventhubs)
    uses AMQP over TLS on 5671: every NetworkPolicy that selects it must allow that egress, or every
    publish fails (the facade's policy allowed 443, 6380 and 80 only)."""
    checked = 0
    for name, docs in rendered.items():
        policies = [d for d in docs if d["kind"] == "NetworkPolicy" and "Egress" in d["spec"]["policyTypes"]]
        for deployment in (d for d in docs if d["kind"] == "Deployment"):
            labels = deployment["spec"]["template"]["metadata"]["labels"].items()
            env = {
                k: v
                for c in deployment["spec"]["template"]["spec"]["containers"]
                for k, v in _container_env(docs, c).items()
            }
            if env.get("SCORING_INGEST_BACKEND") != "eventhubs" and not env.get("INGEST_EVENTHUB_NAMESPACE"):
                continue
            for policy in policies:
                if not policy["spec"]["podSelector"]["matchLabels"].items() <= labels:
                    continue
                ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule.get("ports", [])}
                assert AMQPS_PORT in ports, f"{name}: {policy['metadata']['name']} blocks Event Hubs (5671)"
                checked += 1
    assert checked >= 2, "no scenario runs both Event Hubs clients behind a NetworkPolicy: nothing checked"


def test_scenario_specific_objects(rendered: dict[str, list[dict[str, Any]]]) -> None:
    kinds = {name: {d["kind"] for d in docs} for name, docs in rendered.items()}
    assert {
        "Service",
        "ServiceAccount",
        "ConfigMap",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "PodMonitor",
    } <= kinds["values.yaml"]
    assert "HorizontalPodAutoscaler" not in kinds["values.yaml"]
    assert {"HorizontalPodAutoscaler", "PrometheusRule"} <= kinds["production"]
    assert "replicas" not in _one(rendered["production"], "Deployment")["spec"], "the HPA owns replicas"
    assert not {"PodMonitor", "PodDisruptionBudget", "PrometheusRule"} & kinds["minimal"]
    monitor = _one(rendered["values.yaml"], "PodMonitor")
    assert monitor["apiVersion"] == "azmonitoring.coreos.com/v1"
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} == {"http", "drift-http"}
    rule = _one(rendered["production"], "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    shared = yaml.safe_load((CHART / "files/drift-alert-rules.yaml").read_text())
    assert rule["spec"]["groups"] == shared["groups"], "PrometheusRule must be the shared rule file verbatim"


def test_values_file_documents_every_key_and_names_its_schema() -> None:
    """Every key has a comment on the line above or inline; entries of free-form maps (env settings,
    resource quantities, Key Vault objects, node labels) are data, documented by their parent key."""
    free_form = {"resources", "env", "secretEnv", "objects", "nodeSelector"}
    lines = (CHART / "values.yaml").read_text().splitlines()
    assert lines[0] == "# yaml-language-server: $schema=values.schema.json"
    parents: list[tuple[int, str]] = []
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z][\w./-]*):", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        parents = [(i, k) for i, k in parents if i < indent]
        if not any(k in free_form for _, k in parents):
            previous = lines[number - 1].strip() if number else ""
            assert previous.startswith("#") or " # " in line, (
                f"values.yaml:{number + 1} has no comment: {line}"
            )
        parents.append((indent, key))


def test_schema_closes_every_object() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                assert node.get("additionalProperties") is False, f"{where} allows unknown keys"
            for key, child in node.items():
                walk(child, f"{where}.{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{where}[{index}]")

    walk(schema, "$")


def test_schema_rejects_a_misspelt_key_and_a_latest_tag(tmp_path: Path) -> None:
    for bad in ({"replicaCont": 2}, {"facade": {"image": {"tag": "latest"}}}):
        values = tmp_path / "bad-values.yaml"
        values.write_text(yaml.safe_dump(bad))
        report = render_chart(tmp_path / "out", scenarios={"bad": values})
        assert "error" in report["renders"]["bad"], bad


def test_ingest_workers_have_their_own_identity_probes_and_locked_down_pod(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """Production runs the workers: their own Deployment (selector disjoint from the facade's, so the
    facade's Service never routes to them), ServiceAccount with the workers' client ID, probes on
    the health port, the restricted security context, and KEDA scaling on the hub's consumer lag."""
    docs = rendered["production"]
    facade = _one(docs, "Deployment")
    workers = _one(docs, "Deployment", INGEST)
    facade_selector = facade["spec"]["selector"]["matchLabels"].items()
    assert not facade_selector <= workers["spec"]["template"]["metadata"]["labels"].items()
    pod = workers["spec"]["template"]["spec"]
    account = _one(docs, "ServiceAccount", INGEST)
    assert pod["serviceAccountName"] == account["metadata"]["name"] == "pred-maint-ingest"
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"]
    assert workers["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    (container,) = pod["containers"]
    for probe, path in (
        ("startupProbe", "/health/live"),
        ("livenessProbe", "/health/live"),
        ("readinessProbe", "/health/ready"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": "health"}
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True and context["runAsNonRoot"] is True
    assert context["capabilities"]["drop"] == ["ALL"]
    scaled = _one(docs, "ScaledObject", INGEST)
    assert "replicas" not in workers["spec"], "KEDA owns the replica count"
    assert scaled["spec"]["scaleTargetRef"]["name"] == workers["metadata"]["name"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "azure-eventhub"
    assert trigger["metadata"]["checkpointStrategy"] == "blobMetadata"
    assert trigger["metadata"]["consumerGroup"] == "feature-ingest"
    auth = _one(docs, "TriggerAuthentication", INGEST)
    assert auth["spec"]["podIdentity"] == {
        "provider": "azure-workload",
        "identityId": account["metadata"]["annotations"]["azure.workload.identity/client-id"],
    }
    assert not [d for d in rendered["default"] if _component(d) == INGEST], "off by default"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"ingest": {"enabled": True}}, "ingest.enabled needs ingest.clientId"),
        (
            {
                "ingest": {
                    "enabled": True,
                    "clientId": "66666666-7777-8888-9999-000000000000",
                    "replicas": 5,
                    "partitionCount": 4,
                }
            },
            "would own no partition",
        ),
    ],
    ids=["no-identity", "more-workers-than-partitions"],
)
def test_chart_refuses_ingest_workers_that_could_not_work(
    values: dict[str, Any], message: str, tmp_path: Path
) -> None:
    """A release that would start workers with no identity, or workers owning no partition, fails to
    render with the reason instead of deploying pods that crash or idle."""
    scenario = tmp_path / "broken-values.yaml"
    scenario.write_text(yaml.safe_dump(values), encoding="utf-8")
    try:
        report = render_chart(tmp_path / "out", scenarios={"broken": scenario})
    except ValidatorsMissing as exc:
        pytest.fail(str(exc))
    assert message in report["renders"]["broken"].get("error", ""), report["renders"]["broken"]
