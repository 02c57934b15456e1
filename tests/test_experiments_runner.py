"""experiments/runner.py + report.py + search.py: the grid, the per-run records and their reuse,
the document, with a fake train / evaluate; every study file's grid against the real presets;
and one real run of the 1-D mixture through the subprocess path."""

from __future__ import annotations

import importlib
import re
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
import runner  # noqa: E402
import search  # noqa: E402
from runner import Baseline, Claim, Evaluation, Setting, Study  # noqa: E402

STUDY_FILES = ["seed000", "seed001", "seed003", "seed004", "seed004_2c", "quality_sweep", "fid_sanity",
               "precision_curves", "leaderboard", "limited_data", "canon"]


class FakeTraining:
    """Writes what `condgan train` would (config.yaml, metrics.jsonl) and records its calls."""

    def __init__(self, fail: str | None = None):
        self.calls: list[str] = []
        self.fail = fail

    def train(self, spec, run_dir, threads):
        self.calls.append(spec.key)
        if self.fail and self.fail in spec.key:
            raise runner.RunFailed(f"{spec.key} diverged")
        run_dir.mkdir(parents=True, exist_ok=True)
        data = dict(o.split("=", 1) for o in spec.overrides)
        cfg = {"data": {"name": data.get("data.name", "toy")}, "model": {"conditioning": data.get("model.conditioning"),
               "net": "dcgan", "g_width": 32, "d_width": 32}, "train": {"steps": spec.steps, "batch_size": 64},
               "eval": {"real_split": "test"}}
        (run_dir / "config.yaml").write_text(yaml.safe_dump(cfg))
        lines = [{"step": s, "d_loss": 1.0 / s, "eval": {"fid": 100.0 / s}} for s in (1, 2, 3)]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        return {"wall_s": 1.0, "cpu_s": 2.0, "threads": threads, "resumed": False}

    def evaluate(self, spec, run_dir, ev, threads):
        good = spec.setting == "good"
        seed = spec.seed or 0
        return {"metrics": {"fid": (10.0 if good else 20.0) + seed, "intra_fid/3": 5.0, "am_score/kl": 0.5,
                            "conditional_accuracy": 0.95 if good else 0.5 + 0.01 * seed},
                "extractor": "fake", "_cpu_s": 0.5}


def toy_study(**kw) -> Study:
    fields = dict(
        name="toy", title="Toy study", steps=7, seeds=(0, 1, 2), datasets=("mnist5k", "fashion-mnist"),
        settings=[Setting("good", "mnist5k-cagan", ("model.conditioning=ca",)),
                  Setting("bad", "mnist5k-cagan", ("model.conditioning=ac",)),
                  Setting("figure", "mnist5k-cagan", datasets=("mnist5k",), seeds="first", follows="good"),
                  Setting("reference", compute=lambda spec, args: {"fid": 1.0 + (spec.seed or 0)}, seeds="none")],
        evaluation=Evaluation(("fid", "conditional_accuracy"), num_samples=100), series=("eval.fid", "d_*"),
        claims=(Claim("good has a lower FID", "fid", "good", "bad", "lower", source="Table 1"),
                Claim("good is accurate", "conditional_accuracy", "good", 0.9, "higher")),
        baseline=Baseline("bad", ("fid",), learned_metric="conditional_accuracy", at_least=0.9))
    fields.update(kw)
    return Study(**fields)


def run(tmp_path, study, *extra, fake=None):
    fake = fake or FakeTraining()
    argv = ["--runs", str(tmp_path / "runs"), "--docs", str(tmp_path / "docs"), *extra]
    rc = runner.main(study, argv, trainer=fake.train, evaluator=fake.evaluate)
    return rc, fake


def grid(study, *argv):
    _, args = runner.parse({"x": study}, list(argv))
    return runner.build_grid(study, args), args


