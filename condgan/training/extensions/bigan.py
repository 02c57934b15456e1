"""BiGAN / ALI and BigBiGAN (`model.encoder=bigan|bigbigan`): an encoder E: x → z trained
adversarially with G, against a discriminator of pairs (condgan.nets.joint, condgan.losses.bigan).

The extension replaces the D and G phases of the step:

    D  train.d_steps times: a real batch x with E(x) (no gradient to E), fakes G(z) with their z;
       L_D on the pairs (x, E(x)) and (G(z), z), plus the penalties (bigbigan: on s_x, the
       score of x alone), one step of D's optimizer
    G  fresh fakes (G(z), z) and the last D step's reals with E(x) (now with gradient); L_{G,E},
       plus the generator terms (reg.ortho), one step of G's optimizer — E's parameters are a
       second parameter group of it (BiGAN trains G and E on one objective)

E is built like D's trunk (`model.net`, `model.d_width`, ..., without minibatch std (E(x) must
not depend on the batch) and without spectral norm) plus a linear map to z. Its weights are the
checkpoint's `phases.bigan` entry; its Adam moments live in G's optimizer state. Evaluation and
`condgan cluster` read E(x): k-means with `model.encoder_clusters` centres on the train split's
codes (`EncoderClusters`), and a linear probe in `condgan evaluate`.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import torch

from condgan.adaptive.heuristic import adaptive_enabled
from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.bigan import ENCODER_TERMS, PairLosses
from condgan.nets.joint import Encoder, pack
from condgan.registry import choice_reason
from condgan.training.extensions.base import enabled_extensions
from condgan.training.extensions.installers import EXTENSIONS, Extension
from condgan.training.precision import apply_init, prepare_networks
from condgan.training.step import Iteration, Phase

ENCODERS = ("none", "bigan", "bigbigan")


def build_encoder(cfg, sample_shape) -> Encoder:
    """E for `cfg` (see the module docstring); initialized from torch's global RNG."""
    from condgan.nets import NETWORKS
    from condgan.nets.layers import apply_equalized_lr

    model = dataclasses.replace(cfg.model, d_minibatch_std=0, d_spectral_norm=False)
    _, trunk = NETWORKS.get(cfg.model.net)(dataclasses.replace(cfg, model=model), sample_shape, 0)
    encoder = apply_init(Encoder(trunk, cfg.model.z_dim), cfg.model.init)
    return apply_equalized_lr(encoder) if cfg.model.equalized_lr else encoder


