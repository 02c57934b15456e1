"""Inputs a careless user gives, across the sub-commands and the Python API (issue 17's list):
each ends in one line `condgan: error: ...` with exit 2 (CLI) or one CondganError with the same
message (API), before anything is written or lost; inputs that used to be silently wrong are
refused or warned about; unclear messages say what to do.

Every case here failed on the code before it was written: a traceback (TypeError, AssertionError,
JSONDecodeError, ...), exit 0 with a wrong result, or a message pointing the wrong way."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from condgan import api
from condgan.errors import CondganError
from conftest import tiny_overrides
from test_cli import assert_one_line_error, run_main, sets

PRESET = "mnist5k-cagan"
SEED_2_63 = str(2**63)
SEED_2_64 = str(2**64)


@pytest.fixture(scope="module")
def run(tiny_run):
    """A tiny trained run (20 steps on 8×8 digits, checkpoints every 5): never modified."""
    return tiny_run


@pytest.fixture
def run_copy(run, tmp_path):
    """A copy of the tiny run a test may damage."""
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    return copy


def tiny_cfg(*extra):
    return api.load_config(PRESET, tiny_overrides(*extra))


no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


# ----------------------------------------------------------------------------- CLI: exit 2, one line
@pytest.mark.parametrize("argv, needles", [
    # seeds ≥ 2^63: a wrapped or overflowing torch seed
    (["train", PRESET, *sets(f"seed={SEED_2_63}", "train.steps=2"), "--out", "{tmp}/s"], ["'seed'", "2^63 - 1"]),
    (["train", PRESET, *sets(f"data.split_seed={SEED_2_64}", "train.steps=2"), "--out", "{tmp}/s"],
     ["'data.split_seed'", "2^63 - 1"]),
    (["sample", "{run}", "--seed", SEED_2_63, "--out", "{tmp}/s.png"], ["--seed", "2^63 - 1"]),
    (["sample", "{run}", "--seed", SEED_2_64, "--out", "{tmp}/s.png"], ["--seed", "2^63 - 1"]),
    (["evaluate", "{run}", "--seed", SEED_2_64, "--num-samples", "10"], ["--seed", "2^63 - 1"]),
    # silently wrong before
    (["train", PRESET, *sets("data.name=mnist5k", "data.root={tmp}", "train.steps=2"), "--out", "{tmp}/r"],
     ["data.root", "mnist5k", "ignored"]),
    (["train", PRESET, *sets("eval.every=5", "eval.best_metric=fdi", "train.steps=5"), "--out", "{tmp}/b"],
     ["eval.best_metric", "'fdi'", "did you mean 'fid'"]),
    (["train", PRESET, *sets("eval.every=5", "eval.best_metric=kid", "train.steps=5"), "--out", "{tmp}/b"],
     ["eval.best_metric", "'kid'", "eval.metrics"]),
    (["train", PRESET, *sets("eval.best_metric=fid", "train.steps=5"), "--out", "{tmp}/b"],
     ["eval.best_metric=fid", "eval.every"]),
    (["sample", "{run}", "--out", "{tmp}/x.jpg"], ["x.jpg", "PNG", ".png"]),
    (["evaluate", "{run}", "--standing-stats", "-1", "--num-samples", "10"], ["--standing-stats", "≥ 0", "-1"]),
    (["classifier", "train", "digits", "--set", "data.image_size=8", "--threads", "-1"], ["--threads", "-1"]),
    # unclear before
    (["evaluate", "{run}", "--checkpoint", "best", "--num-samples", "10"], ["best.pt", "eval.best_metric", "eval.every"]),
    (["sample", "{tmp}/regular_file", "--out", "{tmp}/s.png"], ["regular_file", "is a file, not a run directory"]),
    (["classifier", "train", "digits", "--set", "data.image_size=8", "--cache-dir", "{tmp}/regular_file"],
     ["--cache-dir", "regular_file", "not a directory"]),
])
def test_cli_bad_input_is_one_line(argv, needles, run, tmp_path, capsys):
    (tmp_path / "regular_file").write_text("not a directory")
    argv = [a.replace("{run}", str(run)).replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run_main(capsys, *argv)
    assert_one_line_error(code, err, *needles)
    # refused before any work: nothing written next to the inputs, nothing trained
    assert sorted(p.name for p in tmp_path.iterdir()) == ["regular_file"], "something was written"
    assert "epoch" not in err


@no_cuda
def test_evaluate_on_cuda_without_cuda_is_one_line(run, capsys):
    code, _, err = run_main(capsys, "evaluate", str(run), "--device", "cuda", "--num-samples", "10")
    assert_one_line_error(code, err, "cuda", "not available")


def test_resume_with_fewer_steps_than_done_is_refused(run_copy, capsys):
    before = (run_copy / "checkpoints" / "last.pt").read_bytes()
    code, _, err = run_main(capsys, "train", PRESET, "--out", str(run_copy), "--no-progress", *sets("train.steps=10"))
    assert_one_line_error(code, err, "already trained 20 steps", "train.steps=10", "train.steps ≥ 20")
    assert (run_copy / "checkpoints" / "last.pt").read_bytes() == before


def test_duplicate_keys_in_a_config_file_are_an_error(tmp_path, capsys):
    config = tmp_path / "dup.yaml"
    config.write_text("data: {name: digits, image_size: 8}\ntrain:\n  steps: 5\ntrain:\n  steps: 7\n")
    code, _, err = run_main(capsys, "train", str(config), "--out", str(tmp_path / "out"))
    assert_one_line_error(code, err, str(config), "key 'train' appears twice", "line 2 and line 4")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name, content, needles", [
    ("torn", None, None),  # what a kill leaves: dropped with a warning, the report is written
    ("garbage", b"\x00\xff\xfe not json \x89\n", ["metrics.jsonl", "line 1 is damaged"]),
])
def test_report_on_a_damaged_metrics_file(name, content, needles, run_copy, tmp_path, capsys):
    metrics = run_copy / "metrics.jsonl"
    data = metrics.read_bytes()
    metrics.write_bytes(data[:-9] if content is None else content + data)
    code, out, err = run_main(capsys, "report", str(run_copy), "--out", str(tmp_path / "r.md"))
    if needles is None:
        assert code == 0 and "warning" in err and "incomplete" in err and (tmp_path / "r.md").is_file()
    else:
        assert_one_line_error(code, err, *needles)


@pytest.mark.parametrize("where, content, needles", [
    ("eval.json", '{"metrics": {"fid": 1.0}, "num_sa', ["eval.json", "not valid JSON", "truncated"]),
    ("baseline.yaml", "metrics: {fid: 1}\n", ["--baseline", "baseline.yaml", "not valid JSON"]),
    ("baseline.json", "[1, 2]\n", ["--baseline", "baseline.json", "JSON list"]),
    ("baseline.json", '{"metric": {}}\n', ["--baseline", "no 'metrics'"]),
])
def test_report_on_a_bad_eval_json(where, content, needles, run_copy, tmp_path, capsys):
    path = (run_copy / where) if where == "eval.json" else (tmp_path / where)
    path.write_text(content)
    argv = ["report", str(run_copy), "--out", str(tmp_path / "r.md")]
    if where != "eval.json":
        argv += ["--baseline", str(path)]
    code, _, err = run_main(capsys, *argv)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "r.md").exists()


def test_garbage_files_get_no_unsafe_loading_advice(run_copy, tmp_path, capsys):
    """torch's and numpy's own messages advise `weights_only=False` / `allow_pickle`: unsafe,
    and beside the point for a damaged file."""
    (run_copy / "checkpoints" / "last.pt").write_bytes(b"garbage" * 100)
    (tmp_path / "w.pth").write_bytes(b"garbage" * 100)
    (tmp_path / "f.npz").write_bytes(b"garbage" * 100)
    cases = [
        (["sample", str(run_copy), "--out", str(tmp_path / "s.png")], "last.pt"),
        (["evaluate", str(run_copy), "--num-samples", "10"], "last.pt"),
    ]
    for argv, needle in cases:
        code, _, err = run_main(capsys, *argv)
        assert_one_line_error(code, err, needle, "damaged or not this kind of file")
        assert "weights_only" not in err and "allow_pickle" not in err and "arbitrary code" not in err
    from condgan.evaluation.fakes import load_fakes
    from condgan.features.inception import load_inception_extractor

    for load, needle in ((lambda: load_inception_extractor(tmp_path / "w.pth"), "w.pth"),
                         (lambda: load_fakes(tmp_path / "f.npz", (1, 8, 8), ["0", "1"]), "f.npz")):
        with pytest.raises(CondganError) as info:
            load()
        message = str(info.value)
        assert needle in message and "damaged or not this kind of file" in message
        assert "weights_only" not in message and "allow_pickle" not in message


# ----------------------------------------------------------------------------- API: one CondganError
@pytest.mark.parametrize("call, needles", [
    (lambda run: api.sample(run, seed=2**63, num=1), ["seed", "2^63 - 1"]),
    (lambda run: api.sample(run, seed=2**64, num=1), ["seed", "2^63 - 1"]),
    (lambda run: api.sample(run, num=2.5), ["num must be ≥ 1", "2.5"]),
    (lambda run: api.sample(run, classes=[1.5], num=1), ["classes", "1.5"]),
    (lambda run: api.sample(run, classes="12", num=1), ["classes", "'12'", "list"]),
    (lambda run: api.sample(run, num=1, out="grid.jpg"), ["grid.jpg", ".png"]),
    (lambda run: api.load_generator(run, checkpoint="middle"), ["checkpoint", "'middle'", "'last' or 'best'"]),
    (lambda run: api.load_generator(run, standing_stats=-1), ["standing_stats", "-1"]),
    (lambda run: api.evaluate_run(run, num_samples=10, metrics="fid"), ["metrics", "'fid'", "list"]),
    (lambda run: api.load_config(123), ["load_config", "123"]),
    (lambda run: api.load_config(PRESET, [None]), ["overrides", "None"]),
    (lambda run: api.load_config(PRESET, "train.steps=5"), ["overrides", "'train.steps=5'", "list"]),
])
def test_api_bad_input_is_one_condgan_error(call, needles, run):
    with pytest.raises(CondganError) as info:
        call(run)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)


@no_cuda
def test_api_load_generator_on_cuda_without_cuda(run):
    with pytest.raises(CondganError, match="not available"):
        api.load_generator(run, device="cuda")


def test_api_train_checks_its_arguments_before_any_work(tmp_path):
    cfg = tiny_cfg("train.steps=2")
    with pytest.raises(CondganError, match="output directory as a str or Path, got 12345"):
        api.train(cfg, 12345)
    with pytest.raises(CondganError, match="needs a Config"):
        api.train({"train": {"steps": 2}}, tmp_path / "d")
    cfg.train.g_lr = math.nan  # set by hand after load_config: validated again by api.train
    with pytest.raises(CondganError, match="'train.g_lr' must be > 0, got nan"):
        api.train(cfg, tmp_path / "nan")
    assert not (tmp_path / "nan").exists() and not (tmp_path / "d").exists()


# ----------------------------------------------------------------------------- warnings and messages
def test_tiny_images_are_upscaled_with_a_warning(tmp_path, capsys):
    from condgan.data import load_dataset
    from condgan.evaluation.fakes import load_fakes

    for c in range(2):
        (tmp_path / "data" / f"c{c}").mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((1, 1), 20 * i + 100 * c, np.uint8)).save(tmp_path / "data" / f"c{c}" / f"{i}.png")
    cfg = tiny_cfg("data.name=folder", f"data.root={tmp_path / 'data'}", "data.image_size=16")
    assert load_dataset(cfg.data, "train").images.shape[-1] == 16
    err = capsys.readouterr().err
    assert "warning" in err and "12 of 12 images" in err and "1 px" in err and "16×" in err
    np.savez(tmp_path / "f.npz", images=np.zeros((4, 2, 2), np.uint8))
    load_fakes(tmp_path / "f.npz", (1, 16, 16), ["0", "1"])
    assert "warning" in capsys.readouterr().err
    load_fakes(tmp_path / "data", (1, 16, 16), ["c0", "c1"])
    assert "warning" in capsys.readouterr().err


def test_knn_metrics_on_too_few_images_name_the_metric_and_the_fix():
    from condgan.metrics import METRICS, MetricInputs

    real, fake = torch.randn(3, 4), torch.randn(50, 4)
    with pytest.raises(CondganError) as info:
        METRICS.get("prdc")(MetricInputs(real_features=real, fake_features=fake))
    message = str(info.value)
    assert "prdc" in message and "3 real" in message and "--real-split train" in message


def test_unlabeled_data_points_to_the_evaluate_flag(tmp_path):
    from condgan.features.domain.fit import _check_labeled_images
    from condgan.data.base import ImageData

    with pytest.raises(CondganError) as info:
        _check_labeled_images(ImageData(torch.zeros(4, 1, 8, 8), None, []), "train")
    assert "--extractor inception" in str(info.value)
