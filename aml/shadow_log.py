"""Live shadow traffic for the gate: the champion's inference log joined with the candidate's shadow log.

The facade (``scoring.shadow``) writes the candidate's scores of every logged request to
``<inference log>/shadow`` in the inference log's own format. Only rows scored from the online store
carry ``machine_id`` and the features' event time, and only those can be paired: one window per
machine and event time (the latest record of each), present in both logs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from core.contract import ENTITY_KEY, EVENT_TIMESTAMP
from core.inference_log import SHADOW_SUBDIR, InferenceRecord, list_segments

_SCORE = "anomaly_score"


def read_windows(directory: Path, model_version: str | None = None) -> pd.DataFrame:
    """[machine_id, event_timestamp, anomaly_score, model_version, *features] of the log's rows that
    name a machine and an event time (of ``model_version`` when given); the latest per window."""
    rows: list[dict[str, object]] = []
    for _, path in list_segments(directory):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = InferenceRecord.model_validate_json(line)
            if r.machine_id is None or r.event_timestamp is None:
                continue
            if model_version is not None and r.model_version != model_version:
                continue
            rows.append(
                {
                    ENTITY_KEY: r.machine_id,
                    EVENT_TIMESTAMP: r.event_timestamp,
                    _SCORE: r.anomaly_score,
                    "model_version": r.model_version,
                    "_ts": r.ts,
                    **r.features,
                }
            )
    if not rows:
        return pd.DataFrame(columns=[ENTITY_KEY, EVENT_TIMESTAMP, _SCORE, "model_version"])
    frame = pd.DataFrame(rows).sort_values("_ts", kind="stable")
    frame = frame.drop_duplicates([ENTITY_KEY, EVENT_TIMESTAMP], keep="last").drop(columns="_ts")
    frame[EVENT_TIMESTAMP] = pd.to_datetime(frame[EVENT_TIMESTAMP], unit="s", utc=True)
    return frame.sort_values([ENTITY_KEY, EVENT_TIMESTAMP], kind="stable").reset_index(drop=True)


def paired_traffic(
    log_dir: Path, candidate_version: str, shadow_dir: Path | None = None
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Windows both models scored: (windows with features, champion scores, candidate scores).

    The champion's rows are every other version's rows of ``log_dir`` (the one that served);
    the candidate's are ``candidate_version``'s rows of the shadow log."""
    shadow = read_windows(shadow_dir or log_dir / SHADOW_SUBDIR, candidate_version)
    served = read_windows(log_dir)
    served = served.loc[served["model_version"] != candidate_version]
    keys = [ENTITY_KEY, EVENT_TIMESTAMP]
    both = served.merge(shadow[[*keys, _SCORE]], on=keys, suffixes=("", "_candidate"))
    champion = both[_SCORE].to_numpy(dtype=np.float64)
    candidate = both[f"{_SCORE}_candidate"].to_numpy(dtype=np.float64)
    windows = both.drop(columns=[_SCORE, f"{_SCORE}_candidate", "model_version"])
    return windows.reset_index(drop=True), champion, candidate
