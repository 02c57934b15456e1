"""End to end: `condgan evaluate` on a trained run, evaluation during training, reports."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from condgan.cli.main import main
from condgan.validation import load_config
from condgan.evaluation import DEFAULT_METRICS
from condgan.training.trainer import Trainer
from tests.conftest import tiny_overrides


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One domain-classifier / reference cache for the module (training it once is enough)."""
    import os

    path = tmp_path_factory.mktemp("cache")
    old = os.environ.get("CONDGAN_CACHE")
    os.environ["CONDGAN_CACHE"] = str(path)
    yield path
    if old is None:
        del os.environ["CONDGAN_CACHE"]
    else:
        os.environ["CONDGAN_CACHE"] = old


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, cache):
    run = tmp_path_factory.mktemp("run")
    cfg = load_config({}, tiny_overrides("model.conditioning=ca", "train.steps=20", "data.image_size=16"))
    Trainer(cfg, run, progress=False).train()
    return run


def _evaluate(run, out, capsys, *extra):
    """`condgan evaluate RUN` without the real-data row (test_stages_and_real_row... covers it)."""
    rc = main(["evaluate", str(run), "--num-samples", "300", "--out", str(out), "--no-baseline-row", *extra])
    assert rc == 0, capsys.readouterr().err
    return json.loads(out.read_text())


def test_evaluate_writes_every_metric_and_is_deterministic(trained_run, tmp_path, capsys):
    a = _evaluate(trained_run, tmp_path / "a.json", capsys)
    printed = capsys.readouterr().out
    b = _evaluate(trained_run, tmp_path / "b.json", capsys)
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    for key in ("fid", "kid", "is", "am_score", "precision", "recall", "density", "coverage",
                "conditional_accuracy", "class_tv", "intra_ssim"):
        assert key in a["metrics"], key
        assert f"\n{key} " in printed or printed.startswith(key)
    assert a["num_samples"] == 300 and a["step"] == 20
    assert a["extractor"].startswith("domain-") and 0.5 < a["extractor_test_accuracy"] <= 1
    assert set(DEFAULT_METRICS) >= {"fid", "prdc"}
    # default real split "auto": digits' test split (179 images) is small, so the reference is the
    # class-balanced subset of the train split (157 per class), and eval.json says why
    assert a["real_split"] == "train" and "auto" in a["real_split_rule"] and "179" in a["real_split_rule"]
    assert a["real_split_samples"] == 1618 and a["real_samples"] == 1570
    assert a["metric_options"] == {"kid": {"feature_scale": "whiten"}}
    # every class has more than the 129 (128 feature dims + 1) real images intra-FID needs
    assert "intra_fid" in a["metrics"] and a["intra_fid_flagged_classes"] == {}
    # the test split has 17-18 images per class: intra-FID flags every class and says so
    # instead of averaging garbage
    c = _evaluate(trained_run, tmp_path / "c.json", capsys, "--real-split", "test", "--metrics", "intra_fid")
    printed = capsys.readouterr().out
    assert c["real_split"] == "test" and c["real_split_samples"] == 179
    assert "intra_fid" not in c["metrics"] and c["metrics"]["intra_fid/flagged"] == 10
    assert c["intra_fid_flagged_classes"]["8"] == {"real": 17, "fake": 30}
    assert any("intra_fid not reported" in n for n in c["notes"]) and "note: intra_fid" in printed


def test_evaluate_other_seed_changes_numbers(trained_run, tmp_path, capsys):
    a = _evaluate(trained_run, tmp_path / "a.json", capsys, "--metrics", "fid")
    b = _evaluate(trained_run, tmp_path / "b.json", capsys, "--metrics", "fid", "--seed", "1")
    assert a["metrics"]["fid"] != b["metrics"]["fid"]


