"""The Classification Accuracy Score (`cas`) and the linear probe's metric: the accuracies by hand,
the CAS classifier trained on the given images only (real train images: high; the same images
with shuffled labels: chance), CAS of a run in `condgan evaluate` with the real-data row's CAS
trained on real train images, and the reasons it is skipped."""

from __future__ import annotations

import pytest
import torch

from condgan.metrics import METRICS, MetricInputs, compute_metrics


def test_accuracies_by_hand():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.4, 0.4, 0.2]])
    labels = torch.tensor([0, 1, 1, 2])   # argmax: 0, 2, 1, 0 → 2 of 4 right
    out = compute_metrics(MetricInputs(test_labels=labels, cas_probs=probs, probe_probs=probs.flip(1)),
                          ["cas", "linear_probe"])
    assert out["cas"] == 0.5
    assert out["linear_probe_acc"] == 0.25  # flipped: argmax 2, 0, 1, 2 → only row 3 right
    assert METRICS.get("cas").is_higher_better("cas") is True
    with pytest.raises(Exception, match="disagree"):
        MetricInputs(test_labels=labels[:3], cas_probs=probs)


@pytest.fixture(scope="module")
def digits():
    from condgan.config import DataConfig
    from condgan.data import load_dataset

    cfg = DataConfig(name="digits", image_size=8)
    return cfg, load_dataset(cfg, "train")


def test_the_classifier_learns_from_the_given_labels_only(digits):
    from condgan.evaluation.cas import cas_probabilities

    cfg, train = digits
    images, labels = train.images[:600], train.labels[:600]
    probs, test_labels = cas_probabilities(images, labels, train.class_names, cfg, seed=0, device="cpu")
    good = compute_metrics(MetricInputs(test_labels=test_labels, cas_probs=probs), ["cas"])["cas"]
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))]
    probs, _ = cas_probabilities(images, shuffled, train.class_names, cfg, seed=0, device="cpu")
    chance = compute_metrics(MetricInputs(test_labels=test_labels, cas_probs=probs), ["cas"])["cas"]
    assert good > 0.85 and chance < 0.3
    # uint8 images (as stored fakes) train the same classifier as their float values
    u8 = ((images + 1) * 127.5).round().to(torch.uint8)
    a, _ = cas_probabilities(u8, labels, train.class_names, cfg, seed=0, device="cpu")
    b, _ = cas_probabilities(u8.float() / 127.5 - 1, labels, train.class_names, cfg, seed=0, device="cpu")
    assert torch.equal(a, b)


def test_cas_of_a_run_and_of_real_data(tiny_run, tmp_path):
    from condgan.cli.main import main
    import json

    out = tmp_path / "eval.json"
    assert main(["evaluate", str(tiny_run), "--metrics", "cas,fid", "--num-samples", "100", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert 0 <= result["metrics"]["cas"] <= 1
    row = result["real_data_row"]
    assert row["metrics"]["cas"] > 0.8       # a classifier trained on real train images
    assert any("test" in note for note in row["notes"])  # the held-out split (digits: test) for FID...


def test_cas_is_skipped_for_unconditional_fakes(digits):
    from condgan.evaluation import Evaluator

    cfg, train = digits
    ev = Evaluator(cfg, 0, metrics=["cas"], num_samples=20)
    result = ev.evaluate_images(train.images[:20])
    assert "cas" in result.skipped and "labels" in result.skipped["cas"]
