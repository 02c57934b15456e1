"""End to end: `condgan evaluate` on a trained run, evaluation during training, reports."""

from __future__ import annotations

import json

import pytest

from condgan.cli.main import main
from condgan.config import load_config
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
    rc = main(["evaluate", str(run), "--num-samples", "300", "--out", str(out), *extra])
    assert rc == 0, capsys.readouterr().err
    return json.loads(out.read_text())


def test_evaluate_writes_every_metric_and_is_deterministic(trained_run, tmp_path, capsys):
    a = _evaluate(trained_run, tmp_path / "a.json", capsys)
    printed = capsys.readouterr().out
    b = _evaluate(trained_run, tmp_path / "b.json", capsys)
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    for key in ("fid", "kid", "is", "am_score", "precision", "recall", "density", "coverage",
                "intra_fid", "conditional_accuracy", "class_tv", "intra_ssim"):
        assert key in a["metrics"], key
        assert f"\n{key} " in printed or printed.startswith(key) or key.startswith("intra_fid")
    assert a["num_samples"] == 300 and a["real_split"] == "test" and a["step"] == 20
    assert a["extractor"].startswith("domain-") and 0.5 < a["extractor_test_accuracy"] <= 1
    assert set(DEFAULT_METRICS) >= {"fid", "prdc"}


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
