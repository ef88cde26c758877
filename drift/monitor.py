"""The sidecar's moving parts behind the HTTP edge: the serving reference, the tailed window, the
latest check, and the loop that tails, checks and watches the registry.

Only checks of the sidecar's own window (scheduled, or on demand) become "the latest check" that
``GET /drift``, ``/drift/report`` and ``/metrics`` show; ad-hoc comparisons answer their request only.

One check of the window, in order:

1. fleet signals from the model's own flags (``drift.fleet``): which machines alert, per type;
2. the rows to compare: flagged rows and every row of an alerting machine are left out (faults are
   not drift) unless the alerts are fleet-wide;
3. the calibrated input check against the reference (thresholds cached per reference hash);
4. the check's verdict (input drift, or fleet-wide alerts) and, once the window has been renewed, a
   step of the sustained verdict (``drift.sequential``), which is what ``drift_detected`` reports.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.bundle import frame_hash
from core.bundle_source import BundleSource as ReferenceSource
from core.bundle_source import SourceState, no_champion_reason, state_of
from core.contract import DRIFT_FEATURES
from drift.calibration import Calibration, CalibrationCache, block_rows_for
from drift.detector import (
    DriftCheck,
    DriftConfig,
    ReferenceInfo,
    WindowInfo,
    check_drift,
    import_evidently,
    no_reference,
    window_info,
)
from drift.fleet import FleetSignals, fleet_signals
from drift.sequential import KOfN
from drift.tailer import LogTailer

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger("predmaint.drift")


@dataclass(frozen=True)
class Reference:
    frame: pd.DataFrame
    features: tuple[str, ...]
    info: ReferenceInfo
    source_version: str
    hours: float | None = None
    """Hours the training rows behind the reference sample span (``BundleMeta.reference_hours``)."""
    scores: np.ndarray | None = None
    """The model's anomaly scores of its own reference rows (prediction drift), when onnxruntime is
    there to compute them."""


def reference_scores(onnx_path: object, frame: pd.DataFrame) -> np.ndarray | None:
    """Score the reference sample with the bundle's ONNX graph; None if that is not possible."""
    import numpy as np

    try:
        import onnxruntime as ort

        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        x = frame.to_numpy(dtype=np.float32)
        out = np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0], dtype="float64")
    except Exception as exc:  # a sidecar without onnxruntime still checks inputs
        log.warning("drift: reference not scored (%s): no prediction drift score", exc)
        return None
    return out.reshape(-1)


def load_reference(source: ReferenceSource, version: str) -> Reference:
    """Fetch a bundle, read its reference sample and check it against the hash in its metadata."""
    bundle, registry_version = source.fetch(version)
    frame = bundle.load_reference()
    digest = frame_hash(frame)
    if digest != bundle.meta.reference_hash:
        raise ValueError(
            f"reference sample of {source.description} has hash {digest}, its metadata says "
            f"{bundle.meta.reference_hash}"
        )
    info = ReferenceInfo(
        model_version=registry_version or bundle.meta.version,
        reference_hash=digest,
        rows=len(frame),
        source=source.description,
    )
    # drift is judged on the absolute statistics only (see DRIFT_FEATURES); the anomaly scores of
    # the reference come from every model input
    features = tuple(f for f in bundle.meta.features if f in DRIFT_FEATURES)
    return Reference(
        frame=frame,
        features=features,
        info=info,
        source_version=version,
        hours=bundle.meta.reference_hours,
        scores=reference_scores(bundle.onnx_path, frame),
    )


