"""The pinned domain classifiers shipped as package data: manifest and files agree, the recipe
is today's, the default options of the embedded data sets use them (and train nothing), a
damaged file is refused with one line, and a non-editable install carries them."""

from __future__ import annotations

import hashlib
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from condgan.cli.main import main
from condgan.config import DataConfig
from condgan.data import load_dataset
from condgan.features import build_extractor
from condgan.features.domain import (DOMAIN_CLASSIFIER_VERSION, NUM_FEATURES, WIDTH, ShippedClassifierError,
                                     default_schedule, find_shipped, fit_domain_classifier, load_shipped)
from condgan.features.domain import shipped as shipped_mod
from condgan.features.domain.fit import split_accuracy

REPO = Path(__file__).resolve().parents[1]
# The options each shipped classifier covers, and the least test accuracy it must have.
COVERED = {"mnist5k": (DataConfig(name="mnist5k"), 0.98),
           "fashion-mnist": (DataConfig(name="fashion-mnist"), 0.88),
           "digits": (DataConfig(name="digits", image_size=8), 0.97)}


def _manifest() -> dict:
    return shipped_mod.shipped_manifest()


@pytest.mark.parametrize("name", sorted(COVERED))
def test_manifest_and_files_agree_and_record_todays_recipe(name):
    entry = _manifest()["classifiers"][name]
    blob = (shipped_mod.WEIGHTS_DIR / entry["file"]).read_bytes()
    assert hashlib.sha256(blob).hexdigest() == entry["sha256"]
    assert len(blob) < 400_000  # float16 weights: small enough to ship
    # made with the recipe the code has today (a changed recipe must regenerate the files)
    assert entry["version"] == DOMAIN_CLASSIFIER_VERSION and entry["width"] == WIDTH
    assert entry["num_features"] == NUM_FEATURES and entry["seed"] == 0 and entry["threads"] == 1
    assert (entry["epochs"], entry["batch_size"]) == default_schedule(entry["train_size"], None, None)
    assert entry["lr"] == inspect.signature(fit_domain_classifier).parameters["lr"].default
    assert entry["test_accuracy"] >= COVERED[name][1]
    assert entry["torch"] and entry["command"].startswith("python scripts/make_shipped_classifiers.py")


def test_shipped_classifiers_cover_exactly_the_default_options():
    for name, (cfg, _) in COVERED.items():
        assert find_shipped(cfg)["file"] == f"{name}.safetensors"
    # the same published files found elsewhere are the same data
    assert find_shipped(DataConfig(name="fashion-mnist", root="/elsewhere/fashion-mnist")) is not None
    assert find_shipped(DataConfig(name="mnist5k"), seed=1) is None
    for other in (DataConfig(name="digits"),  # 28 px: not the shipped 8 px classifier
                  DataConfig(name="mnist5k", image_size=32), DataConfig(name="mnist5k", classes=[0, 1]),
                  DataConfig(name="mnist5k", attributes=["even"]), DataConfig(name="mnist5k", test_fraction=0.2),
                  DataConfig(name="mnist5k", channels=3), DataConfig(name="folder", root="x")):
        assert find_shipped(other) is None, other


def test_domain_extractor_loads_the_shipped_weights_and_trains_nothing(tmp_path):
    ext = build_extractor("domain", DataConfig(name="mnist5k"), cache_dir=tmp_path)
    entry = _manifest()["classifiers"]["mnist5k"]
    assert ext.source == "shipped" and ext.weights_sha256 == entry["sha256"]
    assert ext.id == f"domain-shipped-mnist5k-{entry['sha256'][:16]}"
    assert ext.test_accuracy == entry["test_accuracy"] and ext.info["class_names"] == [str(i) for i in range(10)]
    assert not any(tmp_path.iterdir())  # no classifier trained or cached


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_shipped_accuracy_is_reproduced_on_the_test_split(name):
    """The recorded accuracy is that of the stored (float16) weights; another CPU may flip the
    argmax of an ambiguous image, hence one image of slack."""
    cfg, _ = COVERED[name]
    entry = find_shipped(cfg)
    test = load_dataset(cfg, "test")
    acc = split_accuracy(load_shipped(entry).model, test)
    assert abs(acc - entry["test_accuracy"]) <= 1.0 / len(test) + 1e-9


