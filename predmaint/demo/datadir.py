"""A clean data directory for every run, without ever deleting a folder the demo did not make."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Final

MARKER: Final = ".predmaint-demo"
"""Written into every data directory the demo creates; only such a directory is ever cleaned."""


class DataDirError(Exception):
    """The data directory exists, holds files and was not made by the demo."""


def fresh_data_dir(path: Path, *, keep: bool = False) -> Path:
    """Create ``path`` (or empty it when a previous demo run made it) and mark it as the demo's.

    With ``keep`` an existing demo directory is reused as it is.
    """
    path = path.resolve()
    if path.exists():
        if not path.is_dir():
            raise DataDirError(f"{path} is a file, not a directory")
        if any(path.iterdir()) and not (path / MARKER).is_file():
            raise DataDirError(
                f"{path} is not empty and was not made by `predmaint demo`; it is left as it is"
            )
        if not keep:
            shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / MARKER).write_text("made by `predmaint demo`; emptied at the start of every run\n")
    return path
