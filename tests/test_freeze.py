"""Fine-tuning (`train.init_from`) and FreezeD (`train.freeze_d`): which layers freeze, that they
keep the source run's weights while the rest trains, loading across a change of classes, and the
config refusals."""

from __future__ import annotations

import pytest
import torch

from condgan.errors import CondganError
from condgan.training.checkpoint import load_checkpoint
from condgan.training.extensions.freeze import frozen_parameters
from condgan.training.trainer import Trainer


def test_frozen_layers_count_weight_layers_in_order(tiny_config):
    from condgan.nets import NETWORKS

    _, trunk = NETWORKS.get("dcgan")(tiny_config("model.d_norm=batch", "model.d_depth=1", "data.image_size=16"),
                                     (1, 16, 16), 0)
    convs = [m for m in trunk.modules() if isinstance(m, torch.nn.Conv2d)]
    frozen = {id(p) for p in frozen_parameters(trunk, 2)}
    # layer 1: the first conv (no norm after it in DCGAN); layer 2: the depth conv and its batch norm
    norm = trunk.net[3]
    assert isinstance(norm, torch.nn.BatchNorm2d)
    assert frozen == {id(p) for p in [*convs[0].parameters(), *convs[1].parameters(), *norm.parameters()]}
    assert {id(p) for p in convs[2].parameters()}.isdisjoint(frozen)
    with pytest.raises(CondganError, match="only 4 weight layers"):
        frozen_parameters(trunk, 5)


def test_spectral_norm_weights_freeze_too(tiny_config):
    from condgan.nets import NETWORKS

    _, trunk = NETWORKS.get("dcgan")(tiny_config("model.d_spectral_norm=true"), (1, 8, 8), 0)
    first = trunk.net[0]
    assert {id(p) for p in frozen_parameters(trunk, 1)} == {id(first.bias), id(first.parametrizations.weight.original)}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from condgan.validation import load_config
    from conftest import tiny_overrides

    out = tmp_path_factory.mktemp("source") / "run"
    Trainer(load_config({}, tiny_overrides("train.steps=2", "model.conditioning=pd")), out, progress=False).train()
    return out


def test_freeze_d_keeps_the_source_layers_and_trains_the_rest(tmp_path, tiny_config, source):
    cfg = tiny_config("train.steps=3", "model.conditioning=pd", f"train.init_from={source}", "train.freeze_d=1",
                      "train.checkpoint_every=2")
    Trainer(cfg, tmp_path / "tuned", progress=False).train()
    src = load_checkpoint(source / "checkpoints" / "last.pt")
    new = load_checkpoint(tmp_path / "tuned" / "checkpoints" / "last.pt")
    d_src, d_new = src["discriminator"], new["discriminator"]
    first = [k for k in d_src if k.startswith("trunk.net.0.")]
    assert first and all(torch.equal(d_src[k], d_new[k]) for k in first)            # frozen: as loaded
    later = [k for k in d_src if k.startswith("trunk.net.2.") or k.startswith("heads.")]
    assert later and all(not torch.equal(d_src[k], d_new[k]) for k in later)         # fine-tuned
    assert new["step"] == 3
    # the optimizer of D holds only the trainable parameters, also after a resume
    assert len(new["opt_d"]["param_groups"][0]["params"]) == sum(1 for k in d_src if not k.startswith("trunk.net.0."))
    Trainer(tiny_config("train.steps=4", "model.conditioning=pd", f"train.init_from={source}", "train.freeze_d=1",
                        "train.checkpoint_every=2"), tmp_path / "tuned", progress=False).train()
    again = load_checkpoint(tmp_path / "tuned" / "checkpoints" / "last.pt")["discriminator"]
    assert all(torch.equal(d_src[k], again[k]) for k in first)


def test_init_from_across_other_classes_loads_what_matches(tiny_config, source, capsys, set_up_trainer):
    cfg = tiny_config("train.steps=1", "model.conditioning=pd", f"train.init_from={source}", "data.classes=[0, 1, 2]")
    with set_up_trainer(cfg) as trainer:
        src = load_checkpoint(source / "checkpoints" / "last.pt")
        own = trainer.D.state_dict()
        assert torch.equal(own["trunk.net.0.weight"], src["discriminator"]["trunk.net.0.weight"])
        assert own["heads.adv.embed.weight"].shape != src["discriminator"]["heads.adv.embed.weight"].shape
        assert torch.equal(trainer.ema.module.state_dict()["fc.weight"], src["generator_ema"]["fc.weight"])
    assert "keep their initialization" in capsys.readouterr().err


@pytest.mark.parametrize("extra, match", [
    (["train.freeze_d=2"], "train.init_from"),
    (["train.init_from=/no/such/run"], "neither a run directory"),
    (["train.freeze_d=-1"], "freeze_d"),
])
def test_config_refusals(tiny_config, extra, match):
    with pytest.raises(CondganError, match=match):
        tiny_config(*extra)
