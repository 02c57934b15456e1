"""The training loop: every loss × method × mixed-batch combination runs; resuming (and resuming
a killed run) is bit-identical; divergence is caught and named; mixed batch training changes
results only when D has batch-dependent layers; run directories refuse a changed config."""

from __future__ import annotations

import json
import math

import pytest
import torch

from condgan.validation import load_config
from condgan.errors import CondganError
from condgan.training.checkpoint import load_checkpoint
from condgan.training.logger import TrainingDiverged
from condgan.training.trainer import Trainer
from conftest import tiny_overrides


def config(*extra):
    return load_config({}, tiny_overrides(*extra))


def train(out, *extra, trainer_cls=Trainer) -> Trainer:
    trainer = trainer_cls(config(*extra), out, progress=False)
    trainer.train()
    return trainer


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def loss_records(run_dir):
    return [r for r in records(run_dir) if "d_loss" in r]


def assert_same_state(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ------------------------------------------------------------------ (a) the matrix
ADVERSARIAL = ["minimax", "ns", "ls", "wasserstein", "hinge"]
METHODS = ["none", "ac", "ac_mod", "ca", "ca_inner", "pd", "label", "am", "mh", "tac", "2c", "d2dce"]


@pytest.mark.parametrize("mixed", [False, True])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("adv", ADVERSARIAL)
def test_matrix_trains(tmp_path, adv, method, mixed):
    extra = [f"loss.adversarial={adv}", f"model.conditioning={method}", f"loss.mixed_batch={mixed}",
             "train.steps=5", "train.log_every=1", "model.d_norm=batch", "model.d_depth=1"]
    if adv == "wasserstein":
        extra += ["model.d_spectral_norm=true"]   # a Lipschitz critic (config refuses otherwise)
    trainer = train(tmp_path, *extra)
    assert trainer.step == 5
    recs = loss_records(tmp_path)
    assert [r["step"] for r in recs] == [1, 2, 3, 4, 5]
    for r in recs:
        for key in ("d_loss", "g_loss"):
            assert math.isfinite(r[key]), (key, r)
    if method in ("ac", "ac_mod", "tac", "2c", "d2dce"):
        assert "d_cls" in recs[0] and "g_cls" in recs[0]
    # D and G actually trained
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["step"] == 5
    assert all(torch.isfinite(v).all() for v in state["generator"].values() if v.is_floating_point())
    assert (tmp_path / "samples" / "latest.png").exists()


@pytest.mark.parametrize("extra", [
    ["reg.gp=10", "model.d_norm=layer", "model.g_conditioning=concat"],
    ["reg.r1=1", "reg.r2=1", "model.g_conditioning=cbn", "loss.mixed_batch=true"],
    ["model.d_spectral_norm=true", "model.g_conditioning=cbn", "train.d_steps=2", "model.d2dce_variant=no_margin"],
])
@pytest.mark.parametrize("method", ["label", "am", "mh", "tac", "2c", "d2dce"])
def test_new_methods_with_penalties_and_g_conditioning(tmp_path, method, extra):
    train(tmp_path, "train.steps=3", "train.log_every=1", f"model.conditioning={method}",
          "loss.adversarial=hinge", "model.cond_proj_dim=16", *extra)
    recs = loss_records(tmp_path)
    assert len(recs) == 3 and all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in recs)
    penalties = [k for k in recs[0] if k.endswith("_penalty")]
    assert len(penalties) == sum(x.startswith("reg.") for x in extra)


def test_wasserstein_without_lipschitz_rejected_at_config_time(tmp_path):
    with pytest.raises(CondganError, match="Lipschitz"):
        config("loss.adversarial=wasserstein")
    config("loss.adversarial=wasserstein", "reg.gp=10")


@pytest.mark.parametrize("extra", [
    ["model.conditioning=ac_plus", "reg.r1=1", "reg.r2=1", "train.d_steps=2"],
    ["model.conditioning=concat", "model.g_conditioning=cbn", "train.ema_start=3", "train.standing_stats=2"],
    ["loss.adversarial=wasserstein", "reg.gp=10", "model.d_norm=layer", "model.g_label_embedding=onehot"],
    ["model.conditioning=ca", "data.attributes=[even, ge5]", "loss.mixed_batch=true"],
    ["model.conditioning=pd", "data.attributes=[even, ge5]", "model.g_conditioning=cbn"],
    ["model.net=mlp", "data.name=ring2d", "data.num_samples=400", "model.mlp_hidden=16",
     "model.mlp_layers=2", "model.g_norm=batch", "model.d_norm=layer", "model.conditioning=ca"],
    ["model.conditioning=none", "model.g_conditioning=none", "model.label_prior=data", "train.ema=0",
     "train.optimizer=adamw", "train.weight_decay=0.01"],
])
def test_other_options_train(tmp_path, extra):
    train(tmp_path, "train.steps=4", "train.log_every=1", *extra)
    recs = loss_records(tmp_path)
    assert len(recs) == 4 and all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in recs)
    assert (tmp_path / "samples" / "latest.png").stat().st_size > 0


