"""Every shipped preset trains: 2 steps with tiny widths (same data, method and loss as shipped),
so a preset whose keys or method combination are broken fails here rather than in a long run.
Presets on file-based data (cifar10, folder, fashion-mnist) get a tiny generated directory of the
same format through data.root, so they neither skip nor depend on what the machine has installed."""

from __future__ import annotations

from importlib import resources

import pytest

from condgan.validation import load_config
from condgan.training.trainer import Trainer

PRESET_NAMES = sorted(entry.name[:-5] for entry in (resources.files("condgan") / "presets").iterdir()
                      if entry.name.endswith(".yaml"))

TINY_STEPS = ["train.steps=2", "train.batch_size=16", "train.threads=1", "train.checkpoint_every=2",
              "train.sample_every=0", "train.log_every=1", "eval.every=0"]


def generated_data(name: str, directory) -> list[str]:
    """data.root of a tiny generated directory for the file-based sources that need one."""
    if name == "cifar10":
        from test_data_files import write_cifar

        return [f"data.root={write_cifar(directory / 'cifar-10-batches-py', per_batch=8)}"]
    if name == "fashion-mnist":
        from test_data_files import write_fashion

        return [f"data.root={write_fashion(directory / 'fashion-mnist', n_train=64, n_test=16)}"]
    if name == "folder":
        from PIL import Image

        for k, cls in enumerate(["cat", "dog", "wild"]):
            (directory / cls).mkdir(parents=True)
            for i in range(8):
                Image.new("RGB", (20 + i, 18), (40 * k, 10 * i, 90)).save(directory / cls / f"{i}.png")
        return [f"data.root={directory}"]
    return []


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_trains_two_tiny_steps(name, tmp_path):
    cfg = load_config(name)
    small = (["model.mlp_hidden=8", "model.mlp_layers=2", "data.num_samples=200"] if cfg.model.net == "mlp"
             else ["model.g_width=8", "model.d_width=8", "model.z_dim=8", "model.cond_proj_dim=16"])
    small += generated_data(cfg.data.name, tmp_path / "data")
    cfg = load_config(name, small + TINY_STEPS)
    Trainer(cfg, tmp_path / "run", progress=False).train()
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()
