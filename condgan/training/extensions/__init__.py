"""Training extensions: techniques switched on by config keys that change what a training step
computes. Two kinds, two registries (docs/architecture.md, "The step and the loop"):

Step extensions (`STEP_EXTENSIONS`, interface `StepExtension` in base.py): built by
`build_extensions(cfg)` and passed to `GANStep(extensions=...)`; they hook fixed points of every
iteration (real_batch, d_loss, after_d_step, g_loss, after_g_step) and may insert phases. Their
state is saved in the checkpoint's `extensions` entry.

    bottleneck            model.vdb_dim            variational discriminator bottleneck (VDB)
    feature_matching      loss.feature_matching    Improved-GAN feature matching
    historical_averaging  reg.historical_averaging Improved-GAN historical averaging
    progressive           model.net=progan         progressive growing with fade-ins
    weight_clipping       reg.weight_clip          WGAN's weight clipping

Installer extensions (`EXTENSIONS`, interface `Extension` in installers.py): classes with
`enabled(cfg)`, `check(cfg)` and `install(trainer)`, which `install_extensions(trainer)` calls
after the step is built and before a checkpoint is restored, in alphabetical order; they add,
replace or hook `GANStep`'s phases. An installer extension with state puts an object with
`state_dict` / `load_state_dict` into `trainer.gan_step.stateful`, saved as the checkpoint's
`phases` entry.

    bigan       model.encoder                     BiGAN / BigBiGAN: an encoder E, D on pairs (x, z)
                                                  (replaces the D and G phases)
    freeze      train.init_from, train.freeze_d   fine-tuning a trained run, FreezeD
    orthogonal  reg.ortho                         BigGAN's orthogonal regularization (a G-loss term)
    topk        train.topk                        top-k training (which fakes enter G's loss)
    unrolled    train.unrolled_steps              unrolled GAN (G's loss against a look-ahead D)

`check(cfg)` of both kinds is a one-line reason the config cannot run, or None; `condgan.validation`
calls it before any work.
"""

from condgan.training.extensions.base import STEP_EXTENSIONS, StepExtension, build_extensions, enabled_extensions
from condgan.training.extensions.installers import EXTENSIONS, Extension, check_extensions, install_extensions

# importing the modules registers the extensions
from condgan.training.extensions import (  # noqa: F401
    bigan,
    bottleneck,
    feature_matching,
    freeze,
    historical_averaging,
    orthogonal,
    progressive,
    topk,
    unrolled,
    weight_clipping,
)

__all__ = [
    "EXTENSIONS",
    "Extension",
    "STEP_EXTENSIONS",
    "StepExtension",
    "build_extensions",
    "check_extensions",
    "enabled_extensions",
    "install_extensions",
]
