"""The host memory allocator policy of training: keep freed activation buffers mapped.

glibc's malloc serves every block above its mmap threshold with a fresh `mmap` and unmaps it on
`free` (the threshold starts at 128 KiB and only creeps up as such blocks are freed), and it
returns the top of the heap to the OS once more than its trim threshold is free. A training step
frees and allocates the same activation and gradient tensors (megabytes each on the quickstart
nets) every step; depending on how a process's heap happens to be laid out, every step can then
fault those pages in again and have the kernel zero them: between 150 and ~11,000 minor faults
per quickstart step in different processes, the storms costing ~25 % of the step
(docs/results/speed/). Raising both thresholds once, before the first step, keeps the pages
mapped and reused. The math is untouched; the process keeps its peak resident memory.

Opt-in (`train.tune_malloc=true`): the `condgan train` processes measured never fell into a
storm, and there the setting changed nothing beyond noise. The setting is process-wide and
cannot be undone (glibc drops its dynamic threshold for good), so the trainer applies it once;
on a C library other than glibc (macOS, Windows, musl) nothing is changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

# mallopt parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
"""Blocks up to this size come from the heap (32 MiB: the largest glibc accepts on 64-bit)."""
TRIM_THRESHOLD = 1024 * 1024 * 1024
"""Free memory at the heap's top kept mapped, up to 1 GiB."""

_applied: str | None = None


def tune_malloc() -> str:
    """Apply the policy above (once per process); a short description of what was done, for the
    start of a training log."""
    global _applied
    if _applied is not None:
        return _applied
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        _applied = "allocator untouched (not glibc)"
        return _applied
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    except (OSError, AttributeError):
        ok = False
    _applied = ("malloc keeps freed blocks up to 32 MiB mapped (train.tune_malloc)" if ok
                else "allocator untouched (glibc refused mallopt)")
    return _applied
