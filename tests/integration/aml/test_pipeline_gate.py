"""Acceptance: the training pipeline YAML, run here on a small simulated fleet, registers a model with
all its artefacts and moves ``champion``; a forced-worse candidate leaves ``champion`` and says why."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

from aml.runner import list_runs, run_pipeline
from core.bundle import (
    ONNX_META_FEATURES,
    ONNX_META_THRESHOLD,
    ONNX_META_VERSION,
    REGISTERED_MODEL_NAME,
    frame_hash,
)
from core.contract import MODEL_FEATURES
from core.layout import DataLayout
from core.registry import champion_version, download_version

PIPELINE = Path(__file__).resolve().parents[3] / "aml" / "pipelines" / "train.yml"
FAST = {"n_estimators": "20"}


@pytest.fixture(scope="module")
def fleet_layout(tmp_path_factory: pytest.TempPathFactory) -> DataLayout:
    from features.ingest import ingest_history
    from simulator.fleet import FleetConfig, FleetSimulator
    from simulator.labels import write_labels

    layout = DataLayout(tmp_path_factory.mktemp("fleet") / "predmaint")
    result = FleetSimulator(FleetConfig(machines=6, days=10.0, seed=3)).history()
    write_labels(layout, result)
    ingest_history(layout, result.readings)
    return layout


def registration(result) -> dict:
    return json.loads((result.output("register", "registration") / "registration.json").read_text())


def test_first_run_registers_and_promotes_then_a_worse_candidate_is_refused(
    fleet_layout: DataLayout, tmp_path: Path
) -> None:
    uri = fleet_layout.mlflow_tracking_uri
    assert champion_version(uri) is None

    first = run_pipeline(PIPELINE, FAST, fleet_layout, tags={"trigger": "test"}, in_process=True)
    assert first.status == "succeeded"
    reg = registration(first)
    assert reg["promoted"] is True and reg["champion_after"] == reg["version"]
    assert reg["trigger"] == "test"  # the run tag reached the register step
    assert champion_version(uri) == reg["version"]

    bundle = download_version(uri, str(champion_version(uri)), tmp_path / "champion")
    names = {p.name for p in bundle.directory.iterdir()}
    assert {"MLmodel", "model.onnx", "predmaint.json", "reference.parquet"} <= names
    assert bundle.meta.features == list(MODEL_FEATURES)
    assert frame_hash(bundle.load_reference()) == bundle.meta.reference_hash
    props = {p.key: p.value for p in onnx.load(str(bundle.onnx_path)).metadata_props}
    assert props[ONNX_META_FEATURES].split(",") == list(MODEL_FEATURES)
    assert float(props[ONNX_META_THRESHOLD]) == pytest.approx(bundle.meta.threshold)
    assert props[ONNX_META_VERSION] == bundle.meta.version
    assert "flavors:\n  onnx:" in (bundle.directory / "MLmodel").read_text()

    prepared = json.loads((first.output("prepare", "train_data") / "summary.json").read_text())
    assert prepared["train_windows"] > 0 and prepared["eval_windows"] > 0

    worse = run_pipeline(PIPELINE, {**FAST, "threshold_quantile": "0.6"}, fleet_layout, in_process=True)
    reg2 = registration(worse)
    assert reg2["promoted"] is False
    assert champion_version(uri) == reg["version"] == reg2["champion_after"]
    assert any(r.startswith("FAIL: false alarms per machine-month") for r in reg2["reasons"])

    from mlflow import MlflowClient

    tags = MlflowClient(uri, registry_uri=uri).get_model_version(REGISTERED_MODEL_NAME, reg2["version"]).tags
    assert tags["predmaint.gate"] == "failed"
    assert "FAIL" in tags["predmaint.gate_reasons"]

    runs = list_runs(fleet_layout)
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"]
    assert runs[-1]["tags"]["trigger"] == "test"
