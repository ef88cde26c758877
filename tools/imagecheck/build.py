"""Reproduce an image's file set and Python environment from its Dockerfile, without Docker.

A temporary directory stands for the image's ``/``: ``COPY`` writes into it (relative to
``WORKDIR``), ``ENV`` values that are absolute paths are mapped into it, and ``RUN`` commands are
judged one by one (split at ``&&``):

- ``pip install -r FILE``: FILE (as copied into the tree) becomes the image's virtualenv
  (:func:`tools.imagecheck.venvs.ensure_venv`); any other pip argument is refused;
- ``python -m MODULE ...`` / ``python SCRIPT ...``: run with that virtualenv inside the tree, as the
  build would (``compileall`` only writes bytecode and is skipped);
- ``rm``, ``mkdir``: applied to the tree; ``groupadd``, ``useradd``, ``chown``, ``chmod``: no effect
  on what imports, skipped;
- anything else raises :class:`UnsupportedInstruction`.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final

from tools.imagecheck.dockerfile import (
    Copy,
    Dockerfile,
    Env,
    Run,
    UnsupportedInstruction,
    Workdir,
    parse,
    python_version_of,
)
from tools.imagecheck.fileset import checkout_files, dockerignore_filter, kept
from tools.imagecheck.venvs import ensure_venv

_NO_EFFECT: Final = frozenset({"groupadd", "useradd", "addgroup", "adduser", "chown", "chmod"})
_PYTHON: Final = frozenset({"python", "python3", f"python3.{sys.version_info.minor}"})


class BuildStepFailed(Exception):
    """A ``RUN`` step that runs code (``python -m ...``) failed in the reproduced image."""


@dataclass
class Image:
    """A reproduced image: its file tree, virtualenv, working directory, ``ENV`` and ``CMD``."""

    label: str
    tree: Path
    """Stands for the image's ``/``."""
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    venv: Path | None = None
    requirements: str = ""
    cmd: tuple[str, ...] | None = None
    user: str | None = None

    def host(self, image_path: str) -> Path:
        """Where an image path (absolute, or relative to ``WORKDIR``) lives in the tree."""
        path = PurePosixPath(self.workdir) / image_path
        return self.tree.joinpath(*path.parts[1:])

    @property
    def python(self) -> Path:
        if self.venv is None:
            raise BuildStepFailed(f"{self.label}: no `pip install -r` step, so no Python environment")
        return self.venv / "bin" / "python"

    def process_env(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """A clean environment: the image's ``ENV`` (paths mapped into the tree), the venv first on
        ``PATH``, nothing inherited from the caller (no ``PYTHONPATH``, no ``VIRTUAL_ENV``)."""
        bin_dir = self.python.parent
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(self.host("/root"))}
        for key, value in self.env.items():
            env[key] = str(self.host(value)) if value.startswith("/") else value
        env.update(overrides or {})
        return env

    def argv(self, command: tuple[str, ...] | list[str]) -> list[str]:
        """A command of the image with its programs taken from the virtualenv."""
        program, *rest = command
        if program in _PYTHON:
            return [str(self.python), *rest]
        candidate = self.python.parent / program
        if not candidate.exists():
            raise BuildStepFailed(f"{self.label}: {program!r} is not installed in the image's environment")
        return [str(candidate), *rest]


def _split_commands(run: Run, dockerfile: Path, env: dict[str, str]) -> list[list[str]]:
    commands: list[list[str]] = [[]]
    for token in run.argv:
        if token == "&&":
            commands.append([])
        elif token in {";", "|", "||", "&", ">", ">>", "<", "(", ")"}:
            message = f"RUN: shell operator {token!r} is not supported"
            raise UnsupportedInstruction(dockerfile, run.line, message)
        else:
            commands[-1].append(_expand(token, env))
    return [c for c in commands if c]