def select_rows(
    frame: pd.DataFrame,
    ts: list[float],
    flags: list[bool],
    *,
    exclude_anomalies: bool,
    max_anomaly_share: float,
    machine_ids: list[str | None] | None = None,
    leave_out: frozenset[str] = frozenset(),
) -> tuple[pd.DataFrame, WindowInfo]:
    """The window rows to compare and their description.

    Rows the serving model flagged, and every row of the machines in ``leave_out`` (alerting ones),
    are left out (a failing machine is not drift), unless more than ``max_anomaly_share`` of the
    window is flagged: then the change is fleet-wide and all rows count.
    """
    import numpy as np

    flagged = np.asarray(flags, dtype=bool)
    if machine_ids is not None and leave_out:
        flagged = flagged | np.fromiter((m in leave_out for m in machine_ids), dtype=bool, count=len(flagged))
    n = len(frame)
    share = float(flagged.mean()) if n else None
    if not exclude_anomalies or not flagged.any():
        info = window_info(frame, ts)
        return frame, info.model_copy(update={"anomaly_share": share})
    if share is not None and share > max_anomaly_share:
        info = window_info(frame, ts)
        note = (
            f"{share:.0%} of the window is flagged by the model (> {max_anomaly_share:.0%}): "
            "a fleet-wide change, all rows compared"
        )
        return frame, info.model_copy(update={"anomaly_share": share, "note": note})
    keep = ~flagged
    kept = frame.loc[keep].reset_index(drop=True)
    kept_ts = [t for t, k in zip(ts, keep, strict=True) if k]
    info = window_info(kept, kept_ts).model_copy(
        update={"anomalies_excluded": int(flagged.sum()), "anomaly_share": share}
    )
    return kept, info


