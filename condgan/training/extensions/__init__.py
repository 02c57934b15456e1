"""Training extensions: families that change what a training step computes by adding, replacing
or hooking `GANStep`'s phases (docs/architecture.md, "The step and the loop"), each switched on by
config keys. Registry `EXTENSIONS`, one module each:

    bigan       model.encoder                     BiGAN / BigBiGAN: an encoder E, D on pairs (x, z)
                                                  (replaces the D and G phases)
    freeze      train.init_from, train.freeze_d   fine-tuning a trained run, FreezeD
    orthogonal  reg.ortho                         BigGAN's orthogonal regularization (a G-loss term)
    topk        train.topk                        top-k training (which fakes enter G's loss)
    unrolled    train.unrolled_steps              unrolled GAN (G's loss against a look-ahead D)

An extension is a class with `enabled(cfg)`, `check(cfg)` (a one-line reason the config cannot
run, or None; `condgan.validation` calls it before any work) and `install(trainer)`, which the
trainer calls after building the step and before restoring a checkpoint, in the registry's
(alphabetical) order. An extension with state of its own puts an object with `state_dict` /
`load_state_dict` into `trainer.gan_step.stateful`, which the checkpoint saves as `phases`.
"""

from condgan.training.extensions import bigan, freeze, orthogonal, topk, unrolled  # noqa: F401  (registration)
from condgan.training.extensions.base import EXTENSIONS, Extension, check_extensions, install_extensions

__all__ = ["EXTENSIONS", "Extension", "check_extensions", "install_extensions"]
