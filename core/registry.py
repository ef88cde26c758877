"""The model registry: MLflow's, on a local SQLite backend by default or the AzureML workspace's
MLflow endpoint when its tracking URI is given (``azureml://...``, set in AzureML jobs as
``MLFLOW_TRACKING_URI``; the ``azureml-mlflow`` plugin makes that scheme work).

A registered version's artifacts are exactly a bundle directory (:mod:`core.bundle`).

The champion pointer is a model-version tag, ``CHAMPION_TAG`` = the promotion's sequence number;
the version with the highest number serves. Not an MLflow alias: Azure's "Manage models registry
with MLflow" support table lists version tags and searching versions by name, and no alias call
(azureml-mlflow's registry store is MLflow's REST store, so the service decides). A tag set at
``create_model_version`` makes "register and promote" one write; a later promotion (or a rollback)
is one ``set_model_version_tag``. Local SQLite takes the same path.

Scoring and drift poll :func:`champion_version` and fetch with :func:`download_version`. Failures
are told apart for readiness: no champion yet (``None``), :class:`RegistryUnreachable`,
:class:`RegistryMisconfigured`; their messages never carry credentials.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import unquote, urlparse

from core.bundle import CHAMPION_TAG, EXPERIMENT_NAME, REGISTERED_MODEL_NAME, Bundle, load_bundle
from core.errors import PredMaintError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

BUNDLE_ARTIFACT_PATH: Final = "bundle"
"""Where a bundle's files sit inside the run that registered it."""
TRACKING_URI_ENV: Final = "MLFLOW_TRACKING_URI"


# A watcher polls the registry: a poll must fail in seconds, not after MLflow's default 7 retries
# with backoff factor 2 and a 120 s timeout (about 4 minutes against a closed port, measured).
POLL_HTTP_LIMITS: Final[Mapping[str, str]] = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
# the path of a workspace's MLflow tracking URI (azureml-mlflow parses the same three parts)
_WORKSPACE_PATH = re.compile(
    r"/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.MachineLearningServices/workspaces/[^/]+",
    re.IGNORECASE,
)
_AUTH_CODES = frozenset({"UNAUTHENTICATED", "PERMISSION_DENIED", "UNAUTHORIZED"})
_MISSING_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"})
_REASON_MAX_CHARS = 300


class RegistryError(PredMaintError):
    """The registry cannot answer. ``kind`` says why, for readiness; ``str()`` is safe to show
    (credentials and query strings are removed from any URL in it)."""

    status = 503
    code = "registry_error"
    kind: ClassVar[str] = "error"

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class RegistryUnreachable(RegistryError):
    """The registry did not answer: network error, timeout, or a server error. May heal by itself."""

    code = "registry_unreachable"
    kind = "unreachable"


class RegistryMisconfigured(RegistryError):
    """The tracking URI cannot work from this process: a scheme no installed plugin serves, not a
    workspace URI, no credential that gets a token, or one the registry refuses. Waiting won't help."""

    code = "registry_misconfigured"
    kind = "misconfigured"


def redact(text: str) -> str:
    """``text`` without URL user info (``user:password@``) or query strings, cut to a readable length."""
    text = re.sub(r"([a-z][a-z0-9+.-]*://)[^/\s@'\"]+@", r"\1***@", text, flags=re.IGNORECASE)
    text = re.sub(r"(?<=[\w/])\?[^\s'\")]+", "?...", text)
    return text if len(text) <= _REASON_MAX_CHARS else text[: _REASON_MAX_CHARS - 3] + "..."


def bound_poll_http(environ: MutableMapping[str, str] | None = None) -> None:
    """Cap MLflow's HTTP retries and timeout for a process that polls (``POLL_HTTP_LIMITS``), so an
    unreachable registry shows in readiness within seconds. Values already set in the environment win."""
    env = os.environ if environ is None else environ
    for key, value in POLL_HTTP_LIMITS.items():
        env.setdefault(key, value)


def check_tracking_uri(tracking_uri: str) -> None:
    """Fail fast, before any network call, on a URI this process cannot use.

    Raises :class:`RegistryMisconfigured` for an ``azureml://`` URI without the azureml-mlflow plugin
    or without a workspace path. Other schemes are left to MLflow (see :func:`_classify`).
    """
    scheme = urlparse(tracking_uri).scheme.lower()
    if scheme != "azureml":
        return
    if importlib.util.find_spec("azureml.mlflow") is None:
        raise RegistryMisconfigured(
            "tracking URI scheme 'azureml' needs the azureml-mlflow plugin: install azureml-mlflow"
        )
    if not _WORKSPACE_PATH.search(urlparse(tracking_uri).path):
        raise RegistryMisconfigured(
            f"tracking URI {tracking_uri} is not a workspace MLflow URI (expected .../subscriptions/<id>"
            "/resourceGroups/<rg>/providers/Microsoft.MachineLearningServices/workspaces/<name>)"
        )


def _cause_name(exc: BaseException) -> str:
    """The class of the lowest exception in the chain (what actually failed: ConnectionError...)."""
    seen: BaseException = exc
    for _ in range(10):  # chains are short; the bound guards against a cycle
        below = seen.__cause__ or seen.__context__
        if below is None:
            break
        seen = below
    return type(seen).__name__


def _is_azure_auth_error(exc: BaseException) -> bool:
    """azure-identity's ``ClientAuthenticationError`` (and subclasses), without importing azure."""
    return any(
        k.__name__ == "ClientAuthenticationError" and k.__module__.startswith("azure.core")
        for k in type(exc).__mro__
    )


