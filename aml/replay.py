"""Inputs of the gate's label-free checks (``aml.gate``): the machines with open failures or
maintenance in the shadow traffic, and fault signatures replayed from the labelled history."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aml.evaluation import AlertPolicy
from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, WINDOW


def open_machines(
    windows: pd.DataFrame, failures: pd.DataFrame, maintenance: pd.DataFrame, horizon_h: float
) -> list[str]:
    """Machines of ``windows`` with a failure in ``(slice start, slice end + horizon]`` or a
    maintenance period overlapping the slice."""
    if len(windows) == 0:
        return []
    start = windows[EVENT_TIMESTAMP].min() - WINDOW
    end = windows[EVENT_TIMESTAMP].max()
    present = set(windows[ENTITY_KEY].astype(str))
    ft = failures["failure_time"]
    hit = failures.loc[(ft > start) & (ft <= end + pd.Timedelta(hours=horizon_h)), ENTITY_KEY]
    out = set(hit.astype(str))
    if len(maintenance):
        overlap = (maintenance["start"] < end) & (maintenance["end"] > start)
        out |= set(maintenance.loc[overlap, ENTITY_KEY].astype(str))
    return sorted(out & present)


def replay_signatures(
    history: pd.DataFrame,
    failures: pd.DataFrame,
    healthy_near_failure: np.ndarray,
    canvas: pd.DataFrame,
    features: list[str],
    targets: list[str],
    policy: AlertPolicy,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Replayed windows and the same target windows without signatures, both keyed by replay id.

    ``history``: labelled windows before the slice; ``healthy_near_failure``: the mask of history
    rows near a failure or in maintenance (excluded from each machine's baseline); ``canvas``: the
    slice (new regime); ``targets``: healthy canvas machines, used round-robin. A signature covers
    the canvas length (at most ``horizon_h - min_lead_h``) ending ``min_lead_h`` before its failure.
    """
    empty = pd.DataFrame(columns=[ENTITY_KEY, EVENT_TIMESTAMP, *features])
    if not targets or len(history) == 0 or len(failures) == 0:
        return empty, empty
    by_target = {m: g.sort_values(EVENT_TIMESTAMP) for m, g in canvas.groupby(ENTITY_KEY)}
    baseline = history.loc[~healthy_near_failure].groupby(ENTITY_KEY)[features].median()
    max_len = max(1, int((policy.horizon_h - policy.min_lead_h) // (WINDOW.total_seconds() / 3600)))
    lead = pd.Timedelta(hours=policy.min_lead_h)
    hist = {m: g.set_index(EVENT_TIMESTAMP).sort_index() for m, g in history.groupby(ENTITY_KEY)}
    replayed: list[pd.DataFrame] = []
    clean: list[pd.DataFrame] = []
    n = 0
    for machine, ft in zip(failures[ENTITY_KEY].astype(str), failures["failure_time"], strict=True):
        if machine not in hist or machine not in baseline.index:
            continue
        target = by_target[targets[n % len(targets)]]
        length = min(len(target), max_len)
        end = ft - lead
        sig = hist[machine].loc[(hist[machine].index > end - WINDOW * length) & (hist[machine].index <= end)]
        if len(sig) < min(length, policy.alert_k):
            continue  # the machine did not report before this failure: no signature
        # align by hours before the failure; hours the source did not report add no deviation
        offsets = ((end - sig.index) / WINDOW).round().astype(int).to_numpy()
        delta = np.zeros((length, len(features)))
        delta[length - 1 - offsets] = sig[features].to_numpy() - baseline.loc[machine].to_numpy()
        base = target.iloc[-length:]
        rid = f"replay-{n:04d}"
        clean.append(base[[EVENT_TIMESTAMP, *features]].assign(**{ENTITY_KEY: rid}))
        replayed.append(
            base[[EVENT_TIMESTAMP]]
            .assign(**{ENTITY_KEY: rid})
            .join(pd.DataFrame(base[features].to_numpy() + delta, columns=features, index=base.index))
        )
        n += 1
    if not replayed:
        return empty, empty
    return pd.concat(replayed, ignore_index=True), pd.concat(clean, ignore_index=True)
