"""Progressive growing of GANs (Karras et al. 2018, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation", §2 and App. A): `model.net=progan`.

Resolution schedule: the image side is `s0 · 2^n` as for the dcgan nets (28 = 7·2², 32 = 4·2³),
so there are n + 1 levels, level L at resolution s0 · 2^L. Training starts at level 0 and grows
one level at a time (`growth_stage`): `train.progressive_stable` steps at a level, then
`train.progressive_fade` steps in which the new level fades in with α rising linearly from 0 to
1, then the next stable period, until level n; it stays there. Both 0: no growing (the full
network from the first step).

Generator at level L (§2, Fig. 2): z (+ condition) → linear → s0×s0 map → norm, act → conv3×3,
act, norm → L blocks [nearest 2× up, conv3×3, act, norm, conv3×3, act, norm] → to-RGB (a 1×1
convolution, linear output as in App. A.1). While level L fades in, the output is

    (1 − α) · up(toRGB_{L−1}(x_{L−1})) + α · toRGB_L(x_L).

The image is then upsampled (nearest) to the full side, so everything outside the networks
(sampling, evaluation, the real batches) keeps working at the data's size. Norm is
`model.g_norm` (ProGAN: `pixel`, which also normalizes the latent), activation
`model.g_activation`; channels g_width · 2^(n−i) at level i.

Discriminator trunk at level L: the input is average-pooled to the level's resolution, then
from-RGB (1×1 convolution, act) → blocks L … 1 [conv3×3, act, conv3×3, act, 2× average pool]
→ (minibatch std, `model.d_minibatch_std`) → conv3×3, act → flatten: h. While level L fades in,
the first block's output is mixed with the lower level's path:

    (1 − α) · fromRGB_{L−1}(pool(x)) + α · block_L(fromRGB_L(x)).

The real images are faded in the same way (`fade_reals`, by the `progressive` step extension),
so D compares reals and fakes of the same blend.

The stage is a function of the training step, kept in a `grow_step` buffer of G and of the trunk
(set every iteration by the `progressive` extension, saved with the weights and copied into the
EMA generator): a run restored for sampling renders at the stage it was saved at, and a run
killed mid-fade resumes with the same α.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from condgan.errors import CondganError
from condgan.nets.base import NETWORKS, LabelInput, image_shape
from condgan.nets.dcgan import resolution_schedule
from condgan.nets.layers import ConditionalNorm, MinibatchStdDev, make_activation, make_norm
from condgan.nets.normalization import PixelNorm


def growth_stage(step: int, levels: int, stable: int, fade: int) -> tuple[int, float]:
    """(level L, fade-in weight α) at training step `step` (0-based) for a schedule with
    `levels` = n doublings: `stable` steps at level 0, then per level `fade` steps with
    α = r / fade (r = steps into the fade) and `stable` steps with α = 1; level n from then on.
    stable = fade = 0: (n, 1) at every step (no growing)."""
    if stable == 0 and fade == 0:
        return levels, 1.0
    if step < stable:
        return 0, 1.0
    k, r = divmod(step - stable, fade + stable)
    if k + 1 > levels:
        return levels, 1.0
    return k + 1, (r / fade if r < fade else 1.0)


class _Growing(nn.Module):
    """The schedule and the `grow_step` buffer shared by the growing G and D trunk."""

    def _init_growth(self, levels: int, stable: int, fade: int) -> None:
        self.levels, self.stable, self.fade = levels, stable, fade
        self.register_buffer("grow_step", torch.zeros((), dtype=torch.int64))

    def stage(self) -> tuple[int, float]:
        return growth_stage(int(self.grow_step), self.levels, self.stable, self.fade)


def set_grow_step(module: nn.Module, step: int) -> None:
    """Set the stage of every growing network inside `module` to training step `step`."""
    for m in module.modules():
        if isinstance(m, _Growing):
            m.grow_step.fill_(step)


def _upsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=factor, mode="nearest") if factor > 1 else x


def _pool(x: torch.Tensor, factor: int) -> torch.Tensor:
    return F.avg_pool2d(x, factor) if factor > 1 else x


def fade_reals(x: torch.Tensor, level: int, alpha: float, levels: int) -> torch.Tensor:
    """Real images as D sees them while level L fades in (§A.1, "we fade in the real images"):
    (1 − α) · up(pool(x_L)) + α · x_L with x_L = x at level L's resolution (returned at x's size:
    D pools it to the level again, which is exact for a nearest upsample). Unchanged at α = 1."""
    if alpha >= 1 or level == 0:
        return x
    factor = 2 ** (levels - level)
    low = _upsample(_pool(x, 2 * factor), 2 * factor)
    high = _upsample(_pool(x, factor), factor)
    return low + alpha * (high - low)


class _GBlock(nn.Module):
    def __init__(self, c_in, c_out, norm, activation, cbn_conditions):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c_in, c_out, 3, 1, 1), nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.norm1 = ConditionalNorm(norm, c_out, cbn_conditions)
        self.norm2 = ConditionalNorm(norm, c_out, cbn_conditions)
        self.act = make_activation(activation)

    def forward(self, x, cnd):
        x = self.norm1(self.act(self.conv1(_upsample(x, 2))), cnd)
        return self.norm2(self.act(self.conv2(x)), cnd)


class ProGANGenerator(_Growing):
    """See the module docstring."""

    def __init__(self, z_dim, channels, image_size, width=64, norm="pixel", activation="lrelu",
                 num_conditions=0, conditioning="concat", label_embedding="embedding", embed_dim=32,
                 stable=0, fade=0):
        super().__init__()
        s0, n = resolution_schedule(image_size)
        self._init_growth(n, stable, fade)
        self.s0 = s0
        widths = [width * 2 ** (n - i) for i in range(n + 1)]
        self.latent_norm = PixelNorm() if norm == "pixel" else nn.Identity()
        self.label_input = LabelInput(label_embedding if conditioning == "concat" else "none",
                                      num_conditions, embed_dim)
        cbn = num_conditions if conditioning == "cbn" else 0
        self.fc = nn.Linear(z_dim + self.label_input.out_dim, widths[0] * s0 * s0)
        self.fc_norm = ConditionalNorm(norm, widths[0], cbn)
        self.conv = nn.Conv2d(widths[0], widths[0], 3, 1, 1)
        self.conv_norm = ConditionalNorm(norm, widths[0], cbn)
        self.act = make_activation(activation)
        self.blocks = nn.ModuleList(_GBlock(widths[i], widths[i + 1], norm, activation, cbn) for i in range(n))
        self.to_rgb = nn.ModuleList(nn.Conv2d(w, channels, 1) for w in widths)

    def forward(self, z: torch.Tensor, cnd: torch.Tensor | None = None) -> torch.Tensor:
        level, alpha = self.stage()
        x = self.fc(self.label_input(self.latent_norm(z), cnd)).view(z.shape[0], -1, self.s0, self.s0)
        x = self.fc_norm(self.act(x), cnd)
        x = self.conv_norm(self.act(self.conv(x)), cnd)
        previous = x
        for block in self.blocks[:level]:
            previous, x = x, block(x, cnd)
        image = self.to_rgb[level](x)
        if level > 0 and alpha < 1:
            low = _upsample(self.to_rgb[level - 1](previous), 2)
            image = low + alpha * (image - low)
        return _upsample(image, 2 ** (self.levels - level))


class _DBlock(nn.Module):
    def __init__(self, c_in, c_out, norm, activation):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(c_in, c_in, 3, 1, 1), make_norm(norm, c_in), make_activation(activation),
                                 nn.Conv2d(c_in, c_out, 3, 1, 1), make_norm(norm, c_out), make_activation(activation),
                                 nn.AvgPool2d(2))

    def forward(self, x):
        return self.net(x)


class ProGANTrunk(_Growing):
    """See the module docstring. `blocks[i - 1]` takes level i to level i − 1."""

    def __init__(self, channels, image_size, width=64, norm="none", activation="lrelu", minibatch_std=0,
                 stable=0, fade=0):
        super().__init__()
        s0, n = resolution_schedule(image_size)
        self._init_growth(n, stable, fade)
        widths = [width * 2 ** (n - i) for i in range(n + 1)]
        self.act = make_activation(activation)
        self.from_rgb = nn.ModuleList(nn.Conv2d(channels, w, 1) for w in widths)
        self.blocks = nn.ModuleList(_DBlock(widths[i], widths[i - 1], norm, activation) for i in range(1, n + 1))
        final = [MinibatchStdDev(minibatch_std)] if minibatch_std else []
        c = widths[0] + (1 if minibatch_std else 0)
        final += [nn.Conv2d(c, widths[0], 3, 1, 1), make_norm(norm, widths[0]), make_activation(activation),
                  nn.Flatten()]
        self.final = nn.Sequential(*final)
        self.out_dim = widths[0] * s0 * s0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level, alpha = self.stage()
        x = _pool(x, 2 ** (self.levels - level))
        h = self.act(self.from_rgb[level](x))
        if level > 0:
            h = self.blocks[level - 1](h)
            if alpha < 1:
                low = self.act(self.from_rgb[level - 1](_pool(x, 2)))
                h = low + alpha * (h - low)
            for block in reversed(self.blocks[:level - 1]):
                h = block(h)
        return self.final(h)


@NETWORKS.register("progan")
def build_progan(cfg, sample_shape, num_conditions):
    channels, size = image_shape(cfg, sample_shape)
    m, t = cfg.model, cfg.train
    if m.g_conditioning == "codebook":
        raise CondganError("model.g_conditioning=codebook is not available with model.net=progan; "
                           "use concat, cbn or none")
    g = ProGANGenerator(m.z_dim, channels, size, m.g_width, m.g_norm, m.g_activation, num_conditions,
                        m.g_conditioning, m.g_label_embedding, m.embed_dim,
                        t.progressive_stable, t.progressive_fade)
    d = ProGANTrunk(channels, size, m.d_width, m.d_norm, m.d_activation, m.d_minibatch_std,
                    t.progressive_stable, t.progressive_fade)
    return g, d
