"""What a build context or a code upload holds: the files of a fresh checkout (git's tracked and
untracked-but-not-ignored files), minus what the context's ignore file excludes.

``.dockerignore`` follows Docker's rules (patterns anchored at the context root, ``**``, ``!``
exceptions, last match wins, a matched directory excludes what is under it). ``.amlignore`` is
judged by azure-ai-ml's own ``AmlIgnoreFile``, the code that decides what ``az ml`` uploads.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path


def checkout_files(root: Path) -> list[str]:
    """Files under ``root`` (POSIX paths relative to it) as a fresh clone would have them; every
    file when ``root`` is not in a git work tree."""
    done = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    names = {name for name in done.stdout.split("\0") if name}
    return sorted(name for name in names if (root / name).is_file())


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out, i = out + "(?:/|)", i + 1
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        i += 1
    return re.compile(out)


def dockerignore_filter(context: Path) -> Callable[[str], bool]:
    """``excluded(path)`` for the context's ``.dockerignore`` (nothing excluded without one)."""
    ignore = context / ".dockerignore"
    rules: list[tuple[bool, re.Pattern[str]]] = []
    if ignore.is_file():
        for line in ignore.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            cleaned = line.lstrip("!").strip().strip("/")
            cleaned = re.sub(r"^\./", "", cleaned)
            rules.append((negated, _docker_pattern(cleaned)))

    def excluded(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        verdict = False
        for negated, regex in rules:
            if any(regex.fullmatch(prefix) for prefix in prefixes):
                verdict = not negated
        return verdict

    return excluded


def amlignore_filter(root: Path) -> Callable[[str], bool]:
    """``excluded(path)`` as azure-ai-ml decides it for a code upload of ``root``."""
    from azure.ai.ml._utils._asset_utils import get_ignore_file

    ignore = get_ignore_file(root)
    return lambda path: bool(ignore.is_file_excluded(root / path))


def kept(files: Iterable[str], excluded: Callable[[str], bool]) -> list[str]:
    return [name for name in files if not excluded(name)]
