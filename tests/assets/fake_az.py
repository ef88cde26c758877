"""A stand-in for the `az ml` commands deploy.yml and promote.yml run (Azure cannot be reached here),
keeping the workspace's state (models, jobs, endpoint, deployments, traffic) in a JSON file.

Behaves as the real CLI does where the workflows depend on it: ``show`` of something missing exits 1;
``online-deployment create`` fails if the deployment exists and ``update`` if it does not; deployment
files are loaded with azure-ai-ml's own loader with ``--set`` as ``params_override`` (what ``az ml``
does with it), so a deployment without a model is refused; ``online-endpoint create/update --file``
applies the file's ``traffic``; ``--mirror-traffic`` copies a share of requests to one deployment
(at most 50 %, never to one that takes live traffic, as the service refuses); a pipeline job runs
for a few ``show`` calls and, when it completes, registers a model version the way the register
step does (tag ``predmaint.promoted``). Only the ``--query`` forms the workflows use are understood;
any other fails loudly.

Usage: ``fake_az.py STATE_FILE az-arguments...`` (the test puts an ``az`` wrapper on PATH).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from core.bundle import CHAMPION_TAG

MODEL_ID = (
    "azureml:/subscriptions/0/resourceGroups/rg/providers/Microsoft.MachineLearningServices"
    "/workspaces/ws/models/{name}/versions/{version}"
)
JOB_RUNS_FOR = 2
"""``az ml job show`` calls a job stays Running before it completes."""


class Refused(Exception):
    pass


def _options(args: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    options: dict[str, list[str]] = {}
    flags: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            options.setdefault(arg, []).append(args[i + 1])
            i += 2
        else:
            flags.append(arg)
            i += 1
    return options, flags


def _one(options: dict[str, list[str]], name: str) -> str:
    values = options.get(name)
    if not values:
        raise Refused(f"argument {name} is required")
    return values[-1]


def registered_tags(models: list[dict[str, Any]], promoted: bool) -> dict[str, str]:
    """The tags ``core.registry.register_bundle`` gives a new version: a promoted one gets the next
    promotion number under ``CHAMPION_TAG``."""
    tags = {"predmaint.promoted": str(promoted).lower()}
    if promoted:
        numbers = [int(m["tags"][CHAMPION_TAG]) for m in models if CHAMPION_TAG in m.get("tags", {})]
        tags[CHAMPION_TAG] = str(1 + max(numbers, default=0))
    return tags


def _query(value: Any, query: str | None) -> Any:
    if query is None:
        return value
    match = re.fullmatch(r"""\[\?tags\."([^"]+)"=='([^']*)'\]\.version""", query)
    if match:
        key, wanted = match.groups()
        return [item["version"] for item in value if item.get("tags", {}).get(key) == wanted]
    if re.fullmatch(r"\w+", query):
        return value.get(query)
    if re.fullmatch(r"tags\.\w+", query):
        return value.get("tags", {}).get(query.split(".", 1)[1])
    raise Refused(f"fake az does not understand --query {query!r}: model it in tests/assets/fake_az.py")


def _print(value: Any, output: str | None) -> None:
    if output == "tsv":
        if isinstance(value, list):
            print("\n".join(str(v) for v in value))
        elif value is not None:
            print(value)
    else:
        print(json.dumps(value))


def _apply_traffic(endpoint: dict[str, Any], deployments: dict[str, Any], traffic: dict[str, int]) -> None:
    missing = set(traffic) - set(deployments)
    if missing:
        raise Refused(f"traffic for deployments that do not exist: {sorted(missing)}")
    if traffic and sum(traffic.values()) != 100:
        raise Refused(f"traffic must add up to 100: {traffic}")
    mirrored = {k for k, v in endpoint.get("mirror_traffic", {}).items() if v and traffic.get(k)}
    if mirrored:
        raise Refused(f"live traffic to deployments that receive mirrored traffic: {sorted(mirrored)}")
    endpoint["traffic"] = {name: int(traffic.get(name, 0)) for name in deployments}


def _apply_mirror(endpoint: dict[str, Any], mirror: dict[str, int]) -> None:
    """As the service: one deployment, at most 50 %, one that exists and takes no live traffic."""
    shares = {k: v for k, v in mirror.items() if v}
    if len(shares) > 1 or any(not 0 <= v <= 50 for v in mirror.values()):
        raise Refused(f"mirror traffic goes to one deployment, at most 50 %: {mirror}")
    missing = set(mirror) - set(endpoint["deployments"])
    if missing:
        raise Refused(f"mirror traffic for deployments that do not exist: {sorted(missing)}")
    if any(endpoint["traffic"].get(k) for k in shares):
        raise Refused(f"mirror traffic to a deployment that takes live traffic: {shares}")
    merged = {**endpoint.get("mirror_traffic", {}), **mirror}
    endpoint["mirror_traffic"] = {k: v for k, v in merged.items() if v}


def _load_deployment(path: Path, overrides: list[dict[str, str]]) -> dict[str, Any]:
    """The deployment file as azure-ai-ml loads it with ``--set`` applied; cached by content under
    ``$FAKE_AZ_CACHE`` (azure-ai-ml takes ~1.5 s to import, once per distinct file and overrides)."""
    key = hashlib.sha256((path.read_text() + json.dumps(overrides)).encode()).hexdigest()
    cache = Path(os.environ["FAKE_AZ_CACHE"]) / f"{key}.json" if os.environ.get("FAKE_AZ_CACHE") else None
    if cache is not None and cache.is_file():
        cached: dict[str, Any] = json.loads(cache.read_text())
        return cached
    from azure.ai.ml import load_online_deployment

    loaded = load_online_deployment(path, params_override=overrides)
    out = {
        "name": loaded.name,
        "model": None if loaded.model is None else str(loaded.model),
        "environment_variables": dict(loaded.environment_variables or {}),
        "tags": {str(k): str(v) for k, v in (loaded.tags or {}).items()},
    }
    if cache is not None:
        cache.write_text(json.dumps(out))
    return out


