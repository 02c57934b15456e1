"""One training iteration, phase by phase: the losses of D and G and their optimizer steps (the
role of stylegan2-ada's training/loss.py together with the phase loop of its training_loop.py).

An iteration runs the step's `phases` in order. A phase is a function of the `Iteration` (what the
earlier phases of this iteration produced: the last real batch, the fakes of the G phase) that
returns its logs, and it runs on every `every`-th iteration (1: always). The default phases:

    D         train.d_steps times: a real batch, fakes drawn without gradient, D's loss = the
              conditioning method's d_loss + the labeling mode's extra term + the penalties
              (reg.*), one optimizer step each
    G         fresh fakes, G's loss = the method's g_loss + the mode's extra term, one optimizer
              step

With `train.reuse_fakes` the last D step draws its fakes with G's graph (D sees them detached)
and the G step scores those same fakes with the updated D instead of drawing new ones: one G
forward less per iteration. G has not changed in between (only the G step updates it), so they
are exactly the fakes a fresh draw with the same latents would give; what changes is that G's
update uses the latents D was just trained on, rather than independent ones.
    G_ema     the EMA generator's update (train.ema > 0)
    labeling  the labeling mode's own networks and state (CGPGAN's Q and learned prior)

This is where new training families plug in, without touching the loop: a phase added with
`add_phase(Phase(name, run, every), after=...)` (StyleGAN2's lazy R1 every 16 iterations after
D, its path-length regularization every 4 after G, ADA's update of the augmentation probability
after D), a default phase replaced (BiGAN's D and G phases on pairs (x, z), an unrolled-GAN G
phase), or a hook of the default phases set (the attributes after `phases` in `__init__`: style
mixing, APA, LeCam; the unrolled GAN's look-ahead critic, top-k, orthogonal regularization;
installed by condgan.training.extensions' `EXTENSIONS`). Techniques chosen by config keys are also
`extensions` (condgan.training.extensions' `STEP_EXTENSIONS`): each may transform real batches,
add to D's loss after the penalties and to G's loss after the method's term, act after every D /
G optimizer step, and add phases of its own. See docs/architecture.md.

Randomness: latents and fake labels come from `rng` (shared by all processes: every rank draws
the global batch and keeps its rows), penalty and DiffAugment noise from `noise_rng` (per rank),
real batches from the data sampler's own generator; their states are checkpointed by the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

from condgan.losses.conditioning.base import Labels
from condgan.losses.regularizers import PenaltyContext
from condgan.training.latents import sample_latents
from condgan.training.precision import to_memory_format


@dataclass
class Iteration:
    """What the phases of one iteration hand on to each other."""

    step: int
    """The iteration's index (0 for the first; the trainer's step counter before the update)."""
    real: Optional[torch.Tensor] = None
    real_labels: Optional[Labels] = None
    """The last real batch of the D phase and its labels (mixed-batch G steps reuse them)."""
    fake: Optional[torch.Tensor] = None
    fake_labels: Optional[Labels] = None
    """The G phase's fakes (with graph) and their labels (what the labeling mode trains on); with
    `train.reuse_fakes`, the last D step's fakes (with graph) until the G phase takes them."""
    extra: dict = field(default_factory=dict)
    """Anything else a phase hands on (e.g. D's outputs for an adaptive-augmentation phase)."""


@dataclass
class Phase:
    """A part of an iteration: `run(iteration) → logs`, on iterations whose step is a multiple
    of `every`."""

    name: str
    run: Callable[[Iteration], dict[str, torch.Tensor]]
    every: int = 1


