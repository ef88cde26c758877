"""Alert-level evaluation on the simulated fleet, two-fold, per failure mode (``predmaint eval fleet``).

Protocol (one configuration, the pipeline's: :class:`aml.detector.DetectorConfig` over
``MODEL_FEATURES`` and the default :class:`aml.evaluation.AlertPolicy`):

1. Simulate ``machines`` x ``days`` (:class:`simulator.fleet.FleetSimulator`, seed ``seed``) and build
   the offline store's windows in one bulk pass (relative features included).
2. Split the windows at the middle of their span into fold A (first half) and fold B (second half).
   Train on one fold, evaluate on the other, and vice versa. Training drops what the pipeline's
   prepare step drops: sparse windows, windows within ``horizon_h`` before a failure up to the end
   of its repair, and maintenance periods. Evaluation scores every non-sparse window of its fold.
3. **A failure counts in the fold that holds the hour ``min_lead_h`` (24 h) before it**: that is
   where an alert with enough lead must be raised, so each failure is evaluable in exactly one fold.
   Failures in the simulation's first ``min_lead_h`` have no such hour, and failures after its last
   window are not labelled in the recording: neither is counted.
4. The two folds are summed: recall with >= ``min_lead_h`` lead = detected / failures, false alarms
   per machine-month = false alarms / (evaluated machine-hours / 720). Alerts and their matching to
   failures are :func:`aml.evaluation.alert_metrics`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import pandas as pd

from aml.detector import Detector, DetectorConfig
from aml.evaluation import (
    LEAD_H,
    SCORE,
    AlertMetrics,
    AlertPolicy,
    alert_metrics,
    alerts_from_scores,
    failure_outcomes,
)
from core.contract import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FAILURE_MODE,
    FAILURE_TIME,
    IS_SPARSE,
    MACHINE_TYPE,
    MODEL_FEATURES,
    WINDOW,
)

FOLDS: Final = ("A", "B")


@dataclass(frozen=True)
class ModeResult:
    """One failure mode over both folds: failures, those detected >= min_lead_h ahead, their leads."""

    failures: int = 0
    detected_24h: int = 0
    leads_h: tuple[float, ...] = ()

    def plus(self, failures: int, detected: int, leads: tuple[float, ...]) -> ModeResult:
        return ModeResult(self.failures + failures, self.detected_24h + detected, self.leads_h + leads)


@dataclass(frozen=True)
class FleetEvaluation:
    """Both folds of one simulated fleet (see the module docstring)."""

    seed: int
    machines: int
    days: float
    folds: dict[str, AlertMetrics]
    modes: dict[str, ModeResult] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return sum(m.failures for m in self.folds.values())

    @property
    def detected_24h(self) -> int:
        return sum(m.detected_24h for m in self.folds.values())

    @property
    def recall_24h(self) -> float:
        return self.detected_24h / self.failures if self.failures else 1.0

    @property
    def false_alarms(self) -> int:
        return sum(m.false_alarms for m in self.folds.values())

    @property
    def machine_months(self) -> float:
        return sum(m.machine_months for m in self.folds.values())

    @property
    def false_alarms_per_machine_month(self) -> float:
        return self.false_alarms / self.machine_months if self.machine_months else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "machines": self.machines,
            "days": self.days,
            "failures": self.failures,
            "detected_24h": self.detected_24h,
            "recall_24h": self.recall_24h,
            "false_alarms": self.false_alarms,
            "machine_months": self.machine_months,
            "false_alarms_per_machine_month": self.false_alarms_per_machine_month,
            "modes": {
                mode: {"failures": m.failures, "detected_24h": m.detected_24h, "leads_h": list(m.leads_h)}
                for mode, m in self.modes.items()
            },
        }


def simulate_windows(
    machines: int, days: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The simulated fleet's windows (bulk path), failures and maintenance periods."""
    from features.relative import windows_of
    from simulator.fleet import FleetConfig, FleetSimulator

    sim = FleetSimulator(FleetConfig(machines=machines, days=days, seed=seed))
    result = sim.history()
    types = dict(zip(sim.machines[ENTITY_KEY], sim.machines[MACHINE_TYPE], strict=True))
    windows = windows_of(result.readings, types)
    windows = windows.sort_values([ENTITY_KEY, EVENT_TIMESTAMP], kind="stable").reset_index(drop=True)
    return windows, result.failures, result.maintenance