def run(state: dict[str, Any], args: list[str]) -> int:
    if args[:1] != ["ml"]:
        raise Refused(f"only az ml is modelled, not {args}")
    group, verb, rest = args[1], args[2], args[3:]
    options, flags = _options(rest)
    query = options["--query"][-1] if "--query" in options else None
    output = options["--output"][-1] if "--output" in options else None
    models, jobs = state.setdefault("models", []), state.setdefault("jobs", {})
    endpoints = state.setdefault("endpoints", {})

    if group == "model" and verb == "list":
        name = _one(options, "--name")
        _print(_query([m for m in models if m["name"] == name], query), output)
        return 0

    if group == "job" and verb == "create":
        name = f"job-{len(jobs) + 1}"
        jobs[name] = {"file": _one(options, "--file"), "shows": 0, "status": "Running"}
        _print(_query({"name": name}, query), output)
        return 0

    if group == "job" and verb == "show":
        job = jobs.get(_one(options, "--name"))
        if job is None:
            return 1
        job["shows"] += 1
        if job["status"] == "Running" and job["shows"] >= JOB_RUNS_FOR:
            job["status"] = state.get("job_outcome", "Completed")
            if job["status"] == "Completed":
                version = str(1 + max((int(m["version"]) for m in models), default=0))
                models.append(
                    {
                        "name": "pred-maint-isoforest",
                        "version": version,
                        "tags": registered_tags(models, bool(state.get("gate_promotes", True))),
                    }
                )
        _print(_query({"name": _one(options, "--name"), "status": job["status"]}, query), output)
        return 0

    if group == "online-endpoint":
        name = _one(options, "--name")
        endpoint = endpoints.get(name)
        if verb == "show":
            if endpoint is None:
                return 1
            shown = {
                "name": name,
                "traffic": endpoint["traffic"],
                "mirror_traffic": endpoint.get("mirror_traffic", {}),
            }
            _print(_query(shown, query), output)
            return 0
        if verb == "create":
            if endpoint is not None:
                raise Refused(f"endpoint {name} exists")
            endpoint = endpoints[name] = {"traffic": {}, "deployments": {}}
        elif endpoint is None:
            raise Refused(f"endpoint {name} does not exist")
        if verb in ("create", "update"):
            import yaml

            if "--file" in options:
                doc = yaml.safe_load(Path(_one(options, "--file")).read_text())
                # As azure-ai-ml does before it sends the endpoint: zero shares are dropped.
                traffic = {k: int(v) for k, v in (doc.get("traffic") or {}).items() if int(v)}
                if traffic:
                    _apply_traffic(endpoint, endpoint["deployments"], traffic)
            if "--traffic" in options:
                pairs = dict(item.split("=") for item in _one(options, "--traffic").split())
                _apply_traffic(endpoint, endpoint["deployments"], {k: int(v) for k, v in pairs.items()})
            if "--mirror-traffic" in options:
                pairs = dict(item.split("=") for item in _one(options, "--mirror-traffic").split())
                _apply_mirror(endpoint, {k: int(v) for k, v in pairs.items()})
            return 0

    if group == "online-deployment":
        endpoint = endpoints.get(_one(options, "--endpoint-name"))
        if endpoint is None:
            raise Refused("endpoint does not exist")
        deployments = endpoint["deployments"]
        if verb == "show":
            found = deployments.get(_one(options, "--name"))
            if found is None:
                return 1
            _print(_query(found, query), output)
            return 0
        if verb in ("create", "update"):
            overrides = [dict([item.split("=", 1)]) for item in options.get("--set", [])]
            loaded = _load_deployment(Path(_one(options, "--file")), overrides)
            name = str(options.get("--name", [loaded["name"]])[-1])
            if verb == "create" and name in deployments:
                raise Refused(f"deployment {name} exists: use update")
            if verb == "update" and name not in deployments:
                raise Refused(f"deployment {name} does not exist: use create")
            if loaded["model"] is None:
                raise Refused(f"deployment {name} has no model")
            model_name, version = str(loaded["model"]).removeprefix("azureml:").rsplit(":", 1)
            if not any(m["name"] == model_name and m["version"] == version for m in models):
                raise Refused(f"model {model_name}:{version} is not registered")
            deployments[name] = {
                "name": name,
                "model": MODEL_ID.format(name=model_name, version=version),
                "environment_variables": loaded["environment_variables"],
                "tags": loaded["tags"],
            }
            endpoint["traffic"].setdefault(name, 0)
            if "--all-traffic" in flags:
                _apply_traffic(endpoint, deployments, {name: 100})
            return 0

    raise Refused(f"fake az does not model: az {' '.join(args)}")


def main() -> int:
    state_file = Path(sys.argv[1])
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    state.setdefault("calls", []).append(sys.argv[2:])
    try:
        code = run(state, sys.argv[2:])
    except Refused as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        code = 2
    state_file.write_text(json.dumps(state, indent=1))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
