"""Alert episodes: hysteresis, one notification per episode, a per-machine alert budget, drift marks.

Definitions (windows hourly, per machine, in time order):

- a window is **flagged** when ``anomaly_score >= threshold`` (a scalar, or one threshold per row:
  each model version has its own);
- an episode **opens** at the end of ``open_k`` consecutive flagged windows and **closes** at the
  end of ``close_m`` consecutive clear windows (hysteresis: a flicker below the threshold does not
  end it, a single flagged hour does not start one). Missing hours count as clear windows;
- each episode is **notified once**, when it opens, unless the machine's **alert budget** is spent:
  at most ``budget`` notified episodes per machine in any ``budget_period_h``; beyond it the episode
  is kept, marked ``suppressed`` and counted, and nobody is paged for it;
- an episode that opens while a **fleet drift episode** is detected is ``drift_suspect``: the whole
  fleet changed, so its windows may be flagged because the model's normal is out of date, not
  because this machine is failing; rows scored in those intervals are drift-suspect too;
- a row is also drift-suspect when more than ``FLEET_DRIFT_SHARE`` of the machines scored in its
  hour, and at least ``FLEET_DRIFT_MIN_MACHINES``, are flagged (:func:`fleet_drift_rows`):
  failures are independent, so a fifth of the fleet flagged at once is a regime change, not a
  wave of faults (the same share makes ``prepare`` keep flagged machines in a retrain). It is seen
  in the hour the regime changes, hours before a windowed drift test can be sure; drift-suspect
  rows raise no alert;
- its **top features** aggregate the rows' explanations (``top_features`` lists of the scoring
  answer, see ``scoring.explanations``) over its flagged windows: each feature's contribution summed
  over those windows and divided by their count (a window where it was not among the top ones
  counts 0), highest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import pandas as pd

from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, WINDOW

SCORE: Final = "anomaly_score"
TOP_FEATURES: Final = "top_features"
"""Optional column of the scored windows: the row's ``top_features`` (list of dicts) or None."""
EPISODE_TOP_FEATURES: Final = 3
FLEET_DRIFT_SHARE: Final = 0.2
"""More than this share of the fleet flagged in one hour is fleet drift (module docstring)."""
FLEET_DRIFT_MIN_MACHINES: Final = 3
"""... and at least this many machines: in a small fleet one or two faults can pass the share."""


@dataclass(frozen=True)
class EpisodePolicy:
    open_k: int = 3
    close_m: int = 6
    budget: int = 2
    budget_period_h: float = 720.0

    def __post_init__(self) -> None:
        if self.open_k < 1 or self.close_m < 1 or self.budget < 0 or self.budget_period_h <= 0:
            raise ValueError("open_k and close_m must be >= 1, budget >= 0, budget_period_h > 0")


@dataclass(frozen=True)
class Episode:
    machine_id: str
    opened_at: datetime
    """End of the ``open_k``-th flagged window: when the notification goes out."""
    closed_at: datetime | None
    """End of the ``close_m``-th clear window; None while it is still open."""
    first_flag: datetime
    windows: int
    """Windows scored from the first flag to the close (or the last window seen)."""
    flagged: int
    peak_score: float
    notified: bool
    """False: suppressed by the machine's alert budget."""
    drift_suspect: bool
    top_features: list[dict[str, Any]] = field(default_factory=list)

    @property
    def suppressed(self) -> bool:
        return not self.notified


def drift_intervals(
    times: Sequence[datetime], detected: Sequence[bool | None]
) -> list[tuple[datetime, datetime]]:
    """Intervals ``[first detected, first clear after it)`` of a drift verdict series in time order;
    an episode still detected at the end runs to ``datetime.max`` (tz of the times). ``None``
    verdicts (no verdict yet) do not open or close an interval."""
    out: list[tuple[datetime, datetime]] = []
    start: datetime | None = None
    for t, d in zip(times, detected, strict=True):
        if d is None:
            continue
        if d and start is None:
            start = t
        elif not d and start is not None:
            out.append((start, t))
            start = None
    if start is not None:
        out.append((start, datetime.max.replace(tzinfo=start.tzinfo)))
    return out


def fleet_drift_rows(
    windows: pd.DataFrame, threshold: float | np.ndarray, share: float = FLEET_DRIFT_SHARE
) -> np.ndarray:
    """Mask of the rows of ``windows`` [machine_id, event_timestamp, anomaly_score] scored in an hour
    in which more than ``share`` of the machines scored, and at least ``FLEET_DRIFT_MIN_MACHINES``,
    are flagged."""
    if len(windows) == 0:
        return np.zeros(0, dtype=bool)
    flag = windows[SCORE].to_numpy(dtype=np.float64) >= np.broadcast_to(
        np.asarray(threshold, dtype=np.float64), (len(windows),)
    )
    hour = pd.to_datetime(windows[EVENT_TIMESTAMP], utc=True).dt.floor(WINDOW).to_numpy()
    grouped = pd.Series(flag).groupby(hour)
    share_flagged = grouped.transform("mean").to_numpy()
    count_flagged = grouped.transform("sum").to_numpy()
    return np.asarray((share_flagged > share) & (count_flagged >= FLEET_DRIFT_MIN_MACHINES), dtype=bool)