def test_penalties_are_logged_and_added(tmp_path):
    train(tmp_path, "train.steps=2", "train.log_every=1", "reg.r1=1", "reg.gp=1", "model.conditioning=none")
    r = loss_records(tmp_path)[0]
    penalties = [k for k in r if k.startswith("d_") and k not in ("d_adv", "d_loss")]
    assert len(penalties) == 2
    assert r["d_loss"] == pytest.approx(r["d_adv"] + sum(r[k] for k in penalties), rel=1e-5)


# ------------------------------------------------------------------ (b) resume is bit-identical
# Exercises every piece of state: EMA (+ standing stats at sampling), SN power-iteration
# buffers, GP interpolation noise, Adam moments, the data order and the fake labels.
RESUME = ["reg.gp=1", "model.d_norm=layer", "model.d_spectral_norm=true", "train.ema=0.9",
          "train.standing_stats=2", "train.checkpoint_every=7", "train.sample_every=10",
          "model.conditioning=ac"]


@pytest.fixture(scope="module")
def fresh_40(tmp_path_factory):
    out = tmp_path_factory.mktemp("fresh40")
    train(out, *RESUME, "train.steps=40")
    return out


def _compare_runs(a, b):
    assert (a / "samples" / "latest.png").read_bytes() == (b / "samples" / "latest.png").read_bytes()
    sa, sb = (load_checkpoint(d / "checkpoints" / "last.pt") for d in (a, b))
    assert sa["step"] == sb["step"] == 40
    for part in ("generator", "generator_ema", "discriminator"):
        assert_same_state(sa[part], sb[part])
    assert torch.equal(sa["rng"]["train"], sb["rng"]["train"])
    for r, s in zip(loss_records(a)[-2:], loss_records(b)[-2:]):
        assert {k: v for k, v in r.items() if k not in ("time", "images_per_s")} == \
               {k: v for k, v in s.items() if k not in ("time", "images_per_s")}


def test_resume_is_bit_identical(tmp_path, fresh_40):
    from condgan.cli.main import main

    out = tmp_path / "resumed"
    first = train(out, *RESUME, "train.steps=20")
    assert first.step == 20
    assert load_checkpoint(out / "checkpoints" / "last.pt")["step"] == 20
    png_20 = (out / "samples" / "latest.png").read_bytes()
    second = train(out, *RESUME, "train.steps=40")          # same dir, more steps: resumes
    assert second.step == 40
    assert (out / "samples" / "latest.png").read_bytes() != png_20
    _compare_runs(out, fresh_40)
    steps = [r["step"] for r in loss_records(out)]
    assert steps == sorted(set(steps)) and steps[-1] == 40
    # and through the CLI: `condgan sample` of both runs writes the same file
    for flag in ("--ema", "--no-ema"):
        outputs = []
        for run in (out, fresh_40):
            png = tmp_path / f"{run.name}{flag}.png"
            assert main(["sample", str(run), "--out", str(png), "--class", "3", "--class", "7", flag]) == 0
            outputs.append(png.read_bytes())
        assert outputs[0] == outputs[1]


