"""Per-reading noise of the fleet, one day chunk at a time, in memory bounded by a slice.

Machine ``m``'s noise in chunk ``c`` comes from its own seeded stream (``simulator.seeding``): three
rows of standard normals (vibration, temperature, speed), then uniforms (dropouts), each
``chunk_len`` long. The stream can only be drawn from its start, so a chunk is drawn once and kept
for the slices that read it. A small fleet keeps its last chunks in memory; past ``SPILL_BYTES``
(about 180 machines at one reading a minute) a chunk is drawn in groups of machines and each group
is written to a temporary file, time-major, so that a slice of a few hours reads one contiguous run
per group and the process holds only that slice: at 2,000 machines one day of noise is 92 MB, a
2-hour slice 8 MB. The values are those of drawing every machine's whole chunk in memory, bit for
bit.
"""

from __future__ import annotations

import os
import tempfile
from typing import Final

import numpy as np

from simulator.seeding import Purpose, rng_for

SPILL_BYTES: Final = 8 * 1024 * 1024
"""A chunk's noise larger than this goes to a temporary file instead of staying in memory."""
MEMORY_CHUNKS: Final = 2
"""Chunks kept in memory below ``SPILL_BYTES`` (a live stream reads the same day batch after batch)."""
GROUP_BYTES: Final = 4 * 1024 * 1024
"""Noise drawn per group of machines before it is written out (spilled chunks only)."""
_PLANES: Final = 4  # three normals and the uniform, per machine and reading


class FleetNoise:
    """``block(k0, k1)``: the noise of readings ``k0..k1`` (within one chunk) of every machine."""

    def __init__(self, seed: int, machines: int, chunk_len: int) -> None:
        self._seed, self._machines, self._n = seed, machines, chunk_len
        self._spill = _PLANES * machines * chunk_len * 8 > SPILL_BYTES
        self._group = max(1, GROUP_BYTES // (_PLANES * chunk_len * 8))
        self._memory: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._file: tuple[int, int] | None = None  # (chunk, fd) of the spilled chunk

    def _draw(self, c: int, machines: range) -> np.ndarray:
        """Planes (normals x3, uniform) of chunk ``c`` for ``machines``: shape (4, len, n)."""
        out = np.empty((_PLANES, len(machines), self._n))
        for j, i in enumerate(machines):
            rng = rng_for(self._seed, Purpose.noise, i, c)
            out[:3, j, :] = rng.standard_normal((3, self._n))
            out[3, j, :] = rng.random(self._n)
        return out

    def block(self, k0: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
        """Standard normals (3, M, K) and uniforms (M, K) for readings ``k0..k1`` of one chunk."""
        c = k0 // self._n
        lo, hi = k0 - c * self._n, k1 - c * self._n
        if not self._spill:
            z, u = self._in_memory(c)
            return z[:, :, lo:hi], u[:, lo:hi]
        fd = self._spilled(c)
        out = np.empty((_PLANES, self._machines, hi - lo))
        g, m, k = self._group, self._machines, hi - lo
        for start in range(0, m, g):
            size = min(g, m - start)
            # a group's block is (n, 4, size), time-major: readings lo..hi are one contiguous run
            offset = (start * self._n + lo * size) * _PLANES * 8
            raw = os.pread(fd, k * _PLANES * size * 8, offset)
            out[:, start : start + size, :] = np.frombuffer(raw).reshape(k, _PLANES, size).transpose(1, 2, 0)
        return out[:3], out[3]

    def _in_memory(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        cached = self._memory.get(c)
        if cached is None:
            planes = self._draw(c, range(self._machines))
            if len(self._memory) >= MEMORY_CHUNKS:
                self._memory.pop(next(iter(self._memory)))
            cached = self._memory[c] = (planes[:3], planes[3])
        return cached

    def _spilled(self, c: int) -> int:
        if self._file is not None and self._file[0] == c:
            return self._file[1]
        self.close()
        handle, path = tempfile.mkstemp(prefix="predmaint-noise-")
        os.unlink(path)  # the descriptor keeps it until close, whatever happens to the process
        for start in range(0, self._machines, self._group):
            group = range(start, min(start + self._group, self._machines))
            block = np.ascontiguousarray(self._draw(c, group).transpose(2, 0, 1))  # (n, 4, size)
            _write_all(handle, block.data.cast("B"))
        self._file = (c, handle)
        return handle

    def close(self) -> None:
        """Drop the spilled chunk's file (the next chunk opens its own)."""
        if self._file is not None:
            os.close(self._file[1])
            self._file = None

    def __del__(self) -> None:
        self.close()


def _write_all(fd: int, data: memoryview) -> None:
    while len(data):
        data = data[os.write(fd, data) :]


__all__ = ["SPILL_BYTES", "FleetNoise"]
