"""The whole loop, as a user runs it: ``predmaint demo --preset small`` in a subprocess.

One run (module-scoped fixture, a few minutes on 2 cores) and several assertions on what it printed,
what it left in ``summary.json`` and the HTML report, and that it left no process behind.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.contract import FEATURE_SENSORS
from core.layout import DATA_DIR_ENV
from predmaint.demo.config import DemoConfig
from predmaint.demo.report import PLOT_IDS, REPORT_FILE, SUMMARY_FILE

DEMO_TIMEOUT_S = 900


@dataclass(frozen=True)
class DemoRun:
    returncode: int
    stdout: str
    stderr: str
    data_dir: Path
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    data_dir = tmp_path_factory.mktemp("demo") / "data"
    env = {k: v for k, v in os.environ.items() if k != DATA_DIR_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "predmaint", "demo", "--preset", "small", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        env={**env, "COLUMNS": "160"},
        check=False,
    )
    summary_path = data_dir / "reports" / SUMMARY_FILE
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return DemoRun(proc.returncode, proc.stdout, proc.stderr, data_dir, summary)


def _explain(run: DemoRun) -> str:
    return (
        f"exit {run.returncode}\nproblems: {run.summary.get('problems')}\nstderr tail:\n{run.stderr[-4000:]}"
    )


def test_the_loop_closes_and_the_command_says_so(demo_run: DemoRun) -> None:
    assert demo_run.returncode == 0, _explain(demo_run)
    assert demo_run.summary["closed"] is True, _explain(demo_run)
    assert "the loop closed" in demo_run.stderr
    assert "timeline" in demo_run.stderr


def test_drift_is_detected_and_the_alert_fires(demo_run: DemoRun) -> None:
    s = demo_run.summary
    assert s, _explain(demo_run)
    assert s["drift_detected"] is True
    assert s["alerts"] >= 1
    kinds = [e["kind"] for e in s["timeline"]]
    assert kinds.index("drift onset") < kinds.index("drift detected") < kinds.index("alert firing")


def test_exactly_one_retrain_per_drift_episode(demo_run: DemoRun) -> None:
    s = demo_run.summary
    assert s, _explain(demo_run)
    assert s["retrains"] == s["drift_episodes"] == 1, s["timeline"]


def test_a_new_champion_serves_and_drift_subsides(demo_run: DemoRun) -> None:
    s = demo_run.summary
    assert s, _explain(demo_run)
    assert s["promotions"] >= 1
    assert s["initial_version"] != s["final_version"], s["served_versions"]
    assert s["recovered"] is True
    kinds = [e["kind"] for e in s["timeline"]]
    assert kinds.index("retrain start") < kinds.index("facade swap") < kinds.index("recovery")


def test_the_gate_decides_on_the_candidates_live_shadow_traffic(demo_run: DemoRun) -> None:
    s = demo_run.summary
    assert s, _explain(demo_run)
    kinds = [e["kind"] for e in s["timeline"]]
    assert kinds.index("retrain start") < kinds.index("shadow start") < kinds.index("shadow end")
    assert kinds.index("shadow end") < kinds.index("retrain end")
    run = s["retrain_runs"][0]
    shadow = run["shadow"]
    assert shadow["source"] == "live shadow log", run["gate"]
    assert shadow["hours"] >= DemoConfig.preset("small").shadow_hours - 1, shadow
    assert shadow["champion_rate"] is not None and shadow["signatures"] > 0, shadow
    cited = next(e["detail"] for e in s["timeline"] if e["kind"] == "retrain end")
    assert "shadow on the live shadow log" in cited and "replayed fault signatures" in cited, cited
    assert run["gate"] and not any("0.000 vs champion 0.000" in r for r in run["gate"]), run["gate"]


def test_no_predict_request_fails_during_the_swap(demo_run: DemoRun) -> None:
    p = demo_run.summary["predict"]
    assert p["requests"] > 0
    assert p["failed"] == 0, p["errors"]
    assert p["failed_during_swap"] == 0


def test_the_report_is_written_with_its_plots(demo_run: DemoRun) -> None:
    report = Path(demo_run.summary["report"])
    assert report == demo_run.data_dir.resolve() / "reports" / REPORT_FILE
    assert str(report) in demo_run.stderr.replace("\n", "")
    html = report.read_text()
    for div_id in PLOT_IDS:
        assert f'id="{div_id}"' in html, div_id
    assert "plotly" in html.lower() and "<script" in html  # self-contained: plotly.js inline
    evidently = demo_run.summary["evidently_report"]
    assert evidently and Path(evidently).is_file()
    assert Path(evidently).name in html  # linked from the report


def test_alert_episodes_are_explained_in_the_report(demo_run: DemoRun) -> None:
    episodes = demo_run.summary["alert_episodes"]
    assert episodes["episodes"] >= 1, episodes
    assert episodes["episodes"] == episodes["notified"] + episodes["suppressed"]
    for e in episodes["episodes_list"]:
        assert e["top_features"] and all(f["feature"] in FEATURE_SENSORS for f in e["top_features"]), e
    html = Path(demo_run.summary["report"]).read_text()
    assert 'id="alert-episodes"' in html
    assert episodes["episodes_list"][0]["top_features"][0]["feature"] in html


def test_no_service_outlives_the_demo(demo_run: DemoRun) -> None:
    logs = demo_run.data_dir / "logs"
    assert logs.is_dir()
    # the services' own pids are in the timeline's "services" line
    services = [e for e in demo_run.summary["timeline"] if e["kind"] == "services"]
    assert services
    pids = [int(p) for p in re.findall(r"pid (\d+)", services[0]["detail"])]
    assert len(pids) == 2
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
