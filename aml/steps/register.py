"""Pipeline step ``register``: registers the candidate bundle as a new model version (always, so
every trained model is traceable), logs the gate's numbers with it, and makes it the champion (tag
``predmaint.champion``, see ``core.registry``) only when ``evaluate`` decided to promote. The
reasons are recorded on the version (tag ``predmaint.gate_reasons``), in the run, and in
``registration/registration.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aml.steps.step_io import (
    DECISION_FILE,
    REGISTRATION_FILE,
    Registration,
    StepError,
    main_guard,
    read_decision,
    step_run,
    tracking_uri_for,
    write_json,
)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m aml.steps.register", description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="candidate bundle folder")
    p.add_argument("--decision", required=True, help="evaluate's output folder")
    p.add_argument("--data-dir", required=True, help="predmaint data dir (local MLflow registry)")
    p.add_argument("--trigger", default="manual", help="what started the run (manual, drift, schedule)")
    p.add_argument("--alert-id", default="", help="the alert that started the run, if any")
    p.add_argument("--registration", required=True, help="output folder")
    args = p.parse_args(argv)

    import mlflow

    from core.bundle import BundleError, load_bundle
    from core.registry import champion_version, register_bundle

    try:
        bundle = load_bundle(Path(args.model))
    except BundleError as exc:
        raise StepError(str(exc)) from exc
    decision = read_decision(Path(args.decision))
    promote, reasons, cand = decision.promote, decision.reasons, decision.candidate
    uri = tracking_uri_for(Path(args.data_dir))
    before = champion_version(uri)
    with step_run(uri, "register") as run:
        mlflow.set_tags({"trigger": args.trigger, "alert_id": args.alert_id, "promote": str(promote).lower()})
        mlflow.log_metrics(
            {f"gate_{k}": float(v) for k, v in cand.model_dump().items() if isinstance(v, int | float)}
        )
        mlflow.log_dict(decision.model_dump(mode="json"), DECISION_FILE)
        version = register_bundle(
            uri,
            bundle,
            promote=promote,
            run_id=run.info.run_id,
            tags={
                "trigger": args.trigger,
                "alert_id": args.alert_id,
                "predmaint.gate": "passed" if promote else "failed",
                "predmaint.gate_reasons": "; ".join(reasons),
                "predmaint.recall_24h": f"{cand.recall_24h:.4f}",
                "predmaint.false_alarms_per_machine_month": f"{cand.false_alarms_per_machine_month:.4f}",
            },
        )
    after = champion_version(uri)
    record = Registration(
        version=version,
        promoted=promote,
        champion_before=before,
        champion_after=after,
        reasons=reasons,
        run_id=run.info.run_id,
        trigger=args.trigger,
        alert_id=args.alert_id,
    )
    write_json(Path(args.registration) / REGISTRATION_FILE, record.model_dump(mode="json"))
    verdict = f"champion -> v{version}" if promote else f"champion stays v{before} (gate failed)"
    print(f"register: version {version}; {verdict}")
    for reason in reasons:
        print(f"  {reason}")


if __name__ == "__main__":
    sys.exit(main_guard(main))
