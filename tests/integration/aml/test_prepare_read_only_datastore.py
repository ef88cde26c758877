"""The prepare step reads the offline features as AzureML gives them: the ``predmaint`` datastore
mounted read-only (``ro_mount`` in aml/pipelines/train.yml), holding only what the ingest workers
write there (the day files under ``offline/``, no Feast directory). It must write nothing into that
input and fetch the same windows as on a writable data directory."""

from __future__ import annotations

import argparse
import shutil
import stat
from pathlib import Path

import pandas as pd
import pytest

from aml.steps.prepare import prepare
from core.layout import DataLayout


def _args(data_dir: Path, out: Path) -> argparse.Namespace:
    return argparse.Namespace(
        data_dir=str(data_dir),
        start="auto",
        end="auto",
        holdout_fraction=0.5,
        exclude_before_failure_h=168.0,
        champion_lookback_h=24.0,
        max_flagged_share=0.2,
        alert_k=3,
        train_data=str(out / "train"),
        eval_data=str(out / "eval"),
    )


def _tree(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


@pytest.fixture(scope="module")
def datastore(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The offline day files of a small fleet, alone, read-only (for a non-root user)."""
    from features.ingest import ingest_history
    from simulator.fleet import FleetConfig, FleetSimulator

    full = DataLayout(tmp_path_factory.mktemp("fleet") / "predmaint")
    ingest_history(full, FleetSimulator(FleetConfig(machines=4, days=3.0, seed=5)).history().readings)
    mounted = tmp_path_factory.mktemp("datastore") / "predmaint"
    offline = full.windows_dir.relative_to(full.root).parts[0]
    shutil.copytree(full.root / offline, mounted / offline)
    for path in [mounted, *mounted.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return mounted


def test_prepare_writes_nothing_into_a_read_only_datastore_and_fetches_its_windows(
    datastore: Path, tmp_path: Path
) -> None:
    before = _tree(datastore)
    assert not (datastore / "feast").exists(), "the workers write no Feast directory"
    summary = prepare(_args(datastore, tmp_path / "ro"))
    assert _tree(datastore) == before, "prepare wrote into its (read-only) input"

    writable = tmp_path / "writable"
    shutil.copytree(datastore, writable)
    for path in [writable, *writable.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    assert summary["windows"], "no windows fetched"
    assert prepare(_args(writable, tmp_path / "rw"))["windows"] == summary["windows"]
    for part in ("train", "eval"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "ro" / part / "windows.parquet"),
            pd.read_parquet(tmp_path / "rw" / part / "windows.parquet"),
        )