def test_resume_with_reuse_fakes_is_bit_identical(tmp_path):
    """The quickstart preset's `train.reuse_fakes`: 20 steps + a resume to 40 land where 40 steps
    straight do (the reused fakes carry no state across a checkpoint)."""
    options = [*RESUME, "train.reuse_fakes=true"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(straight, *options, "train.steps=40")
    train(resumed, *options, "train.steps=20")
    train(resumed, *options, "train.steps=40")
    _compare_runs(resumed, straight)


class Killed(Exception):
    pass


class KilledAt13(Trainer):
    def after_step(self, log):
        if self.step == 13:
            raise Killed("simulated kill")


def test_killed_run_resumes_identically(tmp_path, fresh_40):
    out = tmp_path / "killed"
    with pytest.raises(Killed):
        train(out, *RESUME, "train.steps=40", trainer_cls=KilledAt13)
    state = load_checkpoint(out / "checkpoints" / "last.pt")
    assert state["step"] == 7          # checkpoint_every=7: the last one before the kill
    assert not list(out.rglob("*.tmp")), "a torn temporary file was left behind"
    resumed = train(out, *RESUME, "train.steps=40")
    assert resumed.step == 40
    _compare_runs(out, fresh_40)
    # the metrics a killed run wrote after its checkpoint are dropped on resume: no duplicates
    steps = [r["step"] for r in loss_records(out)]
    assert steps == [r["step"] for r in loss_records(fresh_40)]


def test_resume_finished_run_is_a_no_op(tmp_path):
    train(tmp_path, "train.steps=5")
    before = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    again = train(tmp_path, "train.steps=5")
    assert again.step == 5
    assert_same_state(before["generator"], load_checkpoint(tmp_path / "checkpoints" / "last.pt")["generator"])


# ------------------------------------------------------------------ (d) divergence
NAN_FROM = 8


def nan_d_loss(monkeypatch, nan_from=NAN_FROM):
    """The discriminator loss becomes NaN from step `nan_from` on (1-based, like trainer.step)."""
    from condgan.losses.conditioning.conditional_activation import ConditionalActivation

    calls = {"n": 0}
    original = ConditionalActivation.d_loss

    def d_loss(self, *args):
        calls["n"] += 1   # d_steps=1: call n is step n
        loss, logs = original(self, *args)
        return (loss * float("nan") if calls["n"] >= nan_from else loss), logs

    monkeypatch.setattr(ConditionalActivation, "d_loss", d_loss)


def test_nan_loss_stops_with_step_and_loss_named(tmp_path, monkeypatch):
    from condgan.training.restore import load_generator

    nan_d_loss(monkeypatch)
    with pytest.raises(TrainingDiverged) as info:
        train(tmp_path, "model.conditioning=ca", "train.steps=20", "train.log_every=10",
              "train.checkpoint_every=5")
    msg = str(info.value)
    assert isinstance(info.value, CondganError)
    assert f"step {NAN_FROM}" in msg and "'d_loss'" in msg and "nan" in msg.lower()
    assert "last good checkpoint is step 5" in msg
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["step"] == 5
    for part in ("generator", "discriminator", "generator_ema"):
        assert all(torch.isfinite(v).all() for v in state[part].values() if v.is_floating_point()), part
    trained = load_generator(tmp_path)
    assert trained.step == 5
    x = trained.sample(torch.tensor([0, 1]), torch.Generator().manual_seed(0))
    assert torch.isfinite(x).all()
    # no record of a bad step reached metrics.jsonl
    assert all(r["step"] <= 5 for r in loss_records(tmp_path))


def test_nan_via_cli_is_one_line(tmp_path, monkeypatch, capsys):
    from condgan.cli.main import main

    nan_d_loss(monkeypatch, nan_from=3)
    code = main(["train", "mnist5k-cagan", "--out", str(tmp_path), "--no-progress",
                 *sum((["--set", s] for s in tiny_overrides("train.steps=6")), [])])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("condgan: error:")
    assert "step 3" in err and "Traceback" not in err


# ------------------------------------------------------------------ (e) mixed batch
def _losses(out, *extra):
    train(out, "train.steps=8", "train.log_every=1", "model.d_depth=1", *extra)
    return [(r["d_loss"], r["g_loss"]) for r in loss_records(out)]


@pytest.mark.parametrize("norm", ["none", "instance", "layer"])
def test_mixed_batch_changes_nothing_without_batch_dependent_layers(tmp_path, norm):
    """Same seed, same RNG draws: the real and fake halves of one forward give the same
    outputs as two forwards, so only float summation order (of the weight gradients) differs."""
    separate = _losses(tmp_path / "sep", f"model.d_norm={norm}", "loss.mixed_batch=false")
    mixed = _losses(tmp_path / "mix", f"model.d_norm={norm}", "loss.mixed_batch=true")
    assert len(separate) == len(mixed) == 8
    for (d1, g1), (d2, g2) in zip(separate, mixed):
        assert d1 == pytest.approx(d2, rel=1e-5, abs=1e-6)
        assert g1 == pytest.approx(g2, rel=1e-5, abs=1e-6)
    # the first D loss comes from identical weights and inputs: equal to the last bit
    assert separate[0][0] == mixed[0][0]


def test_mixed_batch_changes_results_with_batch_norm(tmp_path):
    separate = _losses(tmp_path / "sep", "model.d_norm=batch", "loss.mixed_batch=false")
    mixed = _losses(tmp_path / "mix", "model.d_norm=batch", "loss.mixed_batch=true")
    assert max(abs(a[0] - b[0]) for a, b in zip(separate, mixed)) > 1e-3


# ------------------------------------------------------------------ (f) run directory rules
def test_changed_config_refused_and_intervals_allowed(tmp_path):
    train(tmp_path, "train.steps=5")
    with pytest.raises(CondganError) as info:
        train(tmp_path, "train.steps=5", "model.z_dim=16")
    msg = str(info.value)
    assert "model.z_dim" in msg and str(tmp_path) in msg
    with pytest.raises(CondganError, match="loss.adversarial"):
        train(tmp_path, "train.steps=5", "loss.adversarial=hinge")
    # the refused attempts left the run untouched
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["config"]["model"]["z_dim"] == 8
    resumed = train(tmp_path, "train.steps=8", "train.log_every=2", "train.checkpoint_every=3",
                    "train.sample_every=4")
    assert resumed.step == 8
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 8