def test_evaluation_during_training_logs_and_keeps_best(tmp_path, cache):
    cfg = load_config({}, tiny_overrides("train.steps=20", "data.image_size=16", "eval.every=10",
                                         "eval.num_samples=200", "eval.metrics=[fid,conditional_accuracy]",
                                         "eval.best_metric=fid"))
    Trainer(cfg, tmp_path / "r", progress=False).train()
    records = [json.loads(l) for l in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "eval" in r]
    assert [r["step"] for r in evals] == [10, 20]
    assert all({"fid", "conditional_accuracy"} <= set(r["eval"]) for r in evals)
    assert (tmp_path / "r" / "checkpoints" / "best.pt").exists()
    import torch

    best = torch.load(tmp_path / "r" / "checkpoints" / "best.pt", weights_only=True)["best"]
    assert best["value"] == min(r["eval"]["fid"] for r in evals)


def test_evaluation_during_training_keeps_resume_bit_identical(tmp_path, cache):
    over = ["data.image_size=16", "eval.every=10", "eval.num_samples=100", "eval.metrics=[fid]"]
    Trainer(load_config({}, tiny_overrides(*over, "train.steps=10")), tmp_path / "a", progress=False).train()
    Trainer(load_config({}, tiny_overrides(*over, "train.steps=20")), tmp_path / "a", progress=False).train()
    Trainer(load_config({}, tiny_overrides(*over, "train.steps=20", "eval.every=0")), tmp_path / "b", progress=False).train()
    assert (tmp_path / "a/samples/latest.png").read_bytes() == (tmp_path / "b/samples/latest.png").read_bytes()


def test_report_table_and_plots(trained_run, tmp_path, capsys):
    _evaluate(trained_run, trained_run / "eval.json", capsys, "--metrics", "fid,conditional_accuracy")
    out = tmp_path / "rep" / "report.md"
    assert main(["report", str(trained_run), "--out", str(out)]) == 0
    text = out.read_text()
    assert "| run | conditioning |" in text and "fid" in text and "conditional_accuracy" in text
    assert list(out.parent.glob("*_losses.png"))


def test_evaluate_missing_run_is_one_line_error(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("condgan: error:") and err.count("\n") == 1


def test_standing_stats_override_reestimates_bn_buffers(trained_run):
    import torch

    from condgan.training.restore import load_generator

    def bn_means(n):
        g = load_generator(trained_run, standing_stats=n).generator
        return torch.cat([m.running_mean for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)])

    averaged, again, reestimated = bn_means(0), bn_means(0), bn_means(3)
    assert torch.equal(averaged, again)
    assert not torch.allclose(averaged, reestimated)


# --------------------------------------------------------------------------- evaluation protocol
class PerfectGenerator(torch.nn.Module):
    """Returns a real image of the requested class (cycling through that class's images)."""

    def __init__(self, images, labels, num_classes):
        super().__init__()
        self.by_class = [images[labels == y] for y in range(num_classes)]
        self.used = [0] * num_classes

    def forward(self, z, cnd):
        out = []
        for y in cnd.argmax(1).tolist():
            out.append(self.by_class[y][self.used[y] % len(self.by_class[y])])
            self.used[y] += 1
        return torch.stack(out)


def test_a_limited_data_run_is_scored_against_the_full_data(cache):
    """data.train_images shapes what the GAN trains on only: the real reference (here the train
    split) and the domain classifier are those of the full data set."""
    from condgan.data import load_dataset
    from condgan.evaluation import Evaluator

    full = load_config({}, tiny_overrides("data.image_size=16"))
    limited = load_config({}, tiny_overrides("data.image_size=16", "data.train_images=100"))
    a, b = (Evaluator(c.data, 10, "domain", 100, ["fid"], real_split="train") for c in (full, limited))
    assert len(load_dataset(limited.data, "train")) < 110
    assert b.real.key == a.real.key and len(b.real) == len(load_dataset(full.data, "train"))
    assert b.extractor.id == a.extractor.id                       # the same classifier (cache key)


