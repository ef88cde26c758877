"""The promotion gate's label-free shadow checks, on hand-made fleets with known answers.

The models here are one-feature detectors (score = the feature ``x``, each with its threshold): the
gate sees models only through their scores, so these stand in for any model exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aml.evaluation import SCORE, AlertPolicy, alert_metrics
from aml.gate import (
    GatePolicy,
    ShadowInputs,
    decide,
    rate_figure,
    shadow_figures,
)
from aml.replay import open_machines, replay_signatures

T0 = pd.Timestamp("2026-01-01T00:00Z")
H = pd.Timedelta(hours=1)
POLICY = AlertPolicy()


def fleet(machines: list[str], hours: int, x: float, start: pd.Timestamp = T0) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"machine_id": m, "event_timestamp": start + H * (h + 1), "x": x}
            for m in machines
            for h in range(hours)
        ]
    )


def scorer(frame: pd.DataFrame) -> np.ndarray:
    return frame["x"].to_numpy(dtype=np.float64)


def no_failures() -> pd.DataFrame:
    return pd.DataFrame(
        {"machine_id": pd.Series(dtype=str), "failure_time": pd.Series(dtype="datetime64[ns, UTC]")}
    )


def test_a_slice_without_failures_skips_f1_and_recall_instead_of_comparing_nothing() -> None:
    w = fleet(["A", "B"], 12, 0.0).assign(**{SCORE: 0.0})
    m = alert_metrics(w, 0.5, no_failures(), POLICY)
    d = decide(m, m, GatePolicy(), champion_version="1")
    assert d.promote
    assert not any("F1" in r and r.startswith("pass") for r in d.reasons)
    assert any(r.startswith("skipped: F1 and recall@24h") and "no failures" in r for r in d.reasons)


def test_a_rate_fails_only_when_the_count_is_improbable_under_the_cap() -> None:
    # 500 machine-hours (0.69 machine-months) at a cap of 2: about 1.4 alerts expected
    months = 500 / 720
    assert rate_figure(3, months, 2.0).p_under_cap > 0.05  # 4.3 per machine-month, but 3 alerts prove little
    assert rate_figure(8, months, 2.0).p_under_cap < 0.05
    assert rate_figure(0, months, 2.0).p_under_cap == 1.0


def test_open_machines_are_those_failing_within_the_horizon_or_in_maintenance() -> None:
    w = fleet(["A", "B", "C", "D"], 12, 0.0)
    failures = pd.DataFrame(
        {"machine_id": ["A", "B"], "failure_time": [T0 + H * 100, T0 + H * 500]}
    )  # B fails beyond the 168 h horizon
    maintenance = pd.DataFrame({"machine_id": ["C"], "start": [T0 + H * 5], "end": [T0 + H * 7]})
    assert open_machines(w, failures, maintenance, POLICY.horizon_h) == ["A", "C"]


def history_with_a_failure() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Machine F runs at x = 1 for 10 days, then x climbs to 4 over the 48 h before it fails."""
    hist = fleet(["F", "G"], 240, 1.0)
    fail_at = T0 + H * 241
    ramp = (hist["machine_id"] == "F") & (hist["event_timestamp"] > fail_at - H * 49)
    hist.loc[ramp, "x"] = 4.0
    return hist, pd.DataFrame({"machine_id": ["F"], "failure_time": [fail_at]})


def test_a_replayed_signature_is_the_deviation_from_the_machines_baseline_over_the_new_regime() -> None:
    hist, failures = history_with_a_failure()
    near = (hist["event_timestamp"] > failures["failure_time"][0] - H * 168).to_numpy() & (
        hist["machine_id"] == "F"
    ).to_numpy()
    canvas = fleet(["A", "B"], 12, 11.0, start=T0 + H * 300)  # the whole fleet moved from 1 to 11
    replayed, clean = replay_signatures(hist, failures, near, canvas, ["x"], ["A"], POLICY)
    assert replayed["machine_id"].unique().tolist() == ["replay-0000"]
    assert len(replayed) == len(clean) == 12
    # the 12 h ending 24 h before the failure lie in the ramp: baseline 1, ramp 4, regime 11 -> 14
    assert replayed["x"].tolist() == pytest.approx([14.0] * 12)
    assert clean["x"].tolist() == pytest.approx([11.0] * 12)


def shadow(
    canvas: pd.DataFrame, replayed: pd.DataFrame, clean: pd.DataFrame, opened: list[str]
) -> ShadowInputs:
    return ShadowInputs(
        source="held-back slice",
        windows=canvas,
        candidate_scores=scorer(canvas),
        champion_scores=scorer(canvas),
        open_machines=opened,
        replayed=replayed,
        clean=clean,
    )