# --------------------------------------------------------------------------- the grid
def test_grid_expands_settings_datasets_and_seeds():
    specs, _ = grid(toy_study())
    by = {(s.group, s.setting): [x.seed for x in specs if (x.group, x.setting) == (s.group, s.setting)] for s in specs}
    assert by[("mnist5k", "good")] == [0, 1, 2] and by[("fashion-mnist", "bad")] == [0, 1, 2]
    assert by[("mnist5k", "figure")] == [0] and ("fashion-mnist", "figure") not in by  # first seed, one data set
    assert by[("mnist5k", "reference")] == [None]
    assert len({s.key for s in specs}) == len(specs)
    good = next(s for s in specs if s.setting == "good" and s.seed == 1 and s.group == "mnist5k")
    assert good.overrides == ("data.name=mnist5k", "model.conditioning=ca", "train.steps=7", "seed=1")
    assert good.key.startswith("mnist5k-good-7st-s1-")


def test_steps_per_data_set_unless_given():
    study = toy_study(steps={"mnist5k": 30, "fashion-mnist": 50})
    specs, args = grid(study)
    steps = {(s.group, s.steps) for s in specs if s.preset}
    assert steps == {("mnist5k", 30), ("fashion-mnist", 50)} and args.steps is None
    assert all(f"train.steps={s.steps}" in s.overrides for s in specs if s.preset)
    specs, args = grid(study, "--steps", "8")
    assert {s.steps for s in specs if s.preset} == {8} and args.steps == 8
    assert grid(toy_study())[1].steps == 7   # a single budget is args.steps, as before


def test_settings_filter_keeps_followers_and_references():
    specs, _ = grid(toy_study(), "--settings", "good")
    assert {s.setting for s in specs} == {"good", "figure", "reference"}
    with pytest.raises(SystemExit):
        grid(toy_study(), "--settings", "nonesuch")


def test_keys_change_with_what_changes_the_result_only():
    key = {s.setting + str(s.seed) + s.group: s.key for s in grid(toy_study())[0]}
    assert key == {s.setting + str(s.seed) + s.group: s.key for s in grid(toy_study(), "--threads", "2")[0]}
    for argv in (["--steps", "8"], ["--set", "model.g_width=16"], ["--num-samples", "200"]):
        other = {s.setting + str(s.seed) + s.group: s.key for s in grid(toy_study(), *argv)[0]}
        assert all(other[k] != v for k, v in key.items() if not k.startswith("reference")), argv
    # the training run directory does not depend on the evaluation
    a = {s.key: s.train_key for s in grid(toy_study())[0]}
    b = {s.setting + str(s.seed) + s.group: s.train_key for s in grid(toy_study(), "--num-samples", "200")[0]}
    assert set(a.values()) >= {v for k, v in b.items() if not k.startswith("reference")}


def test_read_series_patterns(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        '{"step": 10, "d_loss": 0.5, "prior_g0_1": 0.2, "eval": {"intra_fid": 90.0}}\n'
        '{"step": 20, "d_loss": 0.4, "prior_g0_1": 0.3, "g_loss": "n/a"}\n')
    s = runner.read_series(tmp_path, ["prior_g0_*", "eval.intra_fid", "g_loss"])
    assert s == {"prior_g0_1": [[10, 0.2], [20, 0.3]], "eval.intra_fid": [[10, 90.0]]}


# --------------------------------------------------------------------------- records and reuse
def test_records_are_written_once_and_reused(tmp_path):
    rc, fake = run(tmp_path, toy_study())
    assert rc == 0
    records = sorted((tmp_path / "docs" / "runs").glob("*.json"))
    assert len(records) == len(fake.calls) + 2  # + the reference, once per data set
    rec = json.loads(next(p for p in records if "-good-" in p.name).read_text())
    for field in ("setting", "dataset", "seed", "steps", "preset", "overrides", "command", "commit", "wall_s",
                  "cpu_s", "metrics", "config", "evaluation", "method"):
        assert field in rec, field
    assert rec["metrics"]["am_score/kl"] == 0.5 and "intra_fid/3" not in rec["metrics"]
    assert rec["series"]["eval.fid"] == [[1, 100.0], [2, 50.0], [3, 33.333333]] and "d_loss" in rec["series"]
    assert rec["command"].startswith("condgan train mnist5k-cagan --out ")
    rc, again = run(tmp_path, toy_study())
    assert rc == 0 and again.calls == []  # every run came from its record
    rc, more = run(tmp_path, toy_study(), "--seeds", "0", "1", "2", "3")
    assert sorted(more.calls) == sorted(k for k in more.calls if "-s3-" in k) and len(more.calls) == 4


