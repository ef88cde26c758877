"""The runner's own checks catch wiring mistakes that azure-ai-ml's loaders accept."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from aml.runner import PipelineSpecError, StepFailed, load_pipeline, run_pipeline
from core.layout import DataLayout

AML_DIR = Path(__file__).resolve().parents[3] / "aml"


@pytest.fixture
def aml_copy(tmp_path: Path) -> Path:
    """A copy of aml/components and aml/pipelines to break."""
    for sub in ("components", "pipelines"):
        shutil.copytree(AML_DIR / sub, tmp_path / "aml" / sub)
    return tmp_path / "aml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def problems_of(pipeline: Path) -> list[str]:
    with pytest.raises(PipelineSpecError) as info:
        load_pipeline(pipeline)
    return info.value.problems


def test_the_real_pipeline_is_valid_and_ordered() -> None:
    spec = load_pipeline(AML_DIR / "pipelines" / "train.yml")
    assert [n.name for n in spec.nodes] == ["prepare", "train", "evaluate", "register"]


def test_undeclared_input_in_command_is_caught(aml_copy: Path) -> None:
    edit(aml_copy / "components" / "train.yml", "--seed ${{inputs.seed}}", "--seed ${{inputs.random_seed}}")
    problems = problems_of(aml_copy / "pipelines" / "train.yml")
    assert any("inputs.random_seed" in p and "train.yml" in p for p in problems)


def test_binding_to_a_missing_output_is_caught(aml_copy: Path) -> None:
    edit(
        aml_copy / "pipelines" / "train.yml",
        "${{parent.jobs.train.outputs.model}}\n      eval_data",
        "${{parent.jobs.train.outputs.bundle}}\n      eval_data",
    )
    problems = problems_of(aml_copy / "pipelines" / "train.yml")
    assert any("'train.outputs.bundle'" in p and "node 'evaluate'" in p for p in problems)


def test_binding_to_a_missing_node_is_caught(aml_copy: Path) -> None:
    edit(
        aml_copy / "pipelines" / "train.yml",
        "${{parent.jobs.evaluate.outputs.decision}}",
        "${{parent.jobs.gate.outputs.decision}}",
    )
    problems = problems_of(aml_copy / "pipelines" / "train.yml")
    assert any("missing node 'gate'" in p for p in problems)


def test_node_input_the_component_does_not_declare_is_caught(aml_copy: Path) -> None:
    edit(
        aml_copy / "pipelines" / "train.yml",
        "      seed: ${{parent.inputs.seed}}",
        "      sede: ${{parent.inputs.seed}}",
    )
    problems = problems_of(aml_copy / "pipelines" / "train.yml")
    assert any("input 'sede' is not declared" in p for p in problems)


def test_unknown_set_name_is_refused_before_running(tmp_path: Path) -> None:
    layout = DataLayout(tmp_path / "data")
    with pytest.raises(PipelineSpecError, match="n_trees"):
        run_pipeline(AML_DIR / "pipelines" / "train.yml", {"n_trees": "5"}, layout)
    assert not layout.runs_dir.exists() or not any(layout.runs_dir.iterdir())


def test_a_failing_step_is_named_and_later_steps_skipped(tmp_path: Path) -> None:
    comp = tmp_path / "fail.yml"
    comp.write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\n"
        "type: command\nname: boom\nversion: '1'\nenvironment: azureml:pred-maint-train:1\n"
        "inputs:\n  code:\n    type: integer\n    default: 3\n"
        "outputs:\n  out:\n    type: uri_folder\n"
        "command: python -c 'import sys; print(\"exploding\"); sys.exit(${{inputs.code}})' ${{outputs.out}}\n"
    )
    pipe = tmp_path / "pipe.yml"
    pipe.write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\n"
        "type: pipeline\njobs:\n"
        "  first:\n    type: command\n    component: fail.yml\n    inputs:\n      code: 0\n"
        "  second:\n    type: command\n    component: fail.yml\n    inputs:\n      code: 3\n"
        "  third:\n    type: command\n    component: fail.yml\n"
        "    inputs:\n      code: ${{parent.jobs.second.outputs.out}}\n"
    )
    layout = DataLayout(tmp_path / "data")
    with pytest.raises(StepFailed) as info:
        run_pipeline(pipe, {}, layout)
    assert info.value.step == "second" and info.value.returncode == 3
    assert "exploding" in info.value.tail
    import json

    run = json.loads((info.value.run_dir / "run.json").read_text())
    assert [s["status"] for s in run["steps"]] == ["succeeded", "failed", "skipped"]
    assert run["status"] == "failed"
    assert sys.executable
