"""infra/ against the provider schemas of the exact versions terraform.tf pins (infra/checks/tf_schema.py
reads the jsii assemblies of the cdktn-provider-* packages in the validators environment): every
argument and nested block exists, required ones are present, the pins equal the schemas' versions,
and nothing the next azurerm major removes (deprecated now) is used unless reviewed. Fixtures with
misspelt and deprecated arguments show the check fails where `terraform validate` would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.checks.tf_schema import (
    NEXT_MAJOR_ENVIRONMENTS,
    REVIEWED_REMOVALS,
    SCHEMA_MODULES,
    ProviderSchema,
    check_directory,
    failures,
    load_provider_schema,
    pinned_versions,
    removal_key,
    removed_in_next_major,
    unreviewed,
)
from tools.validators.locate import ValidatorsMissing

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MISSPELT = Path(__file__).parent / "fixtures" / "tf_misspelt"
DEPRECATED = Path(__file__).parent / "fixtures" / "tf_deprecated"


@pytest.fixture(scope="module")
def schemas() -> dict[str, ProviderSchema]:
    try:
        return {name: load_provider_schema(name) for name in SCHEMA_MODULES}
    except ValidatorsMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def next_major() -> dict[str, ProviderSchema]:
    try:
        return {
            name: load_provider_schema(name, environment=env) for name, env in NEXT_MAJOR_ENVIRONMENTS.items()
        }
    except ValidatorsMissing as exc:
        pytest.fail(str(exc))


def test_providers_are_pinned_exactly_to_the_schema_versions(schemas: dict[str, ProviderSchema]) -> None:
    pins = pinned_versions(INFRA)
    assert set(pins) == set(SCHEMA_MODULES), "every provider needs a schema package, and only those"
    for name, schema in schemas.items():
        assert re.fullmatch(r"=?\s*\d+\.\d+\.\d+", pins[name]), f"{name}: pin one version, not {pins[name]!r}"
        assert pins[name].lstrip("= ") == schema.version, (
            f"{name}: terraform.tf pins {pins[name]}, the schema package is {schema.version}; "
            "change both (tools/validators/pyproject.toml) together"
        )


def test_schema_is_the_pinned_provider_version(schemas: dict[str, ProviderSchema]) -> None:
    # storage_account_access_type first appears in azurerm 4.77 (the reason for the exact pin).
    workspace = schemas["azurerm"].resources["azurerm_machine_learning_workspace"]
    assert "storage_account_access_type" in workspace
    assert workspace["location"].required and not workspace["tags"].required
    assert "type" in schemas["azapi"].resources["azapi_resource"]
    # Names come from the registry anchors, not from snake-casing jsii names (use32BitWorker would
    # become use32_bit_worker); nested blocks carry their own arguments.
    site_config = schemas["azurerm"].resources["azurerm_linux_function_app"]["site_config"].block
    assert (
        site_config is not None
        and "use_32_bit_worker" in site_config
        and "vnet_route_all_enabled" in site_config
    )


def test_every_infra_block_matches_the_provider_schema(schemas: dict[str, ProviderSchema]) -> None:
    problems = check_directory(INFRA, schemas)
    assert not problems, "\n".join(map(str, problems))


def test_misspelt_arguments_fail_the_check(schemas: dict[str, ProviderSchema]) -> None:
    found = {str(problem) for problem in failures(check_directory(MISSPELT, schemas))}
    assert found == {
        "unknown: provider.azurerm.features.key_vault.purge_soft_delete_on_destroi",
        "unknown: resource.azurerm_kubernetes_cluster.main.kubernetes_verison",
        "unknown: resource.azurerm_kubernetes_cluster.main.default_node_pool.vm_sise",
        "missing: resource.azurerm_kubernetes_cluster.main.default_node_pool.upgrade_settings.max_surge",
        "unknown: resource.azurerm_kubernetes_cluster.main.api_server_access_profile.authorized_ip_range",
        "missing: resource.azurerm_storage_account.main.location",
        "unknown type: resource.azurerm_kubernetes_clustr.typo",
    }


def test_next_major_schema_is_the_following_major(
    schemas: dict[str, ProviderSchema], next_major: dict[str, ProviderSchema]
) -> None:
    for name, schema in next_major.items():
        assert int(schema.version.split(".")[0]) == int(schemas[name].version.split(".")[0]) + 1, (
            schema.version
        )


def test_infra_uses_nothing_deprecated_except_the_reviewed_removals(
    schemas: dict[str, ProviderSchema], next_major: dict[str, ProviderSchema]
) -> None:
    deprecations = removed_in_next_major(INFRA, schemas, next_major)
    assert not unreviewed(deprecations), "\n".join(map(str, unreviewed(deprecations)))
    used = {removal_key(problem) for problem in deprecations}
    stale = set(REVIEWED_REMOVALS) - used
    assert not stale, f"REVIEWED_REMOVALS entries no longer used by infra/: {stale}"
    for key, reason in REVIEWED_REMOVALS.items():
        assert len(reason) >= 40, f"{key}: say why it stays"


def test_deprecated_arguments_are_reported(
    schemas: dict[str, ProviderSchema], next_major: dict[str, ProviderSchema]
) -> None:
    assert not failures(check_directory(DEPRECATED, schemas)), "the fixture is valid for the pinned version"
    found = {str(problem) for problem in unreviewed(removed_in_next_major(DEPRECATED, schemas, next_major))}
    assert found == {
        "deprecated: resource.azurerm_container_registry.main.trust_policy_enabled",
        "deprecated: resource.azurerm_key_vault.main.enable_rbac_authorization",
        "deprecated: resource.azurerm_eventhub.main.namespace_name",
        "deprecated: resource.azurerm_eventhub.main.resource_group_name",
    }
