"""Checksums of what condgan writes (condgan.integrity): a checkpoint damaged after it was written
is refused with one line wherever it is read (sample, evaluate, resume, the API), and a damaged
real-reference cache is rebuilt with a warning instead of crashing or scoring garbage."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors import safe_open
from torch import nn

from condgan import api
from condgan.errors import CondganError
from condgan.integrity import DIGEST_KEY, state_digest, tensors_digest
from condgan.training.checkpoint import load_checkpoint, save_checkpoint
from test_cli import assert_one_line_error, run_main, sets

PRESET = "mnist5k-cagan"


@pytest.fixture(scope="module")
def run(tiny_run):
    return tiny_run  # 20 steps, not modified by these tests


@pytest.fixture
def damaged(run, tmp_path):
    """A copy of the run whose last.pt has ~1,000 EMA generator weights bit-flipped (re-saved with
    torch.save, so the file itself is a perfectly readable checkpoint)."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    last = copy / "checkpoints" / "last.pt"
    state = torch.load(last, weights_only=True)
    flipped = 0
    for tensor in state["generator_ema"].values():
        if tensor.is_floating_point() and flipped < 1000:
            n = min(tensor.numel(), 1000 - flipped)
            tensor.view(-1)[:n].view(torch.int32).bitwise_xor_(1 << 22)
            flipped += n
    assert flipped == 1000
    torch.save(state, last)
    return copy


def test_checkpoints_carry_a_digest_of_their_content(run):
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    assert state[DIGEST_KEY]["sha256"] == state_digest(state)


def test_a_bit_flipped_checkpoint_is_refused_everywhere(damaged, tmp_path, capsys):
    last = damaged / "checkpoints" / "last.pt"
    before = last.read_bytes()
    for argv in (["sample", str(damaged), "--out", str(tmp_path / "s.png")],
                 ["evaluate", str(damaged), "--num-samples", "10", "--out", str(tmp_path / "e.json")],
                 ["train", PRESET, "--out", str(damaged), "--no-progress", *sets("train.steps=30")]):
        code, _, err = run_main(capsys, *argv)
        assert_one_line_error(code, err, str(last), "is damaged", "SHA-256")
    with pytest.raises(CondganError, match="is damaged"):
        api.load_generator(damaged)
    assert last.read_bytes() == before and not (tmp_path / "s.png").exists()


def test_flipped_bytes_in_the_file_are_refused(run, tmp_path):
    data = bytearray((run / "checkpoints" / "last.pt").read_bytes())
    for offset in range(len(data) // 3, len(data) // 3 + 4000, 4):  # inside the tensor storages
        data[offset] ^= 0x10
    path = tmp_path / "last.pt"
    path.write_bytes(bytes(data))
    with pytest.raises(CondganError, match="is damaged|cannot be read"):
        load_checkpoint(path)


def test_a_checkpoint_without_a_digest_still_loads(run, tmp_path):
    """Written before condgan checksummed checkpoints: nothing to check, so it loads."""
    state = load_checkpoint(run / "checkpoints" / "last.pt")
    del state[DIGEST_KEY]
    torch.save(state, tmp_path / "old.pt")
    assert load_checkpoint(tmp_path / "old.pt")["step"] == 20
    save_checkpoint(tmp_path / "new.pt", state)  # and saving adds it again
    assert DIGEST_KEY in torch.load(tmp_path / "new.pt", weights_only=True)


def test_the_digest_covers_values_keys_and_types():
    base = {"step": 3, "w": torch.arange(4.0), "cfg": {"lr": 0.1, "names": ["a", "b"]}}
    digest = state_digest(base)
    for changed in ({**base, "step": 4}, {**base, "w": torch.arange(4.0).double()},
                    {**base, "w": torch.tensor([0.0, 1.0, 2.0, 3.5])}, {**base, "cfg": {"lr": 0.1, "names": ["b", "a"]}},
                    {"stepp": 3, "w": base["w"], "cfg": base["cfg"]}):
        assert state_digest(changed) != digest
    assert state_digest({**base, DIGEST_KEY: "anything"}) == digest


# ----------------------------------------------------------------------------- reference caches
class TinyExtractor(nn.Module):
    """A fixed random projection: enough to exercise the cache without a trained classifier."""

    id = "tiny-projection-v1"
    num_features = 6
    num_classes = 10

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(64, 16)
        torch.nn.init.normal_(self.proj.weight, generator=torch.Generator().manual_seed(0))

    def forward(self, x):
        h = self.proj(x.flatten(1))
        return {"features": h[:, :6], "logits": h[:, 6:]}


def _flip_labels(path):
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors["labels"][:5] = (tensors["labels"][:5] + 1) % 10
    save_file(tensors, str(path), metadata=meta)  # the old checksum


def _flip_feature_bytes(path):
    data = bytearray(path.read_bytes())
    for offset in range(len(data) - 400, len(data) - 40, 8):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _huge_header(path):
    data = bytearray(path.read_bytes())
    data[:8] = (2**62).to_bytes(8, "little")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),  # truncated
    lambda p: p.write_bytes(b""),                                      # empty
    _flip_labels,
    _flip_feature_bytes,
    _huge_header,
    lambda p: p.write_bytes(b"\x00" * 64),
], ids=["truncated", "empty", "labels", "features", "header", "zeros"])
def test_a_damaged_reference_cache_is_rebuilt_with_a_warning(damage, tmp_path, capsys):
    from condgan.config import DataConfig
    from condgan.evaluation.reference import real_reference

    cfg, extractor = DataConfig(name="digits", image_size=8), TinyExtractor()
    first = real_reference(cfg, extractor, "test", cache_dir=tmp_path)
    (path,) = (tmp_path / "reference").iterdir()
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["condgan"])
    assert meta["sha256"] == tensors_digest({"features": first.features, "logits": first.logits,
                                             "labels": first.labels})
    assert "warning" not in capsys.readouterr().err
    damage(path)
    again = real_reference(cfg, extractor, "test", cache_dir=tmp_path)
    err = capsys.readouterr().err
    assert "warning" in err and "real-reference cache" in err and "rebuilding" in err
    assert torch.equal(again.features, first.features) and torch.equal(again.labels, first.labels)
    real_reference(cfg, extractor, "test", cache_dir=tmp_path)  # rebuilt: read silently from now on
    assert capsys.readouterr().err == ""
