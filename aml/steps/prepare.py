"""Pipeline step ``prepare``: training and held-back evaluation windows from the Feast offline store.

1. Windows with ``start <= event_timestamp < end`` are fetched by a point-in-time join through Feast
   (``features.store.historical_features``), one entity row per stored window.
2. Time split: the last ``holdout_fraction`` of the range is held back, with failure labels, for
   ``evaluate``; the rest is training data.
3. From the training part it drops, so that a retrain never learns that failing is normal:
   sparse windows; windows within ``exclude_before_failure_h`` before a known failure (and up to the
   end of the repair); windows inside maintenance periods; and machines the current champion flags
   (an alert, as ``evaluate`` defines it, within the last ``champion_lookback_h`` of the training
   range). If the champion flags more than ``max_flagged_share`` of the fleet, that is drift, not a
   wave of failures: then no machine is dropped, so that the retrain can learn the new normal.

Outputs: ``train_data/windows.parquet`` and ``eval_data/{windows,failures}.parquet``, each with a
``summary.json`` saying what was kept and dropped and why.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from aml.evaluation import AlertPolicy
from aml.steps.step_io import (
    FAILURES_FILE,
    SUMMARY_FILE,
    WINDOWS_FILE,
    StepError,
    main_guard,
    tracking_uri_for,
    write_json,
)
from core.contract import (
    ENTITY_KEY,
    EVENT_TIMESTAMP,
    FAILURE_TIME,
    IS_SPARSE,
    MAINTENANCE_END,
    MAINTENANCE_START,
    MODEL_FEATURES,
    WINDOW,
)
from core.layout import DataLayout


def _time(value: str) -> pd.Timestamp | None:
    if not value or value.lower() in ("none", "auto"):
        return None
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@contextmanager
def feast_layout(layout: DataLayout) -> Iterator[DataLayout]:
    """The layout Feast opens: a scratch directory whose ``offline/`` is a link to the data
    directory's, so the step never writes into its input. On AzureML the datastore is mounted
    read-only (``ro_mount``, aml/pipelines/train.yml) and holds only what the ingest workers write
    (the day files): Feast could create neither its directory nor its registry there. It applies
    the registry in the scratch directory and reads the same day files."""
    with tempfile.TemporaryDirectory(prefix="feast-") as tmp:
        scratch = DataLayout(Path(tmp))
        offline = layout.windows_dir.relative_to(layout.root).parts[0]
        (scratch.root / offline).symlink_to(layout.root / offline, target_is_directory=True)
        yield scratch


def point_in_time_windows(
    layout: DataLayout, start: pd.Timestamp | None, end: pd.Timestamp | None
) -> pd.DataFrame:
    """Every stored window in [start, end) with its features, fetched through Feast's PIT join."""
    from features.errors import NoOfflineData, StoreNotApplied
    from features.store import apply, historical_features, open_store, read_offline

    try:
        stored = read_offline(
            layout,
            start=start.to_pydatetime() if start is not None else None,
            end=end.to_pydatetime() if end is not None else None,
        )
    except NoOfflineData as exc:
        raise StepError(f"no feature data: {exc}") from exc
    if len(stored) == 0:
        raise StepError(f"no windows between {start} and {end} in {layout.windows_dir}")
    entity_df = stored[[ENTITY_KEY, EVENT_TIMESTAMP]].drop_duplicates().reset_index(drop=True)
    with feast_layout(layout) as feast:
        store = open_store(feast)
        try:
            joined = historical_features(store, entity_df)
        except StoreNotApplied:
            apply(store)
            joined = historical_features(store, entity_df)
    joined[EVENT_TIMESTAMP] = pd.to_datetime(joined[EVENT_TIMESTAMP], utc=True)
    joined = joined.dropna(subset=list(MODEL_FEATURES))
    return joined.sort_values([ENTITY_KEY, EVENT_TIMESTAMP], kind="stable").reset_index(drop=True)


def read_labels(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns, UTC]") for c in columns}).assign(
            **{ENTITY_KEY: pd.Series(dtype=str)}
        )
    frame = pd.read_parquet(path)
    for c in columns:
        frame[c] = pd.to_datetime(frame[c], utc=True)
    return frame


def near_failure_mask(
    windows: pd.DataFrame, failures: pd.DataFrame, maintenance: pd.DataFrame, horizon_h: float
) -> np.ndarray:
    """Windows whose hour overlaps (failure - horizon, end of repair] or a maintenance period."""
    mask = np.zeros(len(windows), dtype=bool)
    machine = windows[ENTITY_KEY].to_numpy()
    end = windows[EVENT_TIMESTAMP]
    begin = end - WINDOW
    horizon = pd.Timedelta(hours=horizon_h)
    repair_end: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]] = {}
    for m, s, e in zip(
        maintenance[ENTITY_KEY], maintenance[MAINTENANCE_START], maintenance[MAINTENANCE_END], strict=True
    ):
        mask |= (machine == m) & (end > s).to_numpy() & (begin < e).to_numpy()
        repair_end.setdefault(m, []).append((s, e))
    for m, ft in zip(failures[ENTITY_KEY], failures[FAILURE_TIME], strict=True):
        until = ft + WINDOW
        for s, e in repair_end.get(m, []):
            if s <= ft + pd.Timedelta(hours=1) and e > until:
                until = e
        mask |= (machine == m) & (end > ft - horizon).to_numpy() & (begin < until).to_numpy()
    return mask


