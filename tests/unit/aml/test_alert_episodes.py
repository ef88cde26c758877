"""Alert episodes: hysteresis, one notification each, the per-machine budget, drift-suspect marks,
explanations aggregated over the episode; per-row thresholds in the alert rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from aml.episodes import EpisodeCounts, EpisodePolicy, drift_intervals, episodes_from_scores
from aml.evaluation import SCORE, AlertPolicy, alerts_from_scores
from core.contract import ENTITY_KEY, EVENT_TIMESTAMP

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOT = [{"feature": "temperature_c_mean", "sensor": "temperature_c", "contribution": 0.2}]
SHAKY = [{"feature": "vibration_rms_mm_s_max", "sensor": "vibration_rms_mm_s", "contribution": 0.1}]


def windows(pattern: str, machine: str = "m-1", start: datetime = T0, top=None) -> pd.DataFrame:
    """One window per character: ``x`` flagged (score 0.9), ``.`` clear (0.3), `` `` no window."""
    rows = [
        (machine, start + timedelta(hours=i), 0.9 if c == "x" else 0.3)
        for i, c in enumerate(pattern)
        if c != " "
    ]
    frame = pd.DataFrame(rows, columns=[ENTITY_KEY, EVENT_TIMESTAMP, SCORE])
    frame[EVENT_TIMESTAMP] = pd.to_datetime(frame[EVENT_TIMESTAMP], utc=True)
    if top is not None:
        frame["top_features"] = [top if s > 0.5 else None for s in frame[SCORE]]
    return frame


POLICY = EpisodePolicy(open_k=3, close_m=3, budget=2, budget_period_h=720)


def test_hysteresis_a_flicker_neither_opens_nor_closes() -> None:
    got = episodes_from_scores(windows("xx.xxx.x.xx....xx"), 0.5, POLICY)
    assert len(got) == 1  # "xx" never opens; ".x." flickers inside the episode without closing it
    e = got[0]
    assert e.first_flag == T0 + timedelta(hours=3) and e.opened_at == T0 + timedelta(hours=5)
    assert e.closed_at == T0 + timedelta(hours=13)  # the third clear window in a row
    assert e.flagged == 6 and e.notified and not e.drift_suspect


def test_missing_hours_count_as_clear_and_an_open_episode_stays_open() -> None:
    got = episodes_from_scores(windows("xxx    xxx"), 0.5, POLICY)
    assert [(e.opened_at, e.closed_at) for e in got] == [
        (T0 + timedelta(hours=2), T0 + timedelta(hours=5)),
        (T0 + timedelta(hours=9), None),
    ]


def test_the_budget_suppresses_and_counts_beyond_it_per_machine() -> None:
    frame = pd.concat([windows("xxx...." * 4, "m-1"), windows("xxx....", "m-2")])
    got = episodes_from_scores(frame, 0.5, POLICY)
    m1 = [e for e in got if e.machine_id == "m-1"]
    assert [e.notified for e in m1] == [True, True, False, False]
    assert [e.notified for e in got if e.machine_id == "m-2"] == [True]
    counts = EpisodeCounts(got).as_json()
    assert counts["episodes"] == 5 and counts["notified"] == 3 and counts["suppressed"] == 2
    # a budget period that has passed gives the machine its budget back
    short = episodes_from_scores(frame, 0.5, EpisodePolicy(open_k=3, close_m=3, budget=1, budget_period_h=7))
    assert [e.notified for e in short if e.machine_id == "m-1"] == [True, True, True, True]


def test_episodes_opened_in_a_detected_fleet_drift_are_drift_suspect() -> None:
    times = [T0 + timedelta(hours=h) for h in range(30)]
    detected = [None] * 2 + [False] * 8 + [True] * 10 + [False] * 10
    drift = drift_intervals(times, detected)
    assert drift == [(T0 + timedelta(hours=10), T0 + timedelta(hours=20))]
    got = episodes_from_scores(windows("xxx....." + "...xxx...." + "...xxx...."), 0.5, POLICY, drift=drift)
    assert [e.drift_suspect for e in got] == [False, True, False]


def test_episode_top_features_aggregate_its_windows_explanations() -> None:
    frame = windows("xxxx....", top=HOT)
    frame.at[frame.index[3], "top_features"] = SHAKY  # type: ignore[assignment]  # ... one window was a vibration one
    (e,) = episodes_from_scores(frame, 0.5, POLICY)
    assert [f["feature"] for f in e.top_features] == ["temperature_c_mean", "vibration_rms_mm_s_max"]
    assert e.top_features[0]["contribution"] == 0.2 * 3 / 4 and e.top_features[0]["sensor"] == "temperature_c"


def test_per_row_thresholds_flag_by_each_rows_own_model() -> None:
    frame = windows("xxxxxx")
    # the first three rows came from a model with a higher threshold: not flagged there
    thresholds = np.array([0.95] * 3 + [0.5] * 3)
    alerts = alerts_from_scores(frame, thresholds, AlertPolicy(alert_k=3, cooldown_h=0))
    assert alerts["alert_time"].tolist() == [pd.Timestamp(T0 + timedelta(hours=5))]
    (e,) = episodes_from_scores(frame, thresholds, POLICY)
    assert e.first_flag == T0 + timedelta(hours=3)
