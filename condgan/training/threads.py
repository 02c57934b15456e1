"""The CPU thread policy of training: how many torch intra-op threads a run uses.

`train.threads=0` asks for an automatic count, which torch's own default gets wrong in two ways
that matter here: it counts the machine's physical cores and ignores both the process's affinity
mask and a container's CPU quota, and it does not know that several training processes (torchrun)
or several runs (a sweep) share the machine."""

from __future__ import annotations

import os

# train.threads=0: at most this many threads. The networks condgan trains on CPU are small;
# intra-op threads stop paying off beyond a few, while each extra thread costs a lot as soon as
# the machine is shared (2 threads on a busy 2-core box ran ~6x slower than 1).
MAX_AUTO_THREADS = 4


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask (taskset, cpusets), further limited by a
    cgroup-v2 CPU quota (`docker --cpus`), which os.cpu_count() and torch's default ignore."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def resolve_threads(requested: int, processes: int = 1) -> int:
    """`train.threads` → the torch CPU thread count used for training.

    0 (the default) picks the CPUs this process may use (affinity and container quota — torch's
    own default counts the machine's physical cores and ignores both), at most MAX_AUTO_THREADS.
    Measured on an idle 2-core machine with the quickstart nets: 1 thread ~270 images/s, 2
    threads ~560. On a machine shared with other jobs (several runs of a sweep) extra threads
    spin-wait on each other and one thread per run is much faster (2 threads on a busy 2-core
    machine ran ~6× slower than 1): set train.threads=1 there, as the experiment drivers do.
    Any N > 0 is used as given. `processes`: training processes sharing this machine (torchrun's
    LOCAL_WORLD_SIZE): the automatic count is this machine's share, available CPUs // processes."""
    if requested > 0:
        return requested
    return max(1, min(MAX_AUTO_THREADS, available_cpus() // max(1, processes)))
