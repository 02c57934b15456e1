"""The quickstart's report: the sample grid embedded, the real-data row under the run's, the
extractor's weights hash, and each stage's wall time recorded by the commands themselves."""

from __future__ import annotations

import json

from condgan.cli.main import main
from condgan.features.domain.shipped import shipped_manifest
from condgan.stages import read_stages, record_stage, stage_summary
from tests.conftest import tiny_overrides


def _sets(*overrides: str) -> list[str]:
    return [arg for o in overrides for arg in ("--set", o)]


def test_report_shows_grid_real_row_hash_and_stage_times(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CONDGAN_CACHE", str(tmp_path / "cache"))
    run = tmp_path / "run"
    train = ["train", "mnist5k-cagan", "--out", str(run), "--no-progress",
             *_sets(*tiny_overrides("train.steps=10", "train.sample_every=10"))]
    assert main(train) == 0
    capsys.readouterr()
    evaluate = ["evaluate", str(run), "--num-samples", "100", "--metrics", "fid,conditional_accuracy"]
    assert main(evaluate) == 0
    first = json.loads((run / "eval.json").read_text())
    printed = capsys.readouterr().out
    sha = shipped_manifest()["classifiers"]["digits"]["sha256"]
    assert first["extractor_sha256"] == sha  # the weights that measured, by hash
    base = first["real_data_row"]
    assert base["cached"] is False and base["extractor_sha256"] == sha and base["num_samples"] == 100
    assert base["metrics"]["conditional_accuracy"] > 0.9 and base["metrics"]["fid"] < first["metrics"]["fid"]
    assert "real data" in printed.splitlines()[0]  # the table prints both columns
    # a second evaluation (of this or any run with the same protocol) reuses the cached row
    assert main(evaluate) == 0
    second = json.loads((run / "eval.json").read_text())
    assert second["real_data_row"]["cached"] is True and second["real_data_row"]["metrics"] == base["metrics"]

    assert main(["report", str(run), "--out", str(run / "report.md")]) == 0
    text = (run / "report.md").read_text()
    assert "![run samples](samples/latest.png)" in text and (run / "samples" / "latest.png").is_file()
    assert text.index("samples/latest.png") < text.index("| run | conditioning |")  # the grid comes first
    rows = [line for line in text.splitlines() if line.startswith("| run")]
    assert rows[1].startswith("| run | ca |") and rows[2].startswith("| run: real data | real data (baseline) |")
    assert f"| {base['metrics']['fid']:.4g} |" in rows[2]
    assert sha[:16] in text
    stages = read_stages(run)
    assert [len(stages[s]) for s in ("train", "evaluate", "report")] == [1, 2, 1]
    assert stages["train"][0]["step"] == 10 and all(r["seconds"] > 0 for rs in stages.values() for r in rs)
    timing = next(line for line in text.splitlines() if line.startswith("- `run` wall time:"))
    assert "train " in timing and "evaluate " in timing and "report " in timing


def test_stage_summary_sums_resumed_training_and_keeps_the_latest_evaluation(tmp_path):
    record_stage(tmp_path, "evaluate", 5.0, note="old")
    record_stage(tmp_path, "train", 10.0, step=100)
    record_stage(tmp_path, "train", 20.0, step=300)
    record_stage(tmp_path, "evaluate", 7.0, note="new")
    assert stage_summary(read_stages(tmp_path)) == [
        ("train", 30.0, "300 steps, 2 invocations (resumed)"), ("evaluate", 7.0, "new")]
    (tmp_path / "stages.json").write_text("{broken")
    assert read_stages(tmp_path) == {}  # a damaged file is started afresh, never fatal
    record_stage(tmp_path, "report", 1.0)
    assert list(read_stages(tmp_path)) == ["report"]
