"""The command line: listing presets, and every user error ends in exit code 2 with exactly one
line on stderr that starts with `condgan: error:` (no traceback)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from condgan.cli.main import main
from condgan.config import list_presets
from conftest import tiny_overrides


def sets(*extra):
    return sum((["--set", s] for s in tiny_overrides(*extra)), [])


def run_main(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *needles):
    assert code == 2
    assert err.startswith("condgan: error:"), err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "mnist5k-cagan", "--out", str(out), "--no-progress", *sets("train.steps=3")]) == 0
    return out


def test_presets_lists_all(capsys):
    code, out, err = run_main(capsys, "presets")
    assert code == 0 and err == ""
    lines = out.strip().splitlines()
    presets = list_presets()
    assert len(lines) == len(presets)
    for (name, description), line in zip(presets.items(), lines):
        assert line.split()[0] == name and description in line


def test_train_success_prints_summary(trained_run, capsys):
    assert (trained_run / "checkpoints" / "last.pt").exists()
    assert (trained_run / "samples" / "latest.png").exists()
    assert (trained_run / "config.yaml").exists()


@pytest.mark.parametrize("argv, needles", [
    (["--set", "model.condtioning=ac"], ["model.condtioning", "did you mean 'model.conditioning'"]),
    (["--set", "model.z_dim=abc"], ["'model.z_dim'", "expected int"]),
    (["--set", "loss.mixed_batch=sometimes"], ["'loss.mixed_batch'"]),
    (["--set", "loss.adversarial=wasserstein"], ["Lipschitz"]),
    (["--set", "model.conditioning=acgan"], ["model.conditioning"]),
    (["--set", "train.steps"], ["KEY=VALUE"]),
])
def test_train_config_errors(tmp_path, capsys, argv, needles):
    code, _, err = run_main(capsys, "train", "mnist5k-cagan", "--out", str(tmp_path / "x"), *argv)
    assert_one_line_error(code, err, *needles)
    assert not (tmp_path / "x").exists()   # rejected before any work


def test_train_missing_config_file(tmp_path, capsys):
    missing = tmp_path / "missing.yaml"
    code, _, err = run_main(capsys, "train", str(missing), "--out", str(tmp_path / "x"))
    assert_one_line_error(code, err, str(missing), "does not exist")
    code, _, err = run_main(capsys, "train", "no-such-preset", "--out", str(tmp_path / "x"))
    assert_one_line_error(code, err, "no-such-preset", "condgan presets")


def test_train_bad_yaml_file(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  z_dim: [\n")
    code, _, err = run_main(capsys, "train", str(path), "--out", str(tmp_path / "x"))
    assert_one_line_error(code, err, "invalid YAML")


def test_train_incompatible_out_dir(trained_run, capsys):
    code, _, err = run_main(capsys, "train", "mnist5k-cagan", "--out", str(trained_run), "--no-progress",
                            *sets("train.steps=3", "model.z_dim=16"))
    assert_one_line_error(code, err, "model.z_dim", str(trained_run))


def test_debug_shows_the_exception(tmp_path):
    from condgan.errors import CondganError

    with pytest.raises(CondganError):
        main(["--debug", "train", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x")])


def test_sample(trained_run, tmp_path, capsys):
    png = tmp_path / "s.png"
    code, out, err = run_main(capsys, "sample", str(trained_run), "--out", str(png), "--class", "9", "--num", "3")
    assert code == 0 and png.stat().st_size > 0 and "from step 3" in out


@pytest.mark.parametrize("cls", ["10", "-1", "99"])
def test_sample_class_out_of_range(trained_run, tmp_path, capsys, cls):
    png = tmp_path / "s.png"
    code, _, err = run_main(capsys, "sample", str(trained_run), "--out", str(png), "--class", cls)
    assert_one_line_error(code, err, f"--class {cls}", "10 classes")
    assert not png.exists()


@pytest.mark.parametrize("num", ["0", "-2"])
def test_sample_bad_num(trained_run, tmp_path, capsys, num):
    code, _, err = run_main(capsys, "sample", str(trained_run), "--out", str(tmp_path / "s.png"), "--num", num)
    assert_one_line_error(code, err, "--num")


def test_sample_missing_run(tmp_path, capsys):
    code, _, err = run_main(capsys, "sample", str(tmp_path / "nothing"), "--out", str(tmp_path / "s.png"))
    assert_one_line_error(code, err, "does not exist")
    (tmp_path / "empty").mkdir()
    code, _, err = run_main(capsys, "sample", str(tmp_path / "empty"), "--out", str(tmp_path / "s.png"))
    assert_one_line_error(code, err, "checkpoint")


def test_real_entry_point_error_is_one_line(tmp_path):
    """The installed entry point, in a fresh interpreter: exit status 2, one stderr line."""
    proc = subprocess.run(
        [sys.executable, "-m", "condgan.cli.main", "train", "mnist5k-cagan", "--out", str(tmp_path / "x"),
         "--set", "model.z_dim=abc"],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("condgan: error:") and proc.stderr.count("\n") == 1, proc.stderr
    assert "'model.z_dim'" in proc.stderr