def test_after_a_fleet_shift_the_retrain_passes_on_shadow_figures_with_the_champion_at_its_flag_rate() -> (
    None
):
    hist, failures = history_with_a_failure()
    near = np.zeros(len(hist), dtype=bool)
    canvas = fleet([f"M{i}" for i in range(20)], 12, 11.0, start=T0 + H * 300)
    replayed, clean = replay_signatures(hist, failures, near, canvas, ["x"], ["M0"], POLICY)
    candidate, champion = (scorer, 12.0), (scorer, 2.0)  # the champion still expects x around 1
    figures = shadow_figures(
        shadow(canvas, replayed, clean, ["M5"]), candidate, champion, POLICY, GatePolicy()
    )
    assert figures.candidate_rate.alerts == 0 and figures.champion_rate is not None
    assert figures.champion_rate.alerts == 20  # the old model alerts on every machine
    # at its own threshold the champion alerts on the clean copy too; at the candidate's flag rate (no
    # flags) its threshold moves above the new regime and it sees the replay like the candidate
    found = (figures.signatures, figures.candidate_replay_detected, figures.champion_replay_detected)
    assert found == (1, 1, 1)
    assert figures.champion_matched_threshold == pytest.approx(11.0)
    cand_m = alert_metrics(canvas.assign(**{SCORE: scorer(canvas)}), 12.0, no_failures(), POLICY)
    d = decide(cand_m, cand_m, GatePolicy(), champion_version="1", shadow=figures)
    assert d.promote, d.reasons
    assert any(
        r.startswith("pass: recall on 1 replayed fault signatures 1.00 vs champion 1.00") for r in d.reasons
    )
    assert any(r.startswith("skipped: agreement") and "over its alert budget" in r for r in d.reasons)


def test_a_candidate_that_misses_what_a_sane_champion_sees_is_refused() -> None:
    canvas = fleet([f"M{i}" for i in range(20)], 12, 1.0, start=T0 + H * 300)
    canvas.loc[canvas["machine_id"] == "M3", "x"] = 5.0  # M3 is about to fail
    empty = canvas.iloc[:0]
    figures = shadow_figures(
        shadow(canvas, empty, empty, ["M3"]), (scorer, 9.0), (scorer, 2.0), POLICY, GatePolicy()
    )
    m = alert_metrics(canvas.assign(**{SCORE: scorer(canvas)}), 9.0, no_failures(), POLICY)
    d = decide(m, m, GatePolicy(), champion_version="1", shadow=figures)
    assert not d.promote
    assert any(
        r.startswith("FAIL: alerts on machines with open failures or maintenance 0/1") for r in d.reasons
    )
    assert any(r.startswith("skipped: recall on replayed fault signatures") for r in d.reasons)


def test_a_candidate_over_the_alert_budget_is_refused() -> None:
    canvas = fleet([f"M{i}" for i in range(20)], 12, 11.0, start=T0 + H * 300)
    empty = canvas.iloc[:0]
    figures = shadow_figures(shadow(canvas, empty, empty, []), (scorer, 2.0), None, POLICY, GatePolicy())
    m = alert_metrics(canvas.assign(**{SCORE: scorer(canvas)}), 2.0, no_failures(), POLICY)
    d = decide(m, None, GatePolicy(), shadow=figures)
    assert not d.promote
    assert any(r.startswith("FAIL: shadow (held-back slice, 12 h) alert rate") for r in d.reasons)


def test_a_candidate_missing_replays_the_champion_catches_is_refused_only_when_significant() -> None:
    from aml.gate import ShadowFigures

    base = {"source": "held-back slice", "windows": 10, "hours": 12.0, "signatures": 10}
    rate = rate_figure(0, 1.0, 2.0)
    ids = [f"replay-{i:04d}" for i in range(10)]
    m = alert_metrics(fleet(["A"], 12, 0.0).assign(**{SCORE: 0.0}), 0.5, no_failures(), POLICY)

    def verdict(cand: list[str], champ: list[str]) -> bool:
        s = ShadowFigures.model_validate(
            {
                **base,
                "candidate_rate": rate,
                "champion_rate": rate,
                "candidate_replays": cand,
                "champion_replays": champ,
            }
        )
        return decide(m, m, GatePolicy(), champion_version="1", shadow=s).promote

    assert verdict(ids[:9], ids)  # one replay fewer: a coin toss
    assert not verdict(ids[:2], ids)  # eight fewer, none the other way: p = 0.004


def test_a_champion_alerting_everywhere_is_no_f1_bar_for_the_candidate() -> None:
    """After a fleet drift the champion flags every machine; one of them fails in the slice, so its
    F1 beats a quiet candidate's 0.0. Its false alarms are far over the cap: the F1 comparison is
    skipped (and said so), and the candidate, within the cap, is promoted."""
    machines = [f"M{i}" for i in range(10)]
    w = fleet(machines, 12, 0.0)
    failures = pd.DataFrame({"machine_id": ["M3"], "failure_time": [T0 + H * 11.5]})
    champion = alert_metrics(w.assign(**{SCORE: 1.0}), 0.5, failures, POLICY)
    candidate = alert_metrics(w.assign(**{SCORE: 0.0}), 0.5, failures, POLICY)
    assert champion.f1 > candidate.f1 == 0.0
    d = decide(candidate, champion, GatePolicy(), champion_version="1")
    assert d.promote, d.reasons
    assert any(r.startswith("skipped: F1 and recall@24h") and "over the cap" in r for r in d.reasons)


def test_a_working_champion_still_sets_the_f1_bar() -> None:
    machines = [f"M{i}" for i in range(10)]
    w = fleet(machines, 12, 0.0)
    failures = pd.DataFrame({"machine_id": ["M3"], "failure_time": [T0 + H * 11.5]})
    alerting_m3 = w.assign(**{SCORE: (w["machine_id"] == "M3").astype(float)})
    champion = alert_metrics(alerting_m3, 0.5, failures, POLICY)
    candidate = alert_metrics(w.assign(**{SCORE: 0.0}), 0.5, failures, POLICY)
    d = decide(candidate, champion, GatePolicy(), champion_version="1")
    assert not d.promote
    assert any(r.startswith("FAIL: F1") for r in d.reasons)