def test_a_failed_run_is_reported_and_the_others_keep_their_records(tmp_path, capsys):
    rc, fake = run(tmp_path, toy_study(), fake=FakeTraining(fail="mnist5k-bad-7st-s1"))
    assert rc == 1
    assert "diverged" in capsys.readouterr().err
    assert len(list((tmp_path / "docs" / "runs").glob("*.json"))) == len(fake.calls) - 1 + 2
    assert not (tmp_path / "docs" / "tables.md").exists()  # no document from an incomplete grid


def test_document_leads_with_verdicts_and_updates_the_readme_block(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "README.md").write_text("# Toy\n\nHand-written intro.\n\n<!-- begin generated: tables -->\nold\n"
                                    "<!-- end generated: tables -->\n\nHand-written discussion.\n")
    assert run(tmp_path, toy_study())[0] == 0
    text = (docs / "tables.md").read_text()
    verdicts = text.index("Verdicts")
    assert verdicts < text.index("Budget:") < text.index("| setting |")
    line = next(x for x in text.splitlines() if x.startswith("- mnist5k: good has a lower FID"))
    assert "95 % CI [" in line and "claimed < 0" in line and line.endswith("**holds**")
    assert "baseline `bad` reached fid" in text and "learned (conditional_accuracy >= 0.9): **no**" in text
    assert "do not test the paper's claims" in text
    readme = (docs / "README.md").read_text()
    assert "Hand-written intro." in readme and "Hand-written discussion." in readme and "\nold\n" not in readme
    assert "good has a lower FID" in readme and "[`tables.md`](tables.md)" in readme
    # --report-only rebuilds the same document from the records alone
    before = text.split("\n", 1)[1]
    (docs / "tables.md").unlink()
    rc, fake = run(tmp_path, toy_study(), "--report-only", "--runs", str(tmp_path / "elsewhere"))
    assert rc == 0 and fake.calls == []
    assert (docs / "tables.md").read_text().split("\n", 1)[1].replace("elsewhere", "runs") == before


def test_report_only_lists_missing_runs(tmp_path):
    rc, fake = run(tmp_path, toy_study(), "--report-only")
    assert rc == 0 and fake.calls == []
    assert "Incomplete" in (tmp_path / "docs" / "tables.md").read_text()


# --------------------------------------------------------------------------- search
def test_search_draws_the_same_shared_configurations_for_every_method():
    space = search.SearchSpace(shared={"train.g_lr": [1e-4, 2e-4, 4e-4], "train.diffaugment": [[], ["translation"]],
                                       "model.d_spectral_norm": [True, False]},
                               per_method={"d2dce": {"model.d2dce_temperature": [0.25, 0.5, 0.75]}})
    a, d = space.draw("ac_mod", 12, seed=7), space.draw("d2dce", 12, seed=7)
    assert [x[:3] for x in a] == [x[:3] for x in d]  # configuration i's shared part is method-independent
    assert all(len(x) == 3 for x in a) and all(x[3].startswith("model.d2dce_temperature=") for x in d)
    assert space.draw("d2dce", 12, seed=7) == d and space.draw("d2dce", 12, seed=8) != d
    assert any("train.diffaugment=[translation]" in x for x in a) and any("train.diffaugment=[]" in x for x in a)
    settings = search.search_settings({"ac_mod": ("mnist5k-quickstart", ("model.conditioning=ac_mod",))}, space, 3, 7)
    assert [s.label for s in settings] == ["ac_mod cfg00", "ac_mod cfg01", "ac_mod cfg02"]
    assert settings[0].overrides[0] == "model.conditioning=ac_mod"


# --------------------------------------------------------------------------- the study files
def study_grids():
    for name in STUDY_FILES:
        module = importlib.import_module(name)
        studies = getattr(module, "STUDIES", None) or {"": module.STUDY}
        for part, study in studies.items():
            yield f"{name}:{part}", study


