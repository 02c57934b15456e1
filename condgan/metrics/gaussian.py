"""Streaming Gaussian fits of feature vectors (mean and covariance in float64): what FID and
intra-class FID compare (`condgan.metrics.fid`), and what the evaluator caches per real data set
(`MetricInputs.real_stats`)."""

from __future__ import annotations

import torch

from condgan.errors import CondganError


class GaussianStats:
    """Streaming mean / covariance of feature vectors, in float64.

    Keeps the count n, the mean μ and the centred sum of outer products M2 = Σ (x−μ)(x−μ)ᵀ and
    merges each batch with Chan et al.'s pairwise update (1979):

        δ = μ_b − μ,  μ ← μ + δ n_b/(n+n_b),  M2 ← M2 + M2_b + δδᵀ n n_b/(n+n_b)

    This is the "running sum and sum of outer products" the FID reference implementations use,
    but centred, so no catastrophic cancellation when |μ| ≫ std (raw Σxxᵀ − nμμᵀ loses digits).
    cov = M2 / (n − 1) (unbiased, like numpy.cov and every FID implementation).
    """

    def __init__(self, num_features: int | None = None):
        self.n = 0
        self._mean: torch.Tensor | None = None
        self._m2: torch.Tensor | None = None
        if num_features is not None:
            self._mean = torch.zeros(num_features, dtype=torch.float64)
            self._m2 = torch.zeros(num_features, num_features, dtype=torch.float64)

    @classmethod
    def of(cls, features: torch.Tensor) -> "GaussianStats":
        """Statistics of one (N, F) feature matrix."""
        stats = cls()
        stats.update(features)
        return stats

    def update(self, batch: torch.Tensor) -> "GaussianStats":
        """Add an (B, F) batch of features."""
        if batch.dim() != 2:
            raise CondganError(f"GaussianStats.update expects (B, F) features, got shape {tuple(batch.shape)}")
        if batch.shape[0] == 0:
            return self
        b = batch.detach().to(device="cpu", dtype=torch.float64)
        mean_b = b.mean(0)
        centred = b - mean_b
        self._merge(b.shape[0], mean_b, centred.T @ centred)
        return self

    def merge(self, other: "GaussianStats") -> "GaussianStats":
        """Add another accumulator's samples (e.g. from another process or shard)."""
        if other.n:
            self._merge(other.n, other._mean, other._m2)
        return self

    def _merge(self, n_b: int, mean_b: torch.Tensor, m2_b: torch.Tensor) -> None:
        if self._mean is not None and self._mean.shape[0] != mean_b.shape[0]:
            raise CondganError(
                f"GaussianStats got {mean_b.shape[0]}-d features after {self._mean.shape[0]}-d ones"
            )
        if self.n == 0:
            self.n, self._mean, self._m2 = n_b, mean_b.clone(), m2_b.clone()
            return
        n = self.n + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 = self._m2 + m2_b + torch.outer(delta, delta) * (self.n * n_b / n)
        self.n = n

    @property
    def mean(self) -> torch.Tensor:
        if self.n == 0:
            raise CondganError("GaussianStats is empty: no features were added")
        return self._mean

    @property
    def cov(self) -> torch.Tensor:
        if self.n < 2:
            raise CondganError(f"a covariance needs at least 2 samples, got {self.n}")
        return self._m2 / (self.n - 1)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors only (safetensors-friendly); enough to resume updating."""
        if self.n == 0:
            raise CondganError("cannot save an empty GaussianStats")
        return {"n": torch.tensor(self.n, dtype=torch.int64), "mean": self._mean.clone(), "m2": self._m2.clone()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> "GaussianStats":
        try:
            self.n = int(state["n"])
            self._mean = state["mean"].to(torch.float64).clone()
            self._m2 = state["m2"].to(torch.float64).clone()
        except KeyError as e:
            raise CondganError(f"GaussianStats state lacks key {e}; expected n, mean, m2") from None
        return self

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "GaussianStats":
        return cls().load_state_dict(state)
