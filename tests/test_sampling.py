"""Latent sampling (condgan.training.latents) and the truncation trick, in the library and in
`condgan sample --truncation`."""

from __future__ import annotations

import math

import pytest
import torch

from condgan.cli.main import main
from condgan.validation import load_config
from condgan.errors import CondganError
from condgan.training.latents import MIN_TRUNCATION, check_truncation, sample_latents
from condgan.training.restore import load_generator, standing_stats_inputs
from condgan.training.sampling import fixed_latents, sample_grid
from condgan.training.trainer import Trainer
from conftest import tiny_overrides


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sampling") / "run"
    cfg = load_config({}, tiny_overrides("train.steps=4", "train.standing_stats=2"))
    Trainer(cfg, out, progress=False).train()
    return out


# ----------------------------------------------------------------------------- the sampler
def test_untruncated_latents_are_plain_randn():
    """No truncation must draw exactly what torch.randn draws: grids, standing statistics and
    evaluations made before the sampler existed stay byte-identical."""
    for t in (None, 0, 0.0):
        assert torch.equal(sample_latents(5, 7, gen(3), t), torch.randn(5, 7, generator=gen(3)))
    assert torch.equal(fixed_latents(7, 5, 3, "cpu"), torch.randn(5, 7, generator=gen(3)))


@pytest.mark.parametrize("t", [0.25, 0.5, 1.0, 2.0])
def test_truncated_latents_within_bound_deterministic_and_resampled(t):
    z = sample_latents(64, 32, gen(11), t)
    assert z.shape == (64, 32) and z.abs().max() <= t
    assert torch.equal(z, sample_latents(64, 32, gen(11), t))  # same seed, same latents
    assert not torch.equal(z, sample_latents(64, 32, gen(12), t))
    plain = torch.randn(64, 32, generator=gen(11))
    inside = plain.abs() <= t
    assert torch.equal(z[inside], plain[inside])  # elements already within T are kept
    assert not torch.equal(z[~inside], plain[~inside].clamp(-t, t))  # resampled, not clipped


def test_truncation_resamples_per_element_to_a_truncated_normal():
    """Resampling gives N(0, 1) truncated to [-T, T]: variance 1 - 2Tφ(T) / (2Φ(T) - 1), no mass
    piled up at ±T. Clipping (or resampling whole vectors) would fail one of these checks."""
    t = 1.0
    z = sample_latents(2000, 64, gen(0), t).flatten().double()
    phi = math.exp(-t * t / 2) / math.sqrt(2 * math.pi)
    mass = math.erf(t / math.sqrt(2))
    assert abs(z.var().item() - (1 - 2 * t * phi / mass)) < 0.005
    assert abs(z.mean().item()) < 0.01
    assert (z.abs() > 0.99 * t).double().mean().item() < 0.01


def test_truncation_uses_only_the_passed_generator():
    torch.manual_seed(0)
    a = sample_latents(16, 8, gen(5), 0.5)
    torch.manual_seed(1)
    b = sample_latents(16, 8, gen(5), 0.5)
    assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), float("inf"), MIN_TRUNCATION / 10, "x"])
def test_bad_truncation_is_a_user_error(bad):
    with pytest.raises(CondganError, match="truncation"):
        sample_latents(2, 2, gen(0), bad)


def test_check_truncation_values():
    assert check_truncation(None) is None and check_truncation(0) is None
    assert check_truncation(0.5) == 0.5 and check_truncation(2) == 2.0
    with pytest.raises(CondganError, match="--truncation"):
        check_truncation(-2, "--truncation")


# ----------------------------------------------------------------------------- its users
def test_sample_grid_truncated_columns_share_latents(run):
    trained = load_generator(run)
    k, z_dim = trained.info.num_classes, trained.cfg.model.z_dim
    plain, _ = sample_grid(trained.generator, z_dim, [1, 2], k, 4, 0, "cpu")
    a, y = sample_grid(trained.generator, z_dim, [1, 2], k, 4, 0, "cpu", truncation=0.5)
    b, _ = sample_grid(trained.generator, z_dim, [1, 2], k, 4, 0, "cpu", truncation=0.5)
    assert torch.equal(a, b) and not torch.equal(a, plain)
    assert y.tolist() == [1] * 4 + [2] * 4
    z = fixed_latents(z_dim, 4, 0, "cpu", truncation=0.5).repeat(2, 1)
    cnd = torch.nn.functional.one_hot(y, k).float()
    assert torch.equal(a, trained.generator(z, cnd))


def test_trained_generator_sample_with_truncation(run):
    trained = load_generator(run)
    classes = torch.tensor([0, 3, 3, 9])
    a = trained.sample(classes, gen(4), truncation=0.5)
    assert torch.equal(a, trained.sample(classes, gen(4), truncation=0.5))
    plain = trained.sample(classes, gen(4))
    assert not torch.equal(a, plain)
    z = torch.randn(4, trained.cfg.model.z_dim, generator=gen(4))
    assert torch.equal(plain, trained.generator(z, torch.nn.functional.one_hot(classes, 10).float()))


def test_standing_stats_inputs_unchanged(run):
    """The standing-statistics batches are still (randint classes, then randn latents) from one
    generator seeded with cfg.seed + 7, so EMA generators restore to the same statistics."""
    trained = load_generator(run)
    inputs = standing_stats_inputs(trained.cfg, trained.info, "cpu")
    g = gen(trained.cfg.seed + 7)
    for _ in range(2):
        z, cnd = inputs()
        y = torch.randint(10, (trained.cfg.train.batch_size,), generator=g)
        assert torch.equal(z, torch.randn(trained.cfg.train.batch_size, trained.cfg.model.z_dim, generator=g))
        assert torch.equal(cnd.argmax(1), y)


