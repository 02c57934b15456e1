"""Memory-bounded pairwise squared distances and k-nearest-neighbour radii.

Shared by the k-NN manifold metrics (prdc.py) and the Parzen window (parzen.py). Never builds an
N×M matrix: rows of the first set are processed in blocks whose distance block fits in
`block_mb` MiB, using ‖a−b‖² = ‖a‖² + ‖b‖² − 2aᵀb (one matmul per block). Callers centre the
data first (distances are translation invariant) so the cancellation in that identity stays at
the level of the data's spread, not its offset.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import torch

from condgan.errors import CondganError


def block_rows(n_cols: int, element_size: int, block_mb: float) -> int:
    """Rows per block so that a (rows × n_cols) block takes at most block_mb MiB."""
    return max(1, int(block_mb * 2**20) // max(1, n_cols * element_size))


def sq_distance_blocks(a: torch.Tensor, b: torch.Tensor, block_mb: float = 8.0,
                       same: bool = False) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield (rows, D) with D[i, j] = ‖a[rows][i] − b[j]‖² for consecutive row blocks of a.

    The norms and the −2 are folded into the matmul, [a, ‖a‖², 1] · [−2b, 1, ‖b‖²]ᵀ, so a block
    costs one matmul and no elementwise passes. Entries of (near-)coincident points may come out
    slightly negative (rounding); callers only compare, take minima or exponentiate, where that
    is harmless, so no clamping pass either. same=True declares b is a and sets the
    self-distances D[i, rows.start + i] to exactly 0.

    All blocks are written into one reused buffer (a fresh multi-MB block per step churns the
    allocator, which then tends to keep more than one block's worth of RSS): D is valid until the
    next step, and the caller may overwrite it in place.
    """
    def ones(n):
        return torch.ones(n, 1, dtype=b.dtype)

    b_aug = torch.cat([-2.0 * b, ones(b.shape[0]), (b * b).sum(1, keepdim=True)], 1)
    step = block_rows(b.shape[0], b.element_size(), block_mb)
    buffer = torch.empty(min(step, a.shape[0]), b.shape[0], dtype=b.dtype)
    for start in range(0, a.shape[0], step):
        rows = slice(start, min(start + step, a.shape[0]))
        a_blk = a[rows]
        a_aug = torch.cat([a_blk, (a_blk * a_blk).sum(1, keepdim=True), ones(a_blk.shape[0])], 1)
        d = torch.matmul(a_aug, b_aug.T, out=buffer[: a_blk.shape[0]])
        if same:
            i = torch.arange(d.shape[0])
            d[i, i + start] = 0.0
        yield rows, d


def kth_neighbour_sq_dists(x: torch.Tensor, ks: Iterable[int], block_mb: float = 8.0) -> dict[int, torch.Tensor]:
    """For each k in ks, the squared distance from every row of x to its k-th nearest neighbour
    within x. The point itself is the 0-th neighbour (distance 0), so this is the (k+1)-th
    smallest entry of its distance row, exactly as the reference implementations define the
    k-NN radius (Kynkäänniemi et al. 2019; Naeem et al. 2020, prdc.get_kth_value(k + 1)).
    All ks come from one pass (one top-(max k + 1) per block)."""
    ks = sorted(set(int(k) for k in ks))
    if ks[0] < 1 or ks[-1] >= x.shape[0]:
        raise CondganError(f"k-NN radii need 1 ≤ k < number of points; got k = {ks} for {x.shape[0]} points")
    out = {k: torch.empty(x.shape[0], dtype=x.dtype) for k in ks}
    for rows, d in sq_distance_blocks(x, x, block_mb, same=True):
        smallest = torch.topk(d, ks[-1] + 1, dim=1, largest=False, sorted=True).values
        for k in ks:
            out[k][rows] = smallest[:, k]
    return out
