"""Inception-V3 as used by FID: the network of the pytorch-fid port of TensorFlow's 2015 graph.

Why this exact network: FID/IS numbers are only comparable across papers when they are computed
with the TensorFlow "inception-2015-12-05" graph. pytorch-fid ported it to PyTorch; its port
differs from torchvision's Inception-V3 in four places, reproduced here:

* the average pools inside the A, C and first E blocks do not count the zero padding
  (TensorFlow semantics, `count_include_pad=False`);
* the last E block (Mixed_7c) pools with a 3×3 *max* pool instead of an average pool;
* the classifier has 1008 outputs (the TF graph's label set), not 1000;
* there is no auxiliary classifier.

The module is written with plain `torch.nn` (no torchvision). Its parameter names follow
torchvision's `Inception3` layout (`Conv2d_1a_3x3.conv.weight`, `Mixed_5b.branch1x1.bn.running_mean`,
..., `fc.weight`) because that is how the pytorch-fid weights file `pt_inception-2015-12-05-6726825d.pth`
names them, so the file loads with `strict=True`.

Outputs: "features" = pool3 (2048-d average pool of Mixed_7c, the FID features), "logits" = the
1008-way classifier (with bias), and "logits_unbiased" = pool3 @ fc.weightᵀ without the bias,
which is what the original Inception Score code (improved-GAN, TF) used; IS implementations that
want to reproduce published numbers should use "logits_unbiased".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from condgan.errors import CondganError
from condgan.features.base import EXTRACTORS, adapt_channels, cache_root, resolve_device

WEIGHTS_ENV = "CONDGAN_INCEPTION_WEIGHTS"
WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILENAME
# The file name follows torch.hub's convention: the 8 hex digits before ".pth" are the start of
# the file's SHA-256 (torch.hub.load_state_dict_from_url(check_hash=True) checks exactly that).
# The full digest could not be verified from this (offline) machine, so we check the prefix
# ourselves instead of passing an unverified full hash to the downloader.
WEIGHTS_SHA256_PREFIX = "6726825d"
INCEPTION_ID = "inception-v3-fid-2015-12-05"
INPUT_SIZE = 299
NUM_FEATURES = 2048
NUM_CLASSES = 1008
# torchvision documents 27,161,264 parameters for Inception-V3 with its auxiliary classifier
# (1000 classes). The aux head has 3,326,696 (1×1 conv 768→128 + BN, 5×5 conv 128→768 + BN,
# linear 768→1000) and the 1008-way classifier adds 8×2048 + 8 = 16,392: 23,850,960 in all.
NUM_PARAMETERS = 27_161_264 - 3_326_696 + 16_392


class ConvBN(nn.Module):
    """Bias-free convolution + batch norm (eps 1e-3, as in the TF graph) + ReLU."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 average pool that ignores padded zeros (TensorFlow's SAME average pool)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _max_pool_same(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


class MixedA(nn.Module):
    """35×35 block: 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | pool→1×1 (Mixed_5b/5c/5d)."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = ConvBN(cin, 64, 1)
        self.branch5x5_1 = ConvBN(cin, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(cin, pool_features, 1)

    def forward(self, x):
        wide = self.branch5x5_2(self.branch5x5_1(x))
        deep = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        pooled = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([self.branch1x1(x), wide, deep, pooled], 1)


class ReductionA(nn.Module):
    """35→17 reduction (Mixed_6a): strided 3×3 | 1×1→3×3→strided 3×3 | max pool."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = ConvBN(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x):
        deep = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), deep, F.max_pool2d(x, 3, stride=2)], 1)


