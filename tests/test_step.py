"""The step / loop seam (docs/architecture.md): phases added to `GANStep` run on their schedule
and see what earlier phases produced, without changing what the default phases compute; the
loop's `Schedule` says when periodic work runs."""

from __future__ import annotations

import torch

from condgan.training.loop import Schedule
from condgan.training.step import Phase
from condgan.training.trainer import Trainer


def _steps(trainer: Trainer, n: int) -> list[dict[str, float]]:
    out = []
    for _ in range(n):
        out.append({k: float(v) for k, v in trainer.train_step().items()})
        trainer.step += 1
    return out


def test_default_phases_in_order(tiny_config, tmp_path):
    trainer = Trainer(tiny_config("train.ema=0.9"), tmp_path / "a", progress=False)
    trainer.setup()
    try:
        assert [p.name for p in trainer.gan_step.phases] == ["D", "G", "G_ema", "labeling"]
    finally:
        trainer.close()
    trainer = Trainer(tiny_config("train.ema=0"), tmp_path / "b", progress=False)
    trainer.setup()
    try:
        assert [p.name for p in trainer.gan_step.phases] == ["D", "G", "labeling"]
    finally:
        trainer.close()


def test_an_added_phase_runs_every_k_iterations_and_leaves_the_losses_alone(tiny_config, tmp_path):
    """A lazy phase (every 2 iterations, after D) sees the D phase's reals and the step index,
    its logs join the step's, and the default phases compute what they compute without it."""
    cfg = tiny_config("train.ema=0.9")
    plain = Trainer(cfg, tmp_path / "plain", progress=False)
    plain.setup()
    try:
        expected = _steps(plain, 5)
    finally:
        plain.close()

    seen = []

    def lazy(it):
        seen.append((it.step, it.real.shape[0], it.fake is None))
        return {"lazy_value": torch.tensor(float(it.step))}

    trainer = Trainer(cfg, tmp_path / "lazy", progress=False)
    trainer.setup()
    try:
        trainer.gan_step.add_phase(Phase("D_lazy", lazy, every=2), after="D")
        assert [p.name for p in trainer.gan_step.phases][:3] == ["D", "D_lazy", "G"]
        got = _steps(trainer, 5)
    finally:
        trainer.close()
    assert seen == [(0, 16, True), (2, 16, True), (4, 16, True)]  # before G: no fakes yet
    assert [r.get("lazy_value") for r in got] == [0.0, None, 2.0, None, 4.0]
    for a, b in zip(got, expected):
        assert {k: v for k, v in a.items() if k != "lazy_value"} == b  # bit-identical losses


def test_schedule():
    s = Schedule(total=10, log_every=3, checkpoint_every=4, sample_every=5, eval_every=0)
    assert [t for t in range(1, 11) if s.checkpoint(t)] == [4, 8, 10]
    assert [t for t in range(1, 11) if s.log(t)] == [3, 4, 6, 8, 9, 10]  # and at every checkpoint
    assert [t for t in range(1, 11) if s.samples(t)] == [5]  # the loop draws the last grid itself
    assert not any(s.evaluate(t) for t in range(1, 11))
    s = Schedule(total=10, log_every=3, checkpoint_every=4, sample_every=0, eval_every=6)
    assert [t for t in range(1, 11) if s.evaluate(t)] == [6, 10]
    assert not any(s.samples(t) for t in range(1, 11))


def test_extras_and_extensions_share_the_step_hooks_and_one_phases_entry(tiny_config, set_up_trainer):
    """StyleGAN2's / limited-data additions (`extras.install`: LeCam's D term, its anchors in
    `stateful`) and the training extensions (unrolled critic, top-k selection, orthogonal G term)
    install onto the same step and run together, also with `train.reuse_fakes`; their state is
    one `phases` entry, and a checkpoint without it (older than the parts) still loads."""
    cfg = tiny_config("reg.lecam=0.1", "reg.ortho=0.01", "train.topk=true", "train.unrolled_steps=1",
                      "train.reuse_fakes=true", "model.conditioning=none", "train.ema=0")
    with set_up_trainer(cfg) as trainer:
        step = trainer.gan_step
        assert step.generator_critic is not None and step.fake_selection is not None
        assert len(step.generator_terms) == 1 and len(step.d_terms) == 1
        assert trainer.extensions == ["orthogonal", "topk", "unrolled"]
        logs = _steps(trainer, 2)[-1]
        assert {"d_lecam", "g_ortho", "g_loss", "d_loss"} <= logs.keys()
        assert all(v == v for v in logs.values())  # no NaN
        state = trainer._state()
        assert state["phases"].keys() == {"lecam"} and state["phases"]["lecam"]["updates"] == 2
        lecam = step.stateful["lecam"]
        step.load_state_dict({})  # an older checkpoint: the part keeps its state
        assert lecam.updates == 2
        step.load_state_dict({"lecam": {**state["phases"]["lecam"], "updates": 5}})
        assert lecam.updates == 5


def test_both_kinds_of_extensions_run_together_and_checkpoint_apart(tiny_config, set_up_trainer):
    """A step extension (STEP_EXTENSIONS: historical averaging, hooks inside the D and G phases)
    and an installer extension (EXTENSIONS: orthogonal regularization, a G-loss term) on one step:
    both act, the step extension's state is the checkpoint's `extensions` entry, and a checkpoint
    without that entry (older than the step extensions) still loads."""
    cfg = tiny_config("reg.ortho=0.01", "reg.historical_averaging=0.01", "reg.lecam=0.1",
                      "model.conditioning=none", "train.ema=0")
    with set_up_trainer(cfg) as trainer:
        assert trainer.extensions == ["orthogonal"]
        assert [e.name for e in trainer.gan_step.extensions] == ["historical_averaging"]
        logs = _steps(trainer, 2)[-1]
        assert {"g_ortho", "d_historical_averaging", "g_historical_averaging"} <= logs.keys()
        state = trainer._state()
        assert state["phases"].keys() == {"lecam"}
        assert state["extensions"].keys() == {"historical_averaging"}
        from condgan.training.checkpoint import restore_checkpoint_state

        restore_checkpoint_state(trainer, {k: v for k, v in state.items() if k != "extensions"})

