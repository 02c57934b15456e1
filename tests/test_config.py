"""Config loading, `--set` overrides, validation of combinations the math does not allow, and the
rules for resuming a run directory with a changed config."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from condgan.config import (RESUMABLE_KEYS, Config, apply_override, config_diff, config_from_dict, config_keys,
                            list_presets)
from condgan.errors import CondganError
from condgan.validation import load_config

PRESET_NAMES = sorted(entry.name[:-5] for entry in (resources.files("condgan") / "presets").iterdir()
                      if entry.name.endswith(".yaml"))
EXPECTED_PRESETS = {"fashion-mnist-pd", "mnist5k-acgan", "mnist5k-cagan", "seed001-ca-vs-ac",
                    "seed001-mixed-batch", "seed003-am", "seed004-reacgan", "seed004-mog"}


def error(source, *overrides) -> str:
    with pytest.raises(CondganError) as info:
        load_config(source, list(overrides))
    return str(info.value)


# ------------------------------------------------------------------ presets
def test_presets_listed_with_descriptions():
    presets = list_presets()
    assert set(presets) >= EXPECTED_PRESETS
    assert sorted(presets) == PRESET_NAMES
    assert all(desc.strip() for desc in presets.values())


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_loads_and_validates(name):
    cfg = load_config(name)
    assert isinstance(cfg, Config)
    assert cfg.description
    # the round trip through a plain dict (what config.yaml / checkpoints store) is lossless
    assert config_from_dict(yaml.safe_load(yaml.safe_dump(cfg.to_dict()))) == cfg


def test_preset_values_and_override():
    cfg = load_config("mnist5k-cagan", ["train.steps=7", "model.conditioning=ac_mod"])
    assert cfg.train.steps == 7
    assert cfg.model.conditioning == "ac_mod"
    assert cfg.loss.adversarial == "ls"      # untouched keys keep the preset's value


def test_unknown_preset_and_missing_file(tmp_path):
    assert "did you mean 'mnist5k-cagan'" in error("mnist5k-cagn")
    missing = tmp_path / "nope.yaml"
    msg = error(str(missing))
    assert str(missing) in msg and "does not exist" in msg


def test_yaml_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 3\nmodel: {conditioning: pd, z_dim: 16}\nreg:\n")   # empty section
    cfg = load_config(str(path), ["reg.r1=0.5"])
    assert (cfg.seed, cfg.model.conditioning, cfg.model.z_dim, cfg.reg.r1) == (3, "pd", 16, 0.5)
    path.write_text("seed: [1\n")
    assert "invalid YAML" in error(str(path))
    path.write_text("- 1\n- 2\n")
    assert "mapping" in error(str(path))


# ------------------------------------------------------------------ --set type conversion
@pytest.mark.parametrize("assignment, getter, want", [
    ("train.steps=12", lambda c: c.train.steps, 12),
    ("train.steps=12.0", lambda c: c.train.steps, 12),                  # integral float → int
    ("train.g_lr=0.001", lambda c: c.train.g_lr, 0.001),
    ("train.g_lr=1e-4", lambda c: c.train.g_lr, 1e-4),                  # YAML 1.1 reads this as a str
    ("train.d_lr=1", lambda c: c.train.d_lr, 1.0),                      # int → float
    ("loss.mixed_batch=true", lambda c: c.loss.mixed_batch, True),
    ("loss.mixed_batch=false", lambda c: c.loss.mixed_batch, False),
    ("model.d_spectral_norm=True", lambda c: c.model.d_spectral_norm, True),
    ("data.classes=[3, 1]", lambda c: c.data.classes, [3, 1]),
    ("data.classes=4", lambda c: c.data.classes, [4]),                  # scalar → one-element list
    ("train.g_betas=[0.0, 0.9]", lambda c: c.train.g_betas, [0.0, 0.9]),
    ("train.g_betas=[0, 0.9]", lambda c: c.train.g_betas, [0.0, 0.9]),
    ("data.classes=null", lambda c: c.data.classes, None),
    ("data.root=", lambda c: c.data.root, None),
    ("eval.best_metric=fid", lambda c: c.eval.best_metric, "fid"),     # (with eval.every > 0, below)
    ("eval.metrics=[fid, kid]", lambda c: c.eval.metrics, ["fid", "kid"]),
    ("description=a b=c", lambda c: c.description, "a b=c"),          # split on the first '='
])
def test_set_type_conversion(assignment, getter, want):
    value = getter(load_config({}, ["eval.every=100", assignment]))
    assert value == want and type(value) is type(want)


def test_set_does_not_mutate_the_callers_dict():
    base = {"model": {"z_dim": 16}}
    cfg = load_config(base, ["model.z_dim=32"])
    assert cfg.model.z_dim == 32 and base == {"model": {"z_dim": 16}}


def test_set_later_override_wins():
    assert load_config({}, ["seed=1", "seed=2"]).seed == 2


@pytest.mark.parametrize("assignment, key", [
    ("model.z_dim=abc", "model.z_dim"),
    ("train.steps=1.5", "train.steps"),
    ("train.steps=null", "train.steps"),
    ("loss.mixed_batch=1", "loss.mixed_batch"),
    ("loss.mixed_batch=maybe", "loss.mixed_batch"),
    ("train.g_lr=fast", "train.g_lr"),
    ("train.g_lr=nan", "train.g_lr"),
    ("data.classes=[a, 1]", "data.classes[0]"),
    ("model.conditioning=[ac]", "model.conditioning"),
])
def test_wrong_type_names_the_key(assignment, key):
    msg = error({}, assignment)
    assert f"'{key}'" in msg


def test_wrong_type_in_yaml_dict_names_the_key():
    assert "'train.steps'" in error({"train": {"steps": "many"}})
    assert "'model'" in error({"model": 3})


def test_set_syntax_errors():
    assert "KEY=VALUE" in error({}, "train.steps")
    assert "did you mean 'model.conditioning'" in error({}, "model.condtioning=ac")
    assert "did you mean 'train.steps'" in error({}, "train.step=3")
    assert "unknown config key 'nothing.like.it'" in error({}, "nothing.like.it=3")


def test_unknown_yaml_key_suggests():
    msg = error({"model": {"condtioning": "ac"}})
    assert "model.condtioning" in msg and "did you mean 'conditioning'" in msg
    msg = error({"trian": {"steps": 1}})
    assert "'trian'" in msg and "did you mean 'train'" in msg


def test_unknown_registry_names_suggest():
    msg = error({}, "model.conditioning=ac_mdo")
    assert "model.conditioning" in msg and "did you mean 'ac_mod'" in msg
    msg = error({}, "loss.adversarial=hinj")
    assert "loss.adversarial" in msg and "did you mean 'hinge'" in msg
    assert "model.d_norm" in error({}, "model.d_norm=batchnorm")
    assert "model.net" in error({}, "model.net=resnet9000")
    assert "train.optimizer" in error({}, "train.optimizer=sgd")


# ------------------------------------------------------------------ disallowed combinations
def test_wasserstein_needs_a_lipschitz_critic():
    msg = error({}, "loss.adversarial=wasserstein")
    assert "wasserstein" in msg and "Lipschitz" in msg and "reg.gp" in msg and "d_spectral_norm" in msg
    load_config({}, ["loss.adversarial=wasserstein", "reg.gp=10"])
    load_config({}, ["loss.adversarial=wasserstein", "model.d_spectral_norm=true"])


def test_gp_with_batch_norm_in_d_rejected():
    msg = error({}, "reg.gp=10", "model.d_norm=batch")
    assert "reg.gp" in msg and "batch" in msg
    for norm in ("none", "instance", "layer"):
        load_config({}, ["reg.gp=10", f"model.d_norm={norm}"])
    load_config({}, ["reg.r1=1", "model.d_norm=batch"])   # R1 is allowed


@pytest.mark.parametrize("method", ["ac", "ac_mod", "ac_plus"])
def test_classifier_methods_reject_attributes(method):
    msg = error({}, "data.name=digits", "data.image_size=8", "data.attributes=[even, ge5]",
                f"model.conditioning={method}")
    assert f"model.conditioning={method}" in msg and "attributes" in msg


@pytest.mark.parametrize("method", ["ca", "pd", "none"])
def test_multi_label_methods_accept_attributes(method):
    cfg = load_config({}, ["data.name=digits", "data.image_size=8", "data.attributes=[even, ge5]",
                           f"model.conditioning={method}"])
    assert cfg.data.attributes == ["even", "ge5"]


def test_cbn_needs_a_generator_norm():
    msg = error({}, "model.g_conditioning=cbn", "model.g_norm=none")
    assert "cbn" in msg and "g_norm" in msg
    load_config({}, ["model.g_conditioning=cbn", "model.g_norm=batch"])


@pytest.mark.parametrize("assignment, key", [
    ("train.g_betas=[0.5]", "train.g_betas"),
    ("train.g_betas=[0.5, 1.0]", "train.g_betas"),
    ("train.d_betas=[-0.1, 0.9]", "train.d_betas"),
    ("train.d_betas=[0.1, 0.2, 0.3]", "train.d_betas"),
    ("train.ema=1.0", "train.ema"),
    ("train.ema=-0.5", "train.ema"),
    ("train.steps=0", "train.steps"),
    ("train.batch_size=-4", "train.batch_size"),
    ("train.g_lr=0", "train.g_lr"),
    ("model.z_dim=0", "model.z_dim"),
    ("reg.r1=-1", "reg.r1"),
    ("model.cond_weight=-1", "model.cond_weight"),
    ("model.g_conditioning=film", "model.g_conditioning"),
    ("model.labeling=magic", "model.labeling"),
])
def test_bad_values_rejected_with_key(assignment, key):
    assert key in error({}, assignment)


def test_valid_edge_values():
    cfg = load_config({}, ["train.ema=0", "train.g_betas=[0, 0.99]", "model.cond_weight=0", "train.sample_every=0"])
    assert cfg.train.ema == 0.0


# ------------------------------------------------------------------ diff / resume rules
def test_config_diff():
    a = {"seed": 0, "model": {"z_dim": 8, "conditioning": "ca"}, "train": {"steps": 10}}
    b = {"seed": 0, "model": {"z_dim": 16, "conditioning": "ca"}, "train": {"steps": 20}, "x": 1}
    assert config_diff(a, b) == ["model.z_dim", "train.steps", "x"]
    assert config_diff(a, a) == []
    full = load_config({}).to_dict()
    other = load_config({}, ["reg.r1=2", "data.classes=[1, 2]"]).to_dict()
    assert config_diff(full, other) == ["data.classes", "reg.r1"]


def test_resumable_keys_do_not_change_the_math():
    assert {"train.steps", "train.checkpoint_every", "train.log_every", "train.sample_every"} <= RESUMABLE_KEYS
    flat = set(config_keys())   # every leaf key of the config
    assert RESUMABLE_KEYS <= flat
    for key in ("seed", "model.z_dim", "loss.adversarial", "train.batch_size", "train.g_lr",
                "train.d_steps", "train.ema", "reg.gp", "data.name", "model.conditioning"):
        assert key not in RESUMABLE_KEYS


def test_check_resumable(tmp_path):
    from condgan.training.checkpoint import RunDir
    from condgan.training.checkpoint import check_resumable

    run = RunDir(tmp_path / "run")
    cfg = load_config({}, ["model.z_dim=8"])
    check_resumable(run, cfg)                       # no run directory yet: fine
    run.root.mkdir()
    run.config.write_text(yaml.safe_dump(cfg.to_dict()))
    check_resumable(run, cfg)
    check_resumable(run, load_config({}, ["model.z_dim=8", "train.steps=99999", "train.log_every=3",
                                          "train.checkpoint_every=7", "train.sample_every=0"]))
    with pytest.raises(CondganError) as info:
        check_resumable(run, load_config({}, ["model.z_dim=16"]))
    msg = str(info.value)
    assert "model.z_dim" in msg and "8" in msg and "16" in msg and str(run.root) in msg


def test_apply_override_into_plain_dict():
    data = {"model": {"z_dim": 4}}
    apply_override(data, "model.g_width=8")
    apply_override(data, "train.steps=5")
    assert data == {"model": {"z_dim": 4, "g_width": 8}, "train": {"steps": 5}}


def _float_keys() -> list[tuple[str, bool]]:
    """(dotted key, is a list) for every float-valued config key."""
    import types
    import typing

    out = []
    for key in config_keys():
        cls = Config
        *parents, leaf = key.split(".")
        for p in parents:
            cls = typing.get_type_hints(cls)[p]
        tp = typing.get_type_hints(cls)[leaf]
        if typing.get_origin(tp) in (typing.Union, types.UnionType):   # Optional[X] → X
            (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
        if tp is float:
            out.append((key, False))
        elif typing.get_origin(tp) is list and typing.get_args(tp) == (float,):
            out.append((key, True))
    return out


def test_every_float_key_must_be_finite():
    """NaN passes every range check (comparisons with NaN are false) and would only show up as
    NaN losses, so non-finite values are refused for every float key, present and future."""
    keys = _float_keys()
    assert {("train.g_lr", False), ("reg.r1", False), ("train.g_betas", True)} <= set(keys)
    for key, is_list in keys:
        for value in (".nan", ".inf", "-.inf"):
            msg = error({}, f"{key}={'[' + value + ']' if is_list else value}")
            assert key in msg and "finite" in msg, (key, value, msg)


def test_empty_config_file_is_refused(tmp_path):
    path = tmp_path / "empty.yaml"
    for text in ("", "\n# only a comment\n"):
        path.write_text(text)
        msg = error(str(path))
        assert str(path) in msg and "is empty" in msg