def evaluate_folds(
    windows: pd.DataFrame,
    failures: pd.DataFrame,
    maintenance: pd.DataFrame,
    *,
    config: DetectorConfig | None = None,
    policy: AlertPolicy | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, AlertMetrics], dict[str, ModeResult]]:
    """Train on one half, evaluate on the other, both ways (see the module docstring)."""
    from aml.steps.prepare import near_failure_mask

    config = config or DetectorConfig(window=None)
    policy = policy or AlertPolicy()
    times = windows[EVENT_TIMESTAMP]
    first, last = times.min(), times.max()
    middle = first + (last - first) / 2
    in_a = (times <= middle).to_numpy()
    # each fold's span of window ends (lo, hi]; a failure belongs where its lead hour lies
    spans = {"A": (first - WINDOW, middle), "B": (middle, last)}
    observed_until = last + WINDOW  # a failure after the recording has no label to count
    sparse = windows[IS_SPARSE].fillna(True).to_numpy(dtype=bool)
    near = near_failure_mask(windows, failures, maintenance, policy.horizon_h)
    lead = pd.Timedelta(hours=policy.min_lead_h)
    folds: dict[str, AlertMetrics] = {}
    modes: dict[str, ModeResult] = {}
    for name, other in zip(FOLDS, reversed(FOLDS), strict=True):
        is_fold = in_a if name == "A" else ~in_a
        if progress:
            progress(f"fold {name}: training on fold {other}")
        detector = Detector(config, columns=list(MODEL_FEATURES)).fit(windows.loc[~is_fold & ~sparse & ~near])
        scored = windows.loc[is_fold & ~sparse].reset_index(drop=True)
        scored[SCORE] = detector.score(scored)
        lo, hi = spans[name][0] + lead, min(spans[name][1] + lead, observed_until)
        folds[name] = alert_metrics(scored, detector.threshold, failures, policy, start=lo, end=hi)
        counted = failures.loc[
            failures[ENTITY_KEY].isin(set(scored[ENTITY_KEY]))
            & (failures[FAILURE_TIME] > lo)
            & (failures[FAILURE_TIME] <= hi)
        ]
        outcomes = failure_outcomes(alerts_from_scores(scored, detector.threshold, policy), counted, policy)
        for mode, group in outcomes.groupby(FAILURE_MODE, sort=True):
            leads = group[LEAD_H].dropna()
            hits = leads[leads >= policy.min_lead_h]
            modes[str(mode)] = modes.get(str(mode), ModeResult()).plus(
                len(group), len(hits), tuple(float(h) for h in np.round(hits, 1))
            )
    return folds, modes


def evaluate_fleet(
    machines: int, days: float, seed: int, progress: Callable[[str], None] | None = None
) -> FleetEvaluation:
    """Simulate, then :func:`evaluate_folds` with the pipeline's configuration."""
    if progress:
        progress(f"simulating {machines} machines x {days:g} days (seed {seed})")
    windows, failures, maintenance = simulate_windows(machines, days, seed)
    folds, modes = evaluate_folds(windows, failures, maintenance, progress=progress)
    return FleetEvaluation(seed=seed, machines=machines, days=days, folds=folds, modes=modes)


def fleet_rows(results: list[FleetEvaluation]) -> tuple[list[str], list[list[str]]]:
    """A table of ``results``, one row per seed: recall@24h, each failure mode (detected >= 24 h
    ahead / failures, with the range of lead times), false alarms per machine-month."""
    modes = sorted({mode for r in results for mode in r.modes})
    header = ["seed", "recall@24h", *modes, "false alarms / machine-month"]
    rows = []
    for r in results:
        cells = [str(r.seed), f"{r.recall_24h:.2f} ({r.detected_24h}/{r.failures})"]
        for mode in modes:
            m = r.modes.get(mode)
            if m is None or not m.failures:
                cells.append("-")
                continue
            lo, hi = (f"{min(m.leads_h):.0f}", f"{max(m.leads_h):.0f}") if m.leads_h else ("", "")
            leads = f" ({lo}-{hi} h ahead)" if lo != hi else f" ({lo} h ahead)" if lo else ""
            cells.append(f"{m.detected_24h}/{m.failures}{leads}")
        cells.append(f"{r.false_alarms_per_machine_month:.2f} ({r.false_alarms}/{r.machine_months:.1f})")
        rows.append(cells)
    return header, rows


__all__ = [
    "FOLDS",
    "FleetEvaluation",
    "ModeResult",
    "evaluate_fleet",
    "evaluate_folds",
    "fleet_rows",
    "simulate_windows",
]
