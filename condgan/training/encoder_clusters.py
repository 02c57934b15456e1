"""The category predictor of a run with an encoder (`model.encoder`, BiGAN / BigBiGAN): k-means on
the encoder's codes, read by `condgan cluster` and by the clustering metrics of `condgan evaluate`.

K = `model.encoder_clusters` centres μ_j are fitted (scikit-learn's KMeans, 10 restarts, seeded by
the run's seed) to the codes E(x) of the run's own train split (at most `MAX_FIT` images, a seeded
subset); the labels are never read. An image's category is its nearest centre, and its
probabilities are the soft assignment of DEC (Xie et al. 2016, "Unsupervised Deep Embedding for
Clustering Analysis", §3.1.1, Eq. 1): a Student's t kernel with one degree of freedom,

    q_ij = (1 + ‖E(x_i) − μ_j‖²)⁻¹ / Σ_j' (1 + ‖E(x_i) − μ_j'‖²)⁻¹,

whose argmax is the nearest centre. The centres are fitted on the first call.
"""

from __future__ import annotations

import torch

MAX_FIT = 10_000
BATCH = 250


@torch.no_grad()
def encode(encoder: torch.nn.Module, images: torch.Tensor, device) -> torch.Tensor:
    """E(x) of every image, batch by batch, as float32 on the CPU."""
    return torch.cat([encoder(images[i:i + BATCH].to(device)).float().cpu() for i in range(0, len(images), BATCH)])


def soft_assignment(codes: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """DEC's q_ij (module docstring)."""
    kernel = 1.0 / (1.0 + torch.cdist(codes.double(), centres.double()).square())
    return (kernel / kernel.sum(1, keepdim=True)).float()


class EncoderClusters:
    """x ↦ (B, K) cluster probabilities (see the module docstring)."""

    def __init__(self, encoder: torch.nn.Module, cfg, device):
        self.encoder, self.cfg, self.device = encoder, cfg, device
        self.centres: torch.Tensor | None = None

    def fit(self) -> torch.Tensor:
        from sklearn.cluster import KMeans

        from condgan.data import load_dataset

        images = load_dataset(self.cfg.data, "train").images
        if len(images) > MAX_FIT:
            images = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(self.cfg.seed))[:MAX_FIT]]
        codes = encode(self.encoder, images, self.device)
        k = self.cfg.model.encoder_clusters
        kmeans = KMeans(n_clusters=k, n_init=10, random_state=self.cfg.seed).fit(codes.double().numpy())
        return torch.from_numpy(kmeans.cluster_centers_).float()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.centres is None:
            self.centres = self.fit()
        with torch.no_grad():
            codes = self.encoder(x.to(self.device)).float().cpu()
        return soft_assignment(codes, self.centres)
