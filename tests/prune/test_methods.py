import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn as nn

from eegdeploy.config import TrainConfig, load_profile
from eegdeploy.data import split_arrays
from eegdeploy.errors import ConfigError
from eegdeploy.models import bundle_from_profile
from eegdeploy.prune import (KeepMasks, NSFPConfig, SFPConfig, SoftFilterPrune, UWMPConfig, apply_masks,
                             make_config, prune, slim)
from eegdeploy.recover import fit

from .conftest import Depthwise


def _splits(shape, n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, *shape)).astype(np.float32)
    y = np.arange(n) % 2
    X[y == 1, ..., :4] += 1.0
    return split_arrays(X, y, None, None, seed=seed, val=0.25, test=0.25)


TRAIN = TrainConfig(epochs=3, batch_size=16, lr=0.01)


def test_sfp_zeroed_filter_can_come_back():
    model = Depthwise("elu")
    splits = _splits((1, 3, 16))
    x = torch.zeros(1, 1, 3, 16)
    cb = SoftFilterPrune(SFPConfig(0.5), x)
    revived = []

    class Watch:
        def after_step(self, m):
            if cb.plans and not revived:
                removed = [i for i in range(4) if i not in cb.plans[-1].keep["t"]]
                revived.append(float(m.t.weight[removed].abs().sum()))

    fit(model, splits, TRAIN, callbacks=[cb, Watch()], seed=0, restore_best=False)
    assert len(cb.plans) == 3
    assert revived and revived[0] > 0  # zeroed at the end of epoch 1, non-zero again after the next step
    final = cb.plans[-1]
    removed = [i for i in range(4) if i not in final.keep["t"]]
    assert float(model.t.weight[removed].abs().sum()) == 0.0


def test_sfp_through_prune_gives_an_exact_slim_model():
    model = Depthwise("relu")
    splits = _splits((1, 3, 16))
    x = torch.randn(4, 1, 3, 16)
    plan = prune(model, SFPConfig(0.5, schedule="linear"), example=x[:1], splits=splits, train=TRAIN)
    assert plan.method == "sfp" and len(plan.keep["t"]) == 2
    model.eval()
    small = slim(model, plan, x[:1])
    with torch.no_grad():
        assert float((small(x) - model(x)).abs().max()) <= 1e-5  # the final zero set is already applied


def test_sfp_linear_schedule_ramps():
    cb = SoftFilterPrune(SFPConfig(0.6, schedule="linear"), torch.zeros(1, 1, 3, 16))
    assert [round(cb.ratio_at(e, 3), 2) for e in range(3)] == [0.2, 0.4, 0.6]


def test_nsfp_penalty_lowers_gamma_sum():
    def gamma_sum(sparsity):
        torch.manual_seed(0)
        model = Depthwise("elu")
        splits = _splits((1, 3, 16))
        prune(model, NSFPConfig(0.5, sparsity=sparsity), example=torch.zeros(1, 1, 3, 16), splits=splits,
              train=replace(TRAIN, epochs=4))
        return sum(float(m.weight.abs().sum()) for m in model.modules() if isinstance(m, nn.BatchNorm2d))

    assert gamma_sum(0.05) < gamma_sum(0.0)


def test_nsfp_ranks_globally_and_keeps_one_per_group():
    model = Depthwise("elu").eval()
    with torch.no_grad():
        model.bn1.weight.copy_(torch.tensor([1e-3, 2e-3, 3e-3, 4e-3]))
        model.bn3.weight.copy_(torch.ones(6))
    plan = prune(model, NSFPConfig(0.4), example=torch.zeros(1, 1, 3, 16))
    assert len(plan.keep["t"]) == 1  # the small gammas all sit in one group: all but one go
    assert len(plan.keep["pw"]) == 6 - (4 - 3)  # the rest of the 40% of 10 channels


def test_nsfp_without_batchnorm_is_a_clear_error():
    model = bundle_from_profile(load_profile("ccnn-deap"), seed=0).module
    with pytest.raises(ConfigError, match="no BatchNorm.*lfp or sfp"):
        prune(model, NSFPConfig(0.5), example=torch.zeros(1, 4, 9, 9))


def test_uwmp_masks_global_threshold_and_zeros_survive_recovery():
    model = Depthwise("elu")
    x = torch.zeros(1, 1, 3, 16)
    plan = prune(model, UWMPConfig(0.5), example=x)
    assert plan.kind == "unstructured" and "fc.weight" not in plan.masks
    total = sum(m.numel() for m in plan.masks.values())
    assert abs(sum(int((~m).sum()) for m in plan.masks.values()) - total // 2) <= 1
    apply_masks(model, plan)
    fit(model, _splits((1, 3, 16)), TRAIN, callbacks=[KeepMasks(plan)], seed=0)
    params = dict(model.named_parameters())
    for name, mask in plan.masks.items():
        assert float(params[name][~mask].abs().sum()) == 0.0


def test_method_options_are_validated():
    assert make_config("sfp", 0.3, schedule="linear").schedule == "linear"
    with pytest.raises(ConfigError, match="schedule"):
        make_config("sfp", 0.3, schedule="cosine")
    with pytest.raises(ConfigError, match="sparsity"):
        make_config("nsfp", 0.3, sparsity=-1.0)
