"""core.allocator: memory a bulk job let go of leaves the process (RSS falls back), on glibc."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# in a fresh interpreter, so that no other test's heap is measured: ~200 MB of heap blocks (below
# the mmap threshold), the last kept so that glibc cannot trim the top, the rest let go of
_SCRIPT = textwrap.dedent(
    """
    import gc
    import sys

    import numpy as np

    from core.allocator import release_free_memory

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    before = rss_mb()
    if sys.argv[1] == "cycles":  # garbage the collector has not got to yet
        gc.disable()
        blocks = [[np.ones(8192)] for _ in range(3200)]  # 64 KiB each
        for block in blocks:
            block.append(block)
    else:
        blocks = [np.ones(8192) for _ in range(3200)]
    kept = np.ones(8192)
    del blocks
    let_go = rss_mb()
    release_free_memory()
    print(before, let_go, rss_mb())
    """
)


@pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's"
)
@pytest.mark.parametrize("garbage", ["freed", "cycles"])
def test_memory_let_go_of_goes_back_to_the_os(garbage: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, garbage],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[3],
    ).stdout
    before, let_go, released = (float(x) for x in out.split())
    assert let_go - before > 150, "the blocks should still be resident before the call"
    assert released - before < 30
