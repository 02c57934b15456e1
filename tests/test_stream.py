"""Streaming folder data (data.stream): the automatic choice by decoded size; the streamed
batches equal the in-memory batches (so training is identical); a streamed run resumed mid-epoch
equals an uninterrupted one (the checkpoint records the consumed position, not the prefetched)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.validation import load_config
from condgan.data import load_dataset
from condgan.data.folder import FileImages
from condgan.data.sampler import BatchSampler
from condgan.data.stream import InMemoryBatches, RealBatches, StreamedBatches
from condgan.errors import CondganError
from condgan.training.trainer import Trainer
from conftest import tiny_overrides


@pytest.fixture
def folder(tmp_path):
    """3 classes × 12 RGB JPEGs of 12×10 px (resized and cropped to 8 px on loading)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    for k in range(3):
        (root / f"class{k}").mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"class{k}" / f"{i}.jpg", quality=90)
    return root


def data_config(folder, *extra):
    return load_config({}, tiny_overrides("data.name=folder", f"data.root={folder}", "train.batch_size=8", "train.threads=1",
                                          *extra))


def test_auto_streams_by_decoded_size(folder):
    cfg = data_config(folder).data
    # 33 training images × 3 × 8 × 8 × 4 bytes = 25 KiB.
    assert isinstance(load_dataset(cfg, "train").images, torch.Tensor)  # others never stream
    assert isinstance(load_dataset(cfg, "train", allow_stream=True).images, torch.Tensor)
    small = cfg.__class__(**{**cfg.__dict__, "stream_threshold_mb": 0.02})
    assert isinstance(load_dataset(small, "train", allow_stream=True).images, FileImages)
    forced = cfg.__class__(**{**cfg.__dict__, "stream": "true"})
    assert isinstance(load_dataset(forced, "train", allow_stream=True).images, FileImages)
    assert data_config(folder, "data.stream=false").data.stream == "false"   # YAML booleans are accepted
    with pytest.raises(CondganError, match="data.stream.*choose one of: auto, true, false"):
        data_config(folder, "data.stream=sometimes")


@pytest.mark.parametrize("workers", [0, 2])
def test_streamed_batches_equal_in_memory_batches(folder, workers):
    cfg = data_config(folder, "data.stream=true").data
    streamed = load_dataset(cfg, "train", allow_stream=True)
    memory = load_dataset(cfg, "train")
    sampler = lambda: BatchSampler(len(memory), 8, torch.Generator().manual_seed(1))  # noqa: E731
    a = RealBatches.of(streamed.images, sampler(), torch.device("cpu"), workers)
    b = RealBatches.of(memory.images, sampler(), torch.device("cpu"))
    assert isinstance(a, StreamedBatches) and isinstance(b, InMemoryBatches)
    for _ in range(10):  # 2.5 epochs of 4 batches
        (xa, ia), (xb, ib) = a.next(), b.next()
        assert torch.equal(ia, ib) and torch.equal(xa, xb)
    # The consumed position, not the prefetched one, is the state.
    assert a.state_dict()["pos"] == b.state_dict()["pos"] and a.state_dict()["epoch"] == b.state_dict()["epoch"] == 3
    a.close()


def test_streamed_training_equals_in_memory_and_resumes(folder, tmp_path):
    common = ["train.steps=6", "train.checkpoint_every=3", "train.log_every=3", "data.stream_workers=1"]
    runs = {}
    for name, extra in (("memory", ["data.stream=false"]), ("stream", ["data.stream=true"])):
        trainer = Trainer(data_config(folder, *common, *extra), tmp_path / name, progress=False)
        trainer.train()
        runs[name] = trainer.D.state_dict()
    # Interrupted after step 3 (mid-epoch: 4 batches per epoch), then resumed to 6.
    first = Trainer(data_config(folder, *common, "data.stream=true", "train.steps=3"), tmp_path / "resumed",
                    progress=False)
    first.train()
    resumed = Trainer(data_config(folder, *common, "data.stream=true"), tmp_path / "resumed", progress=False)
    resumed.train()
    for key in runs["memory"]:
        assert torch.equal(runs["memory"][key], runs["stream"][key]), key
        assert torch.equal(runs["stream"][key], resumed.D.state_dict()[key]), key