def champion_flagged_machines(
    data_dir: Path, train: pd.DataFrame, lookback_h: float, alert_k: int
) -> tuple[list[str], str | None]:
    """Machines with a champion alert in the last ``lookback_h`` of ``train``; and the version."""
    from aml.bundle_scoring import score_frame
    from aml.evaluation import ALERT_TIME, SCORE, AlertPolicy, alerts_from_scores
    from core.registry import champion_version, download_version

    uri = tracking_uri_for(data_dir)
    version = champion_version(uri)
    if version is None or len(train) == 0:
        return [], version
    with tempfile.TemporaryDirectory() as tmp:
        bundle = download_version(uri, version, Path(tmp))
        scored = train[[ENTITY_KEY, EVENT_TIMESTAMP]].copy()
        scored[SCORE] = score_frame(bundle, train)
        threshold = bundle.meta.threshold
    cutoff = train[EVENT_TIMESTAMP].max() - pd.Timedelta(hours=lookback_h)
    alerts = alerts_from_scores(scored, threshold, AlertPolicy(alert_k=alert_k))
    return sorted(alerts.loc[alerts[ALERT_TIME] > cutoff, ENTITY_KEY].unique().tolist()), version


def prepare(args: argparse.Namespace) -> dict[str, object]:
    layout = DataLayout(Path(args.data_dir).resolve())
    start, end = _time(args.start), _time(args.end)
    windows = point_in_time_windows(layout, start, end)
    lo = start or (windows[EVENT_TIMESTAMP].min() - WINDOW)
    hi = end or windows[EVENT_TIMESTAMP].max()
    split = lo + (hi - lo) * (1.0 - args.holdout_fraction)
    failures = read_labels(layout.failures_path, [FAILURE_TIME])
    maintenance = read_labels(layout.maintenance_path, [MAINTENANCE_START, MAINTENANCE_END])

    is_eval = (windows[EVENT_TIMESTAMP] > split).to_numpy()
    sparse = windows[IS_SPARSE].fillna(True).astype(bool).to_numpy()
    eval_w = windows.loc[is_eval & ~sparse].reset_index(drop=True)
    train = windows.loc[~is_eval].reset_index(drop=True)

    dropped: dict[str, int] = {"sparse": int(sparse[~is_eval].sum())}
    train = train.loc[~train[IS_SPARSE].fillna(True).astype(bool)]
    near = near_failure_mask(train, failures, maintenance, args.exclude_before_failure_h)
    dropped["near_failure_or_maintenance"] = int(near.sum())
    train = train.loc[~near]
    flagged, version = champion_flagged_machines(
        Path(args.data_dir), train, args.champion_lookback_h, args.alert_k
    )
    n_machines = train[ENTITY_KEY].nunique()
    share = len(flagged) / n_machines if n_machines else 0.0
    drift_suspected = share > args.max_flagged_share
    if flagged and not drift_suspected:
        drop = train[ENTITY_KEY].isin(flagged)
        dropped["champion_flagged_machines"] = int(drop.sum())
        train = train.loc[~drop]
    train = train.reset_index(drop=True)
    if len(train) < 2:
        raise StepError(f"only {len(train)} training windows left after exclusions {dropped}")

    out_train, out_eval = Path(args.train_data), Path(args.eval_data)
    out_train.mkdir(parents=True, exist_ok=True)
    out_eval.mkdir(parents=True, exist_ok=True)
    keep = [ENTITY_KEY, EVENT_TIMESTAMP, *MODEL_FEATURES]
    train[keep].to_parquet(out_train / WINDOWS_FILE, index=False)
    eval_w[keep].to_parquet(out_eval / WINDOWS_FILE, index=False)
    failures.to_parquet(out_eval / FAILURES_FILE, index=False)
    summary: dict[str, object] = {
        "range": {"start": str(lo), "end": str(hi), "split": str(split)},
        "windows": len(windows),
        "train_windows": len(train),
        "eval_windows": len(eval_w),
        "train_machines": int(train[ENTITY_KEY].nunique()),
        "dropped": dropped,
        "champion_version": version,
        "champion_flagged_machines": flagged,
        "champion_flagged_share": round(share, 4),
        "drift_suspected": drift_suspected,
        "settings": vars(args),
    }
    write_json(out_train / SUMMARY_FILE, summary)
    write_json(out_eval / SUMMARY_FILE, {"start": str(split), "end": str(hi), "windows": len(eval_w)})
    return summary


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aml.steps.prepare", description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", required=True, help="predmaint data dir (offline store, labels, feast)")
    p.add_argument("--start", default="", help="ISO time, inclusive; empty = oldest window")
    p.add_argument("--end", default="", help="ISO time, exclusive; empty = newest window")
    p.add_argument("--holdout-fraction", type=float, default=0.5)
    p.add_argument("--exclude-before-failure-h", type=float, default=168.0)
    p.add_argument("--champion-lookback-h", type=float, default=24.0)
    p.add_argument("--max-flagged-share", type=float, default=0.2)
    p.add_argument("--alert-k", type=int, default=AlertPolicy().alert_k)
    p.add_argument("--train-data", required=True)
    p.add_argument("--eval-data", required=True)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if not 0.0 < args.holdout_fraction < 1.0:
        raise StepError("holdout_fraction must be in (0, 1)")
    summary = prepare(args)
    print(
        f"prepare: {summary['train_windows']} training windows, {summary['eval_windows']} held back; "
        f"dropped {summary['dropped']}"
    )


if __name__ == "__main__":
    sys.exit(main_guard(main))
