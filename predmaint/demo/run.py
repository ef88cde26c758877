"""One demo run from start to end: history, first champion, services, live phase, report.

:func:`run_demo` is what ``predmaint demo`` calls. It returns the exit code: 0 when the loop closed
(drift detected, alert fired, one retrain, promotion, recovery, no failed /predict request), 1 when
it did not, 2 when a step failed outright, 130 when interrupted. Every process it started is stopped
before it returns, whichever way it ends.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

from core.layout import DATA_DIR_ENV, DataLayout
from core.registry import TRACKING_URI_ENV
from predmaint.demo.alerting import Alerting
from predmaint.demo.clients import DriftClient, FacadeClient
from predmaint.demo.config import DemoConfig
from predmaint.demo.datadir import DataDirError, fresh_data_dir
from predmaint.demo.history import History, build_history, failure_events, history_end
from predmaint.demo.loop import LiveLoop
from predmaint.demo.outcome import problems, write_summary
from predmaint.demo.processes import (
    Interrupted,
    ServiceError,
    ServiceGroup,
    interrupt_on_termination,
    stop_children,
)
from predmaint.demo.quality import alert_quality
from predmaint.demo.record import RunRecord
from predmaint.demo.report import write_report
from predmaint.demo.services import drift_spec, scoring_spec
from predmaint.demo.timeline import Event, EventKind, Timeline
from predmaint.demo.training import PipelineFailed, TrainingRun, train_first_champion


def _progress(console: Console) -> Progress:
    """The project's progress columns, on the demo's own console (see :func:`demo_console`)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _progress_printer(console: Console) -> Any:
    bar = _progress(console)
    tasks: dict[str, Any] = {}

    def report(step: str, done: int, total: int | None) -> None:
        if step not in tasks:
            tasks[step] = bar.add_task(step, total=total)
        bar.update(tasks[step], completed=done, total=total)

    return bar, report


def demo_console(like: Console) -> Console:
    """A console bound to the process's stderr *file*, not to ``sys.stderr`` at each write: pipeline
    steps that run in this process redirect ``sys.stdout``/``sys.stderr`` to their logs while the live
    loop goes on printing."""
    return Console(file=sys.stderr, force_terminal=like.is_terminal, width=like.width, highlight=False)


def run_demo(config: DemoConfig, console: Console) -> int:
    """Run the loop, print the timeline and the report path; the exit code."""
    _quiet_libraries()
    console = demo_console(console)

    def print_event(e: Event) -> None:
        who = escape(f" [{e.machine_id}]") if e.machine_id else ""
        console.print(f"  [bold]{e.kind.value}[/]{who}: {escape(e.detail)}", highlight=False, soft_wrap=True)

    timeline = Timeline(on_add=print_event)
    record = RunRecord()
    try:
        root = fresh_data_dir(config.data_dir, keep=config.keep_data)
    except DataDirError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        console.print("[dim]hint:[/] pass --data-dir with a new or a previous demo directory")
        return 2
    layout = DataLayout(root)
    # the pipeline steps (run in this process) and the services read their paths from here; MLflow's
    # URI is pinned to the demo's registry: the demo never trains into a workspace set in the shell
    os.environ[DATA_DIR_ENV] = str(layout.root)
    os.environ[TRACKING_URI_ENV] = layout.mlflow_tracking_uri
    report_dir = layout.reports_dir
    history: History | None = None
    code = 2
    error: str | None = None
    started = time.monotonic()
    services = ServiceGroup(layout.root / "logs", stop_timeout_s=config.stop_timeout_s)
    try:
        with interrupt_on_termination():
            try:
                history, first_run = _prepare(config, layout, console, timeline)
                live = _serve_and_stream(
                    config, layout, history, first_run, services, record, timeline, report_dir, console
                )
                del live
                code = 0
            finally:
                services.stop_all()
                stop_children(config.stop_timeout_s)
    except KeyboardInterrupt as exc:
        why = f" ({exc})" if isinstance(exc, Interrupted) else ""
        console.print(f"[yellow]interrupted{why}[/]: every service the demo started is stopped")
        return 130
    except (ServiceError, PipelineFailed) as exc:
        error = str(exc)
        timeline.add(EventKind.error, record.live_end, error.splitlines()[0])
        console.print(f"[bold red]error:[/] {error}")
    except Exception as exc:  # a part failed: report what happened so far instead of a trace
        error = f"{type(exc).__name__}: {exc}"
        timeline.add(EventKind.error, record.live_end, error.splitlines()[0])
        console.print(f"[bold red]error:[/] {error}")
        console.print_exception(max_frames=8)
    wall_s = time.monotonic() - started
    if history is None or record.live_start is None:
        return code
    return _finish(config, history, record, timeline, report_dir, console, wall_s, error)


