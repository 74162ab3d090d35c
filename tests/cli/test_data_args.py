"""--data/--split/--seed, shared by the commands that load data: --split picks the holdout protocol."""

import argparse

import numpy as np
import pytest

from eegdeploy.cli._common import add_data_args, load_splits
from eegdeploy.config import load_profile
from eegdeploy.errors import ConfigError


def _args(*argv):
    p = argparse.ArgumentParser()
    add_data_args(p)
    return p.parse_args(list(argv))


def test_split_trial_keeps_every_trial_on_one_side(tmp_path, monkeypatch):
    monkeypatch.setenv("EEGDEPLOY_CACHE", str(tmp_path))
    data = "synthetic:realistic:subjects=1,trials=8,seconds=4"
    s = load_splits(_args("--data", data, "--split", "trial"), load_profile("eegnet-deap"))
    assert s.split == "trial"
    parts = [set(np.unique(p.trials)) for p in (s.train, s.val, s.test)]
    assert all(parts) and sum(len(p) for p in parts) == 8  # 8 trials, none on two sides
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert load_splits(_args("--data", data), load_profile("eegnet-deap")).split == "random"  # the default


def test_unknown_split_is_one_config_error():
    with pytest.raises(ConfigError, match="unknown split 'sideways'"):
        load_splits(_args("--split", "sideways"), load_profile("eegnet-deap"))


def test_sweep_keeps_its_own_split():
    p = argparse.ArgumentParser()
    add_data_args(p, split=False)
    p.add_argument("--split", default="holdout")
    assert p.parse_args([]).split == "holdout" and not hasattr(p.parse_args([]), "data_split")
