"""Finding 18 on the chart's side: in every chart scenario the facade keeps the Feast registry its
image applied at build time (nothing in the Pod overrides SCORING_FEAST_REGISTRY) and uses the Redis
online store (or none: inline rows only), which that registry serves without per-pod tables. That the
image's registry is applied and only read is proven by test_container_images.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.assets.images.conftest import REPO
from tools.imagecheck.dockerfile import Env, parse
from tools.validators.locate import ValidatorsMissing
from tools.validators.runners import render_chart


def _facade_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] == "Deployment"]
    (facade,) = [c for pod in pods for c in pod["containers"] if c["name"] == "facade"]
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    env: dict[str, str] = {}
    for source in facade.get("envFrom", []):
        env.update(maps.get(source.get("configMapRef", {}).get("name"), {}))
    env.update({e["name"]: e.get("value", "<from a Secret>") for e in facade.get("env", [])})
    return env


def test_every_scenario_serves_the_image_registry_with_redis(tmp_path: Path) -> None:
    image_env = dict(
        pair
        for step in parse(REPO / "scoring" / "Dockerfile").steps
        if isinstance(step, Env)
        for pair in step.values
    )
    assert "SCORING_FEAST_REGISTRY" in image_env, "scoring/Dockerfile no longer sets its applied registry"
    try:
        report = render_chart(tmp_path / "rendered")
    except ValidatorsMissing as exc:
        pytest.fail(str(exc))
    for name, result in report["renders"].items():
        assert "error" not in result, f"{name}: {result.get('error')}"
        env = _facade_env([d for d in yaml.safe_load_all(result["manifests"]) if d])
        assert (
            env.get("SCORING_FEAST_REGISTRY", image_env["SCORING_FEAST_REGISTRY"])
            == (image_env["SCORING_FEAST_REGISTRY"])
        ), f"{name}: the Pod overrides the image's applied registry"
        # sqlite (the settings' default) would need online tables applied in each pod: 409 again
        store = env.get("SCORING_ONLINE_STORE")
        assert store in ("redis", "none"), f"{name}: SCORING_ONLINE_STORE={store}"
