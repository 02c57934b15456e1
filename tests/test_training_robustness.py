"""Training on the paths that go wrong in practice: unlabeled data, resumes after kills and
config changes, two processes on one run directory, full disks and unwritable outputs, damaged
run files, and feedback when stderr is not a terminal. Every failure ends in one line
`condgan: error: ...` (exit 2) that names the file or key."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from condgan.cli.main import main
from condgan.validation import load_config
from condgan.errors import CondganError
from condgan.training.checkpoint import load_checkpoint, save_checkpoint
from condgan.training.trainer import Trainer
from conftest import tiny_overrides
from test_cli import assert_one_line_error, run_main, sets
from test_training import loss_records, nan_d_loss, train

REPO = Path(__file__).resolve().parents[1]


def train_cli(capsys, out, *extra, progress=False):
    argv = ["train", "mnist5k-cagan", "--out", str(out), *sets(*extra)]
    return run_main(capsys, *argv, *([] if progress else ["--no-progress"]))


# ------------------------------------------------------------------ unlabeled data
@pytest.fixture(scope="module")
def flat_dir(tmp_path_factory):
    """A flat folder of small PNGs: the `folder` source reads it as unlabeled data."""
    root = tmp_path_factory.mktemp("flat")
    rng = np.random.default_rng(0)
    for i in range(36):
        Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(root / f"{i:03d}.png")
    return root


UNLABELED = ["data.name=folder", "model.conditioning=none"]


def test_unlabeled_folder_trains_and_samples(tmp_path, capsys, flat_dir):
    run = tmp_path / "run"
    code, out, err = train_cli(capsys, run, *UNLABELED, f"data.root={flat_dir}", "model.g_conditioning=none",
                               "train.steps=10")
    assert code == 0, err
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 10
    code, out, err = run_main(capsys, "sample", str(run), "--out", str(tmp_path / "g.png"))
    assert code == 0, err
    assert (tmp_path / "g.png").stat().st_size > 0


def test_unlabeled_with_conditioned_generator_is_one_line(tmp_path, capsys, flat_dir):
    run = tmp_path / "run"
    code, _, err = train_cli(capsys, run, *UNLABELED, f"data.root={flat_dir}", "train.steps=10")
    assert_one_line_error(code, err, "unlabeled", "model.g_conditioning=concat", "model.g_conditioning=none",
                          str(flat_dir))
    assert not run.exists()   # refused before anything was written


# ------------------------------------------------------------------ resume
def tb_steps(run: Path, tag: str = "loss/d_loss") -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"))
    acc.Reload()
    return [e.step for e in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def test_resume_keeps_tensorboard_points_of_the_checkpoint_step(tmp_path):
    train(tmp_path, "train.steps=10")              # log and checkpoint every 5
    train(tmp_path, "train.steps=15")
    assert tb_steps(tmp_path) == [5, 10, 15]


def test_tensorboard_is_flushed_before_each_checkpoint(tmp_path, monkeypatch):
    """TensorBoard's writer queues events and flushes every two minutes (with the local-file
    backend installed here the queue drains at once, so a kill cannot be shown losing them:
    the contract is checked instead). Points up to a checkpoint must be on disk before it, or a
    killed run loses them for good: the resumed run only writes steps after the checkpoint."""
    from torch.utils.tensorboard import SummaryWriter

    import condgan.training.trainer as trainer_module

    calls = []
    flush, save = SummaryWriter.flush, trainer_module.save_checkpoint
    monkeypatch.setattr(SummaryWriter, "flush", lambda self: (calls.append("flush"), flush(self))[1])
    monkeypatch.setattr(trainer_module, "save_checkpoint",
                        lambda path, state: (calls.append(f"save {state['step']}"), save(path, state))[1])
    train(tmp_path, "train.steps=10")                  # checkpoints at 5 and 10
    saves = [i for i, c in enumerate(calls) if c.startswith("save")]
    assert [calls[i] for i in saves] == ["save 5", "save 10"]
    assert all(calls[i - 1] == "flush" for i in saves)


def test_torn_last_metrics_line_is_dropped_on_resume(tmp_path, capsys):
    assert train_cli(capsys, tmp_path, "train.steps=5")[0] == 0
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"step": 6, "d_lo')                  # killed in the middle of a write
    code, _, err = train_cli(capsys, tmp_path, "train.steps=10")
    assert code == 0, err
    assert "warning" in err and "line 2" in err and "metrics.jsonl" in err
    assert [r["step"] for r in loss_records(tmp_path)] == [5, 10]


def test_damaged_metrics_line_in_the_middle_is_one_line(tmp_path, capsys):
    assert train_cli(capsys, tmp_path, "train.steps=10")[0] == 0
    path = tmp_path / "metrics.jsonl"
    path.write_text("not json\n" + path.read_text())
    code, _, err = train_cli(capsys, tmp_path, "train.steps=15")
    assert_one_line_error(code, err, str(path), "line 1")


def test_resume_on_another_device_is_refused(tmp_path, capsys):
    assert train_cli(capsys, tmp_path, "train.steps=5", "device=cpu")[0] == 0
    last = tmp_path / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    assert state["device"] == "cpu"
    state["device"] = "cuda"                           # as written by a run on a GPU
    save_checkpoint(last, state)
    code, _, err = train_cli(capsys, tmp_path, "train.steps=10", "device=cpu")
    assert_one_line_error(code, err, "trained on cuda", "device=cuda")
    assert load_checkpoint(last)["step"] == 5


def test_resume_with_other_thread_count_warns(tmp_path, capsys):
    assert train_cli(capsys, tmp_path, "train.steps=5", "train.threads=1")[0] == 0
    last = tmp_path / "checkpoints" / "last.pt"
    state = load_checkpoint(last)
    assert state["threads"] == 1
    state["threads"] = 3                               # as if trained with train.threads=3
    save_checkpoint(last, state)
    code, _, err = train_cli(capsys, tmp_path, "train.steps=10", "train.threads=1")
    assert code == 0, err
    assert "warning" in err and "bit-identical" in err and "train.threads=3" in err
    assert torch.get_num_threads() == 1               # the trainer restores the caller's setting


def test_changed_best_metric_starts_a_new_best(tmp_path, monkeypatch):
    """The stored best (a FID, lower is better) must not be compared with an accuracy."""
    import condgan.evaluation

    class StubEvaluator:
        def __init__(self, *args, **kwargs):
            pass

        def __call__(self, generator, z_dim):
            return {"fid": 5.0, "conditional_accuracy": 0.3}

    monkeypatch.setattr(condgan.evaluation, "Evaluator", StubEvaluator)
    evals = ["eval.every=5", "eval.metrics=[fid,conditional_accuracy]"]
    train(tmp_path, "train.steps=5", *evals, "eval.best_metric=fid")
    assert load_checkpoint(tmp_path / "checkpoints" / "best.pt")["best"]["metric"] == "fid"
    train(tmp_path, "train.steps=10", *evals, "eval.best_metric=conditional_accuracy")
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")["best"]
    assert best == {"metric": "conditional_accuracy", "value": 0.3, "step": 5 + 5}


# ------------------------------------------------------------------ one-line failures
@pytest.mark.parametrize("assignment", ["train.g_lr=.nan", "train.d_lr=.inf", "reg.r1=-.inf",
                                        "model.cond_weight=nan", "train.g_betas=[.nan, 0.9]"])
def test_non_finite_floats_are_one_line(tmp_path, capsys, assignment):
    code, _, err = train_cli(capsys, tmp_path / "x", "train.steps=5", assignment)
    assert_one_line_error(code, err, assignment.split("=")[0], "finite")
    assert not (tmp_path / "x").exists()


def test_sample_out_is_a_directory(tmp_path, capsys):
    assert train_cli(capsys, tmp_path / "run", "train.steps=1")[0] == 0
    code, _, err = run_main(capsys, "sample", str(tmp_path / "run"), "--out", str(tmp_path))
    assert_one_line_error(code, err, str(tmp_path), "is a directory")


def test_sample_to_an_unwritable_location(tmp_path, capsys, monkeypatch):
    """Tests run as root, where chmod does not block writes: the OS refusal is simulated."""
    assert train_cli(capsys, tmp_path / "run", "train.steps=1")[0] == 0

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("condgan.io.tempfile.mkstemp", refuse)
    png = tmp_path / "ro" / "g.png"
    code, _, err = run_main(capsys, "sample", str(tmp_path / "run"), "--out", str(png))
    assert_one_line_error(code, err, f"cannot write '{png}'", "Permission denied")


def test_train_out_is_a_file_or_under_a_file(tmp_path, capsys):
    file = tmp_path / "file"
    file.write_text("mine")
    code, _, err = train_cli(capsys, file, "train.steps=1")
    assert_one_line_error(code, err, str(file), "existing file")
    code, _, err = train_cli(capsys, file / "run", "train.steps=1")
    assert_one_line_error(code, err, str(file / "run"), "Not a directory")
    assert file.read_text() == "mine"


def test_disk_full_during_checkpoint_keeps_the_previous_one(tmp_path, capsys, monkeypatch):
    assert train_cli(capsys, tmp_path, "train.steps=5")[0] == 0
    last = tmp_path / "checkpoints" / "last.pt"
    real_fsync = os.fsync

    def fsync(fd):
        if ".last.pt." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr("condgan.io.os.fsync", fsync)
    code, _, err = train_cli(capsys, tmp_path, "train.steps=10")
    assert_one_line_error(code, err, f"cannot write '{last}'", "No space left on device")
    assert load_checkpoint(last)["step"] == 5
    assert not list(tmp_path.rglob("*.tmp"))


def test_damaged_config_yaml(tmp_path, capsys):
    assert train_cli(capsys, tmp_path, "train.steps=5")[0] == 0
    config = tmp_path / "config.yaml"
    # next to a readable checkpoint (which holds the config too) the damage is repaired
    config.write_text("model: [unclosed\n")
    assert train_cli(capsys, tmp_path, "train.steps=6")[0] == 0
    assert "model:" in config.read_text() and load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 6
    # without a checkpoint there is nothing to check a resume against: one line
    (tmp_path / "checkpoints" / "last.pt").unlink()
    for damage in ("model: [unclosed\n", "- a list\n"):
        config.write_text(damage)
        code, _, err = train_cli(capsys, tmp_path, "train.steps=6")
        assert_one_line_error(code, err, str(config), "damaged")


def test_divergence_before_the_first_checkpoint(tmp_path, monkeypatch):
    from condgan.training.logger import TrainingDiverged

    nan_d_loss(monkeypatch, nan_from=2)
    with pytest.raises(TrainingDiverged) as info:
        train(tmp_path, "model.conditioning=ca", "train.steps=20", "train.checkpoint_every=10")
    assert "no checkpoint was written yet" in str(info.value)
    assert "step 0" not in str(info.value)


def test_stale_temporaries_of_a_killed_write_are_removed(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir(parents=True)
    stale = [checkpoints / ".last.pt.a1b2_c3d.tmp", checkpoints / ".best.pt.zzzzzzzz.tmp"]
    # not ours, or in the run root, where `condgan evaluate` may be writing eval.json right now
    foreign = [checkpoints / "notes.tmp", checkpoints / ".last.pt.keep", tmp_path / ".eval.json.abcdefgh.tmp"]
    for path in stale + foreign:
        path.write_bytes(b"\0" * 100)
    train(tmp_path, "train.steps=2")
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in foreign)


class KilledWhileSampling(Exception):
    pass


class KillInGridAt10(Trainer):
    def write_samples(self):
        if self.step == 10:
            raise KilledWhileSampling()
        return super().write_samples()


def test_checkpoint_is_written_before_the_sample_grid(tmp_path):
    with pytest.raises(KilledWhileSampling):
        train(tmp_path, "train.steps=20", "train.sample_every=10", trainer_cls=KillInGridAt10)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["step"] == 10


def test_empty_config_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(CondganError, match="is empty"):
        load_config(str(path))
    code, _, err = run_main(capsys, "train", str(path), "--out", str(tmp_path / "x"))
    assert_one_line_error(code, err, str(path), "is empty")


# ------------------------------------------------------------------ two processes, one run
def test_second_writer_is_refused_until_the_holder_dies(tmp_path, capsys):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from condgan.io import DirectoryLock; "
         "DirectoryLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(120)", str(run)],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = train_cli(capsys, run, "train.steps=2")
        assert_one_line_error(code, err, str(run), "in use", f"PID {holder.pid}")
        assert holder.poll() is None                      # the holder is untouched
        assert not (run / "checkpoints").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    code, _, err = train_cli(capsys, run, "train.steps=2")  # kill -9 leaves no stale lock
    assert code == 0, err
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 2


# ------------------------------------------------------------------ feedback without a terminal
def test_progress_lines_when_stderr_is_not_a_terminal(tmp_path, capsys):
    code, out, err = train_cli(capsys, tmp_path, "train.steps=10", "train.threads=1", progress=True)
    assert code == 0, err
    lines = err.splitlines()
    assert "mnist5k-cagan" in lines[0] and str(tmp_path) in lines[0]
    assert all(s in lines[1] for s in ("digits", "seed 0", "device cpu", "1 CPU thread"))
    progress = [line for line in lines if line.startswith("step ")]
    assert [line.split()[1] for line in progress] == ["5/10", "10/10"]
    assert all("d_loss" in line and "img/s" in line and "ETA" in line for line in progress)
    assert "step 5/10" not in out                      # progress goes to stderr, results to stdout


def test_threads_default_is_bounded_and_explicit_wins():
    from condgan.training.threads import resolve_threads

    assert 1 <= resolve_threads(0) <= 4
    assert resolve_threads(0) <= max(1, len(os.sched_getaffinity(0)))
    assert resolve_threads(3) == 3


def test_domain_classifier_training_reports_epochs(tmp_path, capsys, monkeypatch):
    """The registry path (`condgan evaluate`) trains the classifier on first use: one line per epoch."""
    from condgan.config import DataConfig
    from condgan.data.base import ImageData
    from condgan.features import EXTRACTORS

    monkeypatch.setattr("condgan.features.domain.fit.TARGET_STEPS", 2)   # 3 epochs of one step

    gen = torch.Generator().manual_seed(0)
    data = ImageData(torch.rand(64, 1, 8, 8, generator=gen) * 2 - 1, torch.arange(64) % 2, ["a", "b"])
    EXTRACTORS.get("domain")(DataConfig(name="digits", image_size=8), cache_dir=tmp_path,
                             loader=lambda cfg, split: data)
    err = capsys.readouterr().err
    assert "training the domain classifier" in err and "epoch 1/" in err


def test_any_other_os_error_is_one_line_naming_the_file(tmp_path, capsys):
    """The CLI's last resort for OSErrors outside `condgan.io`'s atomic writes."""
    assert train_cli(capsys, tmp_path, "train.steps=5")[0] == 0
    metrics = tmp_path / "metrics.jsonl"
    metrics.unlink()
    metrics.mkdir()                                    # something in the way of the log
    code, _, err = train_cli(capsys, tmp_path, "train.steps=10")
    assert_one_line_error(code, err, str(metrics), "Is a directory")


def test_run_of_an_older_version_without_new_keys_resumes(tmp_path):
    """A checkpoint whose config predates keys added since (here: the newest options removed)
    resumes: missing keys take their defaults, which keep the old behaviour."""
    out = tmp_path / "run"
    train(out, "train.steps=5")
    path = out / "checkpoints" / "last.pt"
    state = load_checkpoint(path)
    for section, key in (("train", "diffaugment"), ("reg", "cr"), ("model", "d_minibatch_std"),
                         ("model", "cond_temperature"), ("loss", "label_smoothing")):
        del state["config"][section][key]
    save_checkpoint(path, state)
    assert train(out, "train.steps=10").step == 10
    # a key this version does not know is one clear error, not a KeyError
    state = load_checkpoint(path)
    state["config"]["model"]["from_the_future"] = 1
    save_checkpoint(path, state)
    with pytest.raises(CondganError, match="cannot read.*from_the_future"):
        train(out, "train.steps=15")
