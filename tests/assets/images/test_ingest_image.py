"""The ingest worker image, reproduced from its Dockerfile without Docker (tools/imagecheck): every
repository package its code imports is in the image, its requirements import, its applied Feast
registry exists, and its entry point refuses to start without its settings (Event Hubs and the
storage accounts cannot be reached from here, so the loop itself is tested in tests/integration/ingest)."""

from __future__ import annotations

import subprocess

from tools.imagecheck.build import Image
from tools.imagecheck.imports import missing_packages


def test_ingest_image_holds_every_package_its_code_imports(ingest_image: Image) -> None:
    assert missing_packages(ingest_image.host(ingest_image.workdir)) == {}
    assert ingest_image.host(ingest_image.env["INGEST_FEAST_REGISTRY"]).is_file()


def test_ingest_image_entry_point_imports_and_fails_fast_without_settings(ingest_image: Image) -> None:
    assert ingest_image.cmd == ("python", "-m", "ingest")
    done = subprocess.run(
        ingest_image.argv(ingest_image.cmd),
        capture_output=True,
        text=True,
        timeout=300,
        env=ingest_image.process_env(),
        cwd=ingest_image.host(ingest_image.workdir),
    )
    assert done.returncode != 0
    assert "validation error for IngestSettings" in done.stderr, done.stderr[-2000:]
