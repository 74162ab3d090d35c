"""NSFP (network slimming): the L1 penalty on BatchNorm scales, global |gamma| ranking, the no-BatchNorm error."""

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn

from eegdeploy.config import TrainConfig
from eegdeploy.data import split_arrays
from eegdeploy.errors import ConfigError
from eegdeploy.prune import NSFPConfig, apply_masks, make_config, prune, slim

from .conftest import Depthwise

X1 = torch.zeros(1, 1, 3, 16)
TRAIN = TrainConfig(epochs=4, batch_size=16, lr=0.01)


def _splits(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 1, 3, 16)).astype(np.float32)
    y = np.arange(n) % 2
    X[y == 1, ..., :4] += 1.0
    return split_arrays(X, y, None, None, seed=seed, val=0.25, test=0.25)


def _gammas(model):
    return torch.cat([m.weight.detach().abs().flatten() for m in model.modules() if isinstance(m, nn.BatchNorm2d)])


class NoNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c = nn.Conv2d(1, 4, (1, 3))
        self.fc = nn.Linear(4 * 3 * 14, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.c(x)).flatten(1))


class PartlyNormed(nn.Module):
    """Group "a" has BatchNorm, group "b" has none."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 4, (1, 3), padding=(0, 1))
        self.bn = nn.BatchNorm2d(4)
        self.b = nn.Conv2d(4, 6, (1, 3), padding=(0, 1))
        self.fc = nn.Linear(6 * 3 * 16, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.b(torch.relu(self.bn(self.a(x))))).flatten(1))


def test_penalty_lowers_the_sum_of_gammas_against_plain_training_with_the_same_seed():
    start = Depthwise("elu")
    runs = {}
    for sparsity in (0.0, 0.02):
        model = copy.deepcopy(start)
        prune(model, NSFPConfig(0.5, sparsity=sparsity), example=X1, splits=_splits(), train=TRAIN, seed=3)
        runs[sparsity] = _gammas(model)
    assert not torch.equal(runs[0.0], _gammas(start))  # sparsity 0 is plain training, not "no training"
    assert float(runs[0.02].sum()) < float(runs[0.0].sum())


def test_global_ranking_removes_the_smallest_gammas_across_groups():
    model = Depthwise("elu").eval()
    with torch.no_grad():
        model.bn1.weight.copy_(torch.tensor([0.9, -0.05, 0.8, 0.7]))  # |gamma| ranks by magnitude: -0.05 is small
        model.bn2.weight.fill_(1.0)  # bn2 sits on group t too (tied by the depthwise conv): adds the same to all
        model.bn3.weight.copy_(torch.tensor([0.01, 0.5, 0.02, 0.6, 0.03, 0.4]))
    plan = prune(model, NSFPConfig(0.3), example=X1)  # floor(0.3 * 10) = 3 channels go, globally
    # group t's units average bn1 and their two bn2 channels: (|g1| + 2) / 3 >= 0.68, above bn3's three smallest
    assert plan.keep["t"] == [0, 1, 2, 3]
    assert plan.keep["pw"] == [1, 3, 5]


def test_at_least_one_channel_per_group():
    model = Depthwise("elu").eval()
    with torch.no_grad():
        model.bn1.weight.fill_(1e-4)
        model.bn2.weight.fill_(1e-4)
        model.bn3.weight.fill_(1.0)
    plan = prune(model, NSFPConfig(0.5), example=X1)  # 5 of 10: all four t units are the smallest
    assert len(plan.keep["t"]) == 1  # only three of its four units may go
    assert plan.keep["pw"] == [2, 3, 4, 5]  # the other two of the five come from pw (equal gammas: by index)
    assert plan.keep["fc"] == [0, 1]


def test_groups_without_batchnorm_are_kept_whole_and_said_so():
    model = PartlyNormed().eval()
    with torch.no_grad():
        model.bn.weight.copy_(torch.tensor([0.1, 0.9, 0.2, 0.8]))
    plan = prune(model, NSFPConfig(0.5), example=X1)
    assert plan.keep["a"] == [1, 3] and plan.keep["b"] == list(range(6))
    assert any("b: kept whole" in n for n in plan.notes)


def test_a_model_without_batchnorm_is_a_clear_error():
    with pytest.raises(ConfigError) as err:
        prune(NoNorm(), NSFPConfig(0.5), example=X1)
    text = str(err.value)
    assert "NoNorm has no BatchNorm" in text and "lfp or sfp" in text


def test_slim_after_nsfp_is_exact_and_keeps_bn_statistics():
    model = Depthwise("relu")
    plan = prune(model, NSFPConfig(0.5, sparsity=1e-3), example=X1, splits=_splits(), train=TRAIN)
    model.eval()
    x = torch.randn(8, 1, 3, 16)
    small = slim(model, plan, X1)
    ref = apply_masks(copy.deepcopy(model), plan, X1)
    with torch.no_grad():
        assert float((small(x) - ref(x)).abs().max()) <= 1e-5
    kept = plan.keep["pw"]
    assert torch.equal(small.bn3.running_mean, model.bn3.running_mean[kept])
    assert torch.equal(small.bn3.running_var, model.bn3.running_var[kept])
    assert small.bn3.num_features == len(kept) < 6


@pytest.mark.parametrize("bad", [-1.0, float("inf"), float("nan"), "1e-4", True])
def test_bad_sparsity_names_the_value(bad):
    with pytest.raises(ConfigError, match="sparsity"):
        make_config("nsfp", 0.5, sparsity=bad)
