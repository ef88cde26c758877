"""The sidecar's Prometheus metrics, yielded at scrape time from the monitor's latest check and the
tailer (a custom collector: nothing is updated on the check path)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from drift import metric_names as names
from drift.monitor import DriftMonitor


class DriftCollector:
    """Yields the drift metrics at scrape time from the monitor's latest check and the tailer."""

    def __init__(self, monitor: DriftMonitor) -> None:
        self.monitor = monitor

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        check, at = self.monitor.latest()
        result = check.result if check is not None else None
        score = GaugeMetricFamily(
            "predmaint_drift_score",
            "Normalised Wasserstein distance of each feature in the latest check (reference std units)",
            labels=["feature"],
        )
        if result is not None:
            for feature, column in result.columns.items():
                score.add_metric([feature], column.score)
        yield score
        yield GaugeMetricFamily(
            names.DRIFT_DETECTED,
            "1 while fleet drift is sustained (k of the last n calibrated steps drifted), 0 otherwise; "
            "the retrain alert's input",
            value=1.0 if result is not None and result.drift_detected else 0.0,
        )
        yield GaugeMetricFamily(
            names.DRIFT_CHECK_DETECTED,
            "1 when the latest single check found fleet drift (calibrated input drift or fleet-wide "
            "alerts), 0 otherwise",
            value=1.0 if result is not None and result.check_drift_detected else 0.0,
        )
        fleet = result.fleet if result is not None else None
        faults = GaugeMetricFamily(
            names.FAULTS_SUSPECTED, "Machines alerting in the window while the fleet did not move"
        )
        alerting = GaugeMetricFamily(
            names.ALERTING_MACHINES_SHARE,
            "Share of each machine type's machines alerting in the window (0-1)",
            labels=[names.MACHINE_TYPE_LABEL],
        )
        prediction = GaugeMetricFamily(
            names.PREDICTION_DRIFT_SCORE,
            "Normalised Wasserstein distance of each machine type's anomaly scores from the reference's",
            labels=[names.MACHINE_TYPE_LABEL],
        )
        if fleet is not None:
            faults.add_metric([], fleet.faults_suspected)
            for kind, signals in fleet.by_type.items():
                alerting.add_metric([kind], signals.alerting_share)
                if signals.prediction_drift_score is not None:
                    prediction.add_metric([kind], signals.prediction_drift_score)
        yield faults
        yield alerting
        yield prediction
        threshold = GaugeMetricFamily(
            names.DRIFT_THRESHOLD,
            "Threshold of each feature in the latest check (calibrated from the reference, or fixed)",
            labels=[names.COLUMN_LABEL],
        )
        if result is not None:
            for feature, column in result.columns.items():
                threshold.add_metric([feature], column.threshold)
        yield threshold
        calibration = result.calibration if result is not None else None
        fap = GaugeMetricFamily(
            names.DRIFT_FALSE_ALARM_PROBABILITY,
            "Calibrated probability that one check of a normal window is called drift",
        )
        seconds = GaugeMetricFamily(
            names.DRIFT_CALIBRATION_SECONDS, "Wall time of the calibration the latest check used"
        )
        if calibration is not None:
            fap.add_metric([], calibration.false_alarm_probability)
            seconds.add_metric([], calibration.duration_s)
        yield fap
        yield seconds
        arl0 = GaugeMetricFamily(
            names.DRIFT_SUSTAINED_ARL0_STEPS,
            "Expected steps between false alarms of the sustained verdict (independent steps)",
        )
        if result is not None and result.sequential is not None:
            arl0.add_metric([], result.sequential.arl0_steps)
        yield arl0
        yield GaugeMetricFamily(
            "predmaint_drift_verdict",
            "1 when the latest check reached a verdict, 0 when it could not (see GET /drift reason)",
            value=1.0 if result is not None and result.status == "ok" else 0.0,
        )
        share = GaugeMetricFamily(
            "predmaint_drift_share", "Share of compared features that drifted in the latest check (0-1)"
        )
        if result is not None and result.drifted_share is not None:
            share.add_metric([], result.drifted_share)
        yield share
        yield GaugeMetricFamily(
            "predmaint_drift_share_threshold",
            "Drifted share at or above which the dataset counts as drifted",
            value=self.monitor.config.drift_share,
        )
        yield GaugeMetricFamily(
            "predmaint_drift_window_rows",
            "Rows in the sliding window now",
            value=len(self.monitor.tailer.window),
        )
        since = GaugeMetricFamily(
            "predmaint_drift_seconds_since_last_check", "Seconds since the latest check of the window"
        )
        if at is not None:
            since.add_metric([], max(time.time() - at, 0.0))
        yield since
        duration = GaugeMetricFamily(
            "predmaint_drift_check_duration_seconds", "Wall time of the latest check of the window"
        )
        if result is not None:
            duration.add_metric([], result.duration_s)
        yield duration
        reference = self.monitor.reference
        info = InfoMetricFamily("predmaint_drift_reference", "The serving model's reference sample")
        if reference is not None:
            info.add_metric(
                [],
                {
                    "model_version": reference.info.model_version or "",
                    "reference_hash": reference.info.reference_hash,
                },
            )
        yield info
        state = self.monitor.tailer.state
        for name, value, text in (
            ("rows_read", state.rows_read_total, "Inference log rows read into the window"),
            ("rows_lost", state.rows_lost_total, "Rows missing from the log sequence (retention, full disk)"),
            ("segments_skipped", state.segments_skipped_total, "Log segments deleted before they were read"),
            ("bad_lines", state.bad_lines_total, "Log lines that could not be parsed"),
        ):
            yield CounterMetricFamily(f"predmaint_drift_tailer_{name}", text, value=value)
        yield CounterMetricFamily(
            "predmaint_drift_checks", "Checks of the window since start", value=self.monitor.checks_total
        )
