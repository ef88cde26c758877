"""The facade and drift images, reproduced from their Dockerfiles without Docker (tools/imagecheck):
their CMD starts with only the image's files and requirements importable, and answers real requests.

The facade uses the real Redis on loopback (DB 13) as its online store and the Feast registry that
its image applied at build time (finding 18); the bundle is built with the project's training code.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from core.bundle import Bundle
from core.contract import MIN_READINGS_PER_WINDOW
from tests.assets.images.conftest import with_model
from tests.scoring_fixtures import normal_row, readings
from tests.waiting import wait_until
from tools.imagecheck.build import Image
from tools.imagecheck.imports import missing_packages
from tools.imagecheck.run import serve


def _wait_ready(base: str, timeout_s: float = 90) -> dict[str, Any]:
    """``/health/ready`` once it answers 200 and no dependency is still opening."""

    last: dict[str, Any] = {}

    def ready() -> dict[str, Any] | None:
        response = httpx.get(f"{base}/health/ready", timeout=5)
        body: dict[str, Any] = response.json()
        last.update(body, http_status=response.status_code)
        opening = any(check["state"] in ("opening", "probing") for check in body["checks"].values())
        return (
            {**body, "http_status": response.status_code}
            if response.status_code == 200 and not opening
            else None
        )

    return wait_until(ready, timeout_s, lambda: f"{base} never became ready: {last}", interval=0.3)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_images_hold_every_repository_package_their_code_imports(
    facade_image: Image, drift_image: Image
) -> None:
    """Imports inside functions too (e.g. the facade opens Feast lazily): a start-up never reaches them."""
    assert missing_packages(facade_image.host(facade_image.workdir)) == {}
    assert missing_packages(drift_image.host(drift_image.workdir)) == {}


def test_facade_image_serves_inline_and_machine_id_from_its_applied_registry(
    facade_image: Image, image_bundle: Bundle, redis_url: str
) -> None:
    registry = facade_image.host(facade_image.env.get("SCORING_FEAST_REGISTRY", "/no-registry-in-image"))
    registry_before = _sha256(registry) if registry.is_file() else None
    model = with_model(facade_image, image_bundle, "/models/champion")
    env = {"SCORING_MODEL_PATH": str(model), "SCORING_ONLINE_STORE": "redis", "SCORING_REDIS_URL": redis_url}
    machine = f"imagecheck-{int(time.time() * 1000)}"
    with serve(facade_image, env=env) as base:
        inline = httpx.post(f"{base}/predict", json={"features": normal_row()}, timeout=10)
        assert inline.status_code == 200, inline.text
        assert inline.json()["model_version"] == image_bundle.meta.version
        ready = _wait_ready(base)
        assert ready["http_status"] == 200, ready
        last = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(minutes=1)
        batch = readings(machine, last, MIN_READINGS_PER_WINDOW + 5)
        # without the image's applied registry both answer 409 store_not_applied (finding 18)
        ingest = httpx.post(f"{base}/ingest", json={"readings": batch}, timeout=30)
        assert ingest.status_code == 200, ingest.text
        scored = httpx.post(f"{base}/predict", json={"machine_id": machine}, timeout=30)
        assert scored.status_code == 200, scored.text
        assert scored.json()["machine_id"] == machine
    assert registry_before is not None and _sha256(registry) == registry_before, (
        "the facade wrote to the image's read-only registry"
    )


def test_drift_image_starts_and_loads_the_reference_of_the_model(
    drift_image: Image, image_bundle: Bundle
) -> None:
    model = with_model(drift_image, image_bundle, "/models/champion")
    with serve(drift_image, env={"DRIFT_MODEL_PATH": str(model)}) as base:
        ready = _wait_ready(base)
        assert ready["http_status"] == 200, ready
        assert ready["checks"]["reference"]["model_version"] == image_bundle.meta.version, ready
