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
    costs one matmul. That identity cancels badly for (near-)coincident points: identical rows
    can come out as ±(a few ulps of ‖a‖²) instead of 0, which decides ties of the '≤' radius
    comparisons (precision / recall) and of zero radii (duplicated points). So every entry below
    a rounding bound is recomputed exactly as Σ (a_i − b_j)² (see `_exact_small_entries`):
    identical points then give exactly 0 and nothing is negative. On continuous data almost no
    entry is that small, so this costs one min-reduction per block. same=True declares b is a
    and sets the self-distances D[i, rows.start + i] to exactly 0.

    All blocks are written into one reused buffer (a fresh multi-MB block per step churns the
    allocator, which then tends to keep more than one block's worth of RSS): D is valid until the
    next step, and the caller may overwrite it in place.
    """
    def ones(n):
        return torch.ones(n, 1, dtype=b.dtype)

    b_sq = (b * b).sum(1, keepdim=True)
    b_aug = torch.cat([-2.0 * b, ones(b.shape[0]), b_sq], 1)
    # one bound for all blocks, so which entries are recomputed does not depend on block_mb
    bound = rounding_bound(a.shape[1], (float((a * a).sum(1).max()) if a.shape[0] else 0.0)
                           + (float(b_sq.max()) if b.shape[0] else 0.0), b.dtype)
    step = block_rows(b.shape[0], b.element_size(), block_mb)
    buffer = torch.empty(min(step, a.shape[0]), b.shape[0], dtype=b.dtype)
    for start in range(0, a.shape[0], step):
        rows = slice(start, min(start + step, a.shape[0]))
        a_blk = a[rows]
        a_sq = (a_blk * a_blk).sum(1, keepdim=True)
        a_aug = torch.cat([a_blk, a_sq, ones(a_blk.shape[0])], 1)
        d = torch.matmul(a_aug, b_aug.T, out=buffer[: a_blk.shape[0]])
        if same:  # self-distances are set below; keep them out of the small-entry search
            i = torch.arange(d.shape[0])
            d[i, i + start] = float("inf")
        # a min-reduction is much cheaper than building the mask, and almost always says "none"
        if d.numel() and float(d.min()) <= bound:
            _exact_small_entries(d, a_blk, b, bound)
        if same:
            d[i, i + start] = 0.0
        yield rows, d


def rounding_bound(dim: int, norm_sq_sum: float, dtype: torch.dtype) -> float:
    """An upper bound on the rounding error of ‖a‖² + ‖b‖² − 2aᵀb: each of the dim + 2 terms of
    the dot product contributes at most ~machine-ε times the magnitude, ‖a‖² + ‖b‖² bounds the
    magnitudes; a factor 4 of headroom for the summation order of the BLAS kernel."""
    return 4.0 * (dim + 2) * torch.finfo(dtype).eps * norm_sq_sum


def _exact_small_entries(d: torch.Tensor, a_blk: torch.Tensor, b: torch.Tensor, bound: float,
                         chunk_elements: int = 1 << 20) -> None:
    """Overwrite every entry of d that is ≤ bound with Σ_f (a_i,f − b_j,f)², computed exactly in
    the sense that identical rows give 0.0 and no result is negative. The pairs are processed in
    chunks of at most `chunk_elements` scalars, so even a full mode collapse (every pair small)
    stays in bounded memory."""
    pairs = torch.nonzero(d <= bound)
    if pairs.shape[0] == 0:
        return
    per_chunk = max(1, chunk_elements // max(1, a_blk.shape[1]))
    for s in range(0, pairs.shape[0], per_chunk):
        i, j = pairs[s:s + per_chunk].unbind(1)
        d[i, j] = (a_blk[i] - b[j]).pow_(2).sum(1)


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
