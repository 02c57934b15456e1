"""The Python API page: docs/api.md's example runs as written, and `condgan.api` behaves as
documented (same images as the CLI, errors as CondganError)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from condgan import api
from condgan.cli.main import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """Run the docs/api.md example in an empty directory; return (directory, its globals).

    The domain classifier is cached in $CONDGAN_CACHE when set (the test command sets it, so it is
    trained once across sessions), else in a temporary directory."""
    work = tmp_path_factory.mktemp("api_example")
    old_cwd, old_cache = os.getcwd(), os.environ.get("CONDGAN_CACHE")
    if not old_cache:
        os.environ["CONDGAN_CACHE"] = str(work / "cache")
    os.chdir(work)
    try:
        namespace: dict = {"__name__": "__docs_example__"}
        for block in python_blocks(DOC.read_text()):
            exec(compile(block, str(DOC), "exec"), namespace)
    finally:
        os.chdir(old_cwd)
        if not old_cache:
            del os.environ["CONDGAN_CACHE"]
    return work, namespace


def test_doc_has_one_runnable_example():
    blocks = python_blocks(DOC.read_text())
    assert len(blocks) == 1
    for call in ("load_config", "train", "load_generator", "sample", "evaluate_run"):
        assert f"api.{call}(" in blocks[0], call


def test_every_api_name_in_the_doc_exists():
    names = set(re.findall(r"\bapi\.([A-Za-z_]\w*)", DOC.read_text()))
    assert names and not names - set(api.__all__), names - set(api.__all__)
    for name in api.__all__:
        assert hasattr(api, name), name


def test_example_trains_samples_and_evaluates(example):
    work, ns = example
    assert (work / "runs" / "tiny" / "checkpoints" / "last.pt").is_file()
    assert ns["result"].step == 20
    images = ns["images"]
    assert images.shape == (18, 1, 8, 8) and images.min() >= -1 and images.max() <= 1
    png = (work / "grid.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    report = ns["report"]
    assert set(report["metrics"]) == {"fid", "conditional_accuracy"}
    assert report["num_samples"] == 200 and report["extractor"].startswith("domain-")


def test_api_sample_matches_the_cli(example, capsys):
    work, ns = example
    cli_png = work / "cli.png"
    argv = ["sample", str(work / "runs" / "tiny"), "--num", "6", "--seed", "1", "--truncation", "0.5",
            "--out", str(cli_png)]
    for c in (0, 1, 7):
        argv += ["--class", str(c)]
    assert main(argv) == 0, capsys.readouterr().err
    assert cli_png.read_bytes() == (work / "grid.png").read_bytes()


def test_api_sample_seed_truncation_and_run_dir(example, tmp_path):
    work, ns = example
    trained = ns["trained"]
    a = api.sample(trained, classes=[2], num=3, seed=5, truncation=0.7)
    assert torch.equal(a, api.sample(work / "runs" / "tiny", classes=[2], num=3, seed=5, truncation=0.7))
    assert not torch.equal(a, api.sample(trained, classes=[2], num=3, seed=5))
    assert not torch.equal(a, api.sample(trained, classes=[2], num=3, seed=6, truncation=0.7))
    everything = api.sample(trained, num=2, seed=5, out=tmp_path / "all.png")
    assert everything.shape[0] == 20 and (tmp_path / "all.png").is_file()


@pytest.mark.parametrize("kwargs, needle", [
    ({"classes": [10]}, "class 10 is out of range"),
    ({"classes": [-1]}, "class -1 is out of range"),
    ({"classes": []}, "classes is empty"),
    ({"num": 0}, "num must be ≥ 1"),
    ({"truncation": -0.5}, "truncation"),
])
def test_api_sample_errors(example, kwargs, needle):
    _, ns = example
    with pytest.raises(api.CondganError, match=needle):
        api.sample(ns["trained"], **kwargs)


def test_train_refuses_a_different_config_in_the_same_directory(example, tiny_config):
    work, _ = example
    with pytest.raises(api.CondganError, match="different config"):
        api.train(tiny_config("model.conditioning=pd"), work / "runs" / "tiny")
