"""The demo report's alert episodes: built from the facade's answers, explained, marked during the
drift the sidecar detected, written into the HTML."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from predmaint.demo.quality import alert_quality
from predmaint.demo.record import DriftRow, FailureEvent, RunRecord, ScoreRow
from predmaint.demo.report import alert_episodes, write_report
from predmaint.demo.timeline import Timeline

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOT = [{"feature": "temperature_c_mean", "sensor": "temperature_c", "contribution": 0.21}]


def _record() -> RunRecord:
    record = RunRecord(live_start=T0, live_end=T0 + timedelta(hours=40))
    for h in range(40):
        at = T0 + timedelta(hours=h)
        hot = 5 <= h < 10 or 25 <= h < 30  # two flagged stretches of m-1, the second during drift
        record.scores.append(ScoreRow(at, "m-1", 0.8 if hot else 0.4, hot, 0.6, "1", HOT if hot else None))
        record.scores.append(ScoreRow(at, "m-2", 0.4, False, 0.6, "1", None))
        detected = 20 <= h < 35
        record.drift.append(
            DriftRow(at, float(h), detected, 0.6 if detected else 0.1, 0.5, {}, {}, "1", None, 48)
        )
    record.failures = [FailureEvent("m-1", T0 + timedelta(hours=12), "bearing_wear", None)]
    return record


def test_episodes_from_the_answers_with_drift_marks() -> None:
    got = alert_episodes(_record())
    assert [(e.machine_id, e.drift_suspect, e.notified) for e in got] == [
        ("m-1", False, True),
        ("m-1", True, True),
    ]
    (top,) = got[0].top_features
    assert (top["feature"], top["sensor"]) == ("temperature_c_mean", "temperature_c")
    assert abs(top["contribution"] - 0.21) < 1e-12


def test_the_html_lists_episodes_with_their_features(tmp_path: Path) -> None:
    record = _record()
    quality = alert_quality(record.scores, record.failures, live_start=T0, live_end=T0 + timedelta(hours=40))
    path = write_report(tmp_path, record, Timeline(), quality, title="t", settings={}, verdict=[])
    html = path.read_text()
    table = html[html.index('id="alert-episodes"') :]
    assert "temperature_c_mean" in table and "(temperature_c)" in table and "+0.210" in table
    assert "drift-suspect" in table and table.count("fails") >= 1
