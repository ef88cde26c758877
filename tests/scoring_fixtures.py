"""Fixtures of the scoring tests (unit and integration): a real model bundle built once per session,
settings, an app. Both scoring conftest modules import them from here."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from core.bundle import Bundle, BundleMeta, load_bundle, write_meta
from core.layout import DataLayout
from scoring.main import create_app
from scoring.settings import ScoringSettings
from tests.synthetic_windows import training_frame


def readings(machine: str, end: datetime, count: int) -> list[dict[str, object]]:
    """``count`` plausible readings of one machine, one a minute, the last at ``end``."""
    return [
        {
            "machine_id": machine,
            "timestamp": (end - timedelta(minutes=count - 1 - i)).isoformat(),
            "vibration_rms_mm_s": 3.0 + 0.1 * (i % 5),
            "temperature_c": 60.0 + 0.2 * (i % 7),
            "rotational_speed_rpm": 1500.0 + (i % 3),
        }
        for i in range(count)
    ]


def normal_row() -> dict[str, float]:
    return {str(k): float(v) for k, v in training_frame(1, seed=7).iloc[0].items()}


def build_test_bundle(base: Path) -> Bundle:
    """One bundle per test session (mlflow's environment capture makes building take seconds)."""
    target = base / "scoring-bundle-v1"
    if (target / "predmaint.json").is_file():
        return load_bundle(target)
    from aml.bundle_builder import build_bundle

    tmp = base / "scoring-bundle-v1.tmp"
    with warnings.catch_warnings():  # mlflow's own warnings while saving (TRAIN's slice), not ours
        warnings.simplefilter("ignore")
        build_bundle(training_frame(), tmp, n_estimators=10, seed=0, version="test-v1")
    tmp.rename(target)
    return load_bundle(target)


def bundle_variant(bundle: Bundle, dst: Path, version: str, threshold: float | None = None) -> Bundle:
    """A copy of a bundle with another content version (and threshold): a distinct model version."""
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(bundle.directory, dst)
    meta = bundle.meta.model_copy(
        update={"version": version, "threshold": threshold or bundle.meta.threshold}
    )
    write_meta(dst, BundleMeta.model_validate(meta.model_dump()))
    return load_bundle(dst)


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return build_test_bundle(tmp_path_factory.getbasetemp())


@pytest.fixture
def settings(bundle: Bundle, tmp_path: Path) -> ScoringSettings:
    return ScoringSettings(
        model_path=bundle.directory,
        online_store="none",
        inference_log_dir=tmp_path / "inference-log",
    )


@pytest.fixture
def client(settings: ScoringSettings, layout: DataLayout) -> Iterator[TestClient]:
    app = create_app(settings, layout=layout, registry=CollectorRegistry())
    with TestClient(app) as c:
        yield c


@pytest.fixture
def row() -> dict[str, float]:
    """One inline row of normal-looking features."""
    return normal_row()
