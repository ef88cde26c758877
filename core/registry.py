"""The model registry: MLflow's, on a local SQLite backend by default or the AzureML workspace's
MLflow endpoint when its tracking URI is given (``azureml://...``, set in AzureML jobs as
``MLFLOW_TRACKING_URI``).

A registered version's artifacts are exactly a bundle directory (:mod:`core.bundle`). The alias
``champion`` (``CHAMPION_ALIAS``) names the version that serves; :func:`register_bundle` moves it
only when asked to (the gate decides). Scoring and drift watch :func:`champion_version` and fetch a
version with :func:`download_version`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlparse

from core.bundle import CHAMPION_ALIAS, EXPERIMENT_NAME, REGISTERED_MODEL_NAME, Bundle, load_bundle

if TYPE_CHECKING:
    from mlflow import MlflowClient

BUNDLE_ARTIFACT_PATH: Final = "bundle"
"""Where a bundle's files sit inside the run that registered it."""
TRACKING_URI_ENV: Final = "MLFLOW_TRACKING_URI"


class RegistryError(Exception):
    """The registry cannot answer (unknown version, unreachable store)."""


def sqlite_db_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI, else ``None``."""
    if not tracking_uri.startswith("sqlite:"):
        return None
    return (
        Path(unquote(urlparse(tracking_uri).path))
        if tracking_uri.startswith("sqlite:////")
        else Path(tracking_uri.removeprefix("sqlite:///"))
    )


def local_artifacts_dir(tracking_uri: str) -> Path | None:
    """For a local SQLite tracking URI, the artifact root beside the database (as in
    ``DataLayout.mlflow_artifacts_dir``); ``None`` for remote stores, which keep their own."""
    db = sqlite_db_path(tracking_uri)
    return None if db is None else db.parent / "artifacts"


def resolve_tracking_uri(default: str) -> str:
    """``MLFLOW_TRACKING_URI`` from the environment when set (AzureML jobs set it), else ``default``."""
    return os.environ.get(TRACKING_URI_ENV) or default


@contextmanager
def _no_progress_bar() -> Iterator[None]:
    """mlflow draws a tqdm bar per download unless told not to (a watcher's log would fill up)."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def _client(tracking_uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    db = sqlite_db_path(tracking_uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def ensure_experiment(tracking_uri: str, name: str = EXPERIMENT_NAME) -> str:
    """The experiment id for ``name``, created (with local artifacts under the layout) if missing."""
    client = _client(tracking_uri)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    artifacts = local_artifacts_dir(tracking_uri)
    location = None
    if artifacts is not None:
        artifacts.mkdir(parents=True, exist_ok=True)
        location = artifacts.resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def champion_version(tracking_uri: str, name: str = REGISTERED_MODEL_NAME) -> str | None:
    """The registry version behind the ``champion`` alias, or ``None`` if there is none yet.

    Cheap enough to poll: a local registry that was never created is answered without creating it.
    """
    db = sqlite_db_path(tracking_uri)
    if db is not None and not db.is_file():
        return None
    from mlflow.exceptions import MlflowException

    try:
        return str(_client(tracking_uri).get_model_version_by_alias(name, CHAMPION_ALIAS).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise RegistryError(f"registry at {tracking_uri} did not answer: {exc.message}") from exc


def download_version(tracking_uri: str, version: str, dst: Path, name: str = REGISTERED_MODEL_NAME) -> Bundle:
    """Download a registered version's bundle into ``dst`` (created) and load it.

    ``version`` is a version number (``"3"``) or an alias prefixed with ``@`` (``"@champion"``).
    """
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        if version.startswith("@"):
            mv = client.get_model_version_by_alias(name, version[1:])
        else:
            mv = client.get_model_version(name, version)
        source = client.get_model_version_download_uri(name, mv.version)
        dst = Path(dst)
        dst.mkdir(parents=True, exist_ok=True)
        with _no_progress_bar():
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(dst), tracking_uri=tracking_uri
            )
    except MlflowException as exc:
        raise RegistryError(f"cannot fetch {name} version {version}: {exc.message}") from exc
    return load_bundle(Path(local))


def register_bundle(
    tracking_uri: str,
    bundle: Bundle,
    *,
    promote: bool,
    tags: Mapping[str, str] | None = None,
    name: str = REGISTERED_MODEL_NAME,
    run_id: str | None = None,
) -> str:
    """Register ``bundle`` as a new version of ``name`` and return its version number.

    The bundle's files are logged as artifacts (``bundle/``) of ``run_id`` (or of a new run in
    ``EXPERIMENT_NAME``); the version carries ``tags`` plus the bundle's threshold, reference hash
    and content version. The ``champion`` alias moves to it only if ``promote`` is true.
    """
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    if run_id is None:
        run_id = client.create_run(ensure_experiment(tracking_uri), run_name="register").info.run_id
        own_run = True
    else:
        own_run = False
    client.log_artifacts(run_id, str(bundle.directory), artifact_path=BUNDLE_ARTIFACT_PATH)
    source = f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{BUNDLE_ARTIFACT_PATH}"
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="IsolationForest anomaly detector (compact ONNX)")
    all_tags = {
        "predmaint.threshold": repr(bundle.meta.threshold),
        "predmaint.threshold_quantile": repr(bundle.meta.threshold_quantile),
        "predmaint.reference_hash": bundle.meta.reference_hash,
        "predmaint.content_version": bundle.meta.version,
        "predmaint.promoted": str(promote).lower(),
        **{k: str(v) for k, v in (tags or {}).items()},
    }
    mv = client.create_model_version(name, source=source, run_id=run_id, tags=all_tags)
    if promote:
        client.set_registered_model_alias(name, CHAMPION_ALIAS, mv.version)
    if own_run:
        client.set_terminated(run_id)
    return str(mv.version)
