"""``predmaint eval drift``: the drift verdicts on data, calibrated next to today's fixed rule.

Two sources, same settings for every file (chosen from principles, never per file):

- **simulator**: a 50-machine fleet; a model bundle trained on 14 healthy days (as the training
  pipeline does: windows near failures left out); then one-day windows (the sidecar's default
  window) of 40 control days (failures and repairs included: they are not drift) and of the 5 days
  after each drift scenario's onset. Each window goes
  through the sidecar's own path: the model's flags, the alerting machines left out
  (``drift.fleet``), the check against the bundle's reference.
- **SKAB** (``valve1/`` and ``anomaly-free/``): each file's first ``SKAB_REFERENCE_ROWS`` rows are the
  reference; windows of ``SKAB_WINDOW_ROWS`` rows after it are controls when no row is anomalous and
  shifts when every row is (the issue's protocol: one reference, ever staler).
- **changepoints** stream each file: a check every ``SKAB_STRIDE_ROWS`` rows of the window that ends
  there against a *causal rolling reference*, the ``SKAB_REFERENCE_ROWS`` rows right before the window
  (recalibrated whenever it has moved by a window), refreshed only while checks find no drift (a
  drifted check freezes it, so a change does not leak into it): drift is a change from the recent past, not a
  difference from a stale reference, which is what the changepoint protocol asks. A predicted
  changepoint is an onset of the sustained verdict; after an onset the reference restarts on the rows
  that follow (as a retrain would adopt the new normal) and checks resume once it holds
  ``SKAB_MIN_REFERENCE_ROWS``, so a later change, including the return to normal, is a new onset. NAB
  scoring with a 60 s window to the right of each true changepoint (``drift.nab``). The same stream
  over ``anomaly-free/`` counts false onsets per hour of normal operation.
- **separability**: each SKAB window's largest ``score / threshold`` over the columns (calibrated),
  so the run shows the false-alarm and detection rates that any common scaling of the calibrated
  thresholds would reach (:func:`scaled_rates`): what a wider or narrower null could buy at best.

Scores are computed with the scipy engine: the same statistic as Evidently's to every digit (see
``drift.detector``), about 50 times faster, which matters for thousands of checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

from drift.calibration import Calibration, block_rows_for, calibrate
from drift.changepoint import change_start
from drift.detector import DriftConfig, DriftResult, check_drift
from drift.nab import RawScore, nab_scores
from drift.sequential import DEFAULT_K, DEFAULT_N, KOfN
from drift.settings import SIDECAR_DRIFT_SHARE, SIDECAR_THRESHOLD

SKAB_REFERENCE_ROWS: Final = 400
SKAB_WINDOW_ROWS: Final = 60
"""One minute of SKAB's 1 Hz readings: NAB's window for a changepoint is 60 s, so a window has to be
about that long for an onset to be visible before the scoring window closes."""
SKAB_STRIDE_ROWS: Final = 5
SKAB_MIN_REFERENCE_ROWS: Final = 2 * SKAB_WINDOW_ROWS
"""Rows after an onset before the changepoint stream checks again (the new normal's reference): two
windows, the fewest that calibrate on stretches as long as the window. SKAB's faults last about a
minute, so a longer wait would miss the return to normal, itself a changepoint."""
SKAB_RECALIBRATE_ROWS: Final = SKAB_WINDOW_ROWS
"""The rolling reference is recalibrated each time it has moved by a window's rows."""
SKAB_NAB_WINDOW_S: Final = 60.0
SIM_MACHINES: Final = 50
SIM_REFERENCE_DAYS: Final = 14
SIM_CONTROL_DAYS: Final = 40
SIM_SHIFT_DAYS: Final = 5
"""Days after each scenario's onset checked as shifts (from 0.3 d on: every ramp is over by then)."""
SIM_SEED: Final = 1
FIXED = DriftConfig(threshold=SIDECAR_THRESHOLD, drift_share=SIDECAR_DRIFT_SHARE, engine="scipy")
CALIBRATED = DriftConfig(engine="scipy")
METHODS: Final = ("fixed", "calibrated")
SCALES: Final = (1.0, 1.5, 2.0, 3.0, 5.0)
"""Common factors on the calibrated thresholds for the separability table."""
TRADEOFF_ALPHAS: Final = (0.001, 0.003, 0.01, 0.03, 0.1, 0.2, 0.3, 0.45)
"""Stated per-check false-alarm probabilities of the trade-off curve (SKAB windows, recalibrated at
each); the default is ``drift.calibration.DEFAULT_FALSE_ALARM_PROBABILITY``."""


@dataclass
class Rates:
    controls: int = 0
    false_alarms: int = 0
    shifts: int = 0
    detected: int = 0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.controls if self.controls else float("nan")

    @property
    def detection_rate(self) -> float:
        return self.detected / self.shifts if self.shifts else float("nan")

    def add(self, is_shift: bool, alarm: bool) -> None:
        if is_shift:
            self.shifts += 1
            self.detected += alarm
        else:
            self.controls += 1
            self.false_alarms += alarm


@dataclass
class Evaluation:
    windows: dict[str, dict[str, Rates]] = field(default_factory=dict)
    """source -> method -> rates."""
    nab: dict[str, dict[str, RawScore]] = field(default_factory=dict)
    """method -> profile -> score (published NAB scoring)."""
    nab_skab: dict[str, dict[str, RawScore]] = field(default_factory=dict)
    """The same detections with SKAB's leaderboard scoring (``drift.nab``, ``scale="skab"``)."""
    false_onsets: dict[str, int] = field(default_factory=dict)
    """method -> onsets of the changepoint stream on ``anomaly-free/`` (every one is false)."""
    normal_checks: dict[str, tuple[int, int]] = field(default_factory=dict)
    """method -> (drifted, all) single checks of that stream: the per-check false-alarm rate."""
    normal_hours: float = 0.0
    """Hours of ``anomaly-free/`` streamed."""
    margins: dict[str, list[tuple[bool, float]]] = field(default_factory=dict)
    """source -> (is shift, largest calibrated score / threshold) per SKAB window."""
    tradeoff: dict[str, list[tuple[float, Rates]]] = field(default_factory=dict)
    """source -> (stated per-check false-alarm probability, calibrated window rates at it)."""


def scaled_rates(margins: Sequence[tuple[bool, float]], scale: float) -> tuple[float, float]:
    """False-alarm and detection rates if every calibrated threshold were ``scale`` times larger."""
    controls = [m for shift, m in margins if not shift]
    shifts = [m for shift, m in margins if shift]
    fa = sum(m >= scale for m in controls) / len(controls) if controls else float("nan")
    det = sum(m >= scale for m in shifts) / len(shifts) if shifts else float("nan")
    return fa, det


def _check(
    method: str,
    reference: pd.DataFrame,
    window: pd.DataFrame,
    columns: list[str],
    calibration: Calibration | None,
) -> DriftResult:
    config = FIXED if method == "fixed" else CALIBRATED
    return check_drift(
        reference,
        window,
        columns=columns,
        config=config,
        calibration=calibration if method == "calibrated" else None,
    ).result


def _verdict(
    method: str,
    reference: pd.DataFrame,
    window: pd.DataFrame,
    columns: list[str],
    calibration: Calibration | None,
) -> bool:
    result = _check(method, reference, window, columns, calibration)
    return result.status == "ok" and result.drift_detected


# --- SKAB --------------------------------------------------------------------------------------------


def read_skab(path: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """Sensor columns, anomaly labels, changepoint labels and times (s) of one SKAB CSV."""
    frame = pd.read_csv(path, sep=";", parse_dates=["datetime"]).sort_values("datetime", kind="stable")
    times = (frame.pop("datetime").astype("int64") // 10**9).to_numpy(dtype="float64")
    anomaly = frame.pop("anomaly").to_numpy() if "anomaly" in frame else np.zeros(len(frame))
    changepoint = frame.pop("changepoint").to_numpy() if "changepoint" in frame else np.zeros(len(frame))
    return frame.reset_index(drop=True).astype("float64"), anomaly > 0, changepoint > 0, times


SKAB_FOLDERS: Final = ("valve1", "anomaly-free")
"""The recordings here; SKAB also has ``valve2/`` and ``other/`` (held-out checks, ``--folder``)."""


def skab_files(data: Path, folders: Sequence[str] = SKAB_FOLDERS) -> list[Path]:
    return [path for folder in folders for path in sorted((data / folder).glob("*.csv"))]


def _margin(
    reference: pd.DataFrame, window: pd.DataFrame, columns: list[str], calibration: Calibration
) -> float:
    """The largest ``score / threshold`` of a calibrated check (0 without a verdict)."""
    result = check_drift(
        reference, window, columns=columns, config=CALIBRATED, calibration=calibration
    ).result
    return max((c.score / c.threshold for c in result.columns.values()), default=0.0)


def _labelled_windows(frame: pd.DataFrame, anomaly: np.ndarray) -> Iterator[tuple[bool, pd.DataFrame]]:
    """(is shift, window) for the disjoint windows after the reference; mixed windows (neither a
    control nor a shift) are skipped."""
    for start in range(SKAB_REFERENCE_ROWS, len(frame) - SKAB_WINDOW_ROWS + 1, SKAB_WINDOW_ROWS):
        labels = anomaly[start : start + SKAB_WINDOW_ROWS]
        if 0 < labels.sum() < len(labels):
            continue
        yield bool(labels.all()), frame.iloc[start : start + SKAB_WINDOW_ROWS]


def skab_windows(
    files: Sequence[Path],
    by_folder: dict[str, dict[str, Rates]],
    margins: dict[str, list[tuple[bool, float]]],
) -> None:
    """Per-window false-alarm and detection rates on SKAB (disjoint windows after the reference),
    by folder (``skab/valve1``, ``skab/anomaly-free``), and each window's calibrated margin."""
    for path in files:
        source = f"skab/{path.parent.name}"
        rates = by_folder.setdefault(source, {m: Rates() for m in METHODS})
        frame, anomaly, _, _ = read_skab(path)
        columns = list(frame.columns)
        reference = frame.iloc[:SKAB_REFERENCE_ROWS]
        calibration = calibrate(reference, columns, SKAB_WINDOW_ROWS, reference_hash=str(path))
        for is_shift, window in _labelled_windows(frame, anomaly):
            for method in METHODS:
                rates[method].add(is_shift, _verdict(method, reference, window, columns, calibration))
            margins.setdefault(source, []).append(
                (is_shift, _margin(reference, window, columns, calibration))
            )


def skab_tradeoff(
    files: Sequence[Path], alphas: Sequence[float] = TRADEOFF_ALPHAS
) -> dict[str, list[tuple[float, Rates]]]:
    """The per-window protocol of :func:`skab_windows`, calibrated at each stated probability."""
    rates: dict[str, dict[float, Rates]] = {}
    for path in files:
        by_alpha = rates.setdefault(f"skab/{path.parent.name}", {a: Rates() for a in alphas})
        frame, anomaly, _, _ = read_skab(path)
        columns = list(frame.columns)
        reference = frame.iloc[:SKAB_REFERENCE_ROWS]
        for alpha in alphas:
            calibration = calibrate(
                reference, columns, SKAB_WINDOW_ROWS, reference_hash=str(path), false_alarm_probability=alpha
            )
            for is_shift, window in _labelled_windows(frame, anomaly):
                alarm = _verdict("calibrated", reference, window, columns, calibration)
                by_alpha[alpha].add(is_shift, alarm)
    return {source: sorted(by_alpha.items()) for source, by_alpha in rates.items()}


def plot_tradeoff(tradeoff: dict[str, list[tuple[float, Rates]]], path: Path) -> None:
    """False alarms against detections over the stated probability, one line per source (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    for source, points in tradeoff.items():
        if not any(r.shifts for _, r in points):
            continue
        fa = [100 * r.false_alarm_rate for _, r in points]
        det = [100 * r.detection_rate for _, r in points]
        ax.plot(fa, det, marker="o", label=source)
        for (alpha, _), x, y in zip(points, fa, det, strict=True):
            ax.annotate(f"{alpha:g}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.axvline(5, color="grey", linestyle="--", linewidth=0.8)
    ax.axhline(90, color="grey", linestyle="--", linewidth=0.8)
    ax.fill_between([0, 5], 90, 100, color="green", alpha=0.1, label="target (<= 5 % / >= 90 %)")
    ax.set(
        xlabel="false alarms on control windows (%)",
        ylabel="anomalous windows detected (%)",
        xlim=(0, 100),
        ylim=(0, 100),
        title="Calibrated drift verdict over the stated per-check probability",
    )
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@dataclass
class Stream:
    """One file streamed: the sustained verdict's onsets (times) and the single checks behind them."""

    onsets: list[float] = field(default_factory=list)
    checks: int = 0
    drifted_checks: int = 0


def skab_onsets(
    frame: pd.DataFrame, times: np.ndarray, method: str, *, k: int = DEFAULT_K, n: int = DEFAULT_N
) -> Stream:
    """The sustained verdict's onsets while streaming one file, against a causal rolling reference
    (see the module doc)."""
    columns = list(frame.columns)
    sustained = KOfN(k, n)
    out = Stream()
    onsets = out.onsets
    calibration: Calibration | None = None
    calibrated_at = 0
    since = 0
    """First row the reference may use: the file's start, then the row after the latest onset."""
    last_step: int | None = None
    frozen: int | None = None
    """End of the reference while checks find drift: suspicious rows do not enter it."""
    end = SKAB_REFERENCE_ROWS + SKAB_WINDOW_ROWS
    while end <= len(frame):
        ref_end = frozen if frozen is not None else end - SKAB_WINDOW_ROWS
        ref_start = max(since, ref_end - SKAB_REFERENCE_ROWS)
        reference = frame.iloc[ref_start:ref_end]
        if method == "calibrated" and (
            calibration is None or ref_end - calibrated_at >= SKAB_RECALIBRATE_ROWS
        ):
            calibration = calibrate(reference, columns, SKAB_WINDOW_ROWS, reference_hash=f"{ref_start}")
            calibrated_at = ref_end
        window = frame.iloc[ref_end:end]
        result = _check(method, reference, window, columns, calibration)
        drifted = result.status == "ok" and result.drift_detected
        out.checks += 1
        out.drifted_checks += drifted
        frozen = ref_end if drifted else None
        was = sustained.detected
        if last_step is None or end - last_step >= SKAB_WINDOW_ROWS // n:
            sustained.step(drifted)
            last_step = end
        if sustained.detected and not was:
            # the onset is where the change began inside the window (drift.changepoint), as a
            # changepoint detector reports it; what follows is the new normal (as a retrain would adopt
            # it): the reference restarts there and checks resume once it holds SKAB_MIN_REFERENCE_ROWS
            # a check needs part of its window changed before it drifts, so the change may have begun
            # in the reference's last window's rows: the search covers them too
            moved = [c for c, col in result.columns.items() if col.drifted] or list(result.columns)
            lead = min(SKAB_WINDOW_ROWS, max(0, len(reference) - SKAB_MIN_REFERENCE_ROWS // 2))
            before, searched = reference.iloc[: len(reference) - lead], frame.iloc[ref_end - lead : end]
            since = ref_end - lead + change_start(before, searched, moved)
            onsets.append(float(times[since]))
            end = since + SKAB_MIN_REFERENCE_ROWS + SKAB_WINDOW_ROWS
            sustained.reset()
            calibration, last_step, frozen = None, None, None
            continue
        end += SKAB_STRIDE_ROWS
    return out


def skab_changepoints(files: Sequence[Path], out: Evaluation) -> None:
    """NAB scores of the stream's onsets on the files with changepoints; false onsets per hour on
    the files without (``anomaly-free/``)."""
    pairs: dict[str, list[tuple[list[float], list[float]]]] = {m: [] for m in METHODS}
    for path in files:
        frame, _, changepoint, times = read_skab(path)
        cps = [float(t) for t in times[changepoint]]
        if not cps:
            out.normal_hours += float(times[-1] - times[SKAB_REFERENCE_ROWS]) / 3600.0
        for method in METHODS:
            stream = skab_onsets(frame, times, method)
            if cps:
                pairs[method].append((cps, stream.onsets))
            else:
                out.false_onsets[method] = out.false_onsets.get(method, 0) + len(stream.onsets)
                drifted, checks = out.normal_checks.get(method, (0, 0))
                out.normal_checks[method] = (drifted + stream.drifted_checks, checks + stream.checks)
    out.nab = {m: nab_scores(p, SKAB_NAB_WINDOW_S) for m, p in pairs.items()}
    out.nab_skab = {m: nab_scores(p, SKAB_NAB_WINDOW_S, "skab") for m, p in pairs.items()}


# --- simulator ---------------------------------------------------------------------------------------


def _sim_windows(
    drift: object, days: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, str]]:
    from core.contract import EVENT_TIMESTAMP
    from features.relative import windows_of
    from simulator.fleet import FleetConfig, FleetSimulator

    config = FleetConfig(
        machines=SIM_MACHINES,
        days=days,
        seed=SIM_SEED,
        drift=drift,  # type: ignore[arg-type]
        drift_at_days=SIM_REFERENCE_DAYS if drift is not None else None,
    )
    sim = FleetSimulator(config)
    result = sim.history()
    types = dict(zip(sim.machines["machine_id"], sim.machines["machine_type"], strict=True))
    # the model's inputs include the relative features (machine vs its own week and its peers)
    windows = windows_of(result.readings, types).sort_values(EVENT_TIMESTAMP).reset_index(drop=True)
    return windows, result.failures, result.maintenance, types


def _days(windows: pd.DataFrame, first_day: float, count: int) -> Iterator[pd.DataFrame]:
    from core.contract import EVENT_TIMESTAMP

    start = windows[EVENT_TIMESTAMP].min() + timedelta(days=first_day)
    for i in range(count):
        lo, hi = start + timedelta(days=i), start + timedelta(days=i + 1)
        yield windows[(windows[EVENT_TIMESTAMP] >= lo) & (windows[EVENT_TIMESTAMP] < hi)]


def simulator_windows(work: Path, rates: dict[str, Rates], progress: Callable[[str], None]) -> None:
    """One-day windows through the sidecar's path: controls, and the day after each scenario's onset."""
    import onnxruntime as ort

    from aml.bundle_builder import build_bundle
    from aml.steps.prepare import near_failure_mask
    from core.contract import EVENT_TIMESTAMP, MODEL_FEATURES
    from drift.fleet import fleet_signals
    from drift.monitor import select_rows
    from simulator.scenarios import DriftScenario

    columns = list(MODEL_FEATURES)
    progress("simulating the control fleet")
    control, failures, maintenance, types = _sim_windows(None, SIM_REFERENCE_DAYS + SIM_CONTROL_DAYS + 0.5)
    start = control[EVENT_TIMESTAMP].min()
    history = control[control[EVENT_TIMESTAMP] < start + timedelta(days=SIM_REFERENCE_DAYS)]
    healthy = history[~near_failure_mask(history, failures, maintenance, horizon_h=7 * 24)]
    progress("training the bundle")
    bundle = build_bundle(healthy, work / "bundle", n_estimators=50, seed=0)
    reference = bundle.load_reference()
    session = ort.InferenceSession(str(bundle.onnx_path), providers=["CPUExecutionProvider"])
    window_rows = SIM_MACHINES * 24
    calibration = calibrate(
        reference,
        columns,
        window_rows,
        reference_hash=bundle.meta.reference_hash,
        block_rows=block_rows_for(window_rows, len(reference), 24.0, bundle.meta.reference_hours),
    )

    def verdicts(window: pd.DataFrame) -> dict[str, bool]:
        x = window[columns].to_numpy(dtype=np.float32)
        scores = np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0]).reshape(-1)
        flags = (scores >= bundle.meta.threshold).tolist()
        ids = window["machine_id"].astype(str).tolist()
        fleet = fleet_signals(ids, flags, scores.tolist(), types, None)
        frame, _ = select_rows(
            window[columns].reset_index(drop=True),
            [t.timestamp() for t in window[EVENT_TIMESTAMP]],
            flags,
            exclude_anomalies=True,
            max_anomaly_share=0.5,
            machine_ids=list(ids),
            leave_out=frozenset() if fleet.fleet_drift else frozenset(fleet.alerting),
        )
        return {
            m: _verdict(m, reference, frame, columns, calibration)
            or (m == "calibrated" and fleet.fleet_drift)
            for m in METHODS
        }

    for day in _days(control, SIM_REFERENCE_DAYS, SIM_CONTROL_DAYS):
        for method, alarm in verdicts(day).items():
            rates[method].add(False, alarm)
    for scenario in DriftScenario:
        progress(f"simulating {scenario}")
        drifted, _, _, _ = _sim_windows(scenario, SIM_REFERENCE_DAYS + SIM_SHIFT_DAYS + 0.5)
        for day in _days(drifted, SIM_REFERENCE_DAYS + 0.3, SIM_SHIFT_DAYS):
            for method, alarm in verdicts(day).items():
                rates[method].add(True, alarm)


def evaluate(
    data: Path | None,
    work: Path,
    progress: Callable[[str], None],
    *,
    simulator: bool = True,
    folders: Sequence[str] = SKAB_FOLDERS,
) -> Evaluation:
    out = Evaluation()
    if simulator:
        out.windows["simulator"] = {m: Rates() for m in METHODS}
        simulator_windows(work, out.windows["simulator"], progress)
    if data is not None:
        files = skab_files(data, folders)
        progress(f"SKAB windows ({len(files)} files)")
        skab_windows(files, out.windows, out.margins)
        progress("SKAB trade-off over the stated false-alarm probability")
        out.tradeoff = skab_tradeoff(files)
        progress("SKAB changepoint streams")
        skab_changepoints(files, out)
    return out
