"""Pipeline step ``evaluate``: alert metrics of the candidate on held-back labelled windows, the
same for the current champion on the same windows, the label-free shadow figures, and the decision.

The held-back slice is the traffic the candidate shadows here: both models score the same windows
(on AzureML the live counterpart is mirrored traffic to the green deployment; locally the facade's
shadow log, ``scoring.shadow``). Fault signatures are replayed from the labelled history in the
offline store before the slice (the last ``replay_history_days``).

Metrics are defined in :mod:`aml.evaluation`, the gate in :mod:`aml.gate`. Output
``decision/decision.json``: ``promote`` (bool), ``reasons`` (one line per check,
``pass:``/``FAIL:``/``skipped:``/``info:``), both models' metrics, the shadow figures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from aml.bundle_scoring import score_frame
from aml.evaluation import AlertPolicy
from aml.gate import GatePolicy, Scorer, ShadowInputs, policy_inputs
from aml.steps.step_io import (
    DECISION_FILE,
    FAILURES_FILE,
    SUMMARY_FILE,
    WINDOWS_FILE,
    StepError,
    main_guard,
    read_json,
    step_run,
    tracking_uri_for,
    write_json,
)
from core.contract import ENTITY_KEY, EVENT_TIMESTAMP, MODEL_FEATURES, WINDOW
from core.layout import DataLayout


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m aml.steps.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="candidate bundle folder")
    p.add_argument("--eval-data", required=True)
    p.add_argument("--data-dir", required=True, help="predmaint data dir (local MLflow registry)")
    defaults = policy_inputs()
    p.add_argument("--alert-k", type=int, default=defaults["alert_k"])
    p.add_argument("--cooldown-h", type=float, default=defaults["cooldown_h"])
    p.add_argument("--horizon-h", type=float, default=defaults["horizon_h"])
    p.add_argument("--min-lead-h", type=float, default=defaults["min_lead_h"])
    p.add_argument(
        "--max-false-alarms", type=float, default=defaults["max_false_alarms"], help="per machine-month"
    )
    p.add_argument("--tolerance", type=float, default=defaults["tolerance"])
    p.add_argument(
        "--alert-budget",
        type=float,
        default=GatePolicy().alert_budget_per_machine_month,
        help="alerts per machine-month (shadow)",
    )
    p.add_argument("--replay-history-days", type=float, default=30.0)
    p.add_argument(
        "--inference-log",
        default="",
        help="the facade's inference log dir: when its shadow log holds the candidate's rows, the gate "
        "compares on that live shadow traffic instead of the held-back slice",
    )
    p.add_argument("--decision", required=True, help="output folder")
    args = p.parse_args(argv)

    import mlflow

    from aml.evaluation import SCORE, AlertMetrics, alert_metrics
    from aml.gate import decide, shadow_figures
    from core.bundle import Bundle, BundleError, load_bundle
    from core.registry import champion_version, download_version

    try:
        candidate = load_bundle(Path(args.model))
    except BundleError as exc:
        raise StepError(str(exc)) from exc
    eval_dir = Path(args.eval_data)
    path = eval_dir / WINDOWS_FILE
    if not path.is_file():
        raise StepError(f"no evaluation windows at {path}")
    windows = pd.read_parquet(path)
    failures = pd.read_parquet(eval_dir / FAILURES_FILE)
    span = read_json(eval_dir / SUMMARY_FILE)
    start, end = pd.Timestamp(span["start"]), pd.Timestamp(span["end"])
    policy = AlertPolicy(
        alert_k=args.alert_k, cooldown_h=args.cooldown_h, horizon_h=args.horizon_h, min_lead_h=args.min_lead_h
    )

    def metrics_of(bundle: Bundle) -> AlertMetrics:
        scored = windows.assign(**{SCORE: score_frame(bundle, windows)})
        return alert_metrics(scored, bundle.meta.threshold, failures, policy, start=start, end=end)

    gate = GatePolicy(
        max_false_alarms_per_machine_month=args.max_false_alarms,
        alert_budget_per_machine_month=args.alert_budget,
        tolerance=args.tolerance,
    )
    layout = DataLayout(Path(args.data_dir).resolve())
    live = live_shadow(Path(args.inference_log), candidate.meta.version) if args.inference_log else None
    canvas = live[0] if live is not None else windows
    shadow = held_back_shadow(layout, canvas, failures, policy, args.replay_history_days)

    cand = metrics_of(candidate)
    cand_scorer = (partial(score_frame, candidate), candidate.meta.threshold)
    uri = tracking_uri_for(Path(args.data_dir))
    version = champion_version(uri)
    champ = None
    champ_scorer = None
    with tempfile.TemporaryDirectory() as tmp:
        if version is not None:
            champion = download_version(uri, version, Path(tmp))
            champ = metrics_of(champion)
            champ_scorer = (partial(score_frame, champion), champion.meta.threshold)
        inputs = shadow.scored(cand_scorer[0], champ_scorer[0] if champ_scorer else None)
        if live is not None:
            _, live_champion, live_candidate = live
            inputs = replace(
                inputs,
                source="live shadow log",
                candidate_scores=live_candidate,
                champion_scores=live_champion if champ_scorer else None,
            )
        figures = shadow_figures(inputs, cand_scorer, champ_scorer, policy, gate)
    decision = decide(cand, champ, gate, champion_version=version, shadow=figures)
    with step_run(uri, "evaluate"):
        mlflow.log_metrics(
            {f"candidate_{k}": float(v) for k, v in cand.model_dump().items() if v is not None}
        )
        if champ is not None:
            mlflow.log_metrics(
                {f"champion_{k}": float(v) for k, v in champ.model_dump().items() if v is not None}
            )
        mlflow.log_metrics(
            {
                "shadow_candidate_alerts_per_machine_month": figures.candidate_rate.per_machine_month,
                "shadow_signatures": float(figures.signatures),
                "shadow_candidate_replay_detected": float(figures.candidate_replay_detected),
            }
        )
        mlflow.log_metric("promote", float(decision.promote))
        mlflow.log_dict(decision.model_dump(mode="json"), DECISION_FILE)
    write_json(Path(args.decision) / DECISION_FILE, decision.model_dump(mode="json"))
    print(
        f"evaluate: recall@24h {cand.recall_24h:.2f}, precision {cand.precision:.2f}, "
        f"false alarms/machine-month {cand.false_alarms_per_machine_month:.2f}; "
        f"{'PROMOTE' if decision.promote else 'keep champion'}"
    )
    for reason in decision.reasons:
        print(f"  {reason}")


@dataclass(frozen=True)
class HeldBackShadow:
    """The held-back slice as shadow traffic, with its open machines and the replays."""

    windows: pd.DataFrame
    open_machines: list[str]
    replayed: pd.DataFrame
    clean: pd.DataFrame

    def scored(self, candidate: Scorer, champion: Scorer | None) -> ShadowInputs:
        return ShadowInputs(
            source="held-back slice",
            windows=self.windows,
            candidate_scores=candidate(self.windows),
            champion_scores=champion(self.windows) if champion is not None else None,
            open_machines=self.open_machines,
            replayed=self.replayed,
            clean=self.clean,
        )


def live_shadow(log_dir: Path, candidate_version: str) -> tuple[pd.DataFrame, Any, Any] | None:
    """The live shadow traffic of ``candidate_version`` (``aml.shadow_log``), None when it has none."""
    from aml.shadow_log import paired_traffic

    windows, champion, candidate = paired_traffic(log_dir, candidate_version)
    if len(windows) == 0:
        print(f"evaluate: no shadow rows of {candidate_version} in {log_dir}: using the held-back slice")
        return None
    return windows, champion, candidate


def held_back_shadow(
    layout: DataLayout,
    windows: pd.DataFrame,
    failures: pd.DataFrame,
    policy: AlertPolicy,
    history_days: float,
) -> HeldBackShadow:
    from aml.replay import open_machines, replay_signatures
    from aml.steps.prepare import near_failure_mask, read_labels
    from features.errors import NoOfflineData
    from features.store import read_offline

    maintenance = read_labels(layout.maintenance_path, ["start", "end"])
    failures = failures.assign(failure_time=pd.to_datetime(failures["failure_time"], utc=True))
    opened = open_machines(windows, failures, maintenance, policy.horizon_h)
    features = [c for c in MODEL_FEATURES if c in windows.columns]
    if len(windows) == 0:
        return HeldBackShadow(windows, opened, windows.iloc[:0], windows.iloc[:0])
    start = windows[EVENT_TIMESTAMP].min() - WINDOW
    try:
        history = read_offline(layout, start=start - pd.Timedelta(days=history_days), end=start)
    except NoOfflineData:
        history = windows.iloc[:0]
    history = history.dropna(subset=features).reset_index(drop=True)
    near = near_failure_mask(history, failures, maintenance, policy.horizon_h)
    past = failures.loc[failures["failure_time"] <= start]
    targets = sorted(set(windows[ENTITY_KEY].astype(str)) - set(opened))
    replayed, clean = replay_signatures(history, past, near, windows, features, targets, policy)
    return HeldBackShadow(windows, opened, replayed, clean)


if __name__ == "__main__":
    sys.exit(main_guard(main))