class GANStep:
    """The phases of one iteration over the parts the trainer built (networks, optimizers,
    labeling mode, penalties, random streams, real batches). `step(i)` runs iteration i and
    returns its logs as detached tensors, averaged over the processes."""

    def __init__(self, cfg, generator, discriminator, method, labeling, opt_g, opt_d, *, d_fn, ema,
                 penalties, precision, dist, rng, noise_rng, batches, labels, diagnostics, networks,
                 channels_last: bool = False, extensions=()):
        self.cfg = cfg
        self.G, self.D, self.method, self.labeling = generator, discriminator, method, labeling
        self.opt_g, self.opt_d, self.ema = opt_g, opt_d, ema
        self.d_fn = d_fn
        """D as the losses call it: D itself, or D behind DiffAugment."""
        self.penalties = penalties
        """[(penalty function, weight)] added to D's loss, in the order of the registry."""
        self.precision, self.dist = precision, dist
        self.rng, self.noise_rng = rng, noise_rng
        self.batches, self.labels = batches, labels
        self.diagnostics = diagnostics
        self.networks = networks
        """Every trained network (G, D, the labeling mode's): batch-norm buffers are synchronized."""
        self.channels_last = channels_last
        """The networks' memory format: real batches are converted to it."""
        self.phases = [Phase("D", self.discriminator_phase), Phase("G", self.generator_phase)]
        if ema is not None:
            self.phases.append(Phase("G_ema", self.ema_phase))
        self.phases.append(Phase("labeling", self.labeling_phase))
        # Hooks for optional additions, each empty / plain by default; StyleGAN2's and the
        # limited-data ones install them in condgan.training.extras, the training extensions
        # (BiGAN, unrolled GAN, top-k, ...) in condgan.training.extensions:
        self.generate: Callable = generator
        """G's training forward (z, cnd) → images: G, or G with style mixing."""
        self.real_transforms: list[Callable] = []
        """(real, labels, fake_batch) → (real, labels, logs) on D's reals after its fakes are
        drawn, without gradient (APA replaces reals by fakes)."""
        self.d_terms: list[Callable] = []
        """(out_real, out_fake, real_labels, fake_labels) → (term or None, logs): added to D's loss
        (LeCam) or only observing D's outputs (ADA's r_t)."""
        self.generator_critic: Optional[Callable] = None
        """(iteration, fakes, labels) → D as G's loss sees it, instead of `d_fn` (unrolled GAN)."""
        self.fake_selection: Optional[Callable] = None
        """(D's outputs on the fakes, labels, iteration) → (outputs, labels, logs): the fakes that
        enter G's loss (top-k training)."""
        self.generator_terms: list[Callable[[Iteration], tuple[torch.Tensor, dict]]] = []
        """(iteration) → (term, logs) added to G's loss (orthogonal regularization)."""
        self.stateful: dict[str, object] = {}
        """name → an object with state_dict / load_state_dict whose state carries over between
        iterations (ADA's p, LeCam's anchors, the path-length mean, BiGAN's encoder): the
        checkpoint's 'phases' entry, one dict for all additions (names must be distinct)."""
        self.extensions = list(extensions)
        """`StepExtension`s (config-chosen techniques), in registry order; see the module docstring.
        Their state is the checkpoint's 'extensions' entry."""
        for extension in self.extensions:
            extension.attach(self)

    def add_phase(self, phase: Phase, after: str) -> None:
        """Insert `phase` right after the phase named `after`."""
        names = [p.name for p in self.phases]
        self.phases.insert(names.index(after) + 1, phase)

    def __call__(self, step: int) -> dict[str, torch.Tensor]:
        iteration = Iteration(step)
        logs: dict[str, torch.Tensor] = {}
        for phase in self.phases:
            if step % phase.every == 0:
                logs.update(phase.run(iteration))
        for net in self.networks:
            self.dist.broadcast_buffers(net)  # batch-norm statistics: rank 0's everywhere
        return self.dist.mean({k: v.detach() for k, v in logs.items()})

    def state_dict(self) -> dict:
        return {name: part.state_dict() for name, part in self.stateful.items()}

    def load_state_dict(self, state: dict) -> None:
        """Restore every `stateful` part the checkpoint holds. A part it does not hold keeps its
        fresh state: checkpoints written before the part existed still load (a resume's config
        check makes the parts of a run and its checkpoint the same)."""
        for name, part in self.stateful.items():
            if name in state:
                part.load_state_dict(state[name])

    # ------------------------------------------------------------------ batches
    def real_batch(self) -> tuple[torch.Tensor, Labels]:
        x, idx = self.batches.next()
        x = to_memory_format(x, self.channels_last)
        for extension in self.extensions:
            x = extension.real_batch(x)
        y = self.labels[idx] if self.labels is not None else None
        return x, self.labeling.real(x, y)

    def latents(self, n: int) -> tuple[torch.Tensor, Labels]:
        """n latents and fake labels. Under W processes every rank draws those of the global
        batch (W·n, the same on every rank) and keeps its own n rows."""
        world, rank = self.dist.world_size, self.dist.rank
        labels = self.labeling.fake(n * world, self.rng)
        z = sample_latents(n * world, self.cfg.model.z_dim, self.rng)
        if world > 1:
            rows = slice(rank * n, (rank + 1) * n)
            z = z[rows]
            labels = Labels(*(None if t is None else t[rows] for t in (labels.y, labels.cnd)))
        return z, labels

    def fake_batch(self, n: int) -> tuple[torch.Tensor, Labels]:
        """n fakes and their labels (`latents`, then `generate`)."""
        z, labels = self.latents(n)
        return self.generate(z, labels.cnd).float(), labels  # fp32 images also under autocast

    def discriminate(self, real, real_labels, fake, fake_labels, d_fn=None):
        """D outputs for reals and fakes: two forwards, or one over the concatenated batch
        (mixed batch training, seed 001 §3) so batch-norm statistics are shared. `d_fn`: D as
        called (default `self.d_fn`)."""
        d_fn = d_fn or self.d_fn
        if self.cfg.loss.mixed_batch:
            both = Labels.cat(real_labels, fake_labels)
            out = d_fn(torch.cat([real, fake]), both.cnd)
            n = real.shape[0]
            return {k: v[:n] for k, v in out.items()}, {k: v[n:] for k, v in out.items()}
        return d_fn(real, real_labels.cnd), d_fn(fake, fake_labels.cnd)

    # ------------------------------------------------------------------ the default phases
    def discriminator_phase(self, it: Iteration) -> dict[str, torch.Tensor]:
        batch, d_steps = self.cfg.train.batch_size, self.cfg.train.d_steps
        self.D.requires_grad_(True)
        for i in range(d_steps):
            real, real_labels = self.real_batch()
            real_logs = {}
            keep = self.cfg.train.reuse_fakes and i == d_steps - 1  # the G phase scores these fakes
            with torch.set_grad_enabled(keep), self.precision.autocast():
                fake, fake_labels = self.fake_batch(batch)
            if keep:
                it.fake, it.fake_labels = fake, fake_labels
                fake = fake.detach()
            with torch.no_grad(), self.precision.autocast():
                for transform in self.real_transforms:
                    real, real_labels, more = transform(real, real_labels, self.fake_batch)
                    real_logs.update(more)
            if self.diagnostics:
                self.diagnostics.arm()
            with self.precision.autocast():
                out_r, out_f = self.discriminate(real, real_labels, fake, fake_labels)
                fake_labels = self.labeling.relabel_fakes(out_f, fake_labels, self.method)
                d_loss, d_logs = self.method.d_loss(out_r, out_f, real_labels, fake_labels)
                extra, extra_logs = self.labeling.extra_loss(out_f, fake_labels, "d")
                if extra is not None:
                    d_loss = d_loss + extra
                    d_logs.update(extra_logs)
                if self.diagnostics:
                    d_logs.update(self.diagnostics(d_logs, real.shape[0]))
                d_logs.update(real_logs)
                for term in self.d_terms:
                    value, term_logs = term(out_r, out_f, real_labels, fake_labels)
                    d_logs.update(term_logs)
                    if value is not None:
                        d_loss = d_loss + value
                d_loss = self.add_penalties(d_loss, d_logs, real, fake, real_labels, fake_labels)
                for extension in self.extensions:
                    d_loss = extension.d_loss(d_loss, d_logs, real=real, fake=fake, out_real=out_r, out_fake=out_f)
            self.precision.step("d", d_loss, self.opt_d, before_step=lambda: self.dist.average_gradients([self.D]))
            for extension in self.extensions:
                extension.after_d_step()
        it.real, it.real_labels = real, real_labels
        it.extra["d_fake"] = fake, fake_labels  # a lazy penalty phase's fakes
        return {**d_logs, "d_loss": d_loss}

    def add_penalties(self, d_loss, logs: dict, real, fake, real_labels, fake_labels) -> torch.Tensor:
        """D's loss plus the penalties (reg.*) on this real and fake batch (their logs into `logs`)."""
        for penalty, weight in self.penalties:
            ctx = PenaltyContext(self.d_fn, self.method, real, fake, real_labels, fake_labels, weight,
                                 self.noise_rng, self.precision.grad_scale("d"))
            value = penalty(ctx)
            logs[f"d_{penalty.__name__}"] = value
            d_loss = d_loss + value
        return d_loss

    def generator_phase(self, it: Iteration) -> dict[str, torch.Tensor]:
        self.D.requires_grad_(False)  # no D weight gradients during the G step
        with self.precision.autocast():
            if it.fake is not None:  # train.reuse_fakes: the D phase's fakes, with G's graph
                fake, fake_labels = it.fake, it.fake_labels
            else:
                fake, fake_labels = self.fake_batch(self.cfg.train.batch_size)
            d_fn = self.generator_critic(it, fake, fake_labels) if self.generator_critic else self.d_fn
            if self.cfg.loss.mixed_batch:
                _, out_f = self.discriminate(it.real, it.real_labels, fake, fake_labels, d_fn)
            else:
                out_f = d_fn(fake, fake_labels.cnd)
            fake_labels = all_labels = self.labeling.relabel_fakes(out_f, fake_labels, self.method)
            selection_logs = {}
            if self.fake_selection is not None:
                out_f, fake_labels, selection_logs = self.fake_selection(out_f, fake_labels, it)
            g_loss, g_logs = self.method.g_loss(out_f, fake_labels)
            g_logs.update(selection_logs)
            for extension in self.extensions:
                g_loss = extension.g_loss(g_loss, g_logs, it, fake=fake, out_fake=out_f)
            extra, extra_logs = self.labeling.extra_loss(out_f, fake_labels, "g")
            if extra is not None:
                g_loss = g_loss + extra
                g_logs.update(extra_logs)
            g_loss = self.add_generator_terms(it, g_loss, g_logs)
        self.precision.step("g", g_loss, self.opt_g, before_step=lambda: self.dist.average_gradients([self.G]))
        for extension in self.extensions:
            extension.after_g_step()
        it.fake, it.fake_labels = fake, all_labels
        return {**g_logs, "g_loss": g_loss}

    def add_generator_terms(self, it: Iteration, g_loss: torch.Tensor, logs: dict) -> torch.Tensor:
        """G's loss plus the `generator_terms` (their logs into `logs`)."""
        for term in self.generator_terms:
            value, term_logs = term(it)
            g_loss = g_loss + value
            logs.update(term_logs)
        return g_loss

    def ema_phase(self, it: Iteration) -> dict[str, torch.Tensor]:
        self.ema.update(0.0 if it.step < self.cfg.train.ema_start else self.ema.decay_at(it.step))
        return {}

    def labeling_phase(self, it: Iteration) -> dict[str, torch.Tensor]:
        logs = self.labeling.train_networks(it.fake, it.fake_labels)
        logs.update(self.labeling.update(it.step))
        return logs

