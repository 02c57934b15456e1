"""Networks: generators and discriminator trunks, by family (registry `NETWORKS`)."""

from condgan.nets import biggan_deep, dcgan, mlp, progan, resnet, stylegan2  # noqa: F401  (registration)
from condgan.nets.base import NETWORKS, Discriminator, LabelInput

__all__ = ["NETWORKS", "Discriminator", "LabelInput"]
