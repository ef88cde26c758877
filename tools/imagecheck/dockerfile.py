"""Parse the subset of Dockerfile syntax this repository's images use, and refuse the rest.

What is understood: one ``FROM``, ``ENV``, ``WORKDIR``, ``COPY`` (shell and JSON form, several
sources, directories, ``--chown``/``--chmod``/``--link``), ``RUN`` (shell or JSON form; its commands
are judged by :mod:`tools.imagecheck.build`), ``CMD`` in exec form, and the instructions that do not
change the file set or what imports (``USER``, ``EXPOSE``, ``LABEL``, ``HEALTHCHECK``,
``STOPSIGNAL``). Anything else (``ADD``, ``ARG``, ``ENTRYPOINT``, ``VOLUME``, ``SHELL``, ``ONBUILD``,
a second ``FROM``, ``COPY --from``, shell-form ``CMD``) raises :class:`UnsupportedInstruction`
naming the line, so a check never silently ignores what an image does.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Final


class UnsupportedInstruction(Exception):
    """A Dockerfile construct the check cannot reproduce faithfully."""

    def __init__(self, dockerfile: Path, line: int, message: str):
        super().__init__(f"{dockerfile}:{line}: {message}")
        self.dockerfile, self.line = dockerfile, line


@dataclass(frozen=True)
class Instruction:
    keyword: str
    """Upper case: ``COPY``, ``RUN``, ..."""
    args: str
    """Everything after the keyword, continuation lines joined."""
    line: int


@dataclass(frozen=True)
class Copy:
    sources: tuple[str, ...]
    """Paths relative to the build context (may hold glob wildcards)."""
    destination: str
    line: int


@dataclass(frozen=True)
class Run:
    argv: tuple[str, ...]
    """The command tokens; shell operators (``&&``) are separate tokens."""
    line: int


@dataclass(frozen=True)
class Env:
    values: tuple[tuple[str, str], ...]
    line: int


@dataclass(frozen=True)
class Workdir:
    path: str
    line: int


Step = Copy | Run | Env | Workdir


@dataclass(frozen=True)
class Dockerfile:
    path: Path
    base_image: str
    steps: tuple[Step, ...]
    """File-set and environment steps, in order."""
    cmd: tuple[str, ...] | None
    user: str | None
    exposed: tuple[str, ...] = field(default=())


_IGNORED: Final = frozenset({"USER", "EXPOSE", "LABEL", "HEALTHCHECK", "STOPSIGNAL", "MAINTAINER"})
_COPY_FLAGS: Final = ("--chown=", "--chmod=", "--link")


def instructions(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile: comments dropped, ``\\`` continuations joined."""
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):  # comment lines inside a continuation are dropped
            continue
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1] if continued else stripped)
        if not continued:
            text = " ".join(part.strip() for part in pending if part.strip())
            keyword, _, args = text.partition(" ")
            out.append(Instruction(keyword.upper(), args.strip(), start))
            pending = []
    if pending:
        raise UnsupportedInstruction(path, start, "the file ends inside a line continuation")
    return out


def _exec_form(text: str) -> list[str] | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


def _env_pairs(path: Path, ins: Instruction, known: dict[str, str]) -> tuple[tuple[str, str], ...]:
    tokens = shlex.split(ins.args)
    if tokens and "=" not in tokens[0]:  # legacy form: ENV KEY value with spaces
        key, _, value = ins.args.partition(" ")
        tokens = [f"{key}={value.strip()}"]
    pairs = []
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise UnsupportedInstruction(path, ins.line, f"ENV: cannot read {token!r}")
        value = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: known.get(m.group(1) or m.group(2), ""), value)
        known[key] = value
        pairs.append((key, value))
    return tuple(pairs)


def _copy(path: Path, ins: Instruction) -> Copy:
    tokens = _exec_form(ins.args) or shlex.split(ins.args)
    while tokens and tokens[0].startswith("--"):
        flag = tokens.pop(0)
        if not flag.startswith(_COPY_FLAGS):
            raise UnsupportedInstruction(path, ins.line, f"COPY {flag}: not reproducible without Docker")
    if len(tokens) < 2:
        raise UnsupportedInstruction(path, ins.line, "COPY needs a source and a destination")
    *sources, destination = tokens
    if len(sources) > 1 and not destination.endswith("/"):
        message = "COPY with several sources needs a destination ending in /"
        raise UnsupportedInstruction(path, ins.line, message)
    for source in sources:
        if PurePosixPath(source).is_absolute() or ".." in PurePosixPath(source).parts:
            message = f"COPY source {source!r} is outside the build context"
            raise UnsupportedInstruction(path, ins.line, message)
    return Copy(tuple(sources), destination, ins.line)


def _run(path: Path, ins: Instruction) -> Run:
    exec_form = _exec_form(ins.args)
    if exec_form is not None:
        return Run(tuple(exec_form), ins.line)
    lexer = shlex.shlex(ins.args, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return Run(tuple(lexer), ins.line)


def parse(path: Path) -> Dockerfile:
    """Parse ``path``; :class:`UnsupportedInstruction` for anything outside the supported subset."""
    base: str | None = None
    steps: list[Step] = []
    cmd: tuple[str, ...] | None = None
    user: str | None = None
    exposed: list[str] = []
    known_env: dict[str, str] = {}
    for ins in instructions(path):
        if ins.keyword == "FROM":
            if base is not None:
                raise UnsupportedInstruction(path, ins.line, "multi-stage builds are not supported")
            tokens = ins.args.split()
            if len(tokens) != 1 and not (len(tokens) == 3 and tokens[1].upper() == "AS"):
                raise UnsupportedInstruction(path, ins.line, f"FROM {ins.args!r}: unsupported form")
            base = tokens[0]
        elif base is None:
            raise UnsupportedInstruction(path, ins.line, f"{ins.keyword} before FROM")
        elif ins.keyword == "COPY":
            steps.append(_copy(path, ins))
        elif ins.keyword == "RUN":
            steps.append(_run(path, ins))
        elif ins.keyword == "ENV":
            steps.append(Env(_env_pairs(path, ins, known_env), ins.line))
        elif ins.keyword == "WORKDIR":
            steps.append(Workdir(ins.args, ins.line))
        elif ins.keyword == "CMD":
            argv = _exec_form(ins.args)
            if argv is None:
                raise UnsupportedInstruction(path, ins.line, 'CMD must be in exec form (["python", ...])')
            cmd = tuple(argv)
        elif ins.keyword in _IGNORED:
            if ins.keyword == "USER":
                user = ins.args
            elif ins.keyword == "EXPOSE":
                exposed += ins.args.split()
        else:
            raise UnsupportedInstruction(path, ins.line, f"{ins.keyword} is not supported by the image check")
    if base is None:
        raise UnsupportedInstruction(path, 1, "no FROM")
    return Dockerfile(path, base, tuple(steps), cmd, user, tuple(exposed))


def python_version_of(base_image: str) -> tuple[int, int] | None:
    """The Python of a base image by its name: ``python:3.11.11-slim`` or AzureML's ``...-py311-...``."""
    match = re.search(r"(?:^|/)python:(\d+)\.(\d+)", base_image) or re.search(r"py(\d)(\d{2})\b", base_image)
    return (int(match.group(1)), int(match.group(2))) if match else None