class MixedC(nn.Module):
    """17×17 block with factorized 7×7 convolutions (Mixed_6b..6e)."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.branch1x1 = ConvBN(cin, 192, 1)
        self.branch7x7_1 = ConvBN(cin, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, **row)
        self.branch7x7_3 = ConvBN(c7, 192, **col)
        self.branch7x7dbl_1 = ConvBN(cin, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, **col)
        self.branch7x7dbl_3 = ConvBN(c7, c7, **row)
        self.branch7x7dbl_4 = ConvBN(c7, c7, **col)
        self.branch7x7dbl_5 = ConvBN(c7, 192, **row)
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x):
        single = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        double = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            double = layer(double)
        pooled = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([self.branch1x1(x), single, double, pooled], 1)


class ReductionB(nn.Module):
    """17→8 reduction (Mixed_7a): 1×1→strided 3×3 | 1×1→1×7→7×1→strided 3×3 | max pool."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = ConvBN(cin, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(cin, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x):
        short = self.branch3x3_2(self.branch3x3_1(x))
        long = x
        for layer in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            long = layer(long)
        return torch.cat([short, long, F.max_pool2d(x, 3, stride=2)], 1)


class MixedE(nn.Module):
    """8×8 block whose 3×3 branches split into parallel 1×3 and 3×1 convolutions (Mixed_7b/7c).

    `pool` is the pooling of the pool branch: the FID graph uses a padding-excluding average
    pool in Mixed_7b and a max pool in Mixed_7c.
    """

    def __init__(self, cin: int, pool):
        super().__init__()
        row, col = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))
        self.pool = pool
        self.branch1x1 = ConvBN(cin, 320, 1)
        self.branch3x3_1 = ConvBN(cin, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, **row)
        self.branch3x3_2b = ConvBN(384, 384, **col)
        self.branch3x3dbl_1 = ConvBN(cin, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, **row)
        self.branch3x3dbl_3b = ConvBN(384, 384, **col)
        self.branch_pool = ConvBN(cin, 192, 1)

    def forward(self, x):
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(a), self.branch3x3_2b(a),
            self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b),
            self.branch_pool(self.pool(x)),
        ], 1)


class FIDInceptionV3(nn.Module):
    """The FID Inception-V3 trunk + 1008-way classifier; input 3×299×299 in [-1, 1]."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = MixedA(192, pool_features=32)
        self.Mixed_5c = MixedA(256, pool_features=64)
        self.Mixed_5d = MixedA(288, pool_features=64)
        self.Mixed_6a = ReductionA(288)
        self.Mixed_6b = MixedC(768, c7=128)
        self.Mixed_6c = MixedC(768, c7=160)
        self.Mixed_6d = MixedC(768, c7=160)
        self.Mixed_6e = MixedC(768, c7=192)
        self.Mixed_7a = ReductionB(768)
        self.Mixed_7b = MixedE(1280, pool=_tf_avg_pool)
        self.Mixed_7c = MixedE(2048, pool=_max_pool_same)
        self.fc = nn.Linear(NUM_FEATURES, NUM_CLASSES)

    def pool3(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 2048) global-average-pooled Mixed_7c activations: the FID features."""
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b,
                      self.Mixed_6c, self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b,
                      self.Mixed_7c):
            x = block(x)
        return x.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool3(x))


class InceptionExtractor(nn.Module):
    """Feature-extractor wrapper: [-1, 1] images of any size, 1 or 3 channels → FID features.

    Images are resized to 299×299 bilinearly (align_corners=False, no antialiasing, as
    pytorch-fid does) and gray images are repeated to RGB. The port expects [-1, 1] input, which
    is condgan's image range, so no rescaling is needed.
    """

    num_features = NUM_FEATURES
    num_classes = NUM_CLASSES

    def __init__(self, net: FIDInceptionV3, id: str = INCEPTION_ID, weights_path: Optional[str] = None):
        super().__init__()
        self.net = net
        self.id = id
        self.weights_path = weights_path

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = adapt_channels(images, 3)
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        feats = self.net.pool3(x)
        unbiased = feats @ self.net.fc.weight.t()
        return {"features": feats, "logits": unbiased + self.net.fc.bias, "logits_unbiased": unbiased}


