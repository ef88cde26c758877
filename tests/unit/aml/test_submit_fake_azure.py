"""Remote submission, tested up to the edge of Azure: a fake credential stands in for Azure AD and
records that the client asked it for a token; nothing reaches the network past that."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError

from aml.runner import PipelineSpecError
from aml.submit import AzureMLSettings, SubmitError, build_pipeline_job, submit_pipeline

PIPELINE = Path(__file__).resolve().parents[3] / "aml" / "pipelines" / "train.yml"
SETTINGS = AzureMLSettings(
    subscription_id="00000000-0000-0000-0000-000000000000",
    resource_group="rg-predmaint",
    workspace_name="mlw-predmaint",
)


class FakeCredential:
    """Refuses every token request, and remembers the scopes it was asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self.scopes.append(scopes)
        raise ClientAuthenticationError("fake credential: the edge of Azure")

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        return self.get_token(*scopes)


def test_job_carries_overrides_and_trigger_tags_fake_azure() -> None:
    job = build_pipeline_job(
        PIPELINE,
        {"threshold_quantile": "0.99", "data_dir": "azureml://datastores/other/paths/x/"},
        tags={"trigger": "drift", "alert_id": "a-1"},
    )
    assert job.inputs["threshold_quantile"].result() == 0.99
    assert job.inputs["data_dir"].result().path == "azureml://datastores/other/paths/x/"
    assert job.tags is not None and job.tags["trigger"] == "drift" and job.tags["alert_id"] == "a-1"
    assert job.inputs["trigger"].result() == "drift"  # tags reach the register step as inputs
    assert list(job.jobs) == ["prepare", "train", "evaluate", "register"]


def test_unknown_input_is_refused_before_any_azure_call_fake_azure() -> None:
    credential = FakeCredential()
    with pytest.raises(PipelineSpecError, match="n_trees"):
        submit_pipeline(PIPELINE, {"n_trees": "3"}, settings=SETTINGS, credential=credential)
    assert credential.scopes == []


def test_submission_reaches_the_credential_fake_azure() -> None:
    credential = FakeCredential()
    with pytest.raises((ClientAuthenticationError, SubmitError)):
        submit_pipeline(
            PIPELINE,
            {"n_estimators": "50"},
            tags={"trigger": "test"},
            settings=SETTINGS,
            credential=credential,
        )
    assert credential.scopes, "the client never asked for a token"
    assert any(
        "management.azure.com" in s or "ml.azure.com" in s for scopes in credential.scopes for s in scopes
    )


def test_missing_settings_are_a_clear_error_fake_azure(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AzureMLSettings.required_env():
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SubmitError, match="AZUREML_SUBSCRIPTION_ID"):
        submit_pipeline(PIPELINE, credential=FakeCredential())


def test_a_given_client_is_used_without_environment_settings_fake_azure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The retrain trigger passes its own MLClient; nothing else is needed from the environment."""
    from aml.submit import ml_client

    for name in AzureMLSettings.required_env():
        monkeypatch.delenv(name, raising=False)
    credential = FakeCredential()
    client = ml_client(SETTINGS, credential)
    with pytest.raises((ClientAuthenticationError, SubmitError)):
        submit_pipeline(PIPELINE, tags={"trigger": "drift"}, client=client)
    assert credential.scopes