@pytest.mark.parametrize("name,study", list(study_grids()), ids=lambda x: x if isinstance(x, str) else "")
def test_study_grids_use_real_presets_and_keys(name, study):
    """Every run of every study's default grid resolves to a valid config (presets exist, override
    keys and values are valid, combinations allowed), keys are unique, and every claim names
    settings of the grid."""
    from condgan.validation import load_config

    specs, args = grid(study)
    assert specs, name
    assert len({s.key for s in specs}) == len(specs)
    for s in specs:
        if s.preset:
            load_config(s.preset, list(s.overrides))
    labels = {s.setting for s in specs}
    for claim in study.claims:
        assert claim.a in labels, (name, claim.a)
        assert not isinstance(claim.b, str) or claim.b in labels, (name, claim.b)
    if study.baseline:
        assert study.baseline.setting in labels


def test_study_files_run_as_scripts_with_help():
    import subprocess

    for name in STUDY_FILES:
        proc = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), "--help"],
                              capture_output=True, text=True, cwd=ROOT, env=dict(os.environ))
        assert proc.returncode == 0, (name, proc.stderr)


def test_one_real_run_through_the_subprocess_path(tmp_path):
    """seed004.py mog, one method, one seed, 10 steps: trained by `condgan train` in a subprocess,
    measured, recorded; the second invocation trains nothing."""
    seed004 = importlib.import_module("seed004")
    argv = ["mog", "--methods", "tac", "--seeds", "0", "--steps", "10", "--num-samples", "200",
            "--runs", str(tmp_path / "runs"), "--docs", str(tmp_path / "docs")]
    assert runner.main(seed004.STUDIES, argv) == 0
    (rec_path,) = (tmp_path / "docs" / "runs").glob("mog-tac-10st-s0-*.json")
    rec = json.loads(rec_path.read_text())
    assert rec["method"] == "tac" and rec["steps"] == 10 and rec["config"]["train"]["steps"] == 10
    assert rec["cpu_s"] > 0 and 0 < rec["metrics"]["w1_mean"] and len(rec["extra"]["hist_0"]) == seed004.HIST_BINS
    assert (tmp_path / "docs" / "mog.md").exists() and (tmp_path / "docs" / "mog_densities.png").exists()
    calls = []
    assert runner.main(seed004.STUDIES, argv, trainer=lambda *a: calls.append(a)) == 0
    assert calls == []


class RichFake(FakeTraining):
    """Every metric and series the study files' reports read, made up but plausible."""

    def train(self, spec, run_dir, threads):
        info = super().train(spec, run_dir, threads)
        rows = []
        for step in range(1, 31):
            row = {"step": step, "d_loss": 0.5 + 0.01 * (step % 3), "g_loss": 0.4, "diag_feature_norm": 7.0 + step,
                   "diag_cond_grad_norm": 2.0, "eval": {"intra_fid": 300.0 - step, "class_tv": 0.3}}
            row.update({f"prior_g0_{c}": 0.1 for c in range(10)})
            row.update({"ada_p": 0.01 * step, "ada_rt": 0.6, "apa_p": 0.005 * step, "apa_rt": 0.6})
            rows.append(row)
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return info

    def evaluate(self, spec, run_dir, ev, threads):
        seed = spec.seed or 0
        names = ["fid", "intra_fid", "conditional_accuracy", "precision", "recall", "density", "coverage", "am_score",
                 "am_score/kl", "am_score/entropy", "is", "intra_ssim", "class_tv", "cluster_acc", "cluster_nmi",
                 "cluster_ari"]
        return {"metrics": {n: 0.5 + 0.01 * seed + 0.001 * i for i, n in enumerate(names)}, "_cpu_s": 0.1}


def fake_metrics(spec, args):
    return {"cluster_acc": 0.4, "cluster_nmi": 0.3, "cluster_ari": 0.2, "fid": 2.0, "conditional_accuracy": 0.99,
            "precision": 0.9, "recall": 0.9, "coverage": 1.0}


def fake_mog(run_dir, spec, args):
    out = {f"{k}_{c}": 1.0 + c for k in ("w1", "mean", "std") for c in range(3)}
    return {**out, "w1_mean": 2.0, **{f"hist_{c}": [1] * 88 for c in range(3)}}


def fake_modes(run_dir, spec, args):
    return {"modes_recovered": 6.0 + (spec.seed or 0), "high_quality": 0.7, "scatter": [[0.0, 2.0], [2.0, 0.0]]}


