"""The host memory allocator policy of training: keep freed activation buffers mapped.

glibc's malloc serves every block above its mmap threshold with a fresh `mmap` and unmaps it on
`free` (the threshold starts at 128 KiB and only creeps up as such blocks are freed), and it
returns the top of the heap to the OS once more than its trim threshold is free. A training step
frees and allocates the same activation and gradient tensors (megabytes each on the quickstart
nets) every step, so every step faults their pages in again and the kernel zeroes them: ~6,500
minor page faults per quickstart step, about a fifth of its CPU time on a 2-core machine
(docs/results/speed/). Raising both thresholds once, before the first step, keeps those pages
mapped and reused from step to step. The math is untouched; the cost is that the process's
resident memory stays at its peak instead of shrinking between steps.

The setting is process-wide and cannot be undone (glibc drops its dynamic threshold for good), so
it is applied once, by the trainer, when `train.tune_malloc` is true (the default); on a C
library other than glibc (macOS, Windows, musl) nothing is changed.
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
