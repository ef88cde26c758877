"""The promotion gate: labelled checks where labels exist, label-free shadow checks where they do not.

After a fleet drift the retrain's held-back slice is hours long and usually holds no failure, so
labelled F1 and recall compare 1.0 with 1.0 (or 0.0 with 0.0). The gate then relies on figures that
need no fresh labels, computed on the **shadow traffic**: the same windows scored by the candidate
and the champion (the held-back slice re-scored offline, or the facade's live shadow log, see
``scoring.shadow``):

- **alert rate against the alert budget**: alerts (``aml.evaluation`` definition) per machine-month.
  A rate over hours of traffic is noisy (one alert in 12 h on one machine extrapolates to 60 per
  machine-month), so a rate "exceeds" a cap only when the observed count is improbable under the
  cap: one-sided Poisson test, ``P(X >= alerts | cap x machine-months) < alpha``. The same test
  applies the labelled false-alarm cap.
- **agreement on machines with open failures or maintenance** (a failure within ``horizon_h`` after
  the slice starts, or a maintenance period overlapping it): which of those machines each model
  alerts on. The candidate must alert on at least as many as the champion, unless the champion's
  own alert rate is over budget (then its alerts are the drift, not evidence of faults: skipped and
  said so).
- **recall on replayed fault signatures** (the candidate must not be worse: at least the champion's
  minus ``tolerance``, or a shortfall that a paired exact test, McNemar's, does not find
  significant at ``alpha``): each labelled failure in the history before the slice
  gives its pre-failure windows ending ``min_lead_h`` before it, expressed relative to that machine's
  own baseline (feature minus the machine's median over windows away from failures); the deviations
  are laid over a healthy machine's last windows of the new regime. A model **detects** a replay when
  it alerts on the replayed windows and not on the same windows without the signature (a model that
  alerts on healthy machines earns nothing). Any such alert has at least ``min_lead_h`` lead. The two
  models are compared **at the same flag rate**: the champion's replays are scored against the
  threshold that flags the same share of the shadow windows as the candidate's threshold does (a
  champion whose normal is out of date sits near its threshold everywhere, and any deviation
  would tip it over; detectors are compared at equal false-positive rate, as on a ROC curve).

The labelled F1 and recall@24h comparison is skipped, and said so, when the champion's own false
alarms on the slice are over the labelled cap (the same Poisson test): a champion whose normal is
out of date alerts on every machine, and so "catches" a failure that happens to fall in the slice;
that is no bar for a candidate, which still has to meet the cap itself and the replay recall.

Comparisons that cannot fail for lack of data (no failures in the slice, no open machines, no
signatures) are skipped with a line saying so, never counted as a pass on 0.0 vs 0.0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, computed_field
from scipy.stats import binom, poisson

from aml.evaluation import HOURS_PER_MONTH, SCORE, AlertMetrics, AlertPolicy, alerts_from_scores
from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, WINDOW

Scorer = Callable[[pd.DataFrame], np.ndarray]
"""Anomaly scores of a frame of windows (one model); see ``aml.bundle_scoring.score_frame``."""


@dataclass(frozen=True)
class GatePolicy:
    """Promotion rule (module docstring).

    ``max_false_alarms_per_machine_month``: labelled cap; ``alert_budget_per_machine_month``: the
    label-free cap on alerts of any kind (``aml.episodes.EpisodePolicy``'s default budget, 2 per
    720 h); ``alpha``: the rate tests' level; ``tolerance``: how far below the champion the
    candidate may be on F1, recall@24h, replay recall and agreement (a share of the compared count).
    """

    max_false_alarms_per_machine_month: float = 2.0
    alert_budget_per_machine_month: float = 2.0
    alpha: float = 0.05
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0 or self.tolerance < 0:
            raise ValueError("alpha must be in (0, 1) and tolerance >= 0")
        if self.max_false_alarms_per_machine_month < 0 or self.alert_budget_per_machine_month < 0:
            raise ValueError("caps must be >= 0")


def policy_inputs() -> dict[str, float]:
    """The defaults of the policies by the names the pipeline's components and steps give them
    (``--alert-k``, ``alert_k:`` ...): the steps' arguments take these, an asset test pins the YAMLs."""
    alert, gate = AlertPolicy(), GatePolicy()
    return {
        "alert_k": alert.alert_k,
        "cooldown_h": alert.cooldown_h,
        "horizon_h": alert.horizon_h,
        "min_lead_h": alert.min_lead_h,
        "max_false_alarms": gate.max_false_alarms_per_machine_month,
        "tolerance": gate.tolerance,
    }


