"""`condgan cluster` and the CLI sequence of a self-labeling run: train → sample → cluster →
evaluate (tiny widths, few steps)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.cli.main import main

TINY_CGP = ["--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "model.q_width=8",
            "--set", "model.z_dim=8", "--set", "train.batch_size=16", "--set", "train.threads=1",
            "--set", "train.steps=4", "--set", "train.sample_every=0", "--set", "train.standing_stats=2"]


@pytest.fixture(scope="module")
def cgp_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("cgp") / "R"
    assert main(["train", "mnist5k-cgpgan", *TINY_CGP, "--out", str(run)]) == 0
    return run


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_train_sample_cluster_evaluate(cgp_run, tmp_path, capsys):
    from condgan.validation import load_config
    from condgan.data import load_dataset

    assert main(["sample", str(cgp_run), "--num", "3", "--out", str(tmp_path / "g.png")]) == 0
    assert Image.open(tmp_path / "g.png").size == (10 * 30 + 2, 3 * 30 + 2)  # 10 categories × 3 latents
    assert main(["cluster", str(cgp_run), "--out", str(tmp_path / "c.csv")]) == 0
    rows = read_csv(tmp_path / "c.csv")
    test = load_dataset(load_config("mnist5k-cgpgan").data, "test")
    assert rows[0][:4] == ["index", "label", "category", "confidence"] and len(rows[0]) == 4 + 10
    assert len(rows) - 1 == len(test)
    probs = np.array([[float(v) for v in r[4:]] for r in rows[1:]])
    assert np.allclose(probs.sum(1), 1, atol=1e-4)
    assert [int(r[2]) for r in rows[1:]] == probs.argmax(1).tolist()
    summary = json.loads((tmp_path / "c.json").read_text())
    assert {"cluster_acc", "cluster_nmi", "cluster_ari"} <= summary.keys() and summary["images"] == len(test)
    non_empty = [k for k, n in enumerate(summary["counts"]) if n]
    assert sorted(p.name for p in (tmp_path / "c_grids").iterdir()) == sorted(f"category_{k}.png" for k in non_empty)
    assert "cluster_acc" in capsys.readouterr().out
    assert main(["evaluate", str(cgp_run), "--num-samples", "50", "--metrics", "fid,clustering",
                 "--out", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    metrics = result["metrics"]
    assert {"fid", "cluster_acc", "cluster_nmi", "cluster_ari"} <= metrics.keys()
    assert metrics["cluster_acc"] == pytest.approx(summary["cluster_acc"], abs=1e-9)  # same Q, same test images
    assert result["category_prior"] == "learned"
    assert main(["evaluate", str(cgp_run), "--num-samples", "50", "--metrics", "fid", "--category-prior", "uniform",
                 "--out", str(tmp_path / "u.json")]) == 0
    uniform = json.loads((tmp_path / "u.json").read_text())
    assert uniform["category_prior"] == "uniform"


def _write_images(directory, n, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        size = (20 + 4 * i, 28)  # non-square, resized and center-cropped like the folder source
        mode = "RGB" if i % 2 else "L"
        shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(directory / f"img{i}.png")


def test_cluster_a_flat_folder_with_a_corrupt_file(cgp_run, tmp_path, capsys):
    folder = tmp_path / "mine"
    _write_images(folder, 4)
    _write_images(folder / "more", 2, seed=1)  # found recursively
    (folder / "broken.png").write_bytes(b"not a png at all")
    (folder / "notes.txt").write_text("ignored: not an image")
    assert main(["cluster", str(cgp_run), "--data-root", str(folder), "--out", str(tmp_path / "f.csv")]) == 0
    rows = read_csv(tmp_path / "f.csv")
    assert rows[0][:3] == ["path", "category", "confidence"]  # no labels in a flat folder
    assert len(rows) - 1 == 6 and not any("broken" in r[0] for r in rows[1:])
    err = capsys.readouterr().err
    assert "broken.png" in err
    assert "broken.png" in (tmp_path / "f.unreadable.txt").read_text()
    summary = json.loads((tmp_path / "f.json").read_text())
    assert "cluster_acc" not in summary and summary["unreadable"][0].endswith("broken.png")


def test_cluster_class_folders_give_metrics(cgp_run, tmp_path):
    _write_images(tmp_path / "lab" / "a", 3)
    _write_images(tmp_path / "lab" / "b", 3, seed=2)
    assert main(["cluster", str(cgp_run), "--data-root", str(tmp_path / "lab"), "--out", str(tmp_path / "l.csv")]) == 0
    rows = read_csv(tmp_path / "l.csv")
    assert [r[1] for r in rows[1:]] == ["a"] * 3 + ["b"] * 3
    summary = json.loads((tmp_path / "l.json").read_text())
    assert 0.5 <= summary["cluster_acc"] <= 1  # 2 balanced classes: Hungarian ACC ≥ 1/2


def test_cluster_errors(cgp_run, tmp_path, capsys):
    from test_training import train

    (tmp_path / "empty").mkdir()
    assert main(["cluster", str(cgp_run), "--data-root", str(tmp_path / "empty"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "no images found" in capsys.readouterr().err
    _write_images(tmp_path / "bad", 0)
    (tmp_path / "bad" / "a.png").write_bytes(b"junk")
    assert main(["cluster", str(cgp_run), "--data-root", str(tmp_path / "bad"), "--out", str(tmp_path / "x.csv")]) == 2
    assert "could be read" in capsys.readouterr().err
    train(tmp_path / "pre", "train.steps=1")  # predefined labels: no category predictor
    assert main(["cluster", str(tmp_path / "pre"), "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("condgan: error:") and "no category predictor" in err and err.count("\n") == 1
    assert not (tmp_path / "x.csv").exists()


def test_cgpgan_prior_is_logged(cgp_run):
    records = [json.loads(line) for line in (cgp_run / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in records if "d_loss" in r][-1]
    prior = [last[f"prior_g0_{c}"] for c in range(10)]
    assert sum(prior) == pytest.approx(1.0, abs=1e-5)
    assert torch.tensor(prior).min() > 0


@pytest.fixture(scope="module")
def cgp_run_batch_coupled_d(tmp_path_factory):
    """A CGPGAN run whose D has the minibatch standard-deviation channel and batch norm."""
    run = tmp_path_factory.mktemp("cgp_mbstd") / "R"
    assert main(["train", "mnist5k-cgpgan", *TINY_CGP, "--set", "model.d_minibatch_std=4",
                 "--set", "model.d_norm=batch", "--set", "train.steps=2", "--out", str(run)]) == 0
    return run


def test_q_leaves_out_ds_batch_coupled_layers(cgp_run_batch_coupled_d):
    from condgan.nets.layers import MinibatchStdDev
    from condgan.training.checkpoint import load_checkpoint
    from condgan.training.labeling import build_classifier
    from condgan.training.restore import load_generator

    state = load_checkpoint(cgp_run_batch_coupled_d / "checkpoints" / "last.pt")
    assert any("running_mean" in k for k in state["discriminator"])  # D has batch norm
    assert not any("running_mean" in k for k in state["labeling"]["q"])  # Q has none
    trained = load_generator(cgp_run_batch_coupled_d)
    q = build_classifier(trained.cfg, trained.info.sample_shape, 10)
    assert not any(isinstance(m, (MinibatchStdDev, torch.nn.BatchNorm2d)) for m in q.modules())


def test_cluster_gives_an_image_the_same_category_alone_and_in_a_batch(cgp_run_batch_coupled_d, tmp_path):
    """`condgan cluster` on one image and on a folder of 64 images that contains it: the same
    category and probabilities (Q once inherited D's minibatch-stddev channel)."""
    from condgan.validation import load_config
    from condgan.data import load_dataset

    data = load_dataset(load_config("mnist5k-cgpgan", []).data, "test")
    many, one = tmp_path / "many", tmp_path / "one"
    many.mkdir()
    one.mkdir()
    for i in range(64):
        arr = ((data.images[i, 0].numpy() + 1) * 127.5).round().astype(np.uint8)
        Image.fromarray(arr, "L").save(many / f"img{i:02d}.png")
    (one / "img07.png").write_bytes((many / "img07.png").read_bytes())
    for folder in (many, one):
        assert main(["cluster", str(cgp_run_batch_coupled_d), "--data-root", str(folder),
                     "--out", str(tmp_path / f"{folder.name}.csv")]) == 0
    rows_many = {r[0].rsplit("/", 1)[-1]: r[1:] for r in read_csv(tmp_path / "many.csv")[1:]}
    row_one = read_csv(tmp_path / "one.csv")[1]
    alone, in_batch = [float(v) for v in row_one[2:]], [float(v) for v in rows_many["img07.png"][1:]]
    assert row_one[1] == rows_many["img07.png"][0]  # category
    assert alone == pytest.approx(in_batch, abs=1e-6)  # confidence and p_0..p_9
    # the predictor itself: every image alone equals the batch of 64
    from condgan.training.restore import load_generator

    trained = load_generator(cgp_run_batch_coupled_d)
    x = data.images[:64]
    together = trained.category_probabilities(x)
    apart = torch.cat([trained.category_probabilities(x[i:i + 1]) for i in range(64)])
    assert torch.allclose(together, apart, atol=1e-6)


@pytest.mark.parametrize("mode", [["model.labeling=dynamic", "model.conditioning=ac"],
                                  ["model.labeling=infogan", "model.conditioning=none", "data.unlabeled=true"]])
def test_modes_that_read_categories_from_d_refuse_its_minibatch_stddev(tiny_config, mode):
    from condgan.errors import CondganError

    with pytest.raises(CondganError, match="model.d_minibatch_std=4 makes D's output"):
        tiny_config(*mode, "model.d_minibatch_std=4")
    tiny_config(*mode, "model.d_norm=batch")  # batch norm is per sample in eval mode


def test_evaluation_draws_categories_from_the_learned_prior(cgp_run, tmp_path):
    """Evaluating a CGPGAN run (the generator called without a condition) draws each fake's
    category from the prior P(C) the run learned (seed 000 §2), not uniformly; uniform stays an
    option. Here the checkpoint's prior puts all mass on category 3."""
    import shutil

    from condgan.evaluation.sources import category_requests
    from condgan.training.checkpoint import load_checkpoint, save_checkpoint
    from condgan.training.restore import load_generator

    run = tmp_path / "R"
    shutil.copytree(cgp_run, run)
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    state["labeling"]["prior"] = torch.zeros(1, 10)
    state["labeling"]["prior"][0, 3] = 1.0
    save_checkpoint(run / "checkpoints" / "last.pt", state)
    seen = {}
    for how in ("learned", "uniform"):
        trained = load_generator(run, category_prior=how)
        recorder = _Recorder(trained.generator.generator)
        trained.generator.generator = recorder
        trained.generator(torch.randn(20, trained.cfg.model.z_dim), None)
        seen[how] = recorder.conditions[-1].argmax(1).tolist()
        assert ("learned prior" if how == "learned" else "equally often") in category_requests(trained)
    assert seen["learned"] == [3] * 20
    assert seen["uniform"] == [i % 10 for i in range(20)]


class _Recorder(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.conditions = inner, []

    def forward(self, z, cnd):
        self.conditions.append(cnd)
        return self.inner(z, cnd)
