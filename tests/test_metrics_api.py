"""The uniform metric interface: registry, declared inputs, options, key directions, determinism."""

import math
from dataclasses import fields

import pytest
import torch

from condgan.errors import CondganError
from condgan.metrics import METRICS, MetricInputs, compute_metrics

EXPECTED_KEYS = {
    "fid": {"fid"},
    "intra_fid": {"intra_fid", "intra_fid/0", "intra_fid/1", "intra_fid/2"},
    "kid": {"kid", "kid_std", "kid_subset_size"},
    "is": {"is", "is_std"},
    "am_score": {"am_score", "am_score/kl", "am_score/entropy"},
    "prdc": {"precision", "recall", "density", "coverage"},
    "conditional_accuracy": {"conditional_accuracy"},
    "class_tv": {"class_tv"},
    "attribute_accuracy": {"attribute_accuracy", "attribute_accuracy/0", "attribute_accuracy/1"},
    "intra_ssim": {"intra_ssim", "intra_ssim/max", "intra_ssim/0", "intra_ssim/1", "intra_ssim/2"},
    "clustering": {"cluster_acc", "cluster_nmi", "cluster_ari"},
    "parzen": {"parzen_ll", "parzen_ll_se", "parzen_sigma"},
    "cas": {"cas"},
    "linear_probe": {"linear_probe_acc"},
    "modes": {"modes_recovered", "high_quality", "modes_total"},
}
FAST = {"kid": {"subsets": 5, "subset_size": 100}}


def split_probabilities(g, n, k):
    """(n, k) class probabilities on a test split (CAS, linear probe)."""
    return torch.softmax(torch.randn(n, k, generator=g), 1)


def full_inputs(seed=0, n=240, k=3, dim=6):
    g = torch.Generator().manual_seed(123)
    real_y, fake_y = torch.arange(n) % k, torch.arange(n) % k
    return MetricInputs(
        real_features=torch.randn(n, dim, generator=g) + real_y[:, None],
        fake_features=torch.randn(n, dim, generator=g) + fake_y[:, None] + 0.2,
        real_labels=real_y,
        fake_labels=fake_y,
        real_probs=torch.softmax(torch.randn(n, k, generator=g), 1),
        fake_probs=torch.softmax(3 * torch.randn(n, k, generator=g), 1),
        train_class_marginal=torch.full((k,), 1 / k),
        requested_class_marginal=torch.full((k,), 1 / k),
        fake_attributes=(torch.rand(n, 2, generator=g) > 0.5).float(),
        fake_attribute_probs=torch.rand(n, 2, generator=g),
        fake_images=torch.rand(30, 1, 16, 16, generator=g) * 2 - 1,
        predicted_clusters=(real_y + 1) % k,
        test_labels=real_y,
        cas_probs=split_probabilities(g, n, k),
        probe_probs=split_probabilities(g, n, k),
        seed=seed,
    )


def test_every_metric_is_registered_with_its_keys_and_directions():
    assert set(METRICS.names()) == set(EXPECTED_KEYS)
    out = compute_metrics(full_inputs(), METRICS.names(), options=FAST)
    assert set(out) == set().union(*EXPECTED_KEYS.values())
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())
    for name, keys in EXPECTED_KEYS.items():
        spec = METRICS.get(name)
        assert spec.primary in keys
        assert spec.missing(full_inputs()) == []
        field_names = {f.name for f in fields(MetricInputs)}
        assert all(alt in field_names for req in spec.needs for alt in req.split("|"))
    directions = {key: METRICS.get(name).is_higher_better(key) for name, keys in EXPECTED_KEYS.items()
                  for key in keys}
    assert directions["fid"] is False and directions["is"] is True and directions["intra_fid/2"] is False
    assert directions["precision"] is True and directions["am_score"] is False
    assert directions["kid_std"] is None and directions["parzen_sigma"] is None
    assert directions["kid_subset_size"] is None
    assert directions["cas"] is True and directions["linear_probe_acc"] is True


def test_same_seed_gives_identical_numbers_and_the_seed_drives_the_sampling():
    a = compute_metrics(full_inputs(seed=7), METRICS.names(), options=FAST)
    b = compute_metrics(full_inputs(seed=7), METRICS.names(), options=FAST)
    assert a == b
    c = compute_metrics(full_inputs(seed=8), ["kid", "is", "intra_ssim", "parzen"], options=FAST)
    assert c["kid"] != a["kid"] and c["is"] != a["is"] and c["intra_ssim"] != a["intra_ssim"]


def test_missing_inputs_raise_a_clear_error_or_are_skipped():
    inputs = MetricInputs(fake_probs=torch.softmax(torch.randn(10, 3), 1))
    with pytest.raises(CondganError, match="fake_features.*real_features\\|real_stats"):
        METRICS.get("fid")(inputs)
    assert set(compute_metrics(inputs, ["fid", "is"], options={"is": {"splits": 2}}, skip_missing=True)) == {
        "is", "is_std"}
    assert METRICS.get("class_tv").missing(inputs) == ["requested_class_marginal|fake_labels"]


def test_unknown_options_and_names_are_reported_with_suggestions():
    inputs = full_inputs()
    with pytest.raises(CondganError, match="unknown option 'subset' for metric 'kid'.*subsets"):
        METRICS.get("kid")(inputs, subset=3)
    with pytest.raises(CondganError, match="did you mean 'prdc'"):
        METRICS.get("prcd")
    with pytest.raises(CondganError, match="not being computed"):
        compute_metrics(inputs, ["fid"], options={"kid": {}})


def test_inconsistent_inputs_are_rejected():
    with pytest.raises(CondganError, match="same extractor"):
        MetricInputs(real_features=torch.zeros(4, 3), fake_features=torch.zeros(4, 5))
    with pytest.raises(CondganError, match="disagree on the number of samples"):
        MetricInputs(fake_features=torch.zeros(4, 3), fake_labels=torch.zeros(5, dtype=torch.long))
    with pytest.raises(CondganError, match="2-D"):
        MetricInputs(fake_probs=torch.zeros(4))


def test_scores_do_not_depend_on_the_order_of_the_rows():
    """Seeded draws (KID subsets, IS splits, SSIM pairs, the Parzen split) are made over the
    canonical order, so a permuted set scores exactly the same; FID and PRDC sum in another
    order, so they agree up to rounding."""
    inputs = full_inputs(seed=5)
    g = torch.Generator().manual_seed(1)
    f, r = torch.randperm(240, generator=g), torch.randperm(240, generator=g)
    # fake_images row i belongs to fake_labels[i]: permute the first 30 fakes among themselves
    f = torch.cat([torch.randperm(30, generator=g), 30 + torch.randperm(210, generator=g)])
    permuted = MetricInputs(
        real_features=inputs.real_features[r], fake_features=inputs.fake_features[f],
        real_labels=inputs.real_labels[r], fake_labels=inputs.fake_labels[f],
        real_probs=inputs.real_probs[r], fake_probs=inputs.fake_probs[f], fake_images=inputs.fake_images[f[:30]],
        train_class_marginal=inputs.train_class_marginal, seed=5)
    exact = ["kid", "is", "intra_ssim", "parzen"]
    a = compute_metrics(inputs, exact, options=FAST)
    b = compute_metrics(permuted, exact, options=FAST)
    assert a == b
    a = compute_metrics(inputs, ["fid", "prdc", "intra_fid"])
    b = compute_metrics(permuted, ["fid", "prdc", "intra_fid"])
    assert a.keys() == b.keys() and all(b[k] == pytest.approx(v, rel=1e-9, abs=1e-12) for k, v in a.items())
