"""experiments/leaderboard.py (+ leaderboard_report.py, leaderboard_presets.py): equal budgets,
the anchor, the choice of each method's configuration, the stages and their reuse of records,
diverged runs, the document (ranks only where intervals separate, the misses, the quickstart
check) and the presets it writes — on fake training and evaluation, no CPU spent on GANs."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
import leaderboard as lb  # noqa: E402
import leaderboard_presets  # noqa: E402
import runner  # noqa: E402
from test_docs import INTERVAL, VERDICT  # noqa: E402

from condgan.validation import load_config  # noqa: E402


def args_of(*argv):
    return runner.parse({"leaderboard": lb.STUDY}, list(argv))[1]


# --------------------------------------------------------------------------- the budget
def test_every_method_gets_the_same_configurations_and_the_anchor():
    args = args_of("--configs", "6")
    for ds in lb.DATASETS:
        settings = lb.config_settings(args, ds)
        per = {m: [s for s in settings if lb.method_of(s.label) == m] for m in lb.METHODS}
        assert all(len(v) == 6 for v in per.values())
        # configuration i's shared keys are the same for every method (but the keys a method pins)
        for i in range(1, 6):
            shared = {m: {o for o in v[i].overrides if o.split("=")[0] in _shared_keys()} for m, v in per.items()}
            for m, method in lb.METHODS.items():
                assert ({o for o in shared[m] if o.split("=")[0] not in method.fixed}
                        == {o for o in shared["pd"] if o.split("=")[0] not in method.fixed}), (m, i)
        for s in per["mh"]:  # its math pins λ = 1: never drawn
            assert load_config(s.preset, list(s.overrides)).model.cond_weight == 1.0
        # the anchor: the data set's tuned preset with only the method (and the curves) changed
        anchor = load_config(per["pd"][0].preset, list(per["pd"][0].overrides)).to_dict()
        base = load_config(lb.BASE[ds]).to_dict()
        assert anchor["model"] == {**base["model"], "conditioning": "pd"}
        assert {k: v for k, v in anchor["train"].items()} == base["train"] and anchor["loss"] == base["loss"]
    # a larger budget keeps the smaller one's configurations (their runs are reused)
    small, large = lb.config_settings(args_of("--configs", "3"), "mnist5k"), lb.config_settings(args, "mnist5k")
    assert all(s in large for s in small)


def _shared_keys():
    keys = set()
    for k, values in lb.SPACE.shared.items():
        keys |= {kk for v in values for kk in v} if isinstance(values[0], dict) else {k}
    return keys


# --------------------------------------------------------------------------- the choice
def _rec(fid, acc=None, recall=0.6, cluster=None):
    metrics = {"fid": fid, "recall": recall}
    if acc is not None:
        metrics["conditional_accuracy"] = acc
    if cluster is not None:
        metrics["cluster_acc"] = cluster
    return {"metrics": metrics}


def test_choose_follows_the_stated_criterion():
    m = lb.METHODS
    recs = {"a cfg00": _rec(10, 0.99), "a cfg01": _rec(5, 0.5), "a cfg02": _rec(8, 0.99, recall=0.3)}
    assert lb.choose(m["ac_mod"], "mnist5k", recs)[0] == "a cfg00"       # lower FIDs miss a target
    recs["a cfg01"] = _rec(5, 0.97)
    assert lb.choose(m["ac_mod"], "mnist5k", recs)[0] == "a cfg01"
    # none meets both: the lowest FID among the accurate; none accurate: the lowest FID
    low = {"a cfg00": _rec(10, 0.99, 0.2), "a cfg01": _rec(5, 0.5, 0.2), "a cfg02": _rec(8, 0.96, 0.1)}
    assert lb.choose(m["ac_mod"], "mnist5k", low) == ("a cfg02", lb.choose(m["ac_mod"], "mnist5k", low)[1])
    assert "none of the 3 configurations meets both targets" in lb.choose(m["ac_mod"], "mnist5k", low)[1]
    chance = {k: _rec(r["metrics"]["fid"], 0.1, 0.6) for k, r in low.items()}
    assert lb.choose(m["ac_mod"], "mnist5k", chance)[0] == "a cfg01"
    assert lb.choose(m["label"], "mnist5k", chance)[0] == "a cfg01"       # label: the recall target only
    assert "the recall target" in lb.choose(m["label"], "mnist5k", chance)[1]
    # Fashion-MNIST has its own targets
    assert lb.choose(m["ac_mod"], "fashion-mnist", {"x": _rec(9, 0.85, 0.45), "y": _rec(7, 0.79, 0.45)})[0] == "x"
    # self-labeled: the highest clustering ACC among those meeting the recall target
    self = {"c cfg00": _rec(10, cluster=0.9, recall=0.3), "c cfg01": _rec(30, cluster=0.6), "c cfg02": _rec(9, cluster=0.5)}
    assert lb.choose(m["cgpgan"], "mnist5k", self)[0] == "c cfg01"
    # incomplete screening chooses nothing; a diverged configuration is never chosen
    assert lb.choose(m["pd"], "mnist5k", {"p cfg00": _rec(3), "p cfg01": None})[0] is None
    assert lb.choose(m["pd"], "mnist5k", {"p cfg00": {"metrics": {"diverged_step": 40}}, "p cfg01": _rec(30)})[0] == "p cfg01"


# --------------------------------------------------------------------------- stages, on fake runs
SCENARIO = {  # (method, cfg) -> fid, conditional accuracy, recall (seed s adds 0.3·s to the FID)
    ("ac_mod", 0): (10.0, 0.99, 0.6), ("ac_mod", 1): (6.0, 0.5, 0.7), ("ac_mod", 2): (12.0, 0.99, 0.6),
    ("pd", 0): (9.0, 0.98, 0.6), ("pd", 1): (5.0, 0.99, 0.7), ("pd", 2): (40.0, 0.2, 0.1),
    ("concat", 0): (9.9, 0.97, 0.6), ("concat", 1): (9.6, 0.97, 0.55), ("concat", 2): (300.0, 0.1, 0.0),
    ("2c", 0): (30.0, 0.1, 0.6), ("2c", 1): (25.0, 0.11, 0.5), ("2c", 2): (28.0, 0.12, 0.4),
}


class Fake:
    def __init__(self):
        self.trained = []

    def train(self, spec, run_dir, threads):
        self.trained.append(spec.key)
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(load_config(spec.preset, list(spec.overrides)).to_dict()))
        method, cfg = lb.method_of(spec.setting), int(spec.setting[-2:])
        if (method, cfg) == ("2c", 2):
            raise runner.RunFailed("condgan ... failed (exit 2):\ncondgan: error: loss 'd_loss' is nan at step 120; "
                                   "stopped, last good checkpoint is step 100")
        accuracy = {500: 0.3, 1000: 0.9, 1500: 0.5, 2000: SCENARIO[method, cfg][1]}  # rises, then falls
        rows = [{"step": s, "eval": {"conditional_accuracy": a, "recall": 0.5, "fid": 50.0}} for s, a in accuracy.items()]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return {"wall_s": 60.0, "cpu_s": 50.0 + 10 * (method == "pd"), "threads": threads}

    def evaluate(self, spec, run_dir, ev, threads):
        fid, acc, recall = SCENARIO[lb.method_of(spec.setting), int(spec.setting[-2:])]
        return {"metrics": {"fid": fid + 0.3 * spec.seed, "conditional_accuracy": acc, "recall": recall,
                            "precision": 0.8, "coverage": 0.9, "intra_fid": 2 * fid, "am_score": 0.1}, "_cpu_s": 1.0}


@pytest.fixture
def fake(monkeypatch):
    fake = Fake()
    monkeypatch.setattr(runner, "subprocess_trainer", fake.train)
    monkeypatch.setattr(runner, "subprocess_evaluator", fake.evaluate)
    monkeypatch.setattr(lb, "real_data_row", lambda spec, args: {"fid": 2.9, "recall": 0.9, "conditional_accuracy": 0.997})
    return fake


def test_stages_reuse_records_record_divergence_and_build_the_document(fake, tmp_path):
    common = ["--methods", "ac_mod", "pd", "concat", "2c", "--datasets", "mnist5k", "--configs", "3",
              "--runs", str(tmp_path / "runs"), "--docs", str(tmp_path / "docs")]
    assert lb.main(["--stage", "screen", *common]) == 0
    assert len(fake.trained) == 12 and all("-s0-" in k for k in fake.trained)
    diverged = json.loads(next((tmp_path / "docs" / "runs").glob("mnist5k-2c-cfg02-*")).read_text())
    assert diverged["metrics"] == {"diverged_step": 120}
    fake.trained.clear()
    assert lb.main(["--stage", "screen", *common]) == 0 and fake.trained == []  # every run has its record
    assert lb.main(["--stage", "final", *common]) == 0
    # the chosen configurations (and the quickstart's) on seeds 1, 2; seed 0 is the screening run
    assert len(fake.trained) == 8 and not any("-s0-" in k for k in fake.trained)
    assert {re.sub(r"-3000st-s\d-.*", "", k) for k in fake.trained} == {
        "mnist5k-ac-mod-cfg00", "mnist5k-pd-cfg01", "mnist5k-concat-cfg01", "mnist5k-2c-cfg01"}
    text = (tmp_path / "docs" / "leaderboard.md").read_text()
    readme = (tmp_path / "docs" / "README.md").read_text()  # the generated block beside hand-written text
    assert "<!-- begin generated: leaderboard -->" in readme and "[`leaderboard.md`](leaderboard.md)" in readme
    head = next(line for line in text.splitlines() if line.startswith("| rank |"))
    assert "cond. acc. (target ≥ 0.95)" in head and "recall (target ≥ 0.5)" in head and "FID |" in head
    rows = {line.split("|")[2].strip(): line for line in text.splitlines() if line.startswith("| ") and "cfg0" in line
            and "train CPU" not in line and "`" in line.split("|")[2]}
    # pd cfg01: FID 5.0, 5.3, 5.6: mean ± std [the 95 % Student interval of the mean]
    assert "| 5.3 ± 0.3 [4.6, 6.0] |" in rows["`pd`"]
    assert rows["`pd`"].startswith("| 1 |") and "cond. acc. ≥ 0.95: met; recall ≥ 0.5: met |" in rows["`pd`"]
    # ac_mod (10.0, 10.3, 10.6) and concat (9.6, 9.9, 10.2): no interval separates them: a tie
    assert rows["`concat`"].startswith("| 2 (tie) |") and rows["`ac_mod`"].startswith("| 2 (tie) |")
    assert rows["`2c`"].startswith("| 4 |")
    # constant accuracy 0.11 over seeds: its interval is [0.11, 0.11], below the target
    assert "cond. acc. ≥ 0.95: missed; recall ≥ 0.5: met |" in rows["`2c`"]
    assert text.index("**real data**") < text.index("`pd`")
    assert "**`2c`**" in text and "chance 0.10" in text and "1 of its configurations diverged" in text
    assert "peaked at" in text  # the accuracy curve rose and fell
    assert "**Quickstart check**" in text and "replace the quickstart with it: yes" in text
    for line in text.splitlines():  # every verdict line carries its interval and follows it (test_docs)
        if VERDICT.search(line):
            assert INTERVAL.search(line), line
    assert "| cfg02 |" in text  # the search space's table
    # presets from the chosen configurations with 3 seeds; a hand-written one keeps its name
    out = tmp_path / "presets"
    out.mkdir()
    (out / "mnist5k-pd.yaml").write_text("description: hand-written\n")
    argv = ["--docs", str(tmp_path / "docs"), "--out", str(out), "--datasets", "mnist5k", "--configs", "3"]
    assert leaderboard_presets.main(argv) == 0
    assert sorted(p.name for p in out.glob("*.yaml")) == [
        "mnist5k-2c.yaml", "mnist5k-ac_mod.yaml", "mnist5k-concat.yaml", "mnist5k-pd-tuned.yaml", "mnist5k-pd.yaml"]
    assert (out / "mnist5k-pd.yaml").read_text() == "description: hand-written\n"
    pd = yaml.safe_load((out / "mnist5k-pd-tuned.yaml").read_text())
    assert "pd cfg01" in pd["description"] and "3 configurations per method" in pd["description"]
    assert load_config(str(out / "mnist5k-pd-tuned.yaml")).model.conditioning == "pd"
    assert leaderboard_presets.main(argv + ["--check"]) == 0
    (out / "mnist5k-2c.yaml").unlink()
    assert leaderboard_presets.main(argv + ["--check"]) == 1


def test_stage_all_screens_then_runs_the_chosen_configurations(fake, tmp_path):
    """The default stage in one invocation: the final grid is chosen from the screening records
    that same invocation wrote (not from the records present when it started)."""
    argv = ["--methods", "ac_mod", "pd", "--datasets", "mnist5k", "--configs", "2",
            "--runs", str(tmp_path / "runs"), "--docs", str(tmp_path / "docs")]
    assert lb.main(argv) == 0
    # screening 2 × 2 on seed 0; then ac_mod cfg00 (meets both targets) and pd cfg01 on seeds 1, 2
    assert sorted(re.sub(r"-3000st-(s\d)-.*", r" \1", k) for k in fake.trained) == [
        "mnist5k-ac-mod-cfg00 s0", "mnist5k-ac-mod-cfg00 s1", "mnist5k-ac-mod-cfg00 s2", "mnist5k-ac-mod-cfg01 s0",
        "mnist5k-pd-cfg00 s0", "mnist5k-pd-cfg01 s0", "mnist5k-pd-cfg01 s1", "mnist5k-pd-cfg01 s2"]
    text = (tmp_path / "docs" / "leaderboard.md").read_text()
    assert "| `pd` | pd cfg01 | 3 |" in text and "| `ac_mod` | ac_mod cfg00 | 3 |" in text


def test_presets_resolve_to_the_runs_config(tmp_path):
    """A preset written from a record trains exactly the record's config (seed aside); a
    hand-written preset of the same name is kept and the generated one is NAME-tuned."""
    args = args_of("--configs", "3")
    setting = lb.config_settings(args, "fashion-mnist")[2 * 3 + 1]   # ac_mod cfg01 on Fashion-MNIST
    spec = runner.make_spec(lb.STUDY, args, setting, "fashion-mnist", 1, [])
    rec = {"preset": spec.preset, "overrides": list(spec.overrides), "setting": setting.label, "group": "fashion-mnist",
           "config": load_config(spec.preset, list(spec.overrides)).to_dict()}
    data = leaderboard_presets.preset_dict(rec, "test")
    got = load_config(data, ["seed=1"]).to_dict()
    want = dict(rec["config"], description="test")
    got["train"].pop("threads"), want["train"].pop("threads")
    assert got == want
    rec["config"]["model"]["cond_proj_dim"] = 77  # as if the default had changed since the run: pinned
    assert load_config(leaderboard_presets.preset_dict(rec, "test")).model.cond_proj_dim == 77
    (tmp_path / "fashion-mnist-pd.yaml").write_text("description: hand-written\n")
    assert leaderboard_presets.preset_name("pd", "fashion-mnist", presets=tmp_path) == "fashion-mnist-pd-tuned"
    assert leaderboard_presets.preset_name("pd", "fashion-mnist", ("fashion-mnist-pd",), tmp_path) == "fashion-mnist-pd"
    assert leaderboard_presets.preset_name("cgpgan+codebook", "mnist5k", presets=tmp_path) == "mnist5k-cgpgan-codebook"
    text = leaderboard_presets.render(data)
    assert text.startswith(leaderboard_presets.MARKER) and yaml.safe_load(text)["description"] == "test"


def test_target_status_reads_the_interval_of_the_mean():
    from leaderboard_report import mean_interval, target_status

    # mean 0.97, s 0.01: 0.97 ± 4.303 · 0.01 / √3 = [0.945, 0.995] contains 0.95, although every seed is above it
    assert target_status([0.96, 0.97, 0.98], 0.95) == "unresolved"
    assert target_status([0.96, 0.965, 0.97], 0.95) == "met"            # [0.953, 0.977]
    assert target_status([0.90, 0.91, 0.92], 0.95) == "missed"          # [0.885, 0.935]
    assert target_status([0.96], 0.95) == "met (1 seed)" and target_status([], 0.95) == "no record"
    # mean 2, s = 1, n = 3: half-width t_{0.975, 2} · 1/√3 = 4.303 / 1.732 = 2.484
    assert mean_interval([1.0, 2.0, 3.0], 3) == "2.000 ± 1.000 [-0.484, 4.484]"
    assert mean_interval([7.0], 1) == "7.0"


def test_plan_counts_the_runs_and_estimates_their_cpu_time(fake, tmp_path, capsys):
    common = ["--methods", "ac_mod", "pd", "--datasets", "mnist5k", "--configs", "3",
              "--runs", str(tmp_path / "runs"), "--docs", str(tmp_path / "docs")]
    rows = lb.plan(args_of(*common))
    # before screening: 2 methods × 3 configurations; final: 2 seeds more of each method + the quickstart's
    assert {k: rows["mnist5k"][k] for k in ("steps", "screen", "screen_done", "final", "final_done")} == {
        "steps": 3000, "screen": 6, "screen_done": 0, "final": 6, "final_done": 0}
    settings = lb.config_settings(args_of(*common), "mnist5k")
    specs = [runner.make_spec(lb.STUDY, args_of(*common), s, "mnist5k", 0, []) for s in settings]
    per_run = [3000 * lb.CPU_S_PER_STEP * (1 + lb.D_STEP_SHARE * ("train.d_steps=2" in sp.overrides)) + lb.EVAL_CPU_S
               for sp in specs]
    expected = sum(per_run) + 2 * (sum(per_run[:3]) / 3 + sum(per_run[3:]) / 3) + 2 * per_run[0]
    assert rows["mnist5k"]["cpu_s"] == pytest.approx(expected)
    assert lb.main(["--stage", "screen", *common]) == 0 and len(fake.trained) == 6
    rows = lb.plan(args_of(*common))["mnist5k"]
    # screened: ac_mod chose cfg00 (the quickstart's), pd cfg01; 2 seeds more of each are left
    assert (rows["screen_done"], rows["final"], rows["final_done"]) == (6, 4, 0)
    assert rows["cpu_s"] == pytest.approx(2 * per_run[0] + 2 * per_run[4])
    assert lb.main(["--plan", *common]) == 0 and "about 0 CPU-hours" not in capsys.readouterr().out
    assert len(fake.trained) == 6  # the plan trained nothing


@pytest.mark.slow
def test_smoke_trains_every_configuration_briefly(capsys):
    """--smoke: the configurations validation accepts also run (2 tiny steps and a 20-fake evaluation)."""
    assert lb.main(["--smoke", "--methods", "am-dynamic", "--configs", "2", "--datasets", "mnist5k"]) == 0
    assert "2 of 2 configurations ran" in capsys.readouterr().out
