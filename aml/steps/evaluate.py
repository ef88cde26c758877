"""Pipeline step ``evaluate``: alert metrics of the candidate on held-back labelled windows, the
same for the current champion on the same windows, and the promotion decision.

Metrics and the gate are defined in :mod:`aml.evaluation`. Output ``decision/decision.json``:
``promote`` (bool), ``reasons`` (one line per check, ``pass:``/``FAIL:``), both models' metrics.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

from aml.evaluation import policy_inputs
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
    p.add_argument("--decision", required=True, help="output folder")
    args = p.parse_args(argv)

    import mlflow

    from aml.bundle_scoring import score_frame
    from aml.evaluation import SCORE, AlertMetrics, AlertPolicy, GatePolicy, alert_metrics, decide
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

    cand = metrics_of(candidate)
    uri = tracking_uri_for(Path(args.data_dir))
    version = champion_version(uri)
    champ = None
    if version is not None:
        with tempfile.TemporaryDirectory() as tmp:
            champ = metrics_of(download_version(uri, version, Path(tmp)))
    decision = decide(
        cand,
        champ,
        GatePolicy(max_false_alarms_per_machine_month=args.max_false_alarms, tolerance=args.tolerance),
        champion_version=version,
    )
    with step_run(uri, "evaluate"):
        mlflow.log_metrics(
            {f"candidate_{k}": float(v) for k, v in cand.model_dump().items() if v is not None}
        )
        if champ is not None:
            mlflow.log_metrics(
                {f"champion_{k}": float(v) for k, v in champ.model_dump().items() if v is not None}
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


if __name__ == "__main__":
    sys.exit(main_guard(main))
