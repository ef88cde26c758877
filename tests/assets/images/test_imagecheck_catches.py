"""What the image check refuses: a Dockerfile that omits a package its code imports, a CMD that
names a module that is not there, instructions it cannot reproduce, and the COPY/WORKDIR/
.dockerignore semantics it must get right (on small fixture contexts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.assets.images.conftest import REPO
from tools.imagecheck.build import BuildStepFailed, build_image
from tools.imagecheck.dockerfile import UnsupportedInstruction
from tools.imagecheck.imports import missing_packages
from tools.imagecheck.run import EntrypointFailed, serve


def _variant(source: Path, target_dir: Path, old: str, new: str) -> Path:
    """A copy of a real Dockerfile with one line changed (the fixture follows the real file)."""
    text = source.read_text(encoding="utf-8")
    assert old in text, f"{source} no longer has {old!r}"
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / "Dockerfile"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_drift_image_without_core_fails_to_start_naming_the_module(tmp_path: Path) -> None:
    dockerfile = _variant(REPO / "drift" / "Dockerfile", tmp_path / "df", "COPY core/ /app/core/\n", "")
    image = build_image(dockerfile, REPO, tmp_path / "tree", label="drift-without-core")
    assert set(missing_packages(image.host("/app"))) == {"core"}
    with pytest.raises(EntrypointFailed, match="ModuleNotFoundError: No module named 'core'"), serve(image):
        pass


def test_facade_image_without_core_fails_at_its_registry_build_step(tmp_path: Path) -> None:
    dockerfile = _variant(REPO / "scoring" / "Dockerfile", tmp_path / "df", "COPY core/ /app/core/\n", "")
    with pytest.raises(BuildStepFailed, match="No module named 'core'"):
        build_image(dockerfile, REPO, tmp_path / "tree", label="facade-without-core")


def test_a_cmd_naming_a_missing_module_fails(tmp_path: Path) -> None:
    dockerfile = _variant(
        REPO / "drift" / "Dockerfile",
        tmp_path / "df",
        '"-m", "drift"',
        '"-m", "drift_servce"',
    )
    image = build_image(dockerfile, REPO, tmp_path / "tree", label="drift-cmd-typo")
    with pytest.raises(EntrypointFailed, match=r"drift_servce"), serve(image):
        pass


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ADD https://example.com/x.tgz /app/", "ADD is not supported"),
        ("RUN curl -fsSL https://example.com/install.sh", "RUN curl: the image check does not know"),
        ("RUN pip install requests", "only `-r <requirements file>` is reproduced"),
        ("COPY --from=builder /x /x", "COPY --from=builder: not reproducible"),
        ("CMD python -m app", "CMD must be in exec form"),
        ("RUN make build; make install", "shell operator ';'"),
    ],
)
def test_unsupported_instructions_fail_naming_the_line(tmp_path: Path, line: str, message: str) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM python:3.11.11-slim\nWORKDIR /app\n{line}\n")
    with pytest.raises(UnsupportedInstruction, match=message) as caught:
        build_image(tmp_path / "Dockerfile", tmp_path, tmp_path / "tree")
    assert caught.value.line == 3


def test_copy_workdir_and_dockerignore_semantics(tmp_path: Path) -> None:
    context = tmp_path / "context"
    for name in ("pkg/__init__.py", "pkg/sub/mod.py", "pkg/notes.tmp", "a.txt", "b.txt", "cfg/app.yaml"):
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(name)
    (context / ".dockerignore").write_text("**/*.tmp\ncfg\n!cfg/app.yaml\n")
    (context / "Dockerfile").write_text(
        "FROM python:3.11.11-slim\nWORKDIR /srv\nWORKDIR app\nCOPY pkg/ pkg/\nCOPY a.txt b.txt /etc/x/\n"
        "COPY a.txt renamed.txt\nCOPY cfg/ /cfg/\nENV DATA=/data HOME=/srv\n"
        "RUN mkdir -p /data && rm -f /etc/x/b.txt\n"
    )
    image = build_image(context / "Dockerfile", context, tmp_path / "tree")
    files = sorted(p.relative_to(image.tree).as_posix() for p in image.tree.rglob("*") if p.is_file())
    assert files == [
        "cfg/app.yaml",
        "etc/x/a.txt",
        "srv/app/pkg/__init__.py",
        "srv/app/pkg/sub/mod.py",
        "srv/app/renamed.txt",
    ]
    assert image.workdir == "/srv/app" and image.host("/data").is_dir()
    assert image.env == {"DATA": "/data", "HOME": "/srv"}


def test_a_python_version_other_than_the_checks_is_refused(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.12.8-slim\n")
    with pytest.raises(UnsupportedInstruction, match=r"Python 3\.12"):
        build_image(tmp_path / "Dockerfile", tmp_path, tmp_path / "tree")
