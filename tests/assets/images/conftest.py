"""Images reproduced without Docker (tools/imagecheck), once per session, and the model bundle they
serve (built with the project's own training code in this process)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.bundle import Bundle
from tests.scoring_fixtures import build_test_bundle
from tools.imagecheck.build import Image, build_image

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def image_bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return build_test_bundle(tmp_path_factory.getbasetemp())


def reproduce(tmp_path_factory: pytest.TempPathFactory, dockerfile: Path, context: Path, label: str) -> Image:
    """``dockerfile`` built from ``context`` into a fresh tree outside the repository."""
    tree = tmp_path_factory.mktemp(f"image-{label}")
    assert not tree.is_relative_to(REPO), "the reproduced image must not sit inside the repository"
    return build_image(dockerfile, context, tree, label=label)


def with_model(image: Image, bundle: Bundle, image_path: str) -> Path:
    """Copy the bundle into the image tree at ``image_path``; returns its host path."""
    target = image.host(image_path)
    if not target.exists():
        shutil.copytree(bundle.directory, target)
    return target


@pytest.fixture(scope="session")
def facade_image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    return reproduce(tmp_path_factory, REPO / "scoring" / "Dockerfile", REPO, "facade")


@pytest.fixture(scope="session")
def drift_image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    return reproduce(tmp_path_factory, REPO / "drift" / "Dockerfile", REPO, "drift")


@pytest.fixture(scope="session")
def ingest_image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    return reproduce(tmp_path_factory, REPO / "ingest" / "Dockerfile", REPO, "ingest")