class RateFigure(BaseModel):
    model_config = ConfigDict(frozen=True)

    alerts: int
    machine_months: float
    per_machine_month: float
    p_under_cap: float
    """P(X >= alerts) for a Poisson count at the cap over the same exposure."""


class ShadowFigures(BaseModel):
    """Label-free figures of one shadow comparison (module docstring)."""

    model_config = ConfigDict(frozen=True)

    source: str
    """Where the shadow traffic came from, e.g. ``held-back slice`` or ``live shadow log``."""
    windows: int
    hours: float
    candidate_rate: RateFigure
    champion_rate: RateFigure | None = None
    open_machines: list[str] = []
    candidate_open_alerted: list[str] = []
    champion_open_alerted: list[str] | None = None
    signatures: int = 0
    candidate_replays: list[str] = []
    """Ids of the replays the candidate detects."""
    champion_replays: list[str] | None = None
    """The same for the champion at ``champion_matched_threshold`` (the candidate's flag rate)."""
    champion_matched_threshold: float | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def candidate_replay_detected(self) -> int:
        return len(self.candidate_replays)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def champion_replay_detected(self) -> int | None:
        return None if self.champion_replays is None else len(self.champion_replays)

    @property
    def replay_worse_p(self) -> float | None:
        """One-sided exact McNemar p-value that the candidate detects fewer replays than the
        champion: of the replays only one of them detects, how improbable is the champion's share
        if each were a coin toss."""
        if self.champion_replays is None:
            return None
        cand, champ = set(self.candidate_replays), set(self.champion_replays)
        only_champ, only_cand = len(champ - cand), len(cand - champ)
        if only_champ == 0:
            return 1.0
        return float(binom.sf(only_champ - 1, only_champ + only_cand, 0.5))

    @property
    def agreement(self) -> float | None:
        """Share of open machines on which both models decide the same (alert or not)."""
        if not self.open_machines or self.champion_open_alerted is None:
            return None
        cand, champ = set(self.candidate_open_alerted), set(self.champion_open_alerted)
        return sum((m in cand) == (m in champ) for m in self.open_machines) / len(self.open_machines)


def rate_figure(alerts: int, machine_months: float, cap: float) -> RateFigure:
    mu = cap * machine_months
    p = float(poisson.sf(alerts - 1, mu)) if alerts > 0 else 1.0
    return RateFigure(
        alerts=alerts,
        machine_months=round(machine_months, 4),
        per_machine_month=alerts / machine_months if machine_months else 0.0,
        p_under_cap=p,
    )


def machine_months(windows: pd.DataFrame) -> float:
    return len(windows) * WINDOW.total_seconds() / 3600 / HOURS_PER_MONTH


def matched_threshold(scores: np.ndarray, flag_share: float) -> float:
    """The threshold that flags ``flag_share`` of ``scores`` (above the maximum when it is 0)."""
    if len(scores) == 0:
        return float("inf")
    if flag_share <= 0:
        return float(np.nextafter(scores.max(), np.inf))
    return float(np.quantile(scores, 1.0 - flag_share, method="higher"))


def _alerted(windows: pd.DataFrame, scores: np.ndarray, threshold: float, policy: AlertPolicy) -> set[str]:
    scored = windows[[ENTITY_KEY, EVENT_TIMESTAMP]].assign(**{SCORE: scores})
    return set(alerts_from_scores(scored, threshold, policy)[ENTITY_KEY].astype(str))


def _replay_detected(
    replayed: pd.DataFrame, clean: pd.DataFrame, score: Scorer, threshold: float, policy: AlertPolicy
) -> list[str]:
    """Ids of the replays detected (module docstring)."""
    if len(replayed) == 0:
        return []
    on_replay = _alerted(replayed, score(replayed), threshold, policy)
    on_clean = _alerted(clean, score(clean), threshold, policy)
    return sorted(on_replay - on_clean)


