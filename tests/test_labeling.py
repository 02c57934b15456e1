"""Labeling modes (docs/methods.md §3): predefined targets, dynamic labeling from D's class logits, and the
class-conditional sampler of a dynamic-labeling run."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from condgan.errors import CondganError
from condgan.losses.adversarial import ADVERSARIAL_LOSSES
from condgan.losses.conditioning import CONDITIONING
from condgan.training.labeling import LABELING, ClassifiedGenerator, DynamicLabeling, PredefinedLabeling
from condgan.training.trainer import Trainer


def method(name="ac_mod", k=3):
    return CONDITIONING.get(name)(ADVERSARIAL_LOSSES.get("ns"), k, 1.0)


def test_registered_modes():
    assert {"predefined", "dynamic"} <= set(LABELING.names())


def test_dynamic_targets_are_the_argmax_of_ds_class_logits_without_gradient():
    cls = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.5], [0.0, 0.1, 0.2]], requires_grad=True)
    out = {"adv": torch.zeros(3), "cls": cls}
    mode = DynamicLabeling.__new__(DynamicLabeling)
    mode.num_classes, mode.multi_label = 3, False
    labels = mode.relabel_fakes(out, mode.fake(3, torch.Generator()), method())
    assert labels.y.tolist() == [1, 0, 2]
    assert labels.cnd.tolist() == [[0, 1, 0], [1, 0, 0], [0, 0, 1]]
    assert not labels.y.requires_grad and not labels.cnd.requires_grad


def test_dynamic_needs_class_logits(tiny_config):
    with pytest.raises(CondganError, match=r"labeling=dynamic.*conditioning=ca .*ac_mod"):
        tiny_config("model.labeling=dynamic", "model.conditioning=ca")
    with pytest.raises(CondganError, match=r"labeling=dynamic.*conditioning=pd"):
        tiny_config("model.labeling=dynamic", "model.conditioning=pd")


def test_predefined_on_unlabeled_data_gives_empty_targets(tiny_config):
    mode = PredefinedLabeling(tiny_config(), None, 0, False, torch.device("cpu"))
    labels = mode.fake(4, torch.Generator())
    assert labels.y is None and labels.cnd is None


class Recorder(Trainer):
    """Records the fake labels and D's fake outputs every D loss sees."""

    seen: list

    def setup(self):
        super().setup()
        self.seen = []
        d_loss = self.method.d_loss

        def spy(out_r, out_f, real_labels, fake_labels):
            self.seen.append((self.method.class_logits(out_f).detach(), fake_labels.y, real_labels.y))
            return d_loss(out_r, out_f, real_labels, fake_labels)

        self.method.d_loss = spy


@pytest.mark.parametrize("name", ["ac_mod", "am", "label", "mh", "tac"])
def test_dynamic_training_uses_ds_predictions_and_an_unconditional_generator(tiny_config, tmp_path, name):
    trainer = Recorder(tiny_config("model.labeling=dynamic", f"model.conditioning={name}", "train.steps=4"),
                       tmp_path / "run", progress=False)
    trainer.train()
    assert trainer.G.label_input.kind == "none"  # despite g_conditioning=concat: G is unconditional
    assert len(trainer.seen) == 4
    for logits, fake_y, real_y in trainer.seen:
        assert torch.equal(fake_y, logits.argmax(1))
        assert real_y is not None  # reals keep their dataset labels
    assert (tmp_path / "run" / "samples" / "latest.png").exists()


class SignClassifier(nn.Module):
    """D with class logits [-x_0, x_0]: class 1 iff the first coordinate is positive."""

    def forward(self, x, cnd):
        return {"adv": x[:, 0], "cls": torch.stack([-x[:, 0], x[:, 0]], 1)}


class Identity(nn.Module):
    def forward(self, z, cnd):
        assert cnd is None  # the generator of a dynamic run is unconditional
        return z.clone()


def test_classified_generator_returns_the_requested_classes_deterministically():
    g = ClassifiedGenerator(Identity(), SignClassifier(), method(k=2), seed=3)
    z = torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    target = torch.arange(40) % 2
    cnd = nn.functional.one_hot(target, 2).float()
    x = g(z, cnd)
    assert torch.equal((x[:, 0] > 0).long(), target)
    kept = (z[:, 0] > 0).long() == target
    assert torch.equal(x[kept], z[kept])          # rows that already matched keep their latent
    assert torch.equal(ClassifiedGenerator(Identity(), SignClassifier(), method(k=2), seed=3)(z, cnd), x)
    assert g.misses == 0


def test_classified_generator_counts_a_class_g_never_produces():
    class OnlyPositive(Identity):
        def forward(self, z, cnd):
            return z.abs()

    g = ClassifiedGenerator(OnlyPositive(), SignClassifier(), method(k=2), seed=0, max_rounds=3)
    cnd = nn.functional.one_hot(torch.tensor([0, 1, 0]), 2).float()
    g(torch.randn(3, 2), cnd)
    assert g.misses == 2


