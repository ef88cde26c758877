"""Hand freed memory back to the OS between the slices of a bulk job.

A slice of the bulk history (:mod:`simulator.history`) allocates and frees tens of MB of numpy,
pandas and pyarrow buffers. glibc keeps what is freed in its heaps (it trims only the top of a heap,
and it raises its mmap threshold as large blocks are freed, so later buffers come from the heap
too), so the process's resident size grew with every day of a 2,000-machine history although the
data it holds does not; and a slice's pandas frames sit in reference cycles, which Python frees
only when the cyclic collector gets to them (at 2,000 machines a full collection came every ~300
slices, a 50 MB sawtooth). :func:`release_free_memory` after each slice frees both, and so bounds
the peak by one slice.

glibc only (``malloc_trim``); elsewhere (macOS, musl, Windows) it does nothing to the C heap.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import sys
from typing import Any


@functools.cache
def _glibc() -> Any | None:
    """The process's C library when it is glibc (it has ``malloc_trim``), else None."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):  # TypeError: Windows has no CDLL(None)
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def release_free_memory() -> None:
    """Free the young reference cycles, then return the free pages of the C heaps (every arena,
    not only the tops) and pyarrow's pool's unused memory to the OS. Costs a few ms a call, and the
    next allocations fault their pages in again: call it between slices of a bulk job, not per
    request."""
    # the slice's cycles are young: a full collection finds about as many, for ~13 ms a call
    gc.collect(1)
    if "pyarrow" in sys.modules:  # never import it for this
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


__all__ = ["release_free_memory"]