@dataclass(frozen=True)
class ShadowInputs:
    """What the label-free checks compare: the shadow windows (both models' scores on the same
    rows), the open machines, and the replays built from the labelled history."""

    source: str
    windows: pd.DataFrame
    candidate_scores: np.ndarray
    champion_scores: np.ndarray | None
    open_machines: list[str]
    replayed: pd.DataFrame
    clean: pd.DataFrame


def shadow_figures(
    inputs: ShadowInputs,
    candidate: tuple[Scorer, float],
    champion: tuple[Scorer, float] | None,
    alert_policy: AlertPolicy,
    gate: GatePolicy,
) -> ShadowFigures:
    """Figures of the module docstring; ``candidate``/``champion``: (scorer, threshold)."""
    w = inputs.windows
    months = machine_months(w)
    cap = gate.alert_budget_per_machine_month
    hours = len(w[EVENT_TIMESTAMP].unique()) * WINDOW.total_seconds() / 3600 if len(w) else 0.0
    cand_alerted = _alerted(w, inputs.candidate_scores, candidate[1], alert_policy)
    cand_alerts = len(
        alerts_from_scores(w.assign(**{SCORE: inputs.candidate_scores}), candidate[1], alert_policy)
    )
    figures: dict[str, object] = {
        "source": inputs.source,
        "windows": len(w),
        "hours": hours,
        "candidate_rate": rate_figure(cand_alerts, months, cap),
        "open_machines": inputs.open_machines,
        "candidate_open_alerted": sorted(cand_alerted & set(inputs.open_machines)),
        "signatures": int(inputs.replayed[ENTITY_KEY].nunique()) if len(inputs.replayed) else 0,
        "candidate_replays": _replay_detected(inputs.replayed, inputs.clean, *candidate, alert_policy),
    }
    if champion is not None and inputs.champion_scores is not None:
        champ_scored = w.assign(**{SCORE: inputs.champion_scores})
        flag_share = float(np.mean(inputs.candidate_scores >= candidate[1])) if len(w) else 0.0
        matched = matched_threshold(inputs.champion_scores, flag_share)
        champ_alerts = len(alerts_from_scores(champ_scored, champion[1], alert_policy))
        champ_alerted = _alerted(w, inputs.champion_scores, champion[1], alert_policy)
        figures |= {
            "champion_rate": rate_figure(champ_alerts, months, cap),
            "champion_open_alerted": sorted(champ_alerted & set(inputs.open_machines)),
            "champion_replays": _replay_detected(
                inputs.replayed, inputs.clean, champion[0], matched, alert_policy
            ),
            "champion_matched_threshold": matched,
        }
    return ShadowFigures.model_validate(figures)


class Decision(BaseModel):
    promote: bool
    reasons: list[str]
    candidate: AlertMetrics
    champion: AlertMetrics | None = None
    champion_version: str | None = None
    shadow: ShadowFigures | None = None
    policy: dict[str, float] = {}


@dataclass
class _Checks:
    reasons: list[str] = field(default_factory=list)
    ok: bool = True

    def check(self, passed: bool, message: str) -> None:
        self.reasons.append(("pass: " if passed else "FAIL: ") + message)
        self.ok = self.ok and passed

    def skip(self, message: str) -> None:
        self.reasons.append("skipped: " + message)


def _rate_check(checks: _Checks, what: str, rate: RateFigure, cap: float, alpha: float) -> None:
    checks.check(
        rate.p_under_cap >= alpha,
        f"{what} {rate.per_machine_month:.3f} ({rate.alerts} in {rate.machine_months:.2f} machine-months) "
        f"not above {cap:g} (P(>= {rate.alerts} at the cap) = {rate.p_under_cap:.3f} >= {alpha:g})",
    )


