"""Shadow scoring: a candidate scores the same requests as the champion into its own log, never
changing an answer (real ONNX sessions, real log writer)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from core.bundle import Bundle, load_bundle
from core.inference_log import (
    DEFAULT_RETAINED_SEGMENTS,
    DEFAULT_SEGMENT_BYTES,
    InferenceRecord,
    list_segments,
)
from core.layout import DataLayout
from scoring.core import Scorer
from scoring.inference_log import InferenceLogWriter, LogChunk
from scoring.main import create_app
from scoring.settings import ScoringSettings
from scoring.shadow import ShadowScorer
from tests.synthetic_windows import training_frame


@pytest.fixture(scope="module")
def candidate(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    from aml.bundle_builder import build_bundle

    target = tmp_path_factory.mktemp("candidate") / "bundle"
    with warnings.catch_warnings():  # mlflow's own warnings while saving
        warnings.simplefilter("ignore")
        build_bundle(training_frame(seed=1), target, n_estimators=10, seed=1, version="candidate-v2")
    return load_bundle(target)


def records(directory: Path) -> list[InferenceRecord]:
    lines = [ln for _, p in list_segments(directory) for ln in p.read_text().splitlines()]
    return [InferenceRecord.model_validate_json(ln) for ln in lines]


def test_the_candidate_scores_every_request_in_its_own_log_and_answers_stay_the_champions(
    settings: ScoringSettings, layout: DataLayout, candidate: Bundle, row: dict[str, float], tmp_path: Path
) -> None:
    rows = [row, {**row, "temperature_c_mean": row["temperature_c_mean"] + 30.0}]
    with TestClient(create_app(settings, layout=layout)) as plain:
        expected = plain.post("/predict", json={"rows": rows}).json()
    shadowed = settings.model_copy(
        update={"shadow_model_path": candidate.directory, "shadow_log_dir": tmp_path / "shadow"}
    )
    with TestClient(create_app(shadowed, layout=layout)) as c:
        answer = c.post("/predict", json={"rows": rows}).json()
    # leaving the client stops the app, which scores what is queued and flushes the shadow log
    assert answer == expected  # the shadow never changes what is served
    shadow = records(tmp_path / "shadow")
    assert [r.model_version for r in shadow] == ["candidate-v2"] * 2
    matrix = np.array([[r.features[f] for f in candidate.meta.features] for r in shadow], dtype=np.float32)
    own = Scorer.from_bundle(candidate).score(matrix)
    assert [r.anomaly_score for r in shadow] == pytest.approx(own.tolist())
    served = [p["anomaly_score"] for p in answer["predictions"]]
    assert own.tolist() != pytest.approx(served)  # a different model, so its own scores


def test_a_full_shadow_queue_drops_and_counts_rows_instead_of_waiting(
    bundle: Bundle, tmp_path: Path, row: dict[str, float]
) -> None:
    scorer = Scorer.from_bundle(bundle)
    writer = InferenceLogWriter(
        tmp_path / "shadow",
        segment_bytes=DEFAULT_SEGMENT_BYTES,
        retained_segments=DEFAULT_RETAINED_SEGMENTS,
        queue_size=10,
    )
    shadow = ShadowScorer(scorer, writer, max_pending=1)
    matrix = scorer.matrix([row] * 3)
    chunk = LogChunk(
        ts=0.0,
        model_version="v1",
        features=scorer.features,
        matrix=matrix,
        scores=scorer.score(matrix),
        threshold=0.5,
    )
    shadow.submit(chunk)  # not started: nothing drains the queue
    shadow.submit(chunk)
    assert shadow.dropped_rows == 3
    shadow.start()
    shadow.close()
    assert shadow.scored_rows == 3 and len(records(tmp_path / "shadow")) == 3


def test_a_candidate_handed_over_while_the_facade_runs_is_shadowed_until_withdrawn(
    settings: ScoringSettings, layout: DataLayout, candidate: Bundle, row: dict[str, float], tmp_path: Path
) -> None:
    import shutil

    from tests.waiting import wait_until

    handover = tmp_path / "candidate"
    shadowed = settings.model_copy(
        update={
            "shadow_model_path": handover,
            "shadow_log_dir": tmp_path / "shadow",
            "poll_interval_s": 0.05,
        }
    )
    with TestClient(create_app(shadowed, layout=layout)) as c:
        assert c.post("/predict", json={"features": row}).status_code == 200  # nothing to shadow yet
        shutil.copytree(candidate.directory, handover)
        state = c.app.state.scoring  # type: ignore[attr-defined]
        wait_until(lambda: state.shadow.candidate, 10, "the facade never picked up the candidate")
        assert c.post("/predict", json={"features": row}).status_code == 200
        wait_until(lambda: state.shadow.scored_rows == 1, 10, "the candidate never scored the request")
        shutil.rmtree(handover)
        wait_until(lambda: state.shadow.candidate is None, 10, "the withdrawn candidate is still shadowed")
        assert c.post("/predict", json={"features": row}).status_code == 200
    assert [r.model_version for r in records(tmp_path / "shadow")] == ["candidate-v2"]
    assert state.shadow.dropped_rows == 0
