"""The gate's live shadow traffic: the champion's log and the candidate's shadow log, written by the
facade's real log writer, paired on machine and event time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aml.shadow_log import paired_traffic
from core.contract import MODEL_FEATURES
from core.inference_log import DEFAULT_RETAINED_SEGMENTS, DEFAULT_SEGMENT_BYTES, SHADOW_SUBDIR
from scoring.inference_log import InferenceLogWriter, LogChunk


def write(
    directory: Path, version: str, machines: list[str], hours: list[float], scores: list[float]
) -> None:
    writer = InferenceLogWriter(
        directory,
        segment_bytes=DEFAULT_SEGMENT_BYTES,
        retained_segments=DEFAULT_RETAINED_SEGMENTS,
        queue_size=10,
    )
    writer.start()
    matrix = np.ones((len(machines), len(MODEL_FEATURES)), dtype=np.float32)
    writer.submit(
        LogChunk(
            ts=1.0,
            model_version=version,
            features=MODEL_FEATURES,
            matrix=matrix,
            scores=np.asarray(scores),
            threshold=0.5,
            machine_ids=tuple(machines),
            event_timestamps=tuple(1_700_000_000 + 3600 * h for h in hours),
        )
    )
    writer.close()  # flushes


def test_rows_both_models_scored_are_paired_and_others_are_left_out(tmp_path: Path) -> None:
    write(tmp_path, "1", ["A", "B", "C"], [1, 1, 1], [0.40, 0.45, 0.70])
    write(tmp_path / SHADOW_SUBDIR, "cand", ["A", "B", "D"], [1, 1, 1], [0.41, 0.60, 0.20])
    windows, champion, candidate = paired_traffic(tmp_path, "cand")
    assert windows["machine_id"].tolist() == ["A", "B"]
    assert champion.tolist() == pytest.approx([0.40, 0.45])
    assert candidate.tolist() == pytest.approx([0.41, 0.60])
    assert set(MODEL_FEATURES) <= set(windows.columns)


def test_no_shadow_rows_of_the_candidate_pair_nothing(tmp_path: Path) -> None:
    write(tmp_path, "1", ["A"], [1], [0.4])
    write(tmp_path / SHADOW_SUBDIR, "older-candidate", ["A"], [1], [0.4])
    windows, _, _ = paired_traffic(tmp_path, "cand")
    assert len(windows) == 0