def _expand(token: str, env: dict[str, str]) -> str:
    """The shell's ``$VAR``/``${VAR}`` expansion from the image's ``ENV`` (unset: empty)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), token)


def _copy(step: Copy, image: Image, context: Path, files: list[str], dockerfile: Path) -> None:
    dest_dir = step.destination.endswith("/") or len(step.sources) > 1
    for source in step.sources:
        clean = source.strip("/") if source not in (".", "./") else ""
        matched: list[tuple[str, str]] = []  # (context file, path relative to the destination)
        if any(ch in clean for ch in "*?["):
            matched = [(f, PurePosixPath(f).name) for f in files if fnmatch.fnmatchcase(f, clean)]
            dest_dir = True
        elif clean in files:
            matched = [(clean, PurePosixPath(clean).name)]
        else:
            prefix = f"{clean}/" if clean else ""
            matched = [(f, f[len(prefix) :]) for f in files if f.startswith(prefix)]
            dest_dir = True
        if not matched:
            raise UnsupportedInstruction(
                dockerfile,
                step.line,
                f"COPY source {source!r} is not in the build context {context} "
                "(missing, or excluded by .dockerignore)",
            )
        for file, relative in matched:
            target = image.host(step.destination) / relative if dest_dir else image.host(step.destination)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(context / file, target)


def _pip_install(command: list[str], image: Image, dockerfile: Path, line: int) -> None:
    args = command[2:] if command[0] == "pip" else command[4:]
    requirement_files = []
    while args:
        arg = args.pop(0)
        if arg in ("-r", "--requirement") and args:
            requirement_files.append(args.pop(0))
        elif arg in ("--no-cache-dir", "--no-compile", "--disable-pip-version-check", "-q", "--quiet"):
            continue
        else:
            raise UnsupportedInstruction(
                dockerfile, line, f"RUN pip install {arg}: only `-r <requirements file>` is reproduced"
            )
    texts = []
    for name in requirement_files:
        path = image.host(name)
        if not path.is_file():
            raise BuildStepFailed(f"{dockerfile}:{line}: pip install -r {name}: no such file in the image")
        texts.append(path.read_text(encoding="utf-8"))
    image.requirements = "\n".join([image.requirements, *texts]).strip() + "\n"
    image.venv = ensure_venv(image.requirements, image.label)


def _python_step(command: list[str], image: Image, dockerfile: Path, line: int) -> None:
    if command[1:3] == ["-m", "compileall"]:
        return  # bytecode only
    args = [str(image.host(a)) if a.startswith("/") else a for a in command[1:]]
    cwd = image.host(image.workdir)
    print(f"[imagecheck] {image.label}: RUN {' '.join(command)}", flush=True)
    done = subprocess.run(
        [str(image.python), *args],
        cwd=cwd,
        env=image.process_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise BuildStepFailed(
            f"{dockerfile}:{line}: RUN {' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}"
        )


def _run(step: Run, image: Image, dockerfile: Path) -> None:
    for command in _split_commands(step, dockerfile, image.env):
        program = command[0]
        pip = command[:2] == ["pip", "install"]
        if pip or (program in _PYTHON and command[1:4] == ["-m", "pip", "install"]):
            _pip_install(command, image, dockerfile, step.line)
        elif program in _PYTHON:
            _python_step(command, image, dockerfile, step.line)
        elif program == "rm":
            for arg in command[1:]:
                if arg.startswith("-"):
                    continue
                target = image.host(arg)
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
        elif program == "mkdir":
            for arg in command[1:]:
                if not arg.startswith("-"):
                    image.host(arg).mkdir(parents=True, exist_ok=True)
        elif program in _NO_EFFECT:
            continue
        else:
            raise UnsupportedInstruction(
                dockerfile, step.line, f"RUN {program}: the image check does not know what this command does"
            )


def from_zip(archive: Path, tree: Path, *, label: str, requirements: str = "requirements.txt") -> Image:
    """A deployment zip unpacked as a file set (its root is ``/`` and the working directory), with
    the virtualenv of the ``requirements`` file at its root (what a remote build installs)."""
    import zipfile

    with zipfile.ZipFile(archive) as package:
        package.extractall(tree)
    image = Image(label, tree)
    image.requirements = (tree / requirements).read_text(encoding="utf-8")
    image.venv = ensure_venv(image.requirements, label)
    return image


def build_image(dockerfile: Path, context: Path, tree: Path, *, label: str | None = None) -> Image:
    """Reproduce ``dockerfile`` built with ``context`` into ``tree`` (an empty directory)."""
    spec: Dockerfile = parse(dockerfile)
    wanted = python_version_of(spec.base_image)
    have = sys.version_info[:2]
    if wanted is None:
        raise UnsupportedInstruction(dockerfile, 1, f"FROM {spec.base_image}: cannot tell its Python version")
    if wanted != have:
        raise UnsupportedInstruction(
            dockerfile,
            1,
            f"FROM {spec.base_image} is Python {wanted[0]}.{wanted[1]}; this check runs {have[0]}.{have[1]}",
        )
    image = Image(label or str(dockerfile), tree, cmd=spec.cmd, user=spec.user)
    tree.mkdir(parents=True, exist_ok=True)
    files = kept(checkout_files(context), dockerignore_filter(context))
    print(f"[imagecheck] {image.label}: {len(files)} files in the build context {context}", flush=True)
    for step in spec.steps:
        if isinstance(step, Workdir):
            image.workdir = str(PurePosixPath(image.workdir) / step.path)
            image.host(image.workdir).mkdir(parents=True, exist_ok=True)
        elif isinstance(step, Env):
            image.env.update(step.values)
        elif isinstance(step, Copy):
            _copy(step, image, context, files, dockerfile)
        elif isinstance(step, Run):
            _run(step, image, dockerfile)
    return image