def test_perfect_generator_on_imbalanced_data_scores_am_near_zero(cache):
    # ~53 % zeros in the train split (all zeros, 1/10 of every other digit)
    from condgan.data import load_dataset
    from condgan.evaluation import Evaluator

    cfg = load_config({}, tiny_overrides("data.image_size=16", "data.class_fractions=[1" + ",0.1" * 9 + "]"))
    full_train = load_dataset(dataclasses.replace(cfg.data, class_fractions=None), "train")
    ev = Evaluator(cfg.data, 10, "domain", 300, ["am_score", "class_tv", "conditional_accuracy", "fid"],
                   real_split="test")  # the fakes are train images: score them against held-out ones
    # the real reference: the full test split, class-balanced (not 53 % zeros)
    assert torch.bincount(ev.real.labels[ev.balanced]).tolist() == [17] * 10
    result = ev.evaluate(PerfectGenerator(full_train.images, full_train.labels, 10), z_dim=4)
    m = result.metrics
    # C̄_train is the reference's uniform marginal: a generator that obeys the uniform request
    # has KL ≈ 0 (the old imbalanced prior gave KL(prior ‖ uniform) ≈ 0.57)
    assert m["am_score/kl"] < 0.02 and m["am_score"] < 0.15
    assert m["conditional_accuracy"] > 0.95 and m["class_tv"] < 0.05
    # compare: the same fakes scored against the *imbalanced* prior would be far from 0
    prior = load_dataset(cfg.data, "train").class_frequencies().double()
    assert float((prior * (prior / 0.1).log()).sum()) > 0.5


@pytest.fixture
def stub_inception(monkeypatch):
    """`--extractor inception` without the 95 MB weights: a tiny random network with Inception's
    interface (1008 classes of its own, logits_unbiased, no `info`)."""
    import torch.nn.functional as F

    from condgan.features import EXTRACTORS, adapt_channels

    class StubInception(torch.nn.Module):
        id, num_features, num_classes = "inception-stub", 16, 1008

        def __init__(self):
            super().__init__()
            g = torch.Generator().manual_seed(0)
            self.proj = torch.nn.Parameter(torch.randn(48, 16, generator=g), requires_grad=False)
            self.fc = torch.nn.Parameter(torch.randn(16, 1008, generator=g), requires_grad=False)

        def forward(self, x):
            f = F.adaptive_avg_pool2d(adapt_channels(x, 3), 4).flatten(1) @ self.proj
            return {"features": f, "logits": f @ self.fc + 0.1, "logits_unbiased": f @ self.fc}

    monkeypatch.setitem(EXTRACTORS._items, "inception", lambda *a, **k: StubInception())


def test_inception_extractor_skips_class_metrics_with_a_note(trained_run, tmp_path, capsys, stub_inception):
    res = _evaluate(trained_run, tmp_path / "inc.json", capsys, "--extractor", "inception",
                    "--metrics", "fid,is,am_score,conditional_accuracy,class_tv,intra_fid")
    assert res["extractor"] == "inception-stub"
    assert {"fid", "is"} <= set(res["metrics"])  # IS reads Inception's own classes: still valid
    assert set(res["skipped_metrics"]) == {"am_score", "conditional_accuracy", "class_tv"}
    assert all("1008 classes of its own" in why for why in res["skipped_metrics"].values())
    assert any(n.startswith("am_score skipped") for n in res["notes"])
    # intra-FID reads no classifier, only labels: computed (16-d features need 17 reals per class)
    assert "intra_fid" in res["metrics"]


def test_the_real_inception_extractor_declares_no_data_classes():
    from condgan.evaluation.evaluator import extractor_classes
    from condgan.features import FIDInceptionV3, InceptionExtractor

    assert extractor_classes(InceptionExtractor(FIDInceptionV3())) == (None, False)


