"""The training loop: run the step until `train.steps`, and around it the periodic work: logs,
evaluations, checkpoints and sample grids (the role of stylegan2-ada's training_loop.py).

What happens after step s, in this order (the order is what makes a kill at any moment safe):

    log        losses recorded every step, written every `train.log_every` steps and at every
               checkpoint (the log reaches disk before the checkpoint that claims it)
    evaluate   every `eval.every` steps and at the end: before the checkpoint, so a `best.pt`
               written by the evaluation is consistent with the checkpoint that follows
    checkpoint every `train.checkpoint_every` steps and at the end
    samples    every `train.sample_every` steps, after the checkpoint (a kill while drawing
               never costs a checkpoint interval); always at the end
    after_step the trainer's hook for other periodic work (subclass `Trainer`)

The loop only calls the trainer (`train_step`, `evaluate`, `save`, `write_samples`,
`after_step`): what one step computes is `condgan.training.step`'s business, so new training
families add phases there and leave this file alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from condgan.training.logger import TrainingLog, say


@dataclass
class TrainResult:
    step: int
    run_dir: Path
    seconds: float
    last_record: dict | None


@dataclass(frozen=True)
class Schedule:
    """When the periodic work runs (steps count from 1: "after step s")."""

    total: int
    log_every: int
    checkpoint_every: int
    sample_every: int
    eval_every: int

    @classmethod
    def of(cls, cfg) -> "Schedule":
        t = cfg.train
        return cls(t.steps, t.log_every, t.checkpoint_every, t.sample_every, cfg.eval.every)

    def checkpoint(self, step: int) -> bool:
        return step % self.checkpoint_every == 0 or step == self.total

    def evaluate(self, step: int) -> bool:
        return self.eval_every > 0 and (step % self.eval_every == 0 or step == self.total)

    def log(self, step: int) -> bool:
        return step % self.log_every == 0 or self.checkpoint(step)

    def samples(self, step: int) -> bool:
        """Sample grids during training; the grid at the end is written by the loop anyway."""
        return bool(self.sample_every) and step % self.sample_every == 0 and step != self.total


def train_loop(trainer) -> TrainResult:
    """Run `trainer` (set up) from its current step to `train.steps`. Under W processes every
    rank runs this (the collectives of a step), and the run-directory work is rank 0's: logs (of
    losses averaged over the ranks), evaluations, checkpoints (holding every rank's random state,
    gathered first) and grids; the other ranks wait for it at the next collective (a barrier at
    the end)."""
    schedule = Schedule.of(trainer.cfg)
    dist, run = trainer.dist, trainer.run
    main = dist.is_main
    if trainer.progress:
        say(trainer.describe())
    log = trainer.log = (TrainingLog(run.metrics, run.tensorboard, trainer.step, schedule.total,
                                     trainer.cfg.train.batch_size * dist.world_size, trainer.progress)
                         if main else None)
    last_good = trainer.step if dist.on_main(run.last.exists) else None
    record = None
    t0 = time.perf_counter()
    trainer.G.train()
    trainer.D.train()
    while trainer.step < schedule.total:
        losses = trainer.train_step()
        trainer.step += 1
        step = trainer.step
        checkpoint, evaluate = schedule.checkpoint(step), schedule.evaluate(step)
        if checkpoint or evaluate:
            trainer.gather_random_states()
        if main:
            log.record(step, losses)
            if schedule.log(step):
                record = log.flush(step, last_good) or record
            if trainer.evaluator and evaluate:
                trainer.evaluate(log)
        if checkpoint:
            trainer.save()
            last_good = step
        if main and schedule.samples(step):
            trainer.write_samples()
        trainer.after_step(log)
    if not dist.on_main(run.last.exists):  # resumed a finished run: still leave a checkpoint
        trainer.gather_random_states()
        trainer.save()
    if main:
        trainer.write_samples()
    dist.barrier()
    return TrainResult(trainer.step, run.root, time.perf_counter() - t0, record)