def _classify(exc: Exception, tracking_uri: str, doing: str) -> RegistryError:
    """Map what MLflow, azureml-mlflow or azure-identity raised to a registry error kind."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking.registry import UnsupportedModelRegistryStoreURIException

    where = f"registry at {tracking_uri}"
    if isinstance(exc, RegistryError):
        return exc
    if isinstance(exc, UnsupportedModelRegistryStoreURIException):
        scheme = urlparse(tracking_uri).scheme
        hint = ": install azureml-mlflow" if scheme.lower() == "azureml" else ""
        return RegistryMisconfigured(
            f"{where}: tracking URI scheme '{scheme}' is not supported by this image's MLflow{hint}"
        )
    if isinstance(exc, MlflowException):
        code = str(exc.error_code)
        first_line = exc.message.splitlines()[0] if exc.message else ""
        if code in _AUTH_CODES:
            return RegistryMisconfigured(
                f"{where} refused the credential ({code}) while {doing}: {first_line}"
            )
        if code == "ENDPOINT_NOT_FOUND":
            return RegistryMisconfigured(f"{where} is not an MLflow endpoint ({code}) while {doing}")
        return RegistryUnreachable(f"{where} did not answer ({_cause_name(exc)}, {code}) while {doing}")
    if _is_azure_auth_error(exc):
        return RegistryMisconfigured(
            f"{where}: no Azure credential got a token ({type(exc).__name__}) while {doing}: give the "
            "workload a managed or workload identity with access to the workspace"
        )
    if isinstance(exc, OSError | TimeoutError):
        return RegistryUnreachable(f"{where} did not answer ({_cause_name(exc)}) while {doing}")
    # the plugin's URI parsing and anything else unexpected: name the class, keep the first line
    detail = str(exc).splitlines()[0] if str(exc) else ""
    return RegistryError(f"{where} failed ({type(exc).__name__}) while {doing}: {detail}")


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


def _versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    """Every version of ``name`` (searching by name is what the workspace supports; none: [])."""
    return list(client.search_model_versions(f"name='{name}'"))


def _promotion(mv: ModelVersion) -> int:
    """The champion promotion number a version carries (0: never promoted)."""
    value = (mv.tags or {}).get(CHAMPION_TAG, "")
    return int(value) if value.isdigit() else 0


def _champion(versions: list[ModelVersion]) -> ModelVersion | None:
    promoted = [mv for mv in versions if _promotion(mv) > 0]
    return max(promoted, key=lambda mv: (_promotion(mv), int(mv.version))) if promoted else None


def champion_version(tracking_uri: str, name: str = REGISTERED_MODEL_NAME) -> str | None:
    """The champion's version number, or ``None`` if the registry answered and none is champion yet
    (no model, no version, or no version promoted).

    Cheap enough to poll: one search by name; a local registry that was never created is answered
    without creating it. Raises :class:`RegistryUnreachable` or :class:`RegistryMisconfigured`.
    """
    db = sqlite_db_path(tracking_uri)
    if db is not None and not db.is_file():
        return None
    check_tracking_uri(tracking_uri)
    try:
        champion = _champion(_versions(_client(tracking_uri), name))
    except Exception as exc:
        raise _classify(exc, tracking_uri, f"looking up the champion of {name}") from exc
    return None if champion is None else str(champion.version)


def set_champion(tracking_uri: str, version: str, name: str = REGISTERED_MODEL_NAME) -> None:
    """Make ``version`` the champion (a promotion or a rollback): one tag write, the next number."""
    check_tracking_uri(tracking_uri)
    try:
        client = _client(tracking_uri)
        versions = _versions(client, name)
        if not any(str(mv.version) == str(version) for mv in versions):
            raise RegistryError(f"{name} has no version {version}")
        number = max((_promotion(mv) for mv in versions), default=0) + 1
        client.set_model_version_tag(name, str(version), CHAMPION_TAG, str(number))
    except Exception as exc:
        raise _classify(exc, tracking_uri, f"promoting {name} version {version}") from exc


def download_version(tracking_uri: str, version: str, dst: Path, name: str = REGISTERED_MODEL_NAME) -> Bundle:
    """Download a registered version's bundle (``version`` is its number, ``"3"``) into ``dst``
    (created) and load it."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    check_tracking_uri(tracking_uri)
    client = _client(tracking_uri)
    try:
        mv = client.get_model_version(name, version)
        source = client.get_model_version_download_uri(name, mv.version)
        dst = Path(dst)
        dst.mkdir(parents=True, exist_ok=True)
        with _no_progress_bar():
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(dst), tracking_uri=tracking_uri
            )
    except MlflowException as exc:
        if str(exc.error_code) in _MISSING_CODES:
            raise RegistryError(f"cannot fetch {name} version {version}: {exc.message}") from exc
        raise _classify(exc, tracking_uri, f"fetching {name} version {version}") from exc
    except Exception as exc:
        raise _classify(exc, tracking_uri, f"fetching {name} version {version}") from exc
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
    and content version. It becomes the champion only if ``promote`` is true: the champion tag is
    set in the same ``create_model_version`` call, so no reader sees the version without it.
    """
    from mlflow.exceptions import MlflowException

    check_tracking_uri(tracking_uri)
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
    if promote:
        number = max((_promotion(mv) for mv in _versions(client, name)), default=0) + 1
        all_tags[CHAMPION_TAG] = str(number)
    mv = client.create_model_version(name, source=source, run_id=run_id, tags=all_tags)
    if own_run:
        client.set_terminated(run_id)
    return str(mv.version)
