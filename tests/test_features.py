"""Feature extractors (docs/evaluation.md): the domain classifier (training, cache, adaptation), batched
extraction, the FID Inception-V3 (architecture, weight loading, errors), and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from sklearn.datasets import load_digits

from condgan.config import DataConfig
from condgan.data.base import ImageData
from condgan.errors import CondganError
from condgan.features import (EXTRACTORS, FIDInceptionV3, InceptionExtractor,
                              build_extractor, domain_cache_key, domain_cache_paths, extract,
                              fit_domain_classifier, get_domain_extractor, iter_extract,
                              load_inception_extractor)
from condgan.features import domain as domain_mod
from condgan.features.domain import cache as domain_cache_mod
from condgan.features import inception as inception_mod

DIGITS = DataConfig(name="digits", image_size=8)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def digit_splits() -> dict[str, ImageData]:
    """sklearn's 8×8 digits in [-1, 1], split 1500 / 297 by a fixed permutation (built here so
    the tests do not depend on a particular data source)."""
    d = load_digits()
    images = torch.tensor(d.images, dtype=torch.float32)[:, None] / 8 - 1
    labels = torch.tensor(d.target, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    names = [str(i) for i in range(10)]
    return {"train": ImageData(images[order[:1500]], labels[order[:1500]], names),
            "test": ImageData(images[order[1500:]], labels[order[1500:]], names)}


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digit_splits):
    """One domain classifier (10 epochs, ~120 steps) trained into a fresh cache, shared by the tests."""
    cache = tmp_path_factory.mktemp("cache")
    calls = []

    def loader(cfg, split):
        calls.append(split)
        return digit_splits[split]

    extractor = get_domain_extractor(DIGITS, seed=0, cache_dir=cache, loader=loader, epochs=10)
    return extractor, cache, calls


def _refuse_loading(cfg, split):
    raise AssertionError("the cached classifier should have been used, not retrained")


# --------------------------------------------------------------------------- domain classifier
def test_domain_classifier_learns_digits(trained, digit_splits):
    extractor, _, calls = trained
    assert calls == ["train", "test"]
    assert not extractor.from_cache
    assert extractor.test_accuracy > 0.9
    assert extractor.info["test_size"] == len(digit_splits["test"])
    assert extractor.num_features == 128 and extractor.num_classes == 10
    assert domain_cache_key(DIGITS, 0) in extractor.id and "domain-v" in extractor.id
    out = extract(extractor, digit_splits["test"])
    assert out["features"].shape == (297, 128) and out["logits"].shape == (297, 10)
    assert out["features"].dtype == torch.float32
    # the reported accuracy is the accuracy of the extractor's own logits
    acc = (out["logits"].argmax(1) == digit_splits["test"].labels).float().mean().item()
    assert acc == pytest.approx(extractor.test_accuracy)


def test_domain_extractor_adapts_size_and_channels(trained):
    extractor, _, _ = trained
    for shape in [(3, 1, 8, 8), (3, 3, 8, 8), (3, 1, 28, 28), (3, 3, 16, 16)]:
        out = extractor.eval()(torch.rand(shape) * 2 - 1)
        assert out["features"].shape == (3, 128) and out["logits"].shape == (3, 10)


def test_cache_hit_loads_without_training(trained, digit_splits):
    extractor, cache, _ = trained
    again = get_domain_extractor(DIGITS, seed=0, cache_dir=cache, loader=_refuse_loading, train_if_missing=False)
    assert again.from_cache and again.id == extractor.id
    assert again.test_accuracy == extractor.test_accuracy
    x = digit_splits["test"].images[:50]
    torch.testing.assert_close(extract(again, x)["features"], extract(extractor, x)["features"])
    # the registry factory finds the same entry
    built = build_extractor("domain", DIGITS, seed=0, cache_dir=cache, loader=_refuse_loading)
    assert built.from_cache and built.id == extractor.id and not built.training
    # asking for a different training length does not silently reuse the entry
    with pytest.raises(CondganError, match="other epochs"):
        get_domain_extractor(DIGITS, cache_dir=cache, epochs=3, loader=_refuse_loading, train_if_missing=False)


def test_cache_miss_without_training_names_the_command(trained):
    _, cache, _ = trained
    with pytest.raises(CondganError, match="condgan classifier train digits"):
        get_domain_extractor(DIGITS, seed=1, cache_dir=cache, loader=_refuse_loading, train_if_missing=False)


def test_cache_files_are_complete_and_atomic(trained, tmp_path):
    _, cache, _ = trained
    weights, info = domain_cache_paths(DIGITS, 0, cache)
    assert weights.is_file() and info.is_file()
    assert sorted(p.name for p in weights.parent.iterdir()) == sorted([weights.name, info.name])  # no temp files

    def failing_writer(tmp):
        Path(tmp).write_text("half")
        raise OSError("disk full")

    target = tmp_path / "sub" / "file.json"
    with pytest.raises(OSError):
        domain_cache_mod._atomic_write(target, failing_writer)
    assert list(target.parent.iterdir()) == []


def test_corrupt_cache_entry_is_an_error_or_retrained(tmp_path, digit_splits):
    weights, info = domain_cache_paths(DIGITS, 0, tmp_path)
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"not safetensors")
    info.write_text("{}")
    with pytest.raises(CondganError, match="unreadable"):
        get_domain_extractor(DIGITS, cache_dir=tmp_path, loader=_refuse_loading, train_if_missing=False)
    with pytest.raises(CondganError, match="unreadable"):  # the evaluator's default path
        build_extractor("domain", DIGITS, cache_dir=tmp_path, loader=_refuse_loading, train_if_missing=False)
    fixed = get_domain_extractor(DIGITS, cache_dir=tmp_path, epochs=1, loader=lambda c, s: digit_splits[s])
    assert not fixed.from_cache and fixed.info["epochs"] == 1


def test_cache_key_tracks_relevant_options(tmp_path, monkeypatch):
    base = domain_cache_key(DIGITS, 0)
    changed = [
        DataConfig(name="digits", image_size=16),
        DataConfig(name="mnist5k", image_size=8),
        DataConfig(name="digits", image_size=8, channels=3),
        DataConfig(name="digits", image_size=8, classes=[0, 1]),
        DataConfig(name="digits", image_size=8, class_fractions=[0.5] * 10),
        DataConfig(name="digits", image_size=8, split_seed=1),
        DataConfig(name="digits", image_size=8, test_fraction=0.2),
        DataConfig(name="digits", image_size=8, root="/somewhere"),
    ]
    keys = {domain_cache_key(cfg, 0) for cfg in changed} | {domain_cache_key(DIGITS, 1)}
    assert base not in keys and len(keys) == len(changed) + 1
    # options that do not change the data, and the same root spelled two ways, keep the key
    assert domain_cache_key(DataConfig(name="digits", image_size=8, download=True), 0) == base
    monkeypatch.chdir(tmp_path)
    assert domain_cache_key(DataConfig(name="x", root="data"), 0) == domain_cache_key(
        DataConfig(name="x", root=str(tmp_path / "data")), 0)


def test_training_is_deterministic_and_leaves_global_rng_alone(digit_splits):
    train = digit_splits["train"]
    small = ImageData(train.images[:256], train.labels[:256], train.class_names)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    m1, _ = fit_domain_classifier(small, None, seed=5, epochs=1, batch_size=64)
    after = torch.rand(1)
    m2, info = fit_domain_classifier(small, None, seed=5, epochs=1, batch_size=64)
    assert torch.equal(before, after)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    assert info["test_accuracy"] is None and info["steps"] == 4


def test_multi_label_data_trains_attribute_logits(digit_splits):
    train = digit_splits["train"]
    attrs = torch.stack([train.labels % 2 == 0, train.labels >= 5], 1).float()
    data = ImageData(train.images, attrs, ["even", "ge5"], multi_label=True)
    model, info = fit_domain_classifier(data, data, epochs=2)
    assert info["multi_label"] and 0.5 < info["test_accuracy"] <= 1
    assert model(train.images[:4])[1].shape == (4, 2)


def test_unlabeled_data_is_refused(digit_splits):
    with pytest.raises(CondganError, match="labeled"):
        fit_domain_classifier(ImageData(digit_splits["train"].images, None), epochs=1)


def test_random_translate_shifts_whole_images():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(domain_mod.random_translate(x, 0, gen), x)
    out = domain_mod.random_translate(x, 1, gen)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    for i in range(2):
        shifted = [padded[i, :, dy:dy + 5, dx:dx + 5] for dy in range(3) for dx in range(3)]
        assert any(torch.equal(out[i], s) for s in shifted)


# --------------------------------------------------------------------------- extract
def test_extract_in_batches_equals_one_pass(trained, digit_splits):
    extractor, _, _ = trained
    images = digit_splits["test"].images
    extractor.train()
    whole = extract(extractor, images, batch_size=len(images))
    assert extractor.training  # mode restored
    pieces = extract(extractor, images, batch_size=7)
    from_iterable = extract(extractor, ((images[i:i + 100], None) for i in range(0, len(images), 100)), batch_size=32)
    for out in (pieces, from_iterable):
        for k in ("features", "logits"):
            torch.testing.assert_close(out[k], whole[k], rtol=1e-5, atol=1e-5)
    assert set(extract(extractor, images[:5], keys=["features"])) == {"features"}
    assert [len(b["logits"]) for b in iter_extract(extractor, images[:10], batch_size=4)] == [4, 4, 2]
    empty = extract(extractor, images[:0])
    assert empty["features"].shape == (0, 128) and empty["logits"].shape == (0, 10)


def test_extract_rejects_non_images(trained):
    extractor, _, _ = trained
    with pytest.raises(CondganError, match="N×C×H×W"):
        extract(extractor, torch.zeros(4, 2))
    with pytest.raises(CondganError, match="no output"):
        extract(extractor, torch.zeros(2, 1, 8, 8), keys=["pool3"])


# --------------------------------------------------------------------------- inception
def test_fid_inception_architecture_matches_the_pytorch_fid_layout():
    net = FIDInceptionV3()
    # 27,161,264 (torchvision's documented count, aux head included) - 3,326,696 (aux head)
    # + 16,392 (1008 instead of 1000 classes)
    assert sum(p.numel() for p in net.parameters()) == inception_mod.NUM_PARAMETERS == 23_850_960
    state = net.state_dict()
    assert len(state) == 94 * 6 + 2  # 94 conv+BN units (weight + 5 BN tensors each) + fc
    expected = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_4a_3x3.bn.running_var": (192,),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
        "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
        "Mixed_7b.branch3x3_2b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch3x3dbl_3a.bn.weight": (384,),
        "fc.weight": (1008, 2048),
        "fc.bias": (1008,),
    }
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("AuxLogits") for k in state)


def test_inception_extractor_shapes_with_random_weights():
    extractor = InceptionExtractor(FIDInceptionV3(), id="inception-random").eval()
    out = extract(extractor, torch.rand(2, 1, 16, 16) * 2 - 1, batch_size=2)
    assert out["features"].shape == (2, 2048) and out["logits"].shape == (2, 1008)
    assert (out["features"] >= 0).all()  # average of ReLU outputs
    torch.testing.assert_close(out["logits"] - out["logits_unbiased"], extractor.net.fc.bias.expand(2, -1))
    assert extractor.num_features == 2048 and extractor.num_classes == 1008


def test_inception_weights_load_strictly(tmp_path, monkeypatch):
    path = tmp_path / "weights.pth"
    state = FIDInceptionV3().state_dict()
    torch.save(state, path)
    monkeypatch.setenv(inception_mod.WEIGHTS_ENV, str(path))
    extractor = build_extractor("inception", DIGITS)
    assert extractor.id == inception_mod.INCEPTION_ID and extractor.weights_path == str(path)
    torch.testing.assert_close(extractor.net.fc.weight, state["fc.weight"])
    state["fc.extra"] = state.pop("fc.bias")
    torch.save(state, path)
    with pytest.raises(CondganError, match="not the pytorch-fid Inception weights"):
        load_inception_extractor(path)


def test_missing_inception_weights_say_where_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(inception_mod.WEIGHTS_ENV, raising=False)
    with pytest.raises(CondganError) as err:
        build_extractor("inception", DIGITS)
    message = str(err.value)
    assert inception_mod.WEIGHTS_ENV in message and "is not set" in message
    assert inception_mod.WEIGHTS_URL in message and str(tmp_path / "cache") in message
    missing = tmp_path / "nowhere.pth"
    monkeypatch.setenv(inception_mod.WEIGHTS_ENV, str(missing))
    with pytest.raises(CondganError, match=str(missing)):
        load_inception_extractor()
    with pytest.raises(CondganError, match="argument"):
        load_inception_extractor(tmp_path / "also-missing.pth")
    with pytest.raises(CondganError, match=str(tmp_path / "other")):
        build_extractor("inception", DIGITS, cache_dir=tmp_path / "other")


def test_downloaded_weights_are_checked(tmp_path, monkeypatch):
    import condgan.data.download as download

    def fake_download(url, dest, sha256=None, md5=None):
        assert url == inception_mod.WEIGHTS_URL
        Path(dest).write_bytes(b"not the weights")
        return Path(dest)

    monkeypatch.setattr(download, "download_url", fake_download)
    dest = tmp_path / "w.pth"
    with pytest.raises(CondganError, match="SHA-256"):
        inception_mod.download_inception_weights(dest)
    assert not dest.exists()


def test_registry_lists_both_extractors():
    assert {"domain", "inception"} <= set(EXTRACTORS.names())
    with pytest.raises(CondganError, match="did you mean 'domain'"):
        build_extractor("domian", DIGITS)


# --------------------------------------------------------------------------- CLI
def test_cli_data_overrides():
    from condgan.cli.classifier import data_config_from_args

    cfg = data_config_from_args("fashion-mnist", ["data.image_size=32", "data.classes=[0, 1]"])
    assert (cfg.name, cfg.image_size, cfg.classes) == ("fashion-mnist", 32, [0, 1])
    with pytest.raises(CondganError, match="only takes data"):
        data_config_from_args("digits", ["train.steps=3"])
    with pytest.raises(CondganError, match="unknown config key"):
        data_config_from_args("digits", ["data.imagesize=3"])


def test_cli_trains_then_loads_from_cache(tmp_path, capsys):
    from condgan.cli.main import main

    argv = ["classifier", "train", "digits", "--set", "data.image_size=8", "--epochs", "2",
            "--cache-dir", str(tmp_path), "--quiet"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "test accuracy" in first and "trained in" in first and str(tmp_path) in first
    assert main(argv) == 0
    assert "loaded from cache" in capsys.readouterr().out
    assert main(["classifier", "train", "digits", "--set", "model.z_dim=3"]) == 2
    assert "only takes data" in capsys.readouterr().err
