"""Where rows are scored: in process (``onnx``, the default) or by an AzureML online endpoint.

Both return a :class:`Scored`; the facade builds the same response from it either way.

``aml-endpoint`` posts ``{"rows": [...]}`` to the endpoint's scoring URI, where ``scoring/score.py``
answers with the same :class:`~scoring.schemas.BatchPrediction` shape. Auth is the endpoint key or
an AzureML token, both as ``Authorization: Bearer``; our timeout is validated to stay below the
deployment's ``request_timeout_ms`` so we give up (504) before the endpoint answers 408.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from scoring.errors import BackendError, BackendTimeout, ModelUnavailable
from scoring.explanations import TopFeature, top_features
from scoring.model_store import ModelStore
from scoring.schemas import BatchPrediction, ModelInfo
from scoring.settings import ScoringSettings


@dataclass(frozen=True)
class Scored:
    model_version: str
    threshold: float
    scores: np.ndarray
    top_features: list[list[TopFeature]] | None = None
    """Per row, the features that drove its score (``scoring.explanations``); None when the model
    carries no attribution."""


class Backend(Protocol):
    name: str

    async def score(self, matrix: np.ndarray) -> Scored: ...

    def info(self) -> ModelInfo: ...

    def ready(self) -> tuple[bool, str | None]: ...

    def source_status(self) -> dict[str, str | None] | None:
        """Where the model comes from and what its last poll found (``core.bundle_source.SourceState``
        and the reason), or None when the facade holds no model of its own."""
        ...

    async def aclose(self) -> None: ...


class OnnxBackend:
    """Scores on the model store's current scorer, taken once per call."""

    name = "onnx"

    def __init__(self, store: ModelStore, features: tuple[str, ...]) -> None:
        self.store = store
        self.features = features

    async def score(self, matrix: np.ndarray) -> Scored:
        scorer = self.store.current
        if scorer is None:
            raise ModelUnavailable(
                f"no model loaded: {self.store.last_error}", {"source": self.store.source.description}
            )
        scores, contributions = scorer.explain(matrix)
        top = None
        if contributions is not None and scorer.attribution_baseline is not None:
            top = top_features(scores, contributions, scorer.features, scorer.attribution_baseline)
        return Scored(scorer.version, scorer.threshold, scores, top)

    def info(self) -> ModelInfo:
        scorer = self.store.current
        if scorer is None:
            return ModelInfo(
                backend=self.name,
                version=None,
                source=self.store.source.description,
                threshold=None,
                features=list(self.features),
                loaded_at=None,
            )
        return ModelInfo(
            backend=self.name,
            version=scorer.version,
            content_version=scorer.content_version,
            source=scorer.source,
            threshold=scorer.threshold,
            features=list(scorer.features),
            loaded_at=scorer.loaded_at,
            reference_hash=scorer.reference_hash,
            attribution_baseline=scorer.attribution_baseline,
        )

    def ready(self) -> tuple[bool, str | None]:
        if self.store.current is None:
            return False, f"no model loaded: {self.store.last_error}"
        return True, None

    def source_status(self) -> dict[str, str | None] | None:
        return {
            "source": self.store.source.description,
            "state": self.store.source_state,
            "reason": self.store.last_error,
        }

    async def aclose(self) -> None:
        return None


class AmlEndpointBackend:
    """Forwards rows to an AzureML managed or Kubernetes online endpoint running ``score.py``."""

    name = "aml-endpoint"

    def __init__(self, settings: ScoringSettings, features: tuple[str, ...], transport: Any = None) -> None:
        import httpx

        secret = settings.endpoint_key or settings.endpoint_token
        assert settings.endpoint_url is not None and secret is not None  # guaranteed by settings validation
        headers = {"Authorization": f"Bearer {secret.get_secret_value()}", "Content-Type": "application/json"}
        if settings.endpoint_deployment:
            headers["azureml-model-deployment"] = settings.endpoint_deployment
        self.url = settings.endpoint_url
        self.features = features
        self.timeout_s = settings.endpoint_timeout_s
        self._client = httpx.AsyncClient(
            headers=headers, timeout=settings.endpoint_timeout_s, transport=transport
        )
        self._last: ModelInfo | None = None
        self._last_error: str | None = None

    async def score(self, matrix: np.ndarray) -> Scored:
        import httpx
        import orjson

        rows = [dict(zip(self.features, map(float, row), strict=True)) for row in matrix.tolist()]
        try:
            response = await self._client.post(self.url, content=orjson.dumps({"rows": rows}))
        except httpx.TimeoutException as exc:
            self._last_error = f"timeout after {self.timeout_s} s"
            raise BackendTimeout(f"AzureML endpoint did not answer within {self.timeout_s} s") from exc
        except httpx.HTTPError as exc:
            self._last_error = f"{type(exc).__name__}: {exc}"
            raise BackendError(f"AzureML endpoint unreachable: {self._last_error}") from exc
        if response.status_code != 200:
            self._last_error = f"HTTP {response.status_code}"
            raise BackendError(
                f"AzureML endpoint answered {response.status_code}",
                {"upstream_status": response.status_code, "upstream_body": response.text[:500]},
            )
        try:
            body = BatchPrediction.model_validate_json(response.content)
        except ValueError as exc:
            self._last_error = "unexpected response"
            raise BackendError("AzureML endpoint answered an unexpected body") from exc
        if len(body.predictions) != matrix.shape[0]:
            raise BackendError(
                f"AzureML endpoint returned {len(body.predictions)} predictions for {matrix.shape[0]} rows"
            )
        self._last_error = None
        if self._last is None or self._last.version != body.model_version:
            self._last = ModelInfo(
                backend=self.name,
                version=body.model_version,
                source=self.url,
                threshold=body.threshold,
                features=list(self.features),
                loaded_at=datetime.now(UTC),
            )
        scores = np.array([p.anomaly_score for p in body.predictions], dtype=np.float64)
        top: list[list[TopFeature]] | None = None
        if all(p.top_features is not None for p in body.predictions):
            top = [
                [
                    TopFeature(feature=f.feature, sensor=f.sensor, contribution=f.contribution)
                    for f in p.top_features or ()
                ]
                for p in body.predictions
            ]
        return Scored(body.model_version, body.threshold, scores, top)

    def info(self) -> ModelInfo:
        """What the endpoint last reported (it has no model route; ``loaded_at`` is when we first saw it)."""
        if self._last is not None:
            return self._last
        return ModelInfo(
            backend=self.name,
            version=None,
            source=self.url,
            threshold=None,
            features=list(self.features),
            loaded_at=None,
        )

    def ready(self) -> tuple[bool, str | None]:
        """Ready unless the last call failed: probing would cost the endpoint a scoring call."""
        return (self._last_error is None), self._last_error

    def source_status(self) -> dict[str, str | None] | None:
        return None  # the endpoint's deployment pins its model version

    async def aclose(self) -> None:
        await self._client.aclose()
