"""Sampling from a generator: class-conditional batches, fixed-latent grids (one row per class),
and saving them as PNG (images) or scatter / histogram plots (vector data). Latents come from
`condgan.training.latents.sample_latents` (optionally truncated: the BigGAN truncation trick)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from condgan.errors import CondganError
from condgan.training.checkpoint import atomic_write_bytes
from condgan.training.latents import latent_truncation, sample_latents


def condition_vectors(classes: Sequence[int], num_classes: int, device) -> torch.Tensor | None:
    """One-hot rows for class indices (for multi-hot data: the single attribute switched on)."""
    if num_classes == 0:
        return None
    return F.one_hot(torch.as_tensor(list(classes), device=device), num_classes).float()


def fixed_latents(z_dim: int, n: int, seed: int, device, truncation: float | None = None) -> torch.Tensor:
    """Latents that depend only on (seed, n, truncation): drawn from their own CPU generator, so
    sampling never disturbs — and is never disturbed by — the training RNG. `truncation` T
    resamples |z_i| > T (see condgan.training.latents)."""
    return sample_latents(n, z_dim, torch.Generator().manual_seed(seed), truncation, device)


@contextlib.contextmanager
def truncated(generator, truncation: float | None):
    """Within the block, wrappers that draw latents of their own (`ClassifiedGenerator` redraws
    the latents of rows D assigns to another class) draw them with `truncation` too, so every
    latent of a truncated sample is truncated. Plain generators (no `truncation` attribute) are
    left as they are."""
    if not hasattr(generator, "truncation"):
        yield generator
        return
    before = generator.truncation
    generator.truncation = truncation
    try:
        yield generator
    finally:
        generator.truncation = before


@torch.no_grad()
def sample_grid(generator, z_dim: int, classes: Sequence[int], num_classes: int, per_class: int,
                seed: int, device, truncation: float | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`per_class` samples for each class; column j uses the same latent in every row (drawn from
    `seed`, truncated by `truncation`: see `condgan.training.latents.latent_truncation`)."""
    rows = list(classes) or [0]
    y = torch.as_tensor(rows, device=device).repeat_interleave(per_class)
    cnd = condition_vectors(y.tolist(), num_classes, device) if num_classes else None
    with latent_truncation(generator, truncation) as z_truncation, truncated(generator, z_truncation):
        z = fixed_latents(z_dim, per_class, seed, device, z_truncation).repeat(max(len(classes), 1), 1)
        return generator(z, cnd), (y if num_classes else None)


MAX_GRID_CATEGORIES = 16
GRID_COLUMNS = 10
MAX_GRID_ROWS = 20


def grid_categories(num_categories: int, columns: int = MAX_GRID_CATEGORIES) -> torch.Tensor:
    """The joint categories a sample grid shows: all of them when there are at most `columns`,
    else `columns` evenly spaced indices from 0 to K − 1 (for d_l > 1 these differ in every group)."""
    if num_categories <= columns:
        return torch.arange(num_categories)
    return torch.linspace(0, num_categories - 1, columns).round().long()


@torch.no_grad()
def category_grid(generator, z_dim: int, conditions: torch.Tensor, rows: int, seed: int, device,
                  truncation: float | None = None) -> torch.Tensor:
    """A grid of a self-labeling run (seed 000 Figs. 2–3): `rows` × C images in row-major order,
    column j conditioned on `conditions[j]` (one categorical vector per column), row i on the
    i-th fixed latent (same latent along a row)."""
    with latent_truncation(generator, truncation) as z_truncation, truncated(generator, z_truncation):
        z = fixed_latents(z_dim, rows, seed, device, z_truncation).repeat_interleave(len(conditions), 0)
        return generator(z, conditions.to(device).repeat(rows, 1))


@torch.no_grad()
def training_grid(generator, cfg, mode, info, device) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """The grid the trainer writes to RUN/samples: (samples, their class labels or None, columns).
    Class-conditional runs: one row per class (at most MAX_GRID_ROWS), GRID_COLUMNS fixed latents
    (vector data: 500 samples per class for the scatter plot); self-labeling runs (`mode`, the
    labeling mode class, has categories): one column per category, one row per latent (seed 000
    Figs. 2–3). Latents are fixed by `cfg.seed`, so grids of successive steps are comparable."""
    z_dim, seed = cfg.model.z_dim, cfg.seed
    if mode.num_categories(cfg):
        columns = grid_categories(mode.num_categories(cfg))
        x = category_grid(generator, z_dim, mode.category_conditions(cfg, columns), GRID_COLUMNS, seed, device)
        return x, None, len(columns)
    rows = list(range(min(info.num_classes, MAX_GRID_ROWS)))
    per_class = GRID_COLUMNS if len(info.sample_shape) == 3 else 500
    x, y = sample_grid(generator, z_dim, rows, info.num_classes, per_class, seed, device)
    return x, y, GRID_COLUMNS


def image_grid_png(images: torch.Tensor, nrow: int, pad: int = 2) -> bytes:
    """Images in [-1, 1] (N, C, H, W) → PNG bytes of a grid with `nrow` images per row."""
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    n, c, h, w = x.shape
    rows = (n + nrow - 1) // nrow
    canvas = torch.zeros(c, rows * (h + pad) + pad, nrow * (w + pad) + pad, dtype=torch.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        canvas[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = x[i]
    arr = canvas.permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[:, :, 0] if c == 1 else arr, mode="L" if c == 1 else "RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def vector_plot_png(samples: torch.Tensor, labels: torch.Tensor | None, real: torch.Tensor | None = None) -> bytes:
    """Scatter (2-D) or per-class histograms (1-D) of vector samples, optionally over real data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = samples.detach().cpu().numpy()
    lab = labels.cpu().numpy() if labels is not None else np.zeros(len(s), dtype=int)
    fig, ax = plt.subplots(figsize=(5, 5) if s.shape[1] >= 2 else (6, 3.5))
    if s.shape[1] >= 2:
        if real is not None:
            r = real.cpu().numpy()
            ax.scatter(r[:, 0], r[:, 1], s=2, c="lightgray", label="real")
        ax.scatter(s[:, 0], s[:, 1], s=3, c=lab, cmap="tab10", vmin=0, vmax=9)
        ax.set_aspect("equal")
    else:
        for k in np.unique(lab):
            ax.hist(s[lab == k, 0], bins=60, alpha=0.5, density=True, label=f"class {k}")
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def check_png_path(path, what: str = "--out") -> Path:
    """Sample grids are PNG files: a path with another suffix (x.jpg) would get PNG bytes under
    a name that says otherwise."""
    if isinstance(path, (str, Path)) and Path(path).is_dir():
        raise CondganError(f"cannot write '{path}': it is a directory; name a .png file inside it instead")
    if not isinstance(path, (str, Path)) or Path(path).suffix.lower() != ".png":
        raise CondganError(f"{what} {str(path)!r}: sample grids are written as PNG; give a file name ending in .png")
    return Path(path)


def save_samples(path: Path, samples: torch.Tensor, labels: torch.Tensor | None, nrow: int) -> None:
    check_png_path(path, "sample grid")
    data = image_grid_png(samples, nrow) if samples.dim() == 4 else vector_plot_png(samples, labels)
    atomic_write_bytes(Path(path), data)
