"""The public Python API in one import: configure, train, load, sample, evaluate.

    from condgan import api

    cfg = api.load_config("mnist5k-cagan", ["train.steps=500"])
    api.train(cfg, "runs/ca")
    trained = api.load_generator("runs/ca")
    images = api.sample(trained, classes=[3, 7], num=8, seed=0, truncation=0.5, out="grid.png")
    result = api.evaluate_run("runs/ca", num_samples=1000)

Everything here is a thin layer over the modules that do the work (documented in docs/api.md);
what this module adds is `train` and `sample`, the two calls a newcomer would otherwise assemble
from several pieces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from condgan.arguments import check_indices, check_seed, is_integer
from condgan.config import Config, list_presets
from condgan.errors import CondganError
from condgan.evaluation import DEFAULT_METRICS, evaluate_run
from condgan.training.latents import sample_latents
from condgan.training.restore import TrainedGenerator, load_generator
from condgan.evaluation.cluster import cluster_run
from condgan.training.sampling import category_grid, check_png_path, grid_categories, sample_grid, save_samples
from condgan.training.trainer import Trainer, TrainResult
from condgan.validation import load_config, validate_config

__all__ = [
    "Config", "CondganError", "DEFAULT_METRICS", "TrainResult", "TrainedGenerator", "Trainer",
    "cluster_run", "evaluate_run", "list_presets", "load_config", "load_generator", "sample", "sample_latents", "train",
]


def train(cfg: Config, out: str | Path, progress: bool = False) -> TrainResult:
    """Train (or resume) the run `cfg` in directory `out`; what `condgan train CONFIG --out OUT` does.

    An existing `out` holding the same config is resumed from its last checkpoint (bit-identical
    on CPU); one holding a different config is refused with a CondganError. `cfg` is validated
    again first: fields set by hand after `load_config` get the same checks as the config file."""
    if not isinstance(cfg, Config):
        raise CondganError(f"train needs a Config (from api.load_config), got {type(cfg).__name__}")
    if not isinstance(out, (str, Path)):
        raise CondganError(f"train needs the output directory as a str or Path, got {out!r}")
    validate_config(cfg)
    return Trainer(cfg, out, progress=progress).train()


def sample(trained: TrainedGenerator | str | Path, classes: Sequence[int] | None = None, num: int = 10,
           seed: int = 0, truncation: float | None = None, out: str | Path | None = None) -> torch.Tensor:
    """`num` samples of each class in `classes` (default: every class), row by row, as a tensor
    (len(classes)·num, C, H, W) in [-1, 1] (vector data: (N, D) in the data's own units).

    Column j of every row uses the same latent z_j, drawn from a generator seeded with `seed`;
    `truncation` T resamples latent elements with |z_i| > T (BigGAN truncation trick; None: off).
    `out`: also write the grid (one row per class) as a PNG. `trained` is a loaded generator or a
    run directory (then its EMA generator is loaded). The same arguments give the same images
    as `condgan sample RUN --class ... --num NUM --seed SEED --truncation T --out OUT`.

    Self-labeling runs (`trained.num_categories > 0`): `classes` are categories (joint indices;
    default: up to 16, see `grid_categories`), the result has `num` rows of fixed latents with
    one column per category, (num·len(classes), C, H, W) in row-major order."""
    if not is_integer(num) or num < 1:
        raise CondganError(f"num must be ≥ 1 (an integer number of samples per class), got {num!r}")
    check_seed(seed, "seed")
    if classes is not None:
        classes = check_indices(classes, "classes")
    if out is not None:
        check_png_path(out, "out")
    if not isinstance(trained, TrainedGenerator):
        trained = load_generator(trained)
    if trained.num_categories:  # self-labeling run: columns = categories, rows = latents
        k = trained.num_categories
        columns = grid_categories(k) if classes is None else torch.tensor(classes, dtype=torch.int64)
        bad = [int(c) for c in columns if not 0 <= c < k]
        if bad or not len(columns):
            raise CondganError(f"category {bad[0] if bad else '(none)'} is out of range: the run has {k} "
                               f"categories (0..{k - 1})")
        x = category_grid(trained.generator, trained.cfg.model.z_dim, trained.conditions(columns), num, seed,
                          trained.device, truncation)
        if out is not None:
            save_samples(Path(out), x, None, len(columns))
        return x
    k = trained.info.num_classes
    classes = list(range(k)) if classes is None else classes
    if k and not classes:
        raise CondganError("classes is empty: pass class indices, or None for every class")
    bad = [c for c in classes if not 0 <= c < max(k, 1)]
    if bad:
        raise CondganError(f"class {bad[0]} is out of range: the run has {k} classes (0..{max(k - 1, 0)})")
    x, y = sample_grid(trained.generator, trained.cfg.model.z_dim, classes, k, num, seed,
                       trained.device, truncation)
    if out is not None:
        save_samples(Path(out), x, y, num)
    return x
