"""Build the Function app's deployment zip: the one file set the deploy workflow ships and the image
check (tests/assets/images) starts.

At the zip's root (the Function's wwwroot): ``function_app.py``, ``host.json`` and
``requirements.txt`` (the remote build installs it), and the whole packages the app imports or
stages as the training pipeline's code (:data:`PACKAGES`). Caches are left out; entries are sorted
and dated 1980-01-01, so the same tree gives the same zip.

    python3 functions/package.py function.zip

Standard library only: the deploy runner needs no environment to run it.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parent.parent
ROOT_FILES: Final = ("function_app.py", "host.json", "requirements.txt")
"""From ``functions/``, placed at the zip's root."""
PACKAGES: Final = ("functions", "aml", "core", "features")
"""``functions`` and what it imports (``aml``, ``core``), plus what ``aml.submit`` stages as the
pipeline's code (``aml.submit.CODE_PACKAGES``: the training steps import ``core`` and ``features``)."""
_SKIPPED: Final = ("__pycache__", ".pytest_cache", ".mypy_cache")


def zip_entries(repo: Path = REPO) -> list[tuple[Path, str]]:
    """(file, name in the zip) for every file the package holds, sorted by name."""
    entries = [(repo / "functions" / name, name) for name in ROOT_FILES]
    for package in PACKAGES:
        for path in (repo / package).rglob("*"):
            relative = path.relative_to(repo)
            if path.is_file() and path.suffix != ".pyc" and not set(relative.parts) & set(_SKIPPED):
                entries.append((path, relative.as_posix()))
    missing = [str(path) for path, _ in entries if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"missing from the Function package: {missing}")
    return sorted(entries, key=lambda entry: entry[1])


def build_zip(target: Path, repo: Path = REPO) -> list[str]:
    """Write the zip to ``target``; returns its entry names."""
    names = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, name in zip_entries(repo):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
            names.append(name)
    return names


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python3 functions/package.py <zip to write>", file=sys.stderr)
        return 2
    names = build_zip(Path(argv[0]))
    print(f"{argv[0]}: {len(names)} files ({', '.join(ROOT_FILES)} and {', '.join(PACKAGES)}/)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