def _damaged_copy(tmp_path, damage) -> Path:
    copy = tmp_path / "weights"
    shutil.copytree(shipped_mod.WEIGHTS_DIR, copy)
    path = copy / "digits.safetensors"
    path.write_bytes(damage(path.read_bytes()))
    return copy


def _flip_one_byte(blob: bytes) -> bytes:
    i = len(blob) // 2
    return blob[:i] + bytes([blob[i] ^ 0x01]) + blob[i + 1:]


@pytest.mark.parametrize("damage", [_flip_one_byte, lambda blob: blob[: len(blob) - 100]], ids=["flipped", "truncated"])
def test_a_damaged_shipped_file_is_refused(tmp_path, damage):
    weights = _damaged_copy(tmp_path, damage)
    with pytest.raises(ShippedClassifierError, match="fails its SHA-256 check"):
        load_shipped(find_shipped(COVERED["digits"][0]), weights_dir=weights)


def test_a_tampered_file_stops_evaluate_with_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shipped_mod, "WEIGHTS_DIR", _damaged_copy(tmp_path, _flip_one_byte))
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    code = main(["evaluate", "--baseline", "--data", "digits", "--set", "data.image_size=8", "--num-samples", "50",
                 "--metrics", "fid", "--out", str(tmp_path / "b.json")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith("condgan: error: shipped domain classifier") and "fails its SHA-256 check" in err
    assert "digits.safetensors" in err and "reinstall condgan" in err
    assert not (tmp_path / "b.json").exists()


def test_a_missing_shipped_file_says_reinstall(tmp_path):
    weights = _damaged_copy(tmp_path, lambda blob: blob)
    (weights / "digits.safetensors").unlink()
    with pytest.raises(ShippedClassifierError, match="cannot be read.*reinstall condgan"):
        load_shipped(find_shipped(COVERED["digits"][0]), weights_dir=weights)


def test_a_non_editable_install_carries_the_weights(tmp_path):
    """Build the wheel (`pip install .` installs the same files) offline and load every shipped
    classifier from an installation of it, outside the source tree."""
    pytest.importorskip("setuptools", reason="building the wheel offline needs setuptools in the environment")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "condgan", src / "condgan", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["wheel", str(src), "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist")],
                   check=True, capture_output=True, cwd=src)
    wheel = next((tmp_path / "dist").glob("condgan-*.whl"))
    subprocess.run(pip + ["install", "--no-deps", "--no-index", "--target", str(tmp_path / "site"), str(wheel)],
                   check=True, capture_output=True)
    check = ("import condgan, sys\n"
             "from condgan.features.domain import shipped\n"
             "assert condgan.__file__.startswith(sys.argv[1]), condgan.__file__\n"
             "for name, entry in shipped.shipped_manifest()['classifiers'].items():\n"
             "    print(name, shipped.load_shipped(entry).weights_sha256)\n")
    proc = subprocess.run([sys.executable, "-c", check, str(tmp_path / "site")], capture_output=True, text=True,
                          cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    loaded = dict(line.split() for line in proc.stdout.splitlines())
    assert loaded == {name: entry["sha256"] for name, entry in _manifest()["classifiers"].items()}


def test_classifier_train_still_trains_locally_and_says_evaluation_uses_the_shipped_one(tmp_path, capsys):
    assert main(["classifier", "train", "digits", "--set", "data.image_size=8", "--epochs", "1", "--quiet",
                 "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "trained in" in out and list((tmp_path / "domain_classifier").glob("digits-*.safetensors"))
    assert "scores these data options with the shipped classifier domain-shipped-digits-" in out
    assert "--extractor domain-trained" in out
    # options no shipped classifier covers: no such note
    assert main(["classifier", "train", "digits", "--set", "data.image_size=12", "--epochs", "1", "--quiet",
                 "--cache-dir", str(tmp_path)]) == 0
    assert "shipped" not in capsys.readouterr().out


def test_domain_trained_extractor_ignores_the_shipped_weights(tmp_path, monkeypatch):
    monkeypatch.setattr("condgan.features.domain.fit.TARGET_STEPS", 2)  # the minimum, 3 epochs
    ext = build_extractor("domain-trained", COVERED["digits"][0], cache_dir=tmp_path, log=None)
    assert ext.source in ("trained", "cache") and ext.id.startswith("domain-v")
    assert ext.weights_sha256 != find_shipped(COVERED["digits"][0])["sha256"]
