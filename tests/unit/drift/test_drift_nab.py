"""NAB scoring of changepoint detections, against cases worked out from the published definition."""

from __future__ import annotations

import math

import pytest

from drift.nab import PROFILES, nab_scores, score_file, sigmoid, windows

STANDARD = PROFILES["standard"]


def test_perfect_detector_scores_100_and_the_null_detector_0() -> None:
    cps = [100.0, 500.0]
    assert nab_scores([(cps, cps)], 60.0)["standard"].normalised == pytest.approx(100.0)
    assert nab_scores([(cps, [])], 60.0)["standard"].normalised == pytest.approx(0.0)


def test_a_late_detection_in_the_window_earns_less_than_an_early_one() -> None:
    early = score_file([100.0], [110.0], 60.0, STANDARD).score
    late = score_file([100.0], [155.0], 60.0, STANDARD).score
    assert early == pytest.approx(sigmoid((110 - 160) / 60))
    assert 0 < late < early
    assert score_file([100.0], [160.0], 60.0, STANDARD).score == pytest.approx(0.0, abs=1e-12)


def test_only_the_first_detection_in_a_window_counts() -> None:
    one = score_file([100.0], [110.0], 60.0, STANDARD)
    three = score_file([100.0], [110.0, 120.0, 130.0], 60.0, STANDARD)
    assert three.score == one.score and three.false_positives == 0


def test_false_positives_cost_a_fraction_and_more_with_the_low_fp_profile() -> None:
    before = score_file([100.0], [100.0, 10.0], 60.0, STANDARD)
    assert before.score == pytest.approx(sigmoid(-1.0) - 0.11)
    # far after the window: sigma -> -1, so it costs almost the full A_fp
    after = score_file([100.0], [100.0, 1_000.0], 60.0, STANDARD)
    assert after.score == pytest.approx(sigmoid(-1.0) + 0.11 * sigmoid((1_000 - 160) / 60))
    low_fp = score_file([100.0], [100.0, 1_000.0], 60.0, PROFILES["low_fp"])
    assert low_fp.score < after.score


def test_a_missed_changepoint_costs_a_fn_and_double_with_the_low_fn_profile() -> None:
    assert score_file([100.0], [], 60.0, STANDARD).score == -1.0
    assert score_file([100.0], [], 60.0, PROFILES["low_fn"]).score == -2.0


def test_overlapping_windows_are_cut_at_the_next_changepoint() -> None:
    assert windows([0.0, 30.0], 60.0) == [(0.0, 30.0), (30.0, 90.0)]


def test_sigmoid_is_the_scaled_one() -> None:
    assert sigmoid(0.0) == 0.0 and sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)


def test_skab_scale_is_tanh_inside_the_window_and_flat_outside() -> None:
    skab = PROFILES["standard"]
    at_cp = score_file([100.0], [100.0], 60.0, skab, "skab")
    assert at_cp.score == pytest.approx(1.0) and at_cp.perfect == 1.0
    mid = score_file([100.0], [130.0], 60.0, skab, "skab")
    assert mid.score == pytest.approx((1.0 - 0.11) / 2)  # tanh(0) = 0: halfway between A_tp and -A_fp
    far = score_file([100.0], [100.0, 10_000.0], 60.0, skab, "skab")
    assert far.score == pytest.approx(1.0 - 0.11)