def in_intervals(at: datetime | pd.Timestamp, intervals: Iterable[tuple[datetime, datetime]]) -> bool:
    return any(lo <= at < hi for lo, hi in intervals)


def aggregate_top_features(
    rows: Sequence[Sequence[Mapping[str, Any]] | None], k: int = EPISODE_TOP_FEATURES
) -> list[dict[str, Any]]:
    """Mean contribution per feature over ``rows`` (a missing feature counts 0), the ``k`` highest."""
    total: dict[tuple[str, str], float] = {}
    for top in rows:
        for f in top or ():
            key = (str(f["feature"]), str(f.get("sensor", "")))
            total[key] = total.get(key, 0.0) + float(f["contribution"])
    n = max(1, len(rows))
    ranked = sorted(total.items(), key=lambda kv: -kv[1])[:k]
    return [{"feature": f, "sensor": s, "contribution": v / n} for (f, s), v in ranked]


def episodes_from_scores(
    windows: pd.DataFrame,
    threshold: float | np.ndarray,
    policy: EpisodePolicy,
    *,
    drift: Sequence[tuple[datetime, datetime]] = (),
) -> list[Episode]:
    """Episodes (module docstring) of scored windows [machine_id, event_timestamp, anomaly_score,
    optional top_features]; ``threshold`` a scalar or one per row of ``windows``; ``drift`` the
    detected fleet drift intervals. Sorted by opening time."""
    if len(windows) == 0:
        return []
    w = windows.assign(_threshold=np.broadcast_to(np.asarray(threshold, dtype=np.float64), (len(windows),)))
    w = w.sort_values([ENTITY_KEY, EVENT_TIMESTAMP], kind="stable")
    has_top = TOP_FEATURES in w.columns
    episodes: list[Episode] = []
    for machine, group in w.groupby(ENTITY_KEY, sort=True):
        times = [t.to_pydatetime() for t in pd.to_datetime(group[EVENT_TIMESTAMP], utc=True)]
        scores = group[SCORE].to_numpy(dtype=np.float64)
        flags = (scores >= group["_threshold"].to_numpy()).tolist()
        tops = group[TOP_FEATURES].tolist() if has_top else [None] * len(group)
        episodes += _machine_episodes(str(machine), times, scores.tolist(), flags, tops, policy, drift)
    return sorted(episodes, key=lambda e: (e.opened_at, e.machine_id))


def _machine_episodes(
    machine: str,
    times: list[datetime],
    scores: list[float],
    flags: list[bool],
    tops: list[Any],
    policy: EpisodePolicy,
    drift: Sequence[tuple[datetime, datetime]],
) -> list[Episode]:
    """One machine's episodes from its windows in time order."""
    step = WINDOW.total_seconds()
    budget_period = timedelta(hours=policy.budget_period_h)
    episodes: list[Episode] = []
    notified_at: list[datetime] = []
    run_start: int | None = None  # index of the first flagged window of the current run
    run = clear = 0
    open_idx: int | None = None  # first flagged window of the open episode
    opened: datetime | None = None
    prev: datetime | None = None

    def close(end_idx: int, closed_at: datetime | None) -> None:
        nonlocal open_idx, opened
        assert open_idx is not None and opened is not None
        span = range(open_idx, end_idx + 1)
        flagged = [i for i in span if flags[i]]
        budget_left = sum(1 for t in notified_at if opened - t < budget_period) < policy.budget
        if budget_left:
            notified_at.append(opened)
        episodes.append(
            Episode(
                machine_id=machine,
                opened_at=opened,
                closed_at=closed_at,
                first_flag=times[open_idx],
                windows=len(span),
                flagged=len(flagged),
                peak_score=max(scores[i] for i in flagged),
                notified=budget_left,
                drift_suspect=in_intervals(opened, drift),
                top_features=aggregate_top_features([tops[i] for i in flagged]),
            )
        )
        open_idx = opened = None

    for i, (t, flag) in enumerate(zip(times, flags, strict=True)):
        missing = 0 if prev is None else max(0, round((t - prev).total_seconds() / step) - 1)
        prev = t
        if missing:
            run, run_start = 0, None
            if opened is not None:
                clear += missing
                if clear >= policy.close_m:  # the gap closed it, at its m-th clear hour
                    close(i - 1, times[i - 1] + WINDOW * (policy.close_m - (clear - missing)))
                    clear = 0
        if flag:
            clear = 0
            if run == 0:
                run_start = i
            run += 1
            if opened is None and run >= policy.open_k:
                open_idx, opened = run_start, t
        else:
            run, run_start = 0, None
            if opened is not None:
                clear += 1
                if clear >= policy.close_m:
                    close(i, t)
                    clear = 0
    if opened is not None:
        close(len(times) - 1, None)
    return episodes


class EpisodeCounts:
    """Totals of a list of episodes, for reports."""

    def __init__(self, episodes: Sequence[Episode]) -> None:
        self.episodes = len(episodes)
        self.notified = sum(e.notified for e in episodes)
        self.suppressed = self.episodes - self.notified
        self.drift_suspect = sum(e.drift_suspect for e in episodes)
        self.open = sum(e.closed_at is None for e in episodes)

    def as_json(self) -> dict[str, int]:
        return dict(vars(self))
