"""``predmaint eval skab``: SKAB's protocol, our detector next to SKAB's baseline, in one run.
``predmaint eval fleet``: recall@24h and false alarms per failure mode on the simulated fleet, two
folds (see :mod:`predmaint.eval_fleet`).
``predmaint eval drift``: the drift verdicts (calibrated next to the fixed rule) on the simulator and
on SKAB (see :mod:`predmaint.eval_drift`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from predmaint.console import console, fail, print_table, progress
from predmaint.options import OutputFormat


def register(app: typer.Typer) -> None:
    evaluate = typer.Typer(
        help="Evaluate detectors on public benchmarks and the simulated fleet.", no_args_is_help=True
    )

    @evaluate.command("skab")
    def skab(
        data: Annotated[Path, typer.Option("--data", help="folder with SKAB CSVs (searched recursively)")],
        output: Annotated[OutputFormat, typer.Option("--format", help="table, json or markdown")] = (
            OutputFormat.table
        ),
        markdown: Annotated[
            bool, typer.Option("--markdown", hidden=True, help="deprecated: --format markdown")
        ] = False,
    ) -> None:
        """Pooled pointwise F1, FAR and MAR on every labelled CSV under --data (first 400 rows of each
        file train, the rest test), for our detector and SKAB's IsolationForest baseline."""
        from aml.skab import (
            CALIBRATION_RUN_ROWS,
            SKAB_ALERT_K,
            SKAB_CONFIG,
            SkabError,
            anomaly_free_files,
            evaluate_files,
            labelled_files,
        )

        if not data.is_dir():
            fail(f"{data} is not a folder", "pass the SKAB data folder, e.g. --data ../shared/data/skab/data")
        files = labelled_files(data)
        if not files:
            fail(f"no labelled SKAB CSV (with an 'anomaly' column) under {data}")
        with progress() as bar:
            task = bar.add_task("SKAB files", total=len(files))
            try:
                report = evaluate_files(
                    files, progress=lambda _p: bar.advance(task), anomaly_free=anomaly_free_files(data)
                )
            except (SkabError, ValueError) as exc:
                fail(str(exc))
        console.print(
            f"{len(report.files)} files, {report.test_rows} test rows, {report.anomalies} anomalous "
            f"({100 * report.anomalies / max(report.test_rows, 1):.1f} %)"
        )
        free = report.anomaly_free_runs
        rows = [
            (name, c.f1, c.far, c.mar, report.anomaly_free[name].far if free else None)
            for name, c in report.results.items()
        ]
        if markdown:
            output = OutputFormat.markdown
        if output is OutputFormat.json:
            import json

            typer.echo(
                json.dumps(
                    {
                        n: {"f1": f1, "far": far, "mar": mar, "anomaly_free_far": af}
                        for n, f1, far, mar, af in rows
                    },
                    indent=2,
                )
            )
        else:
            cells = [
                (n, f"{f1:.3f}", f"{far:.2f}", f"{mar:.2f}", "-" if af is None else f"{af:.2f}")
                for n, f1, far, mar, af in rows
            ]
            head = ("detector", "F1", "FAR %", "MAR %", f"anomaly-free FAR % ({free} runs)")
            print_table(head, cells, markdown=output is OutputFormat.markdown)
        cfg = SKAB_CONFIG
        console.print(
            f"ours: rolling {list(cfg.stats)} over {list(cfg.scales)} rows, score = largest robust "
            f"deviation from the training rows, threshold = {cfg.threshold_margin} x the largest training "
            f"score, {SKAB_ALERT_K} consecutive; same for every file. Anomaly-free runs: "
            f"{CALIBRATION_RUN_ROWS} rows each, first 400 train."
        )

    @evaluate.command("fleet")
    def fleet(
        seed: Annotated[
            list[int] | None,
            typer.Option("--seed", metavar="INT", help="simulator seed, repeatable [default: 0]"),
        ] = None,
        machines: Annotated[int, typer.Option(min=2, max=2000, help="machines in the fleet")] = 50,
        history_days: Annotated[
            float, typer.Option("--history-days", min=4, max=365, help="days of history, split in two folds")
        ] = 30.0,
        output: Annotated[OutputFormat, typer.Option("--format", help="table, json or markdown")] = (
            OutputFormat.table
        ),
    ) -> None:
        """Recall with >= 24 h lead and false alarms per machine-month on the simulated fleet, per
        failure mode: train on one half of the period, evaluate on the other, both ways (see
        docs/evaluation.md)."""
        from predmaint.eval_fleet import evaluate_fleet, fleet_rows

        results = []
        with console.status("evaluating ...") as status:
            for s in seed or [0]:
                results.append(evaluate_fleet(machines, history_days, s, lambda step: status.update(step)))
        header, rows = fleet_rows(results)
        if output is OutputFormat.json:
            import json

            typer.echo(json.dumps([r.as_dict() for r in results], indent=2))
        else:
            print_table(header, rows, markdown=output is OutputFormat.markdown)

    @evaluate.command("drift")
    def drift(
        data: Annotated[
            Path | None,
            typer.Option(
                "--data", help="SKAB data folder (with valve1/ and anomaly-free/); skipped if absent"
            ),
        ] = Path("../shared/data/skab/data"),
        simulator: Annotated[
            bool, typer.Option(help="also run the simulator's scenarios and controls")
        ] = True,
        folder: Annotated[
            list[str] | None,
            typer.Option(
                "--folder", help="SKAB folders under --data (repeatable; default valve1 and anomaly-free)"
            ),
        ] = None,
        plot: Annotated[
            Path | None,
            typer.Option("--plot", help="write the SKAB trade-off curve (false alarms vs detected) as PNG"),
        ] = None,
    ) -> None:
        """False-alarm rate, detection rate and SKAB NAB scores of the calibrated drift verdict, next
        to the fixed-threshold rule, in one run."""
        import tempfile

        from predmaint.eval_drift import (
            SCALES,
            SKAB_FOLDERS,
            SKAB_NAB_WINDOW_S,
            SKAB_WINDOW_ROWS,
            evaluate,
            plot_tradeoff,
            scaled_rates,
        )

        skab = data if data is not None and data.is_dir() else None
        if skab is None and not simulator:
            fail(f"{data} is not a folder and --no-simulator was given: nothing to evaluate")
        if skab is None:
            console.print(f"[yellow]{data} not found: SKAB skipped[/]")
        with (
            tempfile.TemporaryDirectory(prefix="predmaint-eval-drift-") as work,
            console.status("evaluating ...") as status,
        ):
            result = evaluate(
                skab,
                Path(work),
                lambda step: status.update(step),
                simulator=simulator,
                folders=folder or SKAB_FOLDERS,
            )
        lines = [
            "| data | method | false alarms (controls) | detected (shifts) |",
            "|---|---|---|---|",
        ]
        for source, methods in result.windows.items():
            for method, r in methods.items():
                fa = f"{r.false_alarms}/{r.controls} = {100 * r.false_alarm_rate:.1f} %"
                dr = f"{r.detected}/{r.shifts} = {100 * r.detection_rate:.1f} %"
                lines.append(f"| {source} | {method} | {fa} | {dr} |")
        if result.nab:
            lines += [
                "",
                f"SKAB changepoints (causal rolling reference), NAB with a {SKAB_NAB_WINDOW_S:g} s "
                f"window right of each changepoint ({SKAB_WINDOW_ROWS}-row windows):",
                "",
                "| method | scoring | NAB standard | NAB low FP | NAB low FN | found | missed | false pos. |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for scoring, table in (("NAB", result.nab), ("SKAB (tsad)", result.nab_skab)):
                for method, profiles in table.items():
                    std = profiles["standard"]
                    scores = " | ".join(
                        f"{profiles[p].normalised:.2f}" for p in ("standard", "low_fp", "low_fn")
                    )
                    counts = f"{std.detected} | {std.missed} | {std.false_positives}"
                    lines.append(f"| {method} | {scoring} | {scores} | {counts} |")
        if result.normal_hours:
            per_hour = ", ".join(
                f"{m} {n} ({n / result.normal_hours:.1f}/h; single checks "
                f"{result.normal_checks[m][0]}/{result.normal_checks[m][1]} drifted)"
                for m, n in result.false_onsets.items()
            )
            lines += [
                "",
                f"The same stream on anomaly-free ({result.normal_hours:.2f} h): false onsets {per_hour}",
            ]
        if result.margins:
            lines += [
                "",
                "Calibrated thresholds times a common factor (per-window protocol), false alarms / detected:",
                "",
                "| data | " + " | ".join(f"x{s:g}" for s in SCALES) + " |",
                "|---|" + "---|" * len(SCALES),
            ]
            for source, margins in result.margins.items():
                cells = []
                for scale in SCALES:
                    fa_rate, det_rate = scaled_rates(margins, scale)
                    shifts = f" / {100 * det_rate:.0f} %" if det_rate == det_rate else ""  # nan: none
                    cells.append(f"{100 * fa_rate:.0f} %{shifts}")
                lines.append(f"| {source} | " + " | ".join(cells) + " |")
        if result.tradeoff:
            alphas = [a for a, _ in next(iter(result.tradeoff.values()))]
            lines += [
                "",
                "Calibrated at each stated per-check false-alarm probability (per-window protocol), "
                "false alarms / detected:",
                "",
                "| data | " + " | ".join(f"{a:g}" for a in alphas) + " |",
                "|---|" + "---|" * len(alphas),
            ]
            for source, points in result.tradeoff.items():
                cells = [
                    f"{100 * r.false_alarm_rate:.0f} %"
                    + (f" / {100 * r.detection_rate:.0f} %" if r.shifts else "")
                    for _, r in points
                ]
                lines.append(f"| {source} | " + " | ".join(cells) + " |")
            if plot is not None:
                plot_tradeoff(result.tradeoff, plot)
                lines += ["", f"trade-off curve written to {plot}"]
        typer.echo("\n".join(lines))

    app.add_typer(evaluate, name="eval")
