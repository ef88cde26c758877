"""The README's "By hand" walkthrough, run as written: simulate (ending now), apply, materialize,
train, serve, stream, score inline and by ``machine_id``, ask the sidecar for a drift verdict, stop.

The block between ``<!-- hand-path:begin`` and ``<!-- hand-path:end -->`` is run by bash from the
repository root with exactly two substitutions, so that it can run beside other checkouts: the data
directory becomes a temporary one and the ports 8000/8001 become free ones. ``bash -e`` stops at
the first failing command, and every ``curl`` in the block uses ``--fail-with-body``: a script that
exits 0 got a 2xx from every request.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.layout import DATA_DIR_ENV
from predmaint.demo.processes import free_port

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
BEGIN = "<!-- hand-path:begin"
END = "<!-- hand-path:end -->"
DOC_DATA_DIR = ".predmaint/by-hand"
DOC_PORTS = ("8000", "8001")
TIMEOUT_S = 900
FLEET = 30
"""``--machines`` in the block."""


def hand_path_block(text: str) -> str:
    """The fenced bash block between the markers."""
    start, end = text.index(BEGIN), text.index(END)
    fenced = re.search(r"```bash\n(.*?)```", text[start:end], re.S)
    assert fenced is not None, "the hand-path markers must hold one ```bash block"
    return fenced.group(1)


def localised(block: str, data_dir: Path, ports: dict[str, int]) -> str:
    assert f"{DATA_DIR_ENV}={DOC_DATA_DIR}" in block, "the block must set the data directory once"
    script = block.replace(f"{DATA_DIR_ENV}={DOC_DATA_DIR}", f"{DATA_DIR_ENV}={data_dir}")
    for doc_port, port in ports.items():
        script = re.sub(rf"(?<=:){doc_port}\b|(?<=--port ){doc_port}\b", str(port), script)
    return script


def json_answers(stdout: str) -> list[dict[str, Any]]:
    """Every JSON object printed on its own line."""
    answers = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                answers.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return answers


def test_the_block_is_found_and_names_the_simulated_machines() -> None:
    block = hand_path_block(README.read_text())
    assert "--end now" in block
    assert f"--machines {FLEET} " in block
    assert '"machine_id": "M001"' in block
    assert all(f":{p}" in block for p in DOC_PORTS)


@dataclass(frozen=True)
class HandPathRun:
    returncode: int
    stdout: str
    stderr: str
    data_dir: Path


@pytest.fixture(scope="module")
def hand_path_run(tmp_path_factory: pytest.TempPathFactory) -> HandPathRun:
    data_dir = tmp_path_factory.mktemp("by-hand") / "data"
    ports = {doc: free_port() for doc in DOC_PORTS}
    script = localised(hand_path_block(README.read_text()), data_dir, ports)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREDMAINT_", "SCORING_", "DRIFT_"))}
    proc = subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=REPO,
        env={**env, "COLUMNS": "160"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: the services die with it on any outcome
    )
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return HandPathRun(proc.returncode, stdout, stderr, data_dir)


def _explain(run: HandPathRun) -> str:
    return f"exit {run.returncode}\nstdout tail:\n{run.stdout[-3000:]}\nstderr tail:\n{run.stderr[-4000:]}"


def test_every_command_succeeds(hand_path_run: HandPathRun) -> None:
    assert hand_path_run.returncode == 0, _explain(hand_path_run)


def test_machine_id_scoring_answers_from_fresh_online_features(
    hand_path_run: HandPathRun,
) -> None:
    answers = [a for a in json_answers(hand_path_run.stdout) if a.get("machine_id") == "M001"]
    assert answers, _explain(hand_path_run)
    one = answers[0]
    assert isinstance(one["anomaly_score"], float) and isinstance(one["is_anomaly"], bool)
    assert one["model_version"] == "1"
    # the features are the window the stream filled: the hour after the history's end
    fleet = json.loads((hand_path_run.data_dir / "telemetry" / "fleet.json").read_text())
    history_end = datetime.fromisoformat(fleet["start"]) + timedelta(days=fleet["days"])
    assert datetime.fromisoformat(one["event_timestamp"]) == history_end + timedelta(hours=1)
    assert abs(one["feature_age_s"]) < 3600
    assert one["is_sparse"] is True  # three readings of the hour in progress


def test_inline_and_fleet_scoring_answer_every_row(hand_path_run: HandPathRun) -> None:
    batches = [a for a in json_answers(hand_path_run.stdout) if "predictions" in a]
    sizes = sorted(len(b["predictions"]) for b in batches)
    sample = json.loads((REPO / "aml/endpoints/sample-request.json").read_text())
    assert sizes == sorted([len(sample["rows"]), FLEET]), _explain(hand_path_run)
    fleet = max(batches, key=lambda b: len(b["predictions"]))
    assert [p["machine_id"] for p in fleet["predictions"]] == [f"M{i:03d}" for i in range(1, FLEET + 1)]


def test_the_sidecar_gives_a_drift_verdict(hand_path_run: HandPathRun) -> None:
    verdicts = [a for a in json_answers(hand_path_run.stdout) if "drift_detected" in a]
    assert verdicts, _explain(hand_path_run)
    verdict = verdicts[-1]
    assert verdict["status"] == "ok", verdict.get("reason")
    assert isinstance(verdict["drift_detected"], bool)
    assert verdict["reference"]["model_version"] == "1"
    assert verdict["window"]["rows"] >= 20