def default_weights_path(cache_dir=None) -> Path:
    """Where `download_inception_weights` puts the file by default: the condgan cache dir."""
    return cache_root(cache_dir) / WEIGHTS_FILENAME


def find_inception_weights(path: Optional[str | os.PathLike] = None, cache_dir=None) -> Path:
    """Resolve the weights file: explicit `path`, else $CONDGAN_INCEPTION_WEIGHTS, else the
    cache dir. Raises CondganError naming every place looked at and where to get the file."""
    if path is not None:
        candidates = [("argument", Path(path).expanduser())]
    else:
        candidates = []
        if os.environ.get(WEIGHTS_ENV):
            candidates.append((f"${WEIGHTS_ENV}", Path(os.environ[WEIGHTS_ENV]).expanduser()))
        candidates.append(("cache", default_weights_path(cache_dir)))
    for _, candidate in candidates:
        if candidate.is_file():
            return candidate
    looked = "; ".join(f"{src}: {p}" for src, p in candidates)
    env_hint = "" if path is not None or os.environ.get(WEIGHTS_ENV) else f" (${WEIGHTS_ENV} is not set)"
    raise CondganError(
        f"Inception weights file not found (looked at {looked}){env_hint}. Download {WEIGHTS_FILENAME} "
        f"from {WEIGHTS_URL} (or call condgan.features.inception.download_inception_weights()) and "
        f"set ${WEIGHTS_ENV} to its path, or use the domain extractor (eval.extractor=domain)"
    )


def load_inception_extractor(weights_path: Optional[str | os.PathLike] = None, device="cpu",
                             cache_dir=None) -> InceptionExtractor:
    """Build the FID Inception extractor with the pytorch-fid weights (strict key match);
    the file is looked up as in `find_inception_weights`."""
    path = find_inception_weights(weights_path, cache_dir)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        from condgan.integrity import unreadable_reason

        raise CondganError(f"cannot read Inception weights {path}: {unreadable_reason(e)}; download "
                           f"{WEIGHTS_FILENAME} again from {WEIGHTS_URL}") from None
    net = FIDInceptionV3()
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CondganError(
            f"{path} is not the pytorch-fid Inception weights file ({WEIGHTS_FILENAME}): "
            f"{str(e).splitlines()[0]}"
        ) from None
    return InceptionExtractor(net, INCEPTION_ID, str(path)).to(resolve_device(device)).eval()


def download_inception_weights(dest: Optional[str | os.PathLike] = None) -> Path:
    """Download the pytorch-fid weights to `dest` (default: the cache dir) and check them.

    Uses `condgan.data.download.download_url`; the SHA-256 prefix encoded in the file name is
    verified here (see WEIGHTS_SHA256_PREFIX) and a mismatching file is deleted.
    """
    dest = Path(dest).expanduser() if dest is not None else default_weights_path()
    try:
        from condgan.data.download import download_url, file_digest
    except ImportError:
        raise CondganError(
            f"download support (condgan.data.download) is not available; fetch {WEIGHTS_URL} "
            f"manually to {dest} and set ${WEIGHTS_ENV}"
        ) from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    download_url(WEIGHTS_URL, dest)
    digest = file_digest(dest, "sha256")
    if not digest.startswith(WEIGHTS_SHA256_PREFIX):
        dest.unlink(missing_ok=True)
        raise CondganError(
            f"downloaded {WEIGHTS_URL} has SHA-256 {digest}, expected it to start with "
            f"{WEIGHTS_SHA256_PREFIX}; the file was deleted"
        )
    return dest


@EXTRACTORS.register("inception")
def _build_inception(data_cfg=None, seed: int = 0, device="cpu", weights_path=None, cache_dir=None, **_unused):
    """Registry factory: the data set, seed and domain-only options (loader, ...) do not
    matter for a pretrained network."""
    return load_inception_extractor(weights_path, device, cache_dir)