class DriftMonitor:
    """Reference, window, latest check. Thread-safe; the loop runs in one background thread."""

    def __init__(
        self,
        source: ReferenceSource | None,
        tailer: LogTailer,
        config: DriftConfig,
        *,
        exclude_anomalies: bool = True,
        max_anomaly_share: float = 0.5,
        check_interval_s: float,
        tail_interval_s: float,
        poll_interval_s: float,
        calibrated: bool = True,
        window_hours: float | None = None,
        false_alarm_probability: float = 0.01,
        calibration_draws: int = 200,
        sustained: KOfN | None = None,
        step_rows: int | None = None,
        machine_types: dict[str, str] | None = None,
        machine_alert_share: float = 0.1,
        fleet_share: float = 0.3,
    ) -> None:
        self.source = source
        self.tailer = tailer
        self.config = config
        self.exclude_anomalies = exclude_anomalies
        self.max_anomaly_share = max_anomaly_share
        self.check_interval_s = check_interval_s
        self.tail_interval_s = tail_interval_s
        self.poll_interval_s = poll_interval_s
        self._reference: Reference | None = None
        self.reference_error: str | None = "not loaded yet" if source else "no reference source configured"
        self.source_state: SourceState = "not_checked"
        """What the last reference poll found (readiness reports it with ``reference_error``)."""
        self._latest: DriftCheck | None = None
        self._latest_at: float | None = None
        self._lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._tail_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checks_total = 0
        self.loop_errors_total = 0
        self.calibrated = calibrated
        self.window_hours = window_hours
        self.false_alarm_probability = false_alarm_probability
        self.calibration_draws = calibration_draws
        self.calibrations = CalibrationCache()
        self.sustained = sustained or KOfN()
        self.step_rows = step_rows or tailer.window.max_rows
        self._last_step_rows: int | None = None
        self.machine_types = machine_types or {}
        self.machine_alert_share = machine_alert_share
        self.fleet_share = fleet_share

    # --- reference --------------------------------------------------------------------------------

    @property
    def reference(self) -> Reference | None:
        return self._reference

    def refresh_reference(self) -> bool:
        """Load the serving version's reference if it changed. True when it switched."""
        if self.source is None:
            return False
        try:
            version = self.source.current_version()
            if version is None:
                self.source_state = "no_champion"
                self.reference_error = no_champion_reason(self.source)
                return False
            current = self._reference
            if current is not None and current.source_version == version:
                self.source_state, self.reference_error = "ok", None
                return False
            reference = load_reference(self.source, version)
        except Exception as exc:
            self.source_state = state_of(exc)
            self.reference_error = (
                f"cannot load the reference from {self.source.description}: {type(exc).__name__}: {exc}"
            )
            log.warning("drift: %s", self.reference_error)
            return False
        with self._check_lock:
            self._reference = reference
            self.reference_error = None
            self.source_state = "ok"
            self.sustained.reset()  # a new model: earlier steps compared against another reference
        log.info(
            "drift: reference switched to model %s (%s, %d rows)",
            reference.info.model_version,
            reference.info.reference_hash,
            reference.info.rows,
        )
        return True

    # --- window and checks ------------------------------------------------------------------------

    def tail(self) -> int:
        with self._tail_lock:
            return self.tailer.drain()

    def calibration_for(self, reference: Reference, rows: int) -> Calibration | None:
        """The reference's calibration for a window of ``rows`` (None in fixed mode). A window still
        filling up uses the calibration of the largest power of two rows it holds: a smaller window
        scatters more, so its threshold is the larger one."""
        if not self.calibrated:
            return None
        full = self.tailer.window.max_rows
        size = full if rows >= full else max(2 ** max(rows.bit_length() - 1, 0), 2)
        hours = self.window_hours * size / full if self.window_hours else None
        return self.calibrations.get(
            reference.frame,
            reference.features,
            size,
            reference_hash=reference.info.reference_hash,
            false_alarm_probability=self.false_alarm_probability,
            draws=self.calibration_draws,
            block_rows=block_rows_for(size, len(reference.frame), hours, reference.hours),
        )

    def check_window(self) -> DriftCheck:
        """Check the tailed window against the serving reference now; it becomes the latest check."""
        with self._check_lock:
            raw, rows = self.tailer.window.snapshot_rows()
            reference = self._reference
            fleet = fleet_signals(
                [r.machine_id for r in rows],
                [r.is_anomaly for r in rows],
                [r.anomaly_score for r in rows],
                self.machine_types,
                reference.scores if reference is not None else None,
                machine_alert_share=self.machine_alert_share,
                fleet_share=self.fleet_share,
            )
            frame, window = select_rows(
                raw,
                [r.ts for r in rows],
                [r.is_anomaly for r in rows],
                exclude_anomalies=self.exclude_anomalies,
                max_anomaly_share=self.max_anomaly_share,
                machine_ids=[r.machine_id for r in rows],
                leave_out=frozenset() if fleet.fleet_drift else frozenset(fleet.alerting),
            )
            missing = self.tailer.window.rows_missing()
            if missing:
                gap = f"{missing} rows of this window were lost from the inference log (a gap)"
                note = f"{window.note}; {gap}" if window.note else gap
                window = window.model_copy(update={"rows_missing": missing, "note": note})
            if reference is None:
                check = no_reference(self.config, window, self.reference_error or "no reference yet")
            else:
                check = check_drift(
                    reference.frame,
                    frame,
                    columns=list(reference.features),
                    config=self.config,
                    reference_info=reference.info,
                    window=window,
                    calibration=self.calibration_for(reference, len(frame)),
                )
            check = self._sustain(check, fleet, reference is not None)
            with self._lock:
                self._latest, self._latest_at = check, time.time()
                self.checks_total += 1
            return check

    def _sustain(self, check: DriftCheck, fleet: FleetSignals, has_reference: bool) -> DriftCheck:
        """This check's fleet verdict and, once ``step_rows`` new rows arrived, a sustained step."""
        result = check.result
        verdict = (result.status == "ok" and result.drift_detected) or (has_reference and fleet.fleet_drift)
        rows_read = self.tailer.state.rows_read_total
        due = self._last_step_rows is None or rows_read - self._last_step_rows >= self.step_rows
        if has_reference and self.tailer.window.full and due:
            self.sustained.step(verdict)
            self._last_step_rows = rows_read
        state = self.sustained.state(self.false_alarm_probability, self.step_rows)
        update = {
            "drift_detected": state.detected,
            "check_drift_detected": verdict,
            "sequential": state,
            "fleet": fleet,
        }
        return DriftCheck(result.model_copy(update=update), check.snapshot)

    def check_rows(self, current: pd.DataFrame) -> DriftCheck:
        """Check a batch of rows against the serving reference (does not touch the latest check)."""
        reference = self._reference
        window = window_info(current)
        if reference is None:
            return no_reference(self.config, window, self.reference_error or "no reference yet")
        return check_drift(
            reference.frame,
            current,
            columns=list(reference.features),
            config=self.config,
            reference_info=reference.info,
            window=window,
            calibration=self.calibration_for(reference, len(current)),
        )

    def latest(self) -> tuple[DriftCheck | None, float | None]:
        with self._lock:
            return self._latest, self._latest_at

    # --- loop -------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="drift-monitor", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        import_evidently()  # ~6 s, here rather than in the first request
        next_poll = next_check = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                switched = False
                if now >= next_poll:
                    switched = self.refresh_reference()
                    next_poll = now + self.poll_interval_s
                self.tail()
                if switched or now >= next_check:
                    self.check_window()
                    next_check = time.monotonic() + self.check_interval_s
            except Exception:
                self.loop_errors_total += 1
                log.exception("drift: monitor loop iteration failed")
            self._stop.wait(self.tail_interval_s)