# ----------------------------------------------------------------------------- the CLI
def _sample(run, out, *extra):
    return main(["sample", str(run), "--out", str(out), "--num", "4", "--seed", "3", *extra])


def test_cli_truncation_changes_the_png_and_is_deterministic(run, tmp_path, capsys):
    assert _sample(run, tmp_path / "plain.png") == 0
    assert _sample(run, tmp_path / "t1.png", "--truncation", "0.5") == 0
    assert "truncation 0.5" in capsys.readouterr().out
    assert _sample(run, tmp_path / "t2.png", "--truncation", "0.5") == 0
    assert _sample(run, tmp_path / "t3.png", "--truncation", "1.5") == 0
    plain, t1, t2, t3 = ((tmp_path / f"{n}.png").read_bytes() for n in ("plain", "t1", "t2", "t3"))
    assert t1 == t2
    assert t1 != plain and t3 != t1 and t3 != plain


def test_cli_untruncated_png_is_the_plain_grid(run, tmp_path):
    """Without --truncation the PNG is the grid of plain N(0, I) latents, as before the option."""
    from condgan.training.sampling import image_grid_png

    assert _sample(run, tmp_path / "plain.png", "--class", "2", "--class", "5") == 0
    trained = load_generator(run)
    z = torch.randn(4, trained.cfg.model.z_dim, generator=gen(3)).repeat(2, 1)
    cnd = torch.nn.functional.one_hot(torch.tensor([2] * 4 + [5] * 4), 10).float()
    with torch.no_grad():
        expected = image_grid_png(trained.generator(z, cnd), 4)
    assert (tmp_path / "plain.png").read_bytes() == expected


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "1e-9"])
def test_cli_bad_truncation_is_one_line_exit_2(run, tmp_path, capsys, bad):
    png = tmp_path / "s.png"
    assert _sample(run, png, "--truncation", bad) == 2
    err = capsys.readouterr().err
    assert err.startswith("condgan: error: --truncation") and err.count("\n") == 1, err
    assert str(float(bad)) in err and not png.exists()


# ----------------------------------------------------------------------------- restored = trained
@pytest.fixture(scope="module")
def dynamic_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sampling_dynamic") / "run"
    cfg = load_config({}, tiny_overrides("model.conditioning=ac", "model.labeling=dynamic", "train.steps=4"))
    Trainer(cfg, out, progress=False).train()
    return out


@pytest.mark.parametrize("which", ["run", "dynamic_run"])
def test_cli_sample_reproduces_the_trainers_grid(which, request, tmp_path):
    """`condgan sample RUN --num 10` (the run's seed, every class) draws exactly the trainer's
    final grid: same latents, same standing statistics, same class selection — also for dynamic
    labeling, whose unconditional G is made class-conditional by the discriminator."""
    run = request.getfixturevalue(which)
    assert main(["sample", str(run), "--num", "10", "--out", str(tmp_path / "s.png")]) == 0
    assert (tmp_path / "s.png").read_bytes() == (run / "samples" / "latest.png").read_bytes()


def test_dynamic_run_samples_differ_per_class(dynamic_run):
    trained = load_generator(dynamic_run)
    x, _ = sample_grid(trained.generator, trained.cfg.model.z_dim, [0, 1], 10, 3, 0, "cpu")
    assert not torch.equal(x[:3], x[3:])


class _RecordingGenerator(torch.nn.Module):
    """Wraps a generator and keeps every latent batch it is called with."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.latents = inner, []

    def forward(self, z, cnd):
        self.latents.append(z.clone())
        return self.inner(z, cnd)


@pytest.mark.parametrize("how", ["api", "trained.sample"])
def test_dynamic_run_truncates_every_latent_also_the_redrawn_ones(dynamic_run, how):
    """Dynamic labeling samples class y by redrawing the latents of rows D puts in another class;
    with a truncation every redrawn latent is truncated too (it was not: the redraws used the
    wrapper's own truncation, which nothing set)."""
    from condgan import api

    trained = load_generator(dynamic_run)
    recorder = _RecordingGenerator(trained.generator.generator)
    trained.generator.generator = recorder
    if how == "api":
        api.sample(trained, classes=list(range(10)), num=6, seed=3, truncation=0.5)
    else:
        trained.sample(torch.arange(10).repeat(6), gen(3), truncation=0.5)
    assert len(recorder.latents) > 1, "no latent was redrawn: the test would not see the redraws"
    assert max(float(z.abs().max()) for z in recorder.latents) <= 0.5
    assert trained.generator.truncation is None  # restored after the call


def test_cli_sample_truncates_every_latent_of_a_dynamic_run(dynamic_run, tmp_path, monkeypatch):
    """`condgan sample RUN --truncation 0.5` on a dynamic-labeling run: the first draw and every
    latent redrawn for a row of another class are within the threshold."""
    import condgan.cli.sample as cli_sample

    recorders = []

    def recording_load_generator(*args, **kwargs):
        trained = load_generator(*args, **kwargs)
        recorders.append(_RecordingGenerator(trained.generator.generator))
        trained.generator.generator = recorders[-1]
        return trained

    monkeypatch.setattr(cli_sample, "load_generator", recording_load_generator)
    assert main(["sample", str(dynamic_run), "--truncation", "0.5", "--num", "6", "--seed", "3",
                 "--out", str(tmp_path / "grid.png")]) == 0
    (recorder,) = recorders
    assert len(recorder.latents) > 1, "no latent was redrawn: the test would not see the redraws"
    assert max(float(z.abs().max()) for z in recorder.latents) <= 0.5
