from __future__ import annotations

import pytest

from eegdeploy.config import TrainConfig, compile_patterns, list_profiles, load_profile, matches_any
from eegdeploy.errors import ConfigError

SHIPPED = ["ccnn-deap", "fbccnn-deap", "tsception-deap", "eegnet-deap"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profiles_load(name: str) -> None:
    p = load_profile(name)
    assert p.name == name
    assert p.num_classes == 2
    assert all(isinstance(v, int) and v > 0 for v in p.input.shape)
    assert name in list_profiles()


def test_deap_profiles_shapes() -> None:
    assert load_profile("ccnn-deap").input.shape == (4, 9, 9)
    assert load_profile("tsception-deap").input.shape == (1, 28, 512)
    assert len(load_profile("tsception-deap").input.electrodes) == 28
    assert load_profile("eegnet-deap").input.shape == (1, 32, 128)


def test_unknown_profile_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'nope', expected one of .*'ccnn-deap'"):
        load_profile("nope")


def test_malformed_toml_names_line(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[model\narch = "torcheeg:CCNN"\n')
    with pytest.raises(ConfigError, match=r"malformed profile .*line 2"):
        load_profile(str(bad))


def test_unknown_train_key(tmp_path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('[model]\narch="torcheeg:CCNN"\n[input]\nshape=[4,9,9]\n[train]\nepocs=3\n')
    with pytest.raises(ConfigError, match="unknown key 'epocs'"):
        load_profile(str(f))


def test_missing_arch(tmp_path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('[input]\nshape=[4,9,9]\n')
    with pytest.raises(ConfigError, match="missing key 'model.arch'"):
        load_profile(str(f))


def test_train_config_validation() -> None:
    with pytest.raises(ConfigError, match="invalid value for lr"):
        TrainConfig(lr=0)
    with pytest.raises(ConfigError, match="unknown optimizer 'rmsprop'"):
        TrainConfig(optimizer="rmsprop")


def test_keep_patterns() -> None:
    pats = compile_patterns(["lin2", "re:conv[12].*"])
    assert matches_any("lin2", pats)
    assert matches_any("conv1.1", pats)
    assert not matches_any("lin1", pats)
    assert not matches_any("conv3.1", pats)
    with pytest.raises(ConfigError, match="invalid value for keep"):
        compile_patterns(["re:("])
