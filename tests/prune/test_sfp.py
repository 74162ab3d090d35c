"""SFP: soft zeroing per epoch, filters that come back, the schedule, and an exact slim model at the end."""

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn

from eegdeploy.config import TrainConfig
from eegdeploy.data import split_arrays
from eegdeploy.errors import ConfigError
from eegdeploy.prune import SFPConfig, SoftFilterPrune, analyse, apply_masks, make_config, prune, slim
from eegdeploy.prune.sfp import zero_filters
from eegdeploy.recover import fit

from .conftest import Depthwise, Residual

X1 = torch.zeros(1, 1, 3, 16)


def _splits(shape=(1, 3, 16), n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, *shape)).astype(np.float32)
    y = np.arange(n) % 2
    X[y == 1, ..., :4] += 1.0
    return split_arrays(X, y, None, None, seed=seed, val=0.25, test=0.25)


# plain SGD without momentum: a zeroed filter can only come back through its own gradient, not optimiser state
SGD = TrainConfig(epochs=3, batch_size=16, lr=0.05, optimizer="sgd", momentum=0.0)


def _removed(plan, group, size):
    return [i for i in range(size) if i not in plan.keep[group]]


def test_zero_filters_touches_only_the_filters():
    model = Depthwise("elu")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    before = copy.deepcopy(model.state_dict())
    analysis = analyse(model, X1)
    plan = SoftFilterPrune(SFPConfig(0.5), X1).plan_now(model, 0.5)
    n = zero_filters(model, analysis, plan)
    gone = _removed(plan, "t", 4)
    assert len(gone) == 2 and n == 2 + 3  # two temporal filters and three pointwise ones; not dw/sep rows
    after = model.state_dict()
    assert float(after["t.weight"][gone].abs().sum()) == 0
    assert torch.equal(after["t.weight"][plan.keep["t"]], before["t.weight"][plan.keep["t"]])
    for name in ("bn1.weight", "bn1.bias", "dw.weight", "sep.weight", "bn2.weight", "fc.weight"):
        assert torch.equal(after[name], before[name]), name  # BN, depthwise carriers and readers untouched


def test_a_zeroed_filter_comes_back_before_the_final_epoch():
    torch.manual_seed(0)
    model = Depthwise("elu")
    cb = SoftFilterPrune(SFPConfig(0.5), X1)
    norms_after_epoch_1 = []

    class Watch:
        def after_step(self, m):
            if len(cb.plans) == 1 and not norms_after_epoch_1:  # the first step after the first zeroing
                norms_after_epoch_1.append(float(m.t.weight.detach()[_removed(cb.plans[0], "t", 4)].abs().sum()))

    fit(model, _splits(), SGD, callbacks=[cb, Watch()], seed=0, restore_best=False)
    assert len(cb.plans) == 3
    assert norms_after_epoch_1 and norms_after_epoch_1[0] > 0  # came back through its own gradient
    final_gone = _removed(cb.plans[-1], "t", 4)
    assert float(model.t.weight.detach()[final_gone].abs().sum()) == 0  # the last zero set stays zero


def test_the_zero_set_can_change_between_epochs():
    torch.manual_seed(0)
    model = Depthwise("elu")
    cb = SoftFilterPrune(SFPConfig(0.5), X1)
    fit(model, _splits(), SGD, callbacks=[cb], seed=0, restore_best=False)
    sets = [tuple(p.keep["t"]) for p in cb.plans]
    assert len(set(sets)) > 1, sets  # a hard-pruning rule would freeze the first choice


def test_each_epoch_removes_the_lowest_l2_filters():
    model = Depthwise("relu")
    with torch.no_grad():
        model.pw.weight.copy_(torch.arange(1, 7, dtype=torch.float32).view(6, 1, 1, 1).expand(6, 8, 1, 1))
        model.pw.weight[4] *= 0.01  # filter 4 has the smallest L2 norm, then 0, 1
    plan = SoftFilterPrune(SFPConfig(0.5), X1).plan_now(model, 0.5)
    assert _removed(plan, "pw", 6) == [0, 1, 4]


@pytest.mark.parametrize("schedule,expected", [("constant", [0.6, 0.6, 0.6]), ("linear", [0.2, 0.4, 0.6])])
def test_schedule(schedule, expected):
    cb = SoftFilterPrune(SFPConfig(0.6, schedule=schedule), X1)
    assert [round(cb.ratio_at(e, 3), 6) for e in range(3)] == expected


def test_linear_schedule_grows_the_zero_set():
    torch.manual_seed(0)
    model = Depthwise("elu")
    cb = SoftFilterPrune(SFPConfig(0.5, schedule="linear"), X1)
    fit(model, _splits(), TrainConfig(epochs=4, batch_size=16, lr=0.01), callbacks=[cb], seed=0, restore_best=False)
    assert [len(_removed(p, "pw", 6)) for p in cb.plans] == [0, 1, 2, 3]  # floor(6 * 0.5 * e / 4)


def test_prune_leaves_the_pruned_model_and_slim_equals_it():
    model = Residual()
    x = torch.randn(6, 2, 8, 8)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((48, 2, 8, 8)).astype(np.float32)
    splits = split_arrays(X, np.arange(48) % 3, None, None, seed=0, val=0.25, test=0.25)
    plan = prune(model, SFPConfig(0.5), example=x[:1], splits=splits, train=TrainConfig(epochs=2, batch_size=8))
    assert plan.method == "sfp" and plan.ratio == 0.5 and any("soft pruning" in n for n in plan.notes)
    model.eval()
    reference = apply_masks(copy.deepcopy(model), plan, x[:1])
    small = slim(model, plan, x[:1])
    with torch.no_grad():
        assert float((small(x) - model(x)).abs().max()) <= 1e-5
        assert float((reference(x) - model(x)).abs().max()) == 0.0  # already applied in place
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())


def test_config_epochs_overrides_the_recipe():
    model = Depthwise("elu")
    plan = prune(model, SFPConfig(0.5, epochs=2), example=X1, splits=_splits(), train=TrainConfig(epochs=5))
    assert any("2 epochs of soft pruning" in n for n in plan.notes)


def test_needs_training():
    with pytest.raises(ConfigError, match="at least one epoch"):
        prune(Depthwise(), SFPConfig(0.5), example=X1, splits=_splits(), train=TrainConfig(epochs=0))
    with pytest.raises(ConfigError, match="needs data"):
        prune(Depthwise(), SFPConfig(0.5), example=X1)


@pytest.mark.parametrize("ratio,options,shown", [(0.5, {"schedule": "cosine"}, "cosine"), (0.5, {"epochs": 0}, "0"),
                                                  (0.5, {"epochs": 1.5}, "1.5"), (1.0, {}, "1.0"),
                                                  (0.5, {"sparsity": 1e-4}, "sparsity")])
def test_bad_config_names_the_value(ratio, options, shown):
    with pytest.raises(ConfigError) as err:
        make_config("sfp", ratio, **options)
    assert shown in str(err.value)


def test_keep_pattern_is_never_zeroed():
    model = Depthwise("elu")
    plan = SoftFilterPrune(SFPConfig(0.5, keep=("pw",)), X1).plan_now(model, 0.5)
    assert plan.keep["pw"] == list(range(6)) and len(plan.keep["t"]) == 2
