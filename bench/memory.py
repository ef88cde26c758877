"""Peak resident memory of this process, for the benches that run each size in a fresh subprocess.

``ru_maxrss`` is the wrong figure there: Linux keeps a process's high-water mark across ``exec``, so
a child forked from a large parent (``python -m bench`` after a few sections) reports the parent's
size. ``VmHWM`` is the high-water mark of the process's own address space, which ``exec`` replaces.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mib() -> float:
    """The process's own peak RSS in MiB (``VmHWM``; ``ru_maxrss`` where /proc is absent)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
