"""experiments/seed004.py manyclass on fake records (no training): the curve summary a record
keeps (best / last FID, FID's rise, accuracy's peak and drop, D's feature norm) against values
computed by hand from the fake curves, the accuracy and FID over training steps drawn for every
method from three seeds each (mean ± std and per seed), and the verdicts on the collapse claims."""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
import runner  # noqa: E402
from test_experiments_runner import FakeTraining  # noqa: E402

STEPS = list(range(250, 3001, 250))


def curves(setting: str, seed: int):
    """AC-GAN (both λ) rises to its best at step 1,000, then collapses (FID up, accuracy down);
    the others improve to the end. A seed shifts every value a little."""
    fid, acc = [], []
    for step in STEPS:
        if setting.startswith("ac_mod"):
            f = 300.0 - 0.25 * step if step <= 1000 else 50.0 + 0.05 * (step - 1000)
            a = 0.8 * step / 1000 if step <= 1000 else 0.8 - 0.0002 * (step - 1000)
        else:
            f, a = 300.0 - 0.09 * step, 0.9 * step / 3000
        fid.append(f + seed)
        acc.append(a - 0.01 * seed)
    norm = [5.0 + (0.01 if setting.startswith("ac_mod") else 0.001) * s + seed for s in STEPS]
    return fid, acc, norm


class CurveFake(FakeTraining):
    def train(self, spec, run_dir, threads):
        info = super().train(spec, run_dir, threads)
        fid, acc, norm = curves(spec.setting, spec.seed)
        rows = [{"step": s, "d_loss": 0.5, "diag_feature_norm": n, "diag_cond_grad_norm": 1.0,
                 "eval": {"fid": f, "conditional_accuracy": a}} for s, f, a, n in zip(STEPS, fid, acc, norm)]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return info

    def evaluate(self, spec, run_dir, ev, threads):
        fid, acc, _ = curves(spec.setting, spec.seed)
        return {"metrics": {"fid": fid[-1], "conditional_accuracy": acc[-1], "precision": 0.6, "recall": 0.4},
                "extractor": "fake", "_cpu_s": 0.1}


@pytest.fixture(scope="module")
def manyclass_doc(tmp_path_factory):
    seed004 = importlib.import_module("seed004")
    tmp = tmp_path_factory.mktemp("manyclass")
    argv = ["manyclass", "--seeds", "0", "1", "2", "--runs", str(tmp / "runs"), "--docs", str(tmp / "docs")]
    fake = CurveFake()
    assert runner.main(seed004.STUDIES, argv, trainer=fake.train, evaluator=fake.evaluate) == 0
    assert len(fake.calls) == 3 * len(seed004.MANY)
    records = [json.loads(p.read_text()) for p in sorted((tmp / "docs" / "runs").glob("*.json"))]
    return seed004, tmp / "docs", (tmp / "docs" / "manyclass.md").read_text(), records


def test_curve_summary_by_hand(manyclass_doc):
    _, _, _, records = manyclass_doc
    by = {(r["setting"], r["seed"]): r["metrics"] for r in records}
    ac, d2 = by[("ac_mod", 1)], by[("d2dce", 1)]
    # AC-GAN seed 1: best FID 50 + 1 at step 1,000, last 50 + 0.05 * 2,000 + 1 = 151; accuracy
    # peak 0.8 - 0.01 there, last 0.8 - 0.0002 * 2,000 - 0.01 = 0.39; feature norm 5 + 30 + 1.
    assert ac["fid_best"] == pytest.approx(51.0) and ac["fid_rise"] == pytest.approx(100.0)
    assert ac["acc_peak"] == pytest.approx(0.79) and ac["acc_drop"] == pytest.approx(0.4)
    assert ac["feature_norm_last"] == pytest.approx(36.0)
    # D2D-CE improves to the end: no rise, no drop.
    assert d2["fid_rise"] == pytest.approx(0.0) and d2["acc_drop"] == pytest.approx(0.0)
    assert d2["fid_best"] == pytest.approx(300.0 - 270.0 + 1)
    # every record keeps the curves the plots are drawn from, one point per evaluation
    assert all(len(r["series"]["eval.conditional_accuracy"]) == len(STEPS) for r in records)


def test_accuracy_and_fid_over_steps_are_plotted_for_every_method(manyclass_doc, monkeypatch):
    seed004, docs, text, _ = manyclass_doc
    figures = re.findall(r"\]\(([^)]+\.png)\)", text)
    for name in ("conditional_accuracy", "fid", "conditional_accuracy_per_seed", "fid_per_seed", "diag_feature_norm"):
        assert f"manyclass_{name}.png" in figures
    for target in figures:
        assert (docs / target).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", target
    # the per-seed figure draws one panel per method and one line per seed
    import matplotlib.pyplot as plt

    drawn = []
    monkeypatch.setattr(plt.Figure, "savefig", lambda fig, *a, **k: drawn.append(
        [(ax.get_title(), len(ax.get_lines())) for ax in fig.axes]))
    ctx = type("Ctx", (), {})()
    from report import Results
    ctx.results = Results([json.loads(p.read_text()) for p in sorted((docs / "runs").glob("*.json"))])
    assert seed004.per_seed_figure(ctx, "eval.conditional_accuracy", docs / "x.png", "acc")
    assert drawn == [[(m, 3) for m in ctx.results.settings()]]
    assert set(ctx.results.settings()) == set(seed004.MANY)


def test_collapse_claims_follow_the_curves(manyclass_doc):
    _, _, text, _ = manyclass_doc
    line = next(x for x in text.splitlines() if "AC-GAN's FID rises after its best point" in x)
    assert line.endswith("**holds**")
    line = next(x for x in text.splitlines() if "AC-GAN's conditional accuracy falls" in x)
    assert line.endswith("**holds**")
    # the baseline learned: its peak accuracy (0.79 ± 0.01 over seeds) passes 0.75
    assert "learned (acc_peak >= 0.75): **yes**" in text
    assert "FID of every seed" in text and "Conditional accuracy of every seed" in text