def test_evaluating_a_dynamic_run_reports_how_ds_classes_match_the_labels(tiny_config, tmp_path):
    """cluster_acc / nmi / ari of D's class head on the real test split, equal to scikit-learn's
    NMI / ARI of the same predictions (and ACC ≥ the plain accuracy of the identity matching)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    from condgan.data import load_dataset
    from condgan.evaluation import evaluate_run
    from condgan.training.restore import load_generator

    cfg = tiny_config("model.labeling=dynamic", "model.conditioning=am", "train.steps=6")
    Trainer(cfg, tmp_path / "run", progress=False).train()
    result = evaluate_run(tmp_path / "run", num_samples=60, metrics=["fid", "clustering"])
    m = result["metrics"]
    test = load_dataset(cfg.data, "test")
    trained = load_generator(tmp_path / "run")
    with torch.no_grad():
        predicted = trained.category_predictor(test.images)
    assert m["cluster_nmi"] == pytest.approx(normalized_mutual_info_score(test.labels, predicted), abs=1e-9)
    assert m["cluster_ari"] == pytest.approx(adjusted_rand_score(test.labels, predicted), abs=1e-9)
    assert m["cluster_acc"] >= float((predicted == test.labels).double().mean()) - 1e-12
    assert "fid" in m and not any("clustering" in note for note in result["notes"])


@pytest.mark.parametrize("g_conditioning, expected", [("concat", 10), ("cbn", 10), ("none", 0)])
def test_predefined_generator_takes_one_condition_per_class_unless_unconditional(tiny_config, g_conditioning,
                                                                                  expected):
    from condgan.training.build import DataInfo

    cfg = tiny_config(f"model.g_conditioning={g_conditioning}")
    info = DataInfo((1, 8, 8), 10, False, [str(i) for i in range(10)])
    assert PredefinedLabeling.generator_conditions(cfg, info) == expected


def test_unconditional_method_scores_each_image_with_one_logit():
    """model.conditioning=none: D's only head gives one adversarial logit per image, shape (B,)."""
    method = CONDITIONING.get("none")(ADVERSARIAL_LOSSES.get("ns"), 10)
    heads = method.heads(16, spectral_norm=False)
    assert set(heads) == {"adv"} and heads["adv"](torch.randn(5, 16), None).shape == (5,)


class _EchoConditions(nn.Module):
    """A 'generator' that returns the conditions it was given."""

    def forward(self, z, cnd):
        return cnd


def test_category_generator_without_a_prior_gives_row_i_category_i_mod_k():
    from condgan.training.labeling.categorical import CategoryGenerator

    k = 3
    g = CategoryGenerator(_EchoConditions(), lambda idx: torch.nn.functional.one_hot(idx, k).float(), k)
    out = g(torch.randn(7, 2), None)
    assert out.argmax(1).tolist() == [0, 1, 2, 0, 1, 2, 0]
    given = torch.eye(k)[[2, 2]]
    assert torch.equal(g(torch.randn(2, 2), given), given)  # a given condition passes through


@pytest.mark.parametrize("overrides, multi_label, expected", [
    ((), False, 10),                                                      # class-conditional: its classes
    ((), True, 0),                                                        # multi-label: scored unconditionally
    (("model.labeling=classifier", "model.conditioning=ca_inner", "data.unlabeled=true"), False, 0),
])
def test_evaluation_requests_the_datas_classes_only_of_class_conditional_runs(tiny_config, overrides,
                                                                             multi_label, expected):
    from condgan.training.build import DataInfo
    from condgan.training.labeling.base import evaluation_classes

    cfg = tiny_config(*overrides)
    info = DataInfo((1, 8, 8), 10, multi_label, [str(i) for i in range(10)])
    assert evaluation_classes(cfg, info) == expected


def test_label_prior_data_draws_fake_classes_by_the_train_splits_frequencies(tiny_config):
    """model.label_prior=data: P(y) = the train split's class frequencies; uniform (the default)
    keeps no prior (uniform draws)."""
    labels = torch.tensor([0, 0, 0, 1, 2, 2])
    mode = PredefinedLabeling(tiny_config("model.label_prior=data"), labels, 3, False, torch.device("cpu"))
    assert torch.allclose(mode.prior, torch.tensor([0.5, 1 / 6, 1 / 3]))
    drawn = mode.fake(6000, torch.Generator().manual_seed(0)).y
    assert torch.allclose(torch.bincount(drawn, minlength=3) / 6000.0, mode.prior, atol=0.03)
    assert PredefinedLabeling(tiny_config(), labels, 3, False, torch.device("cpu")).prior is None


def test_category_generator_pads_drawn_categories_with_zero_continuous_codes():
    """Evaluation of an InfoGAN run with continuous codes: categories drawn from the prior, the
    codes set to their mean 0, so G receives its full condition width."""
    from condgan.training.labeling.categorical import CategoryGenerator

    k, m = 3, 2
    g = CategoryGenerator(_EchoConditions(), None, k, prior=torch.full((1, k), 1.0 / k), seed=0, continuous_codes=m)
    out = g(torch.randn(6, 2), None)
    assert out.shape == (6, k + m)
    assert torch.equal(out[:, :k].sum(1), torch.ones(6)) and torch.equal(out[:, k:], torch.zeros(6, m))


def test_random_categories_prior_is_uniform_per_group_and_d_is_unconditional(tiny_config):
    from condgan.training.build import DataInfo
    from condgan.training.labeling.random_categories import RandomCategories

    cfg = tiny_config("model.labeling=random", "model.conditioning=none", "model.cgp_groups=2",
                      "model.cgp_categories=3", "data.unlabeled=true")
    mode = RandomCategories(cfg, None, 0, False, torch.device("cpu"))
    assert torch.allclose(mode.prior, torch.full((2, 3), 1 / 3))  # a distribution per group
    assert RandomCategories.discriminator_conditions(cfg, DataInfo((1, 8, 8), 0, False, [])) == 0
