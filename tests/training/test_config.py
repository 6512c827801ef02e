"""Layered configs: precedence, unknown keys, wrong types (corrviz.training.config)."""

from __future__ import annotations

import pytest

from corrviz.training.config import ConfigError, compose

METHOD = {"optim": {"lr": 1e-5}, "model": {"backbone": "x", "rank": 4, "targets": ["q", "v"]},
          "loss": {"temperature": 0.01}}


def test_layers_apply_in_order(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text("optim: {lr: 3.0e-4, weight_decay: 0.5}\nmodel: {rank: 8}\n")
    cfg = compose("m", METHOD, exp, ["optim.lr=1e-3", "train.steps=7"])
    assert cfg.optim.lr == 1e-3            # command line beats the experiment file
    assert cfg.optim.weight_decay == 0.5   # experiment file beats package defaults (1e-4)
    assert cfg.model.rank == 8             # experiment file beats method defaults
    assert cfg.loss.temperature == 0.01    # method default kept
    assert cfg.train.steps == 7 and cfg.schedule.kind == "cosine"  # package default kept
    assert cfg.method == "m"
    no_exp = compose("m", METHOD)
    assert no_exp.optim.lr == 1e-5         # method default beats the package default (1e-4)


def test_unknown_key_names_it_and_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        compose("m", METHOD, None, ["optim.lrr=1e-3"])
    msg = str(err.value)
    assert "'optim.lrr'" in msg and "Did you mean: lr" in msg and "weight_decay" in msg and "command line" in msg
    exp = tmp_path / "exp.yaml"
    exp.write_text("modle: {rank: 2}\n")
    with pytest.raises(ConfigError, match=r"exp.yaml: unknown config key 'modle'.*Did you mean: model"):
        compose("m", METHOD, exp)


def test_wrong_types_are_refused_with_the_expected_type():
    with pytest.raises(ConfigError, match=r"'train.steps' expects a int .*got float 2.5"):
        compose("m", METHOD, None, ["train.steps=2.5"])
    with pytest.raises(ConfigError, match=r"'optim.lr' expects a float .*got string"):
        compose("m", METHOD, None, ["optim.lr=fast"])
    with pytest.raises(ConfigError, match=r"'model.targets' expects a list"):
        compose("m", METHOD, None, ["model.targets=q"])
    with pytest.raises(ConfigError, match=r"'optim' is a section"):
        compose("m", METHOD, None, ["optim=3"])
    assert compose("m", METHOD, None, ["optim.lr=1"]).optim.lr == 1.0  # an int where a float is expected
    assert isinstance(compose("m", METHOD, None, ["optim.lr=1"]).optim.lr, float)


def test_bad_files_and_override_syntax(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        compose("m", METHOD, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not a readable YAML"):
        compose("m", METHOD, bad)
    other = tmp_path / "other.yaml"
    other.write_text("method: sph\n")
    with pytest.raises(ConfigError, match="for method 'sph', not 'm'"):
        compose("m", METHOD, other)
    with pytest.raises(ConfigError, match="key=value"):
        compose("m", METHOD, None, ["optim.lr"])


def test_read_of_a_typo_key_raises_after_compose():
    cfg = compose("m", METHOD)
    with pytest.raises(Exception):  # noqa: B017 - struct mode: omegaconf's ConfigAttributeError
        _ = cfg.optim.lrr
