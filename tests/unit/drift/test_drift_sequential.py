"""The sustained verdict: k of the last n steps, and its stated run length between false alarms."""

from __future__ import annotations

import numpy as np
import pytest

from drift.sequential import KOfN, arl0


def _simulated_run_length(p: float, k: int, n: int, runs: int, rng: np.random.Generator) -> float:
    lengths = []
    for _ in range(runs):
        rule, steps = KOfN(k, n), 0
        while True:
            steps += 1
            if rule.step(bool(rng.random() < p)):
                break
        lengths.append(steps)
    return float(np.mean(lengths))


def test_run_length_formula_has_the_known_closed_forms() -> None:
    assert arl0(0.01, 1, 1) == pytest.approx(100.0)
    assert arl0(0.01, 2, 2) == pytest.approx((1 + 0.01) / 0.01**2)  # two in a row
    assert arl0(0.05, 3, 3) == pytest.approx((1 - 0.05**3) / ((1 - 0.05) * 0.05**3))


@pytest.mark.parametrize(("k", "n"), [(2, 3), (2, 2)])
def test_run_length_matches_a_simulation_of_independent_steps(k: int, n: int) -> None:
    p = 0.2  # frequent enough to simulate in milliseconds
    simulated = _simulated_run_length(p, k, n, runs=4_000, rng=np.random.default_rng(0))
    assert simulated == pytest.approx(arl0(p, k, n), rel=0.06)


def test_one_drifted_step_is_not_sustained_and_a_reset_forgets() -> None:
    rule = KOfN(2, 3)
    assert rule.step(True) is False
    assert rule.step(False) is False
    assert rule.step(True) is True  # 2 of the last 3
    assert rule.step(False) is False  # last three: False, True, False
    rule.reset()
    assert rule.detected is False and rule.step(True) is False


def test_k_larger_than_n_is_refused() -> None:
    with pytest.raises(ValueError):
        KOfN(3, 2)
