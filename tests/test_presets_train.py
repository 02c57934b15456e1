"""Every shipped preset trains: 2 steps with tiny widths (same data, method and loss as shipped),
so a preset whose keys or method combination are broken fails here rather than in a long run."""

from __future__ import annotations

from importlib import resources

import pytest

from condgan.config import load_config
from condgan.training.trainer import Trainer

PRESET_NAMES = sorted(entry.name[:-5] for entry in (resources.files("condgan") / "presets").iterdir()
                      if entry.name.endswith(".yaml"))

TINY_STEPS = ["train.steps=2", "train.batch_size=16", "train.threads=1", "train.checkpoint_every=2",
              "train.sample_every=0", "train.log_every=1", "eval.every=0"]


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_trains_two_tiny_steps(name, tmp_path):
    cfg = load_config(name)
    small = (["model.mlp_hidden=8", "model.mlp_layers=2", "data.num_samples=200"] if cfg.model.net == "mlp"
             else ["model.g_width=8", "model.d_width=8", "model.z_dim=8", "model.cond_proj_dim=16"])
    cfg = load_config(name, small + TINY_STEPS)
    Trainer(cfg, tmp_path / "run", progress=False).train()
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()
