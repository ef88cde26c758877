"""core.allocator: memory a bulk job freed leaves the process (RSS falls back), on glibc."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# in a fresh interpreter, so that no other test's heap is measured: ~200 MB of heap blocks (below
# the mmap threshold), the last kept so that glibc cannot trim the top, the rest freed
_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from core.allocator import release_free_memory

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    before = rss_mb()
    blocks = [np.ones(8192) for _ in range(3200)]  # 64 KiB each
    kept = blocks[-1]
    del blocks
    freed = rss_mb()
    release_free_memory()
    print(before, freed, rss_mb())
    """
)


@pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's"
)
def test_freed_heap_memory_goes_back_to_the_os() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[3],
    ).stdout
    before, freed, released = (float(x) for x in out.split())
    assert freed - before > 150, "the freed blocks should still be resident before the call"
    assert released - before < 30