def _labelled_checks(
    checks: _Checks, cand: AlertMetrics, champ: AlertMetrics | None, version: str | None, policy: GatePolicy
) -> None:
    fa = rate_figure(cand.false_alarms, cand.machine_months, policy.max_false_alarms_per_machine_month)
    _rate_check(
        checks, "false alarms per machine-month", fa, policy.max_false_alarms_per_machine_month, policy.alpha
    )
    if champ is None:
        checks.reasons.append("no champion yet: the candidate is compared with the limits only")
        return
    if cand.failures == 0:
        checks.skip(
            "F1 and recall@24h vs the champion: the held-back slice has no failures "
            "(both would be compared on nothing)"
        )
        return
    cap = policy.max_false_alarms_per_machine_month
    champ_fa = rate_figure(champ.false_alarms, champ.machine_months, cap)
    if champ_fa.p_under_cap < policy.alpha:
        checks.skip(
            f"F1 and recall@24h vs the champion: its own false alarms on the slice "
            f"({champ_fa.per_machine_month:.3f} per machine-month, {champ_fa.alerts} in "
            f"{champ_fa.machine_months:.2f}) are over the cap of {cap:g}, so its alerts before a failure "
            "are not evidence that it finds faults (a model that alerts everywhere catches every one)"
        )
        return
    tol = policy.tolerance
    checks.check(
        cand.f1 >= champ.f1 - tol,
        f"F1 {cand.f1:.3f} >= champion v{version} {champ.f1:.3f} - {tol:g} ({cand.failures} failures)",
    )
    checks.check(
        cand.recall_24h >= champ.recall_24h - tol,
        f"recall@24h {cand.recall_24h:.3f} >= champion {champ.recall_24h:.3f} - {tol:g}",
    )


def _shadow_checks(checks: _Checks, s: ShadowFigures, policy: GatePolicy) -> None:
    budget, alpha, tol = policy.alert_budget_per_machine_month, policy.alpha, policy.tolerance
    _rate_check(checks, f"shadow ({s.source}, {s.hours:.0f} h) alert rate", s.candidate_rate, budget, alpha)
    champion_over = s.champion_rate is not None and s.champion_rate.p_under_cap < alpha
    if s.champion_rate is not None:
        checks.reasons.append(
            f"info: champion's shadow alert rate {s.champion_rate.per_machine_month:.3f} "
            f"({s.champion_rate.alerts} alerts){' over the budget' if champion_over else ''}"
        )
    if s.champion_open_alerted is None:
        pass
    elif not s.open_machines:
        checks.skip("agreement on machines with open failures or maintenance: none in the shadow traffic")
    elif champion_over:
        checks.skip(
            f"agreement on {len(s.open_machines)} machines with open failures or maintenance: the champion "
            "is over its alert budget, so its alerts are not evidence of faults"
        )
    else:
        n_c, n_ch = len(s.candidate_open_alerted), len(s.champion_open_alerted)
        checks.check(
            n_c >= n_ch - tol * len(s.open_machines),
            f"alerts on machines with open failures or maintenance {n_c}/{len(s.open_machines)} >= "
            f"champion {n_ch} (agreement {s.agreement:.2f})",
        )
    if s.signatures == 0:
        checks.skip("recall on replayed fault signatures: no labelled failure with history to replay")
    elif s.champion_replay_detected is None:
        checks.reasons.append(
            f"info: recall on {s.signatures} replayed fault signatures "
            f"{s.candidate_replay_detected / s.signatures:.2f}"
        )
    else:
        n_ch = s.champion_replay_detected or 0
        rc, rch = s.candidate_replay_detected / s.signatures, n_ch / s.signatures
        p = s.replay_worse_p
        assert p is not None
        checks.check(
            rc >= rch - tol or p >= alpha,
            f"recall on {s.signatures} replayed fault signatures {rc:.2f} vs champion {rch:.2f} at the "
            f"candidate's flag rate: not worse (>= champion - {tol:g}, or P(champion's lead by chance) = "
            f"{p:.3f} >= {alpha:g})",
        )


def decide(
    candidate: AlertMetrics,
    champion: AlertMetrics | None,
    policy: GatePolicy,
    champion_version: str | None = None,
    shadow: ShadowFigures | None = None,
) -> Decision:
    """Promote when every check passes; ``reasons`` has one ``pass:``/``FAIL:``/``skipped:``/``info:``
    line per check (module docstring)."""
    checks = _Checks()
    _labelled_checks(checks, candidate, champion, champion_version, policy)
    if shadow is not None:
        _shadow_checks(checks, shadow, policy)
    return Decision(
        promote=checks.ok,
        reasons=checks.reasons,
        candidate=candidate,
        champion=champion,
        champion_version=champion_version,
        shadow=shadow,
        policy={
            "max_false_alarms_per_machine_month": policy.max_false_alarms_per_machine_month,
            "alert_budget_per_machine_month": policy.alert_budget_per_machine_month,
            "alpha": policy.alpha,
            "tolerance": policy.tolerance,
        },
    )