def _quiet_libraries() -> None:
    """Library deprecation warnings and azure-ai-ml's "experimental class" log lines are noise on a
    demo's console (the pipeline loads its YAML with azure-ai-ml in this process)."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    for name in ("azure", "mlflow", "feast", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # the trigger's decisions and a run's failure are on the demo's timeline already; a run that was
    # still waiting for its data when the demo ended is not worth a traceback
    logging.getLogger("predmaint.retrain_trigger").setLevel(logging.CRITICAL)


def _prepare(
    config: DemoConfig, layout: DataLayout, console: Console, timeline: Timeline
) -> tuple[History, TrainingRun]:
    console.rule(f"[bold]predmaint demo[/]: {config.machines} machines, data in {layout.root}")
    bar, report = _progress_printer(console)
    with bar:
        history = build_history(config, layout, report, end=config.history_ends or history_end())
    timeline.add(
        EventKind.history,
        None,
        f"{config.history_days:g} days x {config.machines} machines: {history.readings:,} readings, "
        f"{history.windows:,} hourly windows, {history.failures} failures",
    )
    # no spinner: the steps run in this process and their output is redirected to their logs
    console.print("training the first champion (aml/pipelines/train.yml, local runner) ...")
    run = train_first_champion(config, layout, history)
    timeline.add(EventKind.champion, None, f"model v{run.version} is champion ({run.summary})")
    return history, run


def _serve_and_stream(
    config: DemoConfig,
    layout: DataLayout,
    history: History,
    first_run: TrainingRun,
    services: ServiceGroup,
    record: RunRecord,
    timeline: Timeline,
    report_dir: Path,
    console: Console,
) -> LiveLoop:
    with console.status("starting the facade and the drift sidecar"):
        facade_proc, drift_proc = services.start_all(
            [scoring_spec(config, layout), drift_spec(config, layout)], config.ready_timeout_s
        )
    timeline.add(
        EventKind.services,
        None,
        f"facade {facade_proc.spec.base_url} (pid {facade_proc.pid}), "
        f"drift sidecar {drift_proc.spec.base_url} (pid {drift_proc.pid})",
    )
    facade = FacadeClient(facade_proc.spec.base_url, record.predict)
    drift = DriftClient(drift_proc.spec.base_url)
    alerting = Alerting(config, layout, history, timeline, record, first_run_started=first_run.started_wall)
    if config.prometheus:
        with console.status("starting Alertmanager and Prometheus"):
            timeline.add(
                EventKind.services, None, alerting.use_prometheus(services, drift_proc.spec.base_url)
            )
    loop = LiveLoop(config, history, facade, drift, alerting, services, record, timeline, report_dir, layout)
    try:
        with _progress(console) as bar:
            task = bar.add_task("live: streaming, scoring, watching drift", total=int(config.live_hours))

            def on_hour(live: LiveLoop) -> None:
                last = record.drift[-1] if record.drift else None
                share = "-" if last is None or last.share is None else f"{last.share:.2f}"
                versions = record.served_versions[-1][1] if record.served_versions else "?"
                bar.update(
                    task,
                    advance=1,
                    description=(
                        f"live {record.live_end:%m-%d %H:%M}  model v{versions}  drift share {share}  "
                        f"{alerting.status}"
                    ),
                )

            loop.run(on_hour)
    finally:
        alerting.close()
        facade.close()
        drift.close()
    return loop


def _finish(
    config: DemoConfig,
    history: History,
    record: RunRecord,
    timeline: Timeline,
    report_dir: Path,
    console: Console,
    wall_s: float,
    error: str | None,
) -> int:
    assert record.live_start is not None
    live_end = record.live_end or record.live_start
    record.failures = failure_events(history.sim, live_end)
    promotion = timeline.first(EventKind.swap)
    episode = (
        (history.drift_time, promotion.sim_time or live_end) if promotion else (history.drift_time, live_end)
    )
    quality = alert_quality(
        record.scores, record.failures, live_start=record.live_start, live_end=live_end, drift_episode=episode
    )
    for o in quality.outcomes:
        timeline.add(
            EventKind.failure,
            o.failure_time,
            o.mode,
            machine_id=o.machine_id,
            wall_s=record.wall_at(o.failure_time),
        )
        if o.first_alert is not None:
            timeline.add(
                EventKind.first_alert,
                o.first_alert,
                f"{o.lead_time_h:.0f} h before its failure",
                machine_id=o.machine_id,
                wall_s=record.wall_at(o.first_alert),
            )
        else:
            timeline.add(
                EventKind.missed_failure,
                o.failure_time,
                "never alerted before it failed",
                machine_id=o.machine_id,
                wall_s=record.wall_at(o.failure_time),
            )
    found = problems(record, timeline)
    if error:
        found.insert(0, f"the run stopped early: {error.splitlines()[0]}")
    report = write_report(
        report_dir,
        record,
        timeline,
        quality,
        title=f"predmaint demo: {config.drift} on {config.machines} machines",
        settings=config.model_dump(mode="json"),
        verdict=found,
    )
    summary = write_summary(report_dir, config, record, timeline, quality, report, found, wall_s)
    console.rule("timeline")
    for line in timeline.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.rule()
    console.print(f"report: {report}")
    console.print(f"summary: {summary}")
    if record.evidently_report:
        console.print(f"evidently report of the peak window: {record.evidently_report}")
    console.print(f"wall-clock: {wall_s:.0f} s")
    if found:
        console.print("[bold red]the loop did not close:[/]")
        for p in found:
            console.print(f"  - {p}")
        return 1
    console.print(
        "[bold green]the loop closed[/]: drift detected, alert fired, retrained, promoted, recovered"
    )
    return 0