class EncoderState:
    def __init__(self, encoder: Encoder):
        self.encoder = encoder

    def state_dict(self) -> dict:
        return {"encoder": self.encoder.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.encoder.load_state_dict(state["encoder"])


class BiGANPhases:
    """The D and G phases of BiGAN over a `GANStep` (its networks, optimizers, random streams)."""

    def __init__(self, step, encoder: Encoder, losses: PairLosses):
        self.step, self.E, self.losses = step, encoder, losses

    def discriminator_phase(self, it: Iteration) -> dict[str, torch.Tensor]:
        s = self.step
        s.D.requires_grad_(True)
        for _ in range(s.cfg.train.d_steps):
            real, real_labels = s.real_batch()
            with torch.no_grad(), s.precision.autocast():
                z, fake_labels = s.latents(s.cfg.train.batch_size)
                fake = s.G(z, fake_labels.cnd).float()
                code = self.E(real).float()
            with s.precision.autocast():
                out_r = s.d_fn(real, pack(real_labels.cnd, code))
                out_f = s.d_fn(fake, pack(fake_labels.cnd, z))
                d_loss, logs = self.losses.d_loss(out_r, out_f, real_labels, fake_labels)
                d_loss = s.add_penalties(d_loss, logs, real, fake, real_labels, fake_labels)
            s.precision.step("d", d_loss, s.opt_d, before_step=lambda: s.dist.average_gradients([s.D]))
        it.real, it.real_labels = real, real_labels
        return {**logs, "d_loss": d_loss}

    def generator_phase(self, it: Iteration) -> dict[str, torch.Tensor]:
        s = self.step
        s.D.requires_grad_(False)
        with s.precision.autocast():
            z, fake_labels = s.latents(s.cfg.train.batch_size)
            fake = s.G(z, fake_labels.cnd).float()
            out_f = s.d_fn(fake, pack(fake_labels.cnd, z))
            out_r = s.d_fn(it.real, pack(it.real_labels.cnd, self.E(it.real).float()))
            g_loss, logs = self.losses.ge_loss(out_r, out_f, it.real_labels, fake_labels)
            g_loss = s.add_generator_terms(it, g_loss, logs)
        s.precision.step("g", g_loss, s.opt_g, before_step=lambda: s.dist.average_gradients([s.G, self.E]))
        it.fake, it.fake_labels = fake, fake_labels
        return {**logs, "g_loss": g_loss}


@EXTENSIONS.register("bigan")
class BiGAN(Extension):
    @classmethod
    def enabled(cls, cfg) -> bool:
        return cfg.model.encoder != "none"

    @classmethod
    def check(cls, cfg) -> Optional[str]:
        m = cfg.model
        reason = choice_reason("model.encoder", m.encoder, ENCODERS)
        if reason or m.encoder == "none":
            return reason
        if m.encoder_clusters < 2:
            return f"config key 'model.encoder_clusters' must be ≥ 2, got {m.encoder_clusters}"
        if m.labeling != "predefined":
            return (f"model.encoder={m.encoder} needs model.labeling=predefined (labels from the data, or none); "
                    f"model.labeling={m.labeling} brings networks and fake labels of its own")
        if cfg.loss.adversarial not in ENCODER_TERMS:
            return f"model.encoder={m.encoder} has no encoder term for loss.adversarial={cfg.loss.adversarial}"
        lazy = cfg.reg.d_interval > 1 and any(getattr(cfg.reg, k) > 0 for k in ("gp", "r1", "r2", "cr", "cr_fake"))
        clash = [key for key, on in (("loss.mixed_batch", cfg.loss.mixed_batch), ("train.diagnostics", cfg.train.diagnostics),
                                     ("train.topk", cfg.train.topk), ("train.unrolled_steps", cfg.train.unrolled_steps),
                                     ("train.reuse_fakes", cfg.train.reuse_fakes), ("reg.style_mixing", cfg.reg.style_mixing),
                                     ("reg.pl", cfg.reg.pl), ("reg.lecam", cfg.reg.lecam), ("reg.d_interval", lazy),
                                     ("ada.*", adaptive_enabled(cfg.ada)), ("apa.*", adaptive_enabled(cfg.apa)))
                 if on] + [f"the {e.name} step extension" for e in enabled_extensions(cfg)]
        if clash:
            return (f"model.encoder={m.encoder} replaces the D and G phases, which {', '.join(clash)} change; "
                    "these are not implemented for pairs (x, z): turn them off")
        penalties = [f"reg.{k}" for k in ("gp", "r1", "r2", "cr", "cr_fake") if getattr(cfg.reg, k) > 0]
        if m.encoder == "bigan" and penalties:
            return (f"{', '.join(penalties)} with model.encoder=bigan: the penalties differentiate D's score of x "
                    "alone, which BiGAN's pair discriminator does not have; use model.encoder=bigbigan (they act "
                    "on its unary score s_x) or drop them")
        return None

    @classmethod
    def install(cls, trainer) -> None:
        cfg, step = trainer.cfg, trainer.gan_step
        encoder = build_encoder(cfg, trainer.info.sample_shape).to(trainer.device)
        prepare_networks(trainer.speed, encoder)  # channels-last / compiled like G and D
        trainer.dist.broadcast_module(encoder)
        trainer.networks.append(encoder)  # the step's list too: its batch-norm buffers are synced
        trainer.opt_g.add_param_group({"params": list(encoder.parameters())})
        adversarial = ADVERSARIAL_LOSSES.get(cfg.loss.adversarial).with_label_smoothing(cfg.loss.label_smoothing)
        phases = BiGANPhases(step, encoder, PairLosses(trainer.method, adversarial, cfg.model.encoder == "bigbigan"))
        step.phases = [Phase("D", phases.discriminator_phase) if p.name == "D" else
                       Phase("G", phases.generator_phase) if p.name == "G" else p for p in step.phases]
        step.stateful[cls.name] = EncoderState(encoder)
        trainer.encoder = encoder
