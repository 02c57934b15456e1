"""One fixed CPU thread count for evaluation, so that its numbers do not depend on the caller's.

How a float32 convolution or matrix product splits its reductions depends on the number of
threads: the fakes and their features differ in the last bits between, e.g., 3 and 8 torch
threads (measured: up to 7e-9 in the features of the quickstart nets), and so do FID, KID and
precision/recall. Evaluation therefore runs with EVAL_THREADS torch threads and as many BLAS
threads (numpy / scipy: the covariance products and the matrix square root of FID), whatever
`train.threads`, OMP_NUM_THREADS or torch.set_num_threads say, and restores them afterwards.
Nothing changes on a GPU, whose kernels do not depend on CPU threads.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import torch

# One thread: the evaluation networks are small (a few seconds for 5,000 fakes of the
# quickstart), and one thread is the count that never oversubscribes a shared machine.
EVAL_THREADS = 1

F = TypeVar("F", bound=Callable)


@contextmanager
def evaluation_threads(threads: int = EVAL_THREADS) -> Iterator[None]:
    """Run the block with `threads` torch intra-op and BLAS threads; restore them afterwards."""
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(previous)


def with_evaluation_threads(fn: F) -> F:
    """Decorator form of `evaluation_threads()`."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with evaluation_threads():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