def fake_confusion(run_dir, spec, args):
    """A 2c-like confusion: every requested class drawn as the next class."""
    import seed004_2c

    confusion = [[500 if j == (i + 1) % 10 else 0 for j in range(10)] for i in range(10)]
    return {"confusion": confusion, **seed004_2c.dominant_classes(confusion)}


def fake_fid_pair(spec, args):
    return {"fid_train_vs_test": 0.2, "fid_train_vs_untrained": 800.0, "n_train": 10, "n_test": 10,
            "extractor": "fake", "extractor_test_accuracy": 0.9, "feature_dims": 128, "data": "fashion-mnist"}


@pytest.mark.parametrize("name,study", list(study_grids()), ids=lambda x: x if isinstance(x, str) else "")
def test_every_study_builds_its_document_from_fake_runs(name, study, tmp_path, monkeypatch):
    """Each study file's report code runs on records (fake training / evaluation, two seeds):
    tables, figures, verdict lines; no CPU spent on training."""
    module = importlib.import_module(name.split(":")[0])
    for fn in ("kmeans_raw", "kmeans_autoencoder", "real_data_row"):
        if hasattr(module, fn):
            monkeypatch.setattr(module, fn, fake_metrics)
    if hasattr(module, "fid_pair"):
        monkeypatch.setattr(module, "fid_pair", fake_fid_pair)
    if study.measure is not None and study.part == "mog":
        monkeypatch.setattr(study, "measure", fake_mog)
    if study.measure is not None and study.part == "modes":
        monkeypatch.setattr(study, "measure", fake_modes)
    if hasattr(module, "confusion_measure"):
        monkeypatch.setattr(study, "measure", fake_confusion)
    part = [study.part] if study.part and hasattr(module, "STUDIES") else []  # a single study takes no part
    argv = part + ["--seeds", "0", "1", "--runs", str(tmp_path / "runs"), "--docs", str(tmp_path / "docs")]
    fake = RichFake()
    studies = getattr(module, "STUDIES", None) or module.STUDY
    assert runner.main(studies, argv, trainer=fake.train, evaluator=fake.evaluate) == 0
    docs = tmp_path / "docs"
    doc = docs / f"{study.doc_name}.md"
    text = doc.read_text()
    assert "Verdicts" in text and "|---|" in text
    for target in re.findall(r"\]\(([^)]+\.png)\)", text):
        assert (docs / target).exists(), target
    if study.claims:
        assert "95 % CI [" in text


def test_dominant_classes_by_hand():
    import seed004_2c

    right = seed004_2c.dominant_classes([[3, 1], [0, 4]])
    assert right["dominant"] == [0, 1] and right["dominant_share"] == pytest.approx((0.75 + 1.0) / 2)
    assert right["wrong_dominant_fraction"] == 0 and right["permutation"] == 1.0
    collapsed = seed004_2c.dominant_classes([[1, 3], [0, 4]])
    assert collapsed["dominant"] == [1, 1] and collapsed["wrong_dominant_fraction"] == 0.5
    assert collapsed["permutation"] == 0.0


def test_the_2c_study_finds_its_committed_records():
    """The 2c study's records (converted from its first driver, not re-trained) match the study's
    declaration, so --report-only and a re-run reuse them; their confusions agree with their
    conditional accuracy and their dominant-class metrics."""
    import seed004_2c

    study, args = runner.parse({"part": seed004_2c.STUDY}, [])
    specs = runner.build_grid(study, args)
    records = [runner.Runner(study, args).cached(s) for s in specs]
    assert all(records), [s.key for s, r in zip(specs, records) if r is None]
    for rec in records:
        confusion = rec["extra"]["confusion"]
        assert sum(map(sum, confusion)) == study.evaluation.num_samples
        accuracy = sum(confusion[i][i] for i in range(10)) / study.evaluation.num_samples
        assert accuracy == pytest.approx(rec["metrics"]["conditional_accuracy"], abs=1e-6)
        mapping = seed004_2c.dominant_classes(confusion)
        for key in ("dominant_share", "wrong_dominant_fraction", "permutation"):
            assert rec["metrics"][key] == pytest.approx(mapping[key], abs=1e-6), key
