"""A real uvicorn server on loopback, under concurrent load, while the registry's champion changes:
no failed request, and every answer comes from exactly one model version."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.bundle import Bundle
from core.layout import DATA_DIR_ENV, DataLayout
from predmaint.demo.processes import free_port
from predmaint.settings_env import settings_env
from scoring.settings import ScoringSettings
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]


def _register(uri: str, bundle: Bundle) -> str:
    from core.registry import register_bundle

    with warnings.catch_warnings():  # mlflow's own deprecation chatter (TRAIN's registry), not ours
        warnings.simplefilter("ignore")
        return register_bundle(uri, bundle, promote=True)


@pytest.fixture
def served(bundle: Bundle, layout: DataLayout, tmp_path: Path) -> Iterator[tuple[str, str]]:
    uri = layout.mlflow_tracking_uri
    first = _register(uri, bundle)
    port = free_port()
    env = {
        **os.environ,
        DATA_DIR_ENV: str(layout.root),
        **settings_env(
            ScoringSettings,
            tracking_uri=uri,
            poll_interval_s=0.2,
            online_store="none",
            inference_log_dir=tmp_path / "log",
            model_cache_dir=tmp_path / "cache",
        ),
    }
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "scoring.main:create_app"]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    log_path = tmp_path / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, log_path.read_text()
        return httpx.get(f"{base}/health/ready", timeout=1).status_code == 200

    try:
        wait_until(ready, 90, "server never became ready", interval=0.2, ignore=(httpx.TransportError,))
        yield base, first
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def test_champion_swap_under_load_fails_nothing_and_mixes_nothing(
    served: tuple[str, str], bundle: Bundle, tmp_path: Path, layout: DataLayout, row: dict
) -> None:
    base, first = served
    extreme = {k: v * 3 for k, v in row.items()}
    v2 = _variant(bundle, tmp_path / "v2", threshold=0.01)  # flags everything: easy to tell apart
    thresholds = {first: bundle.meta.threshold}
    results: list[list[tuple[int, str | None, float | None, list[bool], list[float]]]] = [
        [] for _ in range(4)
    ]
    errors: list[BaseException] = []
    stop = threading.Event()

    def load(slot: list) -> None:
        with httpx.Client(base_url=base, timeout=5) as client:
            while not stop.is_set():
                try:
                    r = client.post("/predict", json={"rows": [row, extreme]})
                except httpx.HTTPError as exc:
                    errors.append(exc)
                    continue
                body = r.json() if r.status_code == 200 else {}
                preds = body.get("predictions", [])
                slot.append(
                    (
                        r.status_code,
                        body.get("model_version"),
                        body.get("threshold"),
                        [p["is_anomaly"] for p in preds],
                        [p["anomaly_score"] for p in preds],
                    )
                )

    threads = [threading.Thread(target=load, args=(slot,)) for slot in results]
    for t in threads:
        t.start()
    wait_until(lambda: all(len(slot) >= 5 for slot in results), 30, "the clients never got answers")
    second = _register(layout.mlflow_tracking_uri, v2)
    thresholds[second] = v2.meta.threshold
    wait_until(lambda: httpx.get(f"{base}/model").json()["version"] == second, 30, "the facade never swapped")

    def after_swap() -> bool:  # keep the load on until every client has seen the new version a while
        return all(sum(a[1] == second for a in slot) >= 5 for slot in results)

    wait_until(after_swap, 30, "not every client was answered by the new version")
    stop.set()
    for t in threads:
        t.join(10)

    answers = [a for slot in results for a in slot]
    assert not errors, errors[:3]
    assert len(answers) > 50
    assert {a[0] for a in answers} == {200}
    assert {a[1] for a in answers} == {first, second}  # both versions served, nothing else
    for _status, version, threshold, flags, scores in answers:
        assert threshold == pytest.approx(thresholds[str(version)])  # threshold of that very version
        assert threshold is not None
        assert flags == [s >= threshold for s in scores]  # every row judged by that version
    for slot in results:  # once a client saw the new version it never sees the old one again
        versions = [a[1] for a in slot]
        if second in versions:
            assert first not in versions[versions.index(second) :]


def _variant(bundle: Bundle, dst: Path, threshold: float) -> Bundle:
    import shutil

    from core.bundle import load_bundle, write_meta

    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(bundle.directory, dst)
    write_meta(dst, bundle.meta.model_copy(update={"version": "test-v2", "threshold": threshold}))
    return load_bundle(dst)
