"""Submit a pipeline YAML to AzureML: the same file the local runner runs, checked the same way.

Settings come from the environment (:class:`AzureMLSettings`); the credential is
``DefaultAzureCredential`` unless one is passed (tests pass a fake one). Jobs carry tags
(``trigger``, ``alert_id``, ...) so that the retrain trigger can derive its state from the job list
(:func:`recent_jobs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from aml.runner import PipelineSpecError, load_pipeline, tags_as_inputs
from core.errors import PredMaintError

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import PipelineJob
    from azure.core.credentials import TokenCredential

_PATH_TYPES = ("uri_folder", "uri_file", "mltable", "custom_model", "mlflow_model")


class SubmitError(PredMaintError):
    """The job could not be built or AzureML refused it."""

    code = "submit_error"


class AzureMLSettings(BaseSettings):
    """Where to submit: read from ``AZUREML_*`` environment variables once, when built.

    The field names are the variables' names (``AZUREML_SUBSCRIPTION_ID``, ``AZUREML_RESOURCE_GROUP``,
    ``AZUREML_WORKSPACE_NAME``, ``AZUREML_EXPERIMENT_NAME``): the Function's app settings in
    infra/main.functions.tf set exactly these (tests/assets/test_name_contracts.py checks it).
    """

    model_config = SettingsConfigDict(env_prefix="AZUREML_", extra="ignore", frozen=True)

    subscription_id: str = Field(min_length=1)
    resource_group: str = Field(min_length=1)
    workspace_name: str = Field(min_length=1)
    experiment_name: str | None = None

    @classmethod
    def required_env(cls) -> list[str]:
        """The environment variables that must be set (for error messages)."""
        prefix = str(cls.model_config.get("env_prefix", ""))
        return [f"{prefix}{name}".upper() for name, field in cls.model_fields.items() if field.is_required()]


@dataclass(frozen=True)
class SubmittedJob:
    name: str
    status: str | None
    studio_url: str | None
    tags: dict[str, str]


def build_pipeline_job(
    path: Path | str,
    overrides: Mapping[str, str] | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    experiment_name: str | None = None,
    stage_code: bool = True,
) -> PipelineJob:
    """Load the pipeline (schema + the runner's wiring checks), set inputs from ``overrides`` and add
    ``tags``. Raises :class:`aml.runner.PipelineSpecError` for an invalid pipeline or unknown input.

    ``stage_code``: the components' ``code: ../..`` is the repository root; azure-ai-ml walks every
    file under it (a virtualenv holds ~300k) before applying ``.amlignore``, which takes minutes.
    The job therefore gets a snapshot with only :data:`CODE_PACKAGES` instead (same content as the
    ``.amlignore`` keeps, which ``az ml job create -f`` uses).
    """
    from azure.ai.ml import load_job

    spec = load_pipeline(path)
    overrides = dict(overrides or {})
    overrides = {**tags_as_inputs(tags, spec.inputs, overrides), **overrides}
    unknown = sorted(set(overrides) - set(spec.inputs))
    if unknown:
        raise PipelineSpecError(spec.path, [f"--set {n}: no such pipeline input" for n in unknown])
    params: list[dict[str, Any]] = []
    for name, value in overrides.items():
        declared = spec.inputs[name]
        kind = declared.get("type") if isinstance(declared, dict) else None
        if kind in _PATH_TYPES:
            params.append({f"inputs.{name}": {"type": kind, "path": value}})
        else:
            params.append({f"inputs.{name}": _typed(value)})
    job: Any = load_job(source=spec.path, params_override=params)
    if stage_code:
        staged = stage_code_snapshot(_repo_root(spec))
        for node in job.jobs.values():
            node.component.code = str(staged)
    job.tags = {**(job.tags or {}), **{str(k): str(v) for k, v in (tags or {}).items()}}
    if experiment_name:
        job.experiment_name = experiment_name
    return cast("PipelineJob", job)


CODE_PACKAGES = ("aml", "core", "features")


def _repo_root(spec: Any) -> Path:
    roots: set[Path] = {Path(n.component.code_dir) for n in spec.nodes}
    if len(roots) != 1:
        raise SubmitError(f"components use different code folders: {sorted(map(str, roots))}")
    return roots.pop()


def stage_code_snapshot(root: Path) -> Path:
    """Copy ``CODE_PACKAGES`` (without caches) from ``root`` into a fresh temporary folder."""
    import shutil
    import tempfile

    target = Path(tempfile.mkdtemp(prefix="predmaint-aml-code-"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "endpoints", "schedules")
    for package in CODE_PACKAGES:
        shutil.copytree(root / package, target / package, ignore=ignore)
    return target


def _typed(value: str) -> Any:
    for convert in (int, float):
        try:
            return convert(value)
        except ValueError:
            continue
    return value


def ml_client(settings: AzureMLSettings | None = None, credential: TokenCredential | None = None) -> MLClient:
    """An ``MLClient`` for the workspace (no network until the first call)."""
    from azure.ai.ml import MLClient

    if credential is None:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    settings = settings or AzureMLSettings()  # type: ignore[call-arg]
    return MLClient(
        credential=credential,
        subscription_id=settings.subscription_id,
        resource_group_name=settings.resource_group,
        workspace_name=settings.workspace_name,
    )


def submit_pipeline(
    path: Path | str,
    overrides: Mapping[str, str] | None = None,
    *,
    tags: Mapping[str, str] | None = None,
    settings: AzureMLSettings | None = None,
    credential: TokenCredential | None = None,
    client: MLClient | None = None,
) -> SubmittedJob:
    """Build the pipeline job (:func:`build_pipeline_job`) and submit it to the workspace.

    ``tags`` such as ``{"trigger": "drift", "alert_id": "..."}`` go on the job (and ``trigger``/
    ``alert_id`` on the register step's inputs). Pass ``client`` (an ``MLClient``) or let one be built
    from ``settings`` (default: the environment) and ``credential`` (default:
    ``DefaultAzureCredential``). Errors from Azure are raised as :class:`SubmitError` (the
    credential's own errors pass through unchanged).
    """
    from azure.core.exceptions import AzureError

    if client is None:
        try:
            settings = settings or AzureMLSettings()  # type: ignore[call-arg]
        except ValueError as exc:
            raise SubmitError(
                f"AzureML settings missing: set {', '.join(AzureMLSettings.required_env())}"
            ) from exc
        client = ml_client(settings, credential)
    experiment = settings.experiment_name if settings is not None else None
    job = build_pipeline_job(path, overrides, tags=tags, experiment_name=experiment)
    try:
        created = client.jobs.create_or_update(job)
    except AzureError as exc:
        raise SubmitError(f"AzureML refused the pipeline job: {exc}") from exc
    return SubmittedJob(
        name=str(created.name),
        status=getattr(created, "status", None),
        studio_url=getattr(created, "studio_url", None),
        tags=dict(created.tags or {}),
    )


def recent_jobs(client: MLClient, *, tag: str = "trigger", limit: int = 50) -> list[dict[str, Any]]:
    """Recent jobs that carry ``tag``: name, status, tags, creation time (newest first)."""
    out: list[dict[str, Any]] = []
    for job in client.jobs.list():
        if tag in (job.tags or {}):
            created = getattr(getattr(job, "creation_context", None), "created_at", None)
            out.append(
                {"name": job.name, "status": job.status, "tags": dict(job.tags), "created_at": created}
            )
        if len(out) >= limit:
            break
    return out
