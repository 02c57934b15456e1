"""StyleGAN2, ADA, APA and LeCam inside the training step: lazy R1 and path-length weighting,
every D input through the augmentation (non-leaking), p adapted and logged, LeCam in D's loss,
every net × method with ADA + LeCam, resume bit-identical with all of it on, and training then
sampling with truncation from the CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from condgan.validation import load_config
from condgan.training.checkpoint import load_checkpoint
from condgan.training.trainer import Trainer
from conftest import tiny_overrides

STYLE = ["model.net=stylegan2", "model.mapping_layers=2", "model.g_width=2", "model.d_width=2",
         "model.d_minibatch_std=2", "model.conditioning=pd", "loss.adversarial=ns"]


def config(*extra):
    return load_config({}, tiny_overrides(*STYLE, *extra))


def records(run_dir):
    return [r for r in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines()) if "d_loss" in r]


def setup(tmp_path, *extra) -> Trainer:
    trainer = Trainer(config(*extra), tmp_path, progress=False)
    trainer.setup()
    return trainer


# ------------------------------------------------------------------ lazy regularization
def test_lazy_r1_is_its_own_d_step_every_kth_iteration_with_weight_times_k(tmp_path, monkeypatch):
    from condgan.losses.regularizers import REGULARIZERS

    seen = []
    real_get = REGULARIZERS.get

    def r1_penalty(ctx):  # records the weight it is called with, and the batch it sees
        seen.append((ctx.weight, ctx.real.shape[0], ctx.fake.shape[0]))
        return real_get("r1")(ctx)

    monkeypatch.setattr(REGULARIZERS, "get", lambda name: r1_penalty if name == "r1" else real_get(name))
    trainer = setup(tmp_path, "reg.r1=0.5", "reg.d_interval=3", "train.d_steps=2", "train.ema=0")
    try:
        assert [p.name for p in trainer.gan_step.phases] == ["D", "D_reg", "G", "labeling"]
        assert trainer.gan_step.penalties == []                  # not in D's loss any more
        c = 3 / 4                                                 # k / (k + 1): 4 D steps per 3 iterations
        group = trainer.opt_d.param_groups[0]
        assert group["lr"] == pytest.approx(2e-4 * c) and group["betas"] == pytest.approx((0.5 ** c, 0.999 ** c))
        assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(2e-4)   # G's optimizer untouched
        logs = []
        for _ in range(7):                                        # iterations 0 … 6
            logs.append(trainer.train_step())
            trainer.step += 1
    finally:
        trainer.close()
    assert seen == [(1.5, 16, 16)] * 3                            # iterations 0, 3, 6, each 3 × γ
    assert ["d_r1_penalty" in entry for entry in logs] == [True, False, False, True, False, False, True]
    assert all(float(entry["d_r1_penalty"]) > 0 for entry in logs if "d_r1_penalty" in entry)


def test_lazy_path_length_every_kth_iteration(tmp_path, monkeypatch):
    from condgan.training import extras

    calls = []

    class Stub:  # the penalty's value and inputs, recorded
        def __init__(self, weight, decay):
            pass

        def __call__(self, images, ws, generator=None, reduce=None):
            calls.append((images.shape[0], ws.shape[1]))
            return torch.tensor(0.25, requires_grad=True), {"pl_mean": torch.tensor(0.1), "pl_length": torch.tensor(0.2)}

        def state_dict(self):
            return {}

    monkeypatch.setattr(extras, "PathLengthPenalty", Stub)
    trainer = setup(tmp_path, "reg.pl=2", "reg.pl_interval=2", "reg.pl_batch_shrink=4")
    try:
        assert [p.name for p in trainer.gan_step.phases][:3] == ["D", "G", "G_pl"]
        c = 2 / 3
        assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 * c)
        assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(2e-4)
        logs = []
        for _ in range(4):
            logs.append(trainer.train_step())
            trainer.step += 1
    finally:
        trainer.close()
    assert [float(entry["g_pl"]) if "g_pl" in entry else None for entry in logs] == [0.5, None, 0.5, None]
    assert calls == [(4, trainer.G.num_ws)] * 2                   # batch 16 / shrink 4, all layers


def test_path_length_trains_and_is_logged(tmp_path):
    trainer = Trainer(config("reg.pl=2", "reg.pl_interval=2", "reg.style_mixing=0.9", "reg.r1=0.1",
                             "reg.d_interval=2", "train.steps=4", "train.log_every=1"), tmp_path, progress=False)
    trainer.train()
    recs = records(tmp_path)
    assert [("g_pl" in r, "d_r1_penalty" in r) for r in recs] == [(True, True), (False, False)] * 2
    assert all(r["g_pl"] > 0 and r["pl_mean"] > 0 and r["d_r1_penalty"] > 0 for r in recs[::2])
    assert recs[2]["pl_mean"] != recs[0]["pl_mean"]
    assert all(r["g_loss"] == r["g_adv"] for r in recs)          # path length is not in G's main loss


def test_metrics_average_each_key_over_the_steps_that_logged_it(tmp_path, monkeypatch):
    """Three steps written as one record: a lazy phase's key (two of them) is the mean of its two
    values, not of three with a zero."""
    trainer = Trainer(config("reg.pl=2", "reg.pl_interval=2", "train.steps=3", "train.log_every=3"), tmp_path,
                      progress=False)
    logged = []
    real_step = Trainer.train_step

    def recording_step(self):
        logs = real_step(self)
        logged.append({k: float(v) for k, v in logs.items()})
        return logs

    monkeypatch.setattr(Trainer, "train_step", recording_step)
    trainer.train()
    (rec,) = records(tmp_path)
    assert rec["g_pl"] == pytest.approx((logged[0]["g_pl"] + logged[2]["g_pl"]) / 2, rel=1e-6)
    assert rec["d_loss"] == pytest.approx(sum(entry["d_loss"] for entry in logged) / 3, rel=1e-6)


# ------------------------------------------------------------------ ADA: non-leaking routing
def test_every_discriminator_input_goes_through_the_augmentation(tmp_path):
    """Reals and fakes, in D's step, G's step and R1's input, all reach D augmented (here by a
    marker that shifts images by 100), and G receives gradient through the augmentation — so G
    is never rewarded for reproducing augmented reals."""
    trainer = setup(tmp_path, "ada.p=1", "ada.pipeline=[brightness]", "reg.r1=1", "train.diffaugment=[translation]")
    assert trainer.d_fn.augment.augments[0] is trainer.gan_step.stateful["ada"].augment
    trainer.d_fn.augment.augments = [lambda x: x + 100.0] + trainer.d_fn.augment.augments[1:]
    inputs = []
    trainer.D.trunk.register_forward_pre_hook(lambda module, args: inputs.append(args[0].detach().median().item()))
    grads = []
    trainer.G.to_images[-1].bias.register_hook(lambda g: grads.append(g.abs().sum().item()))
    try:
        trainer.train_step()
    finally:
        trainer.close()
    assert len(inputs) >= 4                                  # D: reals, fakes, R1; G: fakes
    assert min(inputs) > 50              # (DiffAugment's translation after ADA pads a border with 0)
    assert grads and grads[0] > 0


def test_ada_p_follows_the_heuristic_in_training_and_is_logged(tmp_path):
    # interval 2, one D step per G step: r_t of an adjustment is the mean of the two steps'
    # logged batch means; each adjustment moves p by 2 · 16 / (kimg · 1000) = 0.032.
    run = tmp_path / "run"
    Trainer(config("ada.p=0.5", "ada.target=0.0", "ada.kimg=1", "ada.interval=2", "train.steps=8",
                   "train.log_every=1"), run, progress=False).train()
    recs = records(run)
    p = 0.5
    for step in range(2, 9, 2):
        rt = (recs[step - 2]["ada_rt"] + recs[step - 1]["ada_rt"]) / 2
        p = min(1.0, max(0.0, p + (rt > 0) * 0.032 - (rt < 0) * 0.032))
        assert recs[step - 1]["ada_p"] == pytest.approx(p, abs=1e-7)
        assert recs[step - 2]["ada_p"] == (recs[step - 3]["ada_p"] if step > 2 else 0.5)   # no move between
    assert len({r["ada_p"] for r in recs}) > 1
    assert load_checkpoint(run / "checkpoints" / "last.pt")["phases"]["ada"]["p"] == pytest.approx(p)


def test_apa_replaces_reals_and_lecam_enters_the_d_loss(tmp_path):
    Trainer(config("apa.p=0.5", "reg.lecam=0.3", "train.steps=3", "train.log_every=1"), tmp_path,
            progress=False).train()
    recs = records(tmp_path)
    assert all(0 < r["apa_fraction"] < 1 for r in recs) and all(r["apa_p"] == 0.5 for r in recs)
    assert all(r["d_loss"] == pytest.approx(r["d_adv"] + r["d_lecam"], rel=1e-5) for r in recs)
    assert recs[-1]["lecam_anchor_real"] != 0


@pytest.mark.parametrize("net", ["dcgan", "resnet", "stylegan2"])
@pytest.mark.parametrize("method", ["ac", "ca", "d2dce"])
def test_ada_apa_lecam_work_with_every_net_and_method(tmp_path, net, method):
    Trainer(config(f"model.net={net}", f"model.conditioning={method}", "ada.target=0.6", "ada.kimg=1",
                   "apa.target=0.6", "apa.kimg=1", "reg.lecam=0.1", "train.steps=4", "train.log_every=2",
                   "ada.interval=1", "apa.interval=1", "model.cond_proj_dim=8"),
            tmp_path, progress=False).train()
    recs = records(tmp_path)
    assert all(math.isfinite(v) for r in recs for v in r.values())
    assert {"ada_p", "ada_rt", "apa_p", "apa_rt", "d_lecam"} <= set(recs[0])


# ------------------------------------------------------------------ resume
ALL_ON = ["reg.r1=0.1", "reg.d_interval=3", "reg.pl=2", "reg.pl_interval=2", "reg.style_mixing=0.9",
          "ada.target=0.6", "ada.kimg=1", "ada.interval=2", "apa.target=0.6", "apa.kimg=1", "apa.p=0.2",
          "reg.lecam=0.3", "train.checkpoint_every=5", "train.sample_every=0", "train.ema=0.9", "train.log_every=1"]


def test_resume_is_bit_identical_with_everything_on(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    Trainer(config(*ALL_ON, "train.steps=10"), straight, progress=False).train()
    Trainer(config(*ALL_ON, "train.steps=5"), resumed, progress=False).train()
    Trainer(config(*ALL_ON, "train.steps=10"), resumed, progress=False).train()
    a, b = (load_checkpoint(d / "checkpoints" / "last.pt") for d in (straight, resumed))
    for part in ("generator", "generator_ema", "discriminator"):
        assert a[part].keys() == b[part].keys()
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), (part, key)
    assert "w_avg" in "".join(a["generator"])
    assert a["phases"].keys() == {"ada", "apa", "lecam", "path_length"}
    assert repr(a["phases"]) == repr(b["phases"])
    strip = lambda r: {k: v for k, v in r.items() if k not in ("time", "images_per_s")}  # noqa: E731
    assert [strip(r) for r in records(straight)[-3:]] == [strip(r) for r in records(resumed)[-3:]]


def test_cli_trains_and_samples_with_truncation(tmp_path):
    from condgan.cli.main import main

    run = tmp_path / "run"
    sets = sum((["--set", o] for o in tiny_overrides(*STYLE, "train.steps=3", "reg.style_mixing=0.5")), [])
    assert main(["train", "mnist5k-quickstart", "--out", str(run), *sets]) == 0
    png = tmp_path / "s.png"
    assert main(["sample", str(run), "--class", "3", "--truncation", "0.7", "--out", str(png)]) == 0
    assert png.stat().st_size > 0


@pytest.mark.slow
def test_two_rank_resume_is_bit_identical_with_everything_on(tmp_path):
    """Two gloo processes: the r_t sums, LeCam's batch means and the path-length mean are
    averaged over the ranks (every rank keeps the same p, anchors and mean), and 3 + 3 steps
    resumed equal 6 steps straight, bit for bit."""
    from test_distributed import check_two_rank_resume

    extra = [*ALL_ON, "train.threads=1", "train.batch_size=8", "train.checkpoint_every=3"]
    check_two_rank_resume(tmp_path, lambda steps: config(*extra, f"train.steps={steps}"), 6)
    a, b = (load_checkpoint(tmp_path / name / "checkpoints" / "last.pt") for name in ("straight", "resumed"))
    assert a["world_size"] == 2 and repr(a["phases"]) == repr(b["phases"])