def test_multi_label_run_evaluates_during_training_and_with_the_cli(tmp_path, cache, capsys):
    # mnist5k-ca-attributes shrunk to digits: G takes multi-hot attribute vectors
    from condgan.features.domain import get_domain_extractor

    cfg = load_config("mnist5k-ca-attributes", tiny_overrides(
        "data.image_size=16", "train.steps=4", "eval.every=4", "eval.num_samples=60",
        "eval.metrics=[fid,attribute_accuracy,conditional_accuracy]"))
    get_domain_extractor(cfg.data, epochs=1)  # a quick multi-label classifier, cached for both calls
    Trainer(cfg, tmp_path / "r", progress=False).train()
    records = [json.loads(l) for l in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    logged = [r["eval"] for r in records if "eval" in r]
    assert len(logged) == 1 and {"fid", "attribute_accuracy", "attribute_accuracy/1"} <= set(logged[0])
    res = _evaluate(tmp_path / "r", tmp_path / "e.json", capsys)
    assert {"fid", "kid", "precision", "attribute_accuracy"} <= set(res["metrics"])
    assert 0 <= res["metrics"]["attribute_accuracy"] <= 1
    assert "multi-label" in res["skipped_metrics"]["conditional_accuracy"]
    assert {"is", "am_score", "intra_fid", "intra_ssim", "class_tv"} <= set(res["skipped_metrics"])


def test_attribute_targets_are_train_vectors_and_seeded(cache):
    from condgan.data import load_dataset
    from condgan.evaluation import Evaluator
    from condgan.features.domain import get_domain_extractor

    cfg = load_config("mnist5k-ca-attributes", tiny_overrides("data.image_size=16"))
    get_domain_extractor(cfg.data, epochs=1)
    bank = {tuple(v) for v in load_dataset(cfg.data, "train").labels.tolist()}
    a = Evaluator(cfg.data, 0, num_samples=2000, metrics=["fid"]).attribute_targets
    b = Evaluator(cfg.data, 0, num_samples=2000, metrics=["fid"], seed=1).attribute_targets
    assert a.shape == (2000, 2) and {tuple(v) for v in a.tolist()} <= bank
    assert torch.equal(a, Evaluator(cfg.data, 0, num_samples=2000, metrics=["fid"]).attribute_targets)
    assert not torch.equal(a, b)


# --------------------------------------------------------------------------- CLI inputs
@pytest.mark.parametrize("argv,needles", [
    (["RUN", "--num-samples", "0"], ["--num-samples", "positive", "0"]),
    (["RUN", "--num-samples", "-5"], ["--num-samples", "-5"]),
    (["--fakes", "MISSING", "--data", "digits"], ["--fakes", "does not exist"]),
    (["RUN", "--fakes", "RUN", "--data", "digits"], ["exactly one of", "RUN_DIR and --fakes"]),
    ([], ["exactly one of"]),
    (["--baseline"], ["--baseline needs --data"]),
    (["--baseline", "--data", "digits", "--set", "model.z_dim=3"], ["data.* keys"]),
    (["RUN", "--data", "digits"], ["--data / --set"]),
])
def test_evaluate_bad_inputs_are_one_line_errors(argv, needles, trained_run, tmp_path, capsys):
    from tests.test_cli import assert_one_line_error, run_main

    argv = [str(trained_run) if a == "RUN" else str(tmp_path / "nope.npz") if a == "MISSING" else a for a in argv]
    code, _, err = run_main(capsys, "evaluate", *argv)
    assert_one_line_error(code, err, *needles)


# --------------------------------------------------------------------------- external fakes
def _fake_set(n_per_class=8):
    """uint8 (N, 16, 16) images (real train digits) and labels, ordered class by class."""
    from condgan.data import load_dataset

    cfg = load_config({}, tiny_overrides("data.image_size=16"))
    train = load_dataset(cfg.data, "train")
    idx = torch.cat([torch.nonzero(train.labels == y).flatten()[:n_per_class] for y in range(10)])
    pixels = ((train.images[idx, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    return pixels, train.labels[idx].numpy()


def test_fakes_folder_and_npz_give_the_same_metrics(tmp_path, capsys, cache):
    import numpy as np
    from PIL import Image

    pixels, labels = _fake_set()
    for i, (img, y) in enumerate(zip(pixels, labels)):
        (tmp_path / "fakes" / str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, "L").save(tmp_path / "fakes" / str(y) / f"{i:03d}.png")
    np.savez(tmp_path / "fakes.npz", images=pixels, labels=labels)
    metrics = "fid,kid,is,am_score,prdc,conditional_accuracy,class_tv,intra_ssim"
    results = []
    for src in ("fakes", "fakes.npz"):
        code = main(["evaluate", "--fakes", str(tmp_path / src), "--data", "digits", "--set", "data.image_size=16",
                     "--metrics", metrics])
        assert code == 0, capsys.readouterr().err
        results.append(json.loads((tmp_path / f"{src}.eval.json").read_text()))  # default: next to PATH
    folder, npz = results
    assert folder["generator"] == "external" and folder["run"] == str(tmp_path / "fakes")
    assert folder["num_samples"] == 80 and folder["skipped_metrics"] == {}
    assert folder["metrics"].keys() == npz["metrics"].keys()
    for key, value in folder["metrics"].items():
        assert npz["metrics"][key] == pytest.approx(value, abs=1e-6), key
    # real digits as fakes: the classifier recognises the requested classes
    assert folder["metrics"]["conditional_accuracy"] > 0.9
    # --num-samples takes a per-class subset: 4 of each class's 8, the class mix stays uniform
    assert main(["evaluate", "--fakes", str(tmp_path / "fakes.npz"), "--data", "digits", "--set", "data.image_size=16",
                 "--metrics", "class_tv", "--num-samples", "40", "--out", str(tmp_path / "sub.json")]) == 0
    sub = json.loads((tmp_path / "sub.json").read_text())
    assert sub["num_samples"] == 40 and not any("not balanced" in n for n in sub["notes"])
    # flat folder = unlabeled: class metrics are skipped with a reason, the rest computed
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, img in enumerate(pixels[:30]):
        Image.fromarray(img, "L").save(flat / f"{i:03d}.png")
    assert main(["evaluate", "--fakes", str(flat), "--data", "digits", "--set", "data.image_size=16",
                 "--metrics", "fid,conditional_accuracy", "--out", str(tmp_path / "flat.json")]) == 0
    res = json.loads((tmp_path / "flat.json").read_text())
    assert "fid" in res["metrics"] and "no class labels" in res["skipped_metrics"]["conditional_accuracy"]


def test_a_set_scores_the_same_whatever_order_it_is_stored_in(tmp_path, capsys, cache):
    """The same images as a class folder (class by class) and as an .npz in a shuffled order give
    identical numbers on every metric, also for a --num-samples subset: images are put in
    canonical order before extraction and before every seeded draw."""
    import numpy as np
    from PIL import Image

    pixels, labels = _fake_set()
    for i, (img, y) in enumerate(zip(pixels, labels)):
        (tmp_path / "fakes" / str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img, "L").save(tmp_path / "fakes" / str(y) / f"{i:03d}.png")
    shuffled = np.random.default_rng(0).permutation(len(pixels))
    np.savez(tmp_path / "fakes.npz", images=pixels[shuffled], labels=labels[shuffled])
    metrics = "fid,kid,is,am_score,prdc,intra_fid,conditional_accuracy,class_tv,intra_ssim,parzen"
    for extra in ([], ["--num-samples", "40"]):
        results = []
        for src in ("fakes", "fakes.npz"):
            out = tmp_path / f"{src}{len(extra)}.json"
            code = main(["evaluate", "--fakes", str(tmp_path / src), "--data", "digits", "--set", "data.image_size=16",
                         "--metrics", metrics, "--real-split", "train", "--out", str(out), *extra])
            assert code == 0, capsys.readouterr().err
            results.append(json.loads(out.read_text()))
        folder, npz = results
        assert folder["skipped_metrics"] == {} and "intra_fid" in folder["metrics"] and "parzen_ll" in folder["metrics"]
        assert folder["metrics"] == npz["metrics"], extra


def test_npz_layouts_and_ranges_are_converted_to_the_data_shape(tmp_path):
    import numpy as np

    from condgan.errors import CondganError
    from condgan.evaluation.fakes import load_fakes

    pixels, labels = _fake_set(2)
    names = [str(d) for d in range(10)]
    np.savez(tmp_path / "u8.npz", images=pixels, labels=labels)
    unit = pixels.astype(np.float32) / 255
    np.savez(tmp_path / "nhwc.npz", images=np.repeat(unit[..., None], 3, -1))  # RGB [0, 1]
    np.savez(tmp_path / "nchw.npz", images=(unit * 2 - 1)[:, None])  # [-1, 1]
    ref, ref_labels = load_fakes(tmp_path / "u8.npz", (1, 16, 16), names)
    assert ref.shape == (20, 1, 16, 16) and ref_labels.tolist() == labels.tolist()
    for name in ("nhwc.npz", "nchw.npz"):
        images, none = load_fakes(tmp_path / name, (1, 16, 16), names)
        assert none is None and torch.allclose(images, ref, atol=1e-5), name
    big, _ = load_fakes(tmp_path / "u8.npz", (3, 32, 32), names)  # resized and made RGB
    assert big.shape == (20, 3, 32, 32)
    np.savez(tmp_path / "bad.npz", images=np.zeros((4, 2, 16, 16), np.uint8))
    with pytest.raises(CondganError, match=r"C = 1 \(gray\) or 3"):
        load_fakes(tmp_path / "bad.npz", (1, 16, 16), names)
    np.savez(tmp_path / "lab.npz", images=pixels, labels=labels + 5)
    with pytest.raises(CondganError, match="out of range"):
        load_fakes(tmp_path / "lab.npz", (1, 16, 16), names)


def test_baseline_scores_held_out_real_data(trained_run, tmp_path, capsys, cache):
    out = tmp_path / "base.json"
    code = main(["evaluate", "--baseline", "--data", "digits", "--set", "data.image_size=16", "--num-samples", "200",
                 "--metrics", "fid,am_score,conditional_accuracy,class_tv", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    res = json.loads(out.read_text())
    # the reference is the train split (auto: digits' test split is small); the real-data row is
    # the held-out test split, all of it there is: 17 per class (its smallest class), not 20
    assert res["generator"] == "real-data" and res["real_split"] == "train" and res["num_samples"] == 170
    assert res["baseline"]["held_out_split"] == "test" and res["baseline"]["per_class"] == 17
    assert "KID is unbiased" in res["baseline"]["why_fewer"]
    assert "real-data images" in printed and "baseline: 170 real test images (17 per class)" in printed
    assert "170 fakes, not the 200 asked for" in printed
    assert res["metrics"]["conditional_accuracy"] > 0.95 and res["metrics"]["am_score/kl"] < 0.02
    # and `condgan report RUN --baseline FILE` shows it as the real-data row under the runs
    report = tmp_path / "rep.md"
    assert main(["report", str(trained_run), "--baseline", str(out), "--out", str(report)]) == 0
    row = next(l for l in report.read_text().splitlines() if l.startswith("| baseline:digits |"))
    assert "real data (baseline)" in row and f"{res['metrics']['fid']:.4g}" in row


def test_auto_real_split_takes_test_only_when_it_is_large(monkeypatch):
    import condgan.data
    from condgan.evaluation.reference import MIN_TEST_REFERENCE, resolve_real_split

    cfg = load_config({}, tiny_overrides("data.image_size=16"))
    for size, want in ((MIN_TEST_REFERENCE, "test"), (MIN_TEST_REFERENCE - 1, "train")):
        monkeypatch.setattr(condgan.data, "load_dataset", lambda data_cfg, split, n=size: [None] * n)
        split, why = resolve_real_split(cfg.data, "auto")
        assert split == want and why.startswith("auto") and str(size) in why
    assert resolve_real_split(cfg.data, "test")[0] == "test"  # as asked, whatever its size


def test_metrics_too_small_for_their_inputs_are_skipped_with_their_message(cache):
    """Three fakes: FID is computed, PRDC (k-NN radii) and intra-SSIM (pairs per class) cannot be:
    skipped with a message naming the metric and the fix, not an error that ends the evaluation."""
    from condgan.evaluation import Evaluator

    pixels, labels = _fake_set(1)
    images = torch.from_numpy(pixels[:3]).float().div(127.5).sub(1)[:, None]
    cfg = load_config({}, tiny_overrides("data.image_size=16"))
    ev = Evaluator(cfg.data, 0, "domain", 1, ["fid", "prdc", "intra_ssim"])
    result = ev.evaluate_images(images, torch.from_numpy(labels[:3]))
    assert "fid" in result.metrics
    assert "prdc" in result.skipped["prdc"] and "3 fake" in result.skipped["prdc"]
    assert "intra_ssim" in result.skipped["intra_ssim"]
    assert any(n.startswith("prdc skipped:") for n in result.notes)
