import copy

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings, strategies as st

from eegdeploy.config import load_profile
from eegdeploy.errors import ConfigError, UnsupportedLayerError
from eegdeploy.models import bundle_from_profile
from eegdeploy.prune import (LFPConfig, PrunePlan, analyse, apply_masks, channel_groups, make_config, prune, slim,
                             verify_slim)

from .conftest import Depthwise, Residual, Unknown, examples, macs

from eegdeploy.config import list_profiles

PROFILES = list_profiles()  # every shipped profile, the coverage ones (stnet, fbcnet, deepsleepnet) included
# conformer-deap is the heaviest (about 3x the next): the slow tier; vit-deap keeps a transformer in the fast tier
PROFILE_PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n == "conformer-deap" else n for n in PROFILES]


def _check(model, x, ratio=0.5, **kw):
    model.eval()
    plan = prune(model, LFPConfig(ratio, **kw), example=x[:1])
    small = slim(model, plan, x[:1])
    pruned = apply_masks(copy.deepcopy(model), plan)
    with torch.no_grad():
        diff = float((small(x) - pruned(x)).abs().max())
    return plan, small, diff


@pytest.mark.parametrize("name", PROFILE_PARAMS)
def test_profiles_slim_exactly_and_shrink(name):
    prof = load_profile(name)
    model = bundle_from_profile(prof, seed=0).module.eval()
    x = torch.randn(4, *prof.input.shape)
    plan, small, diff = _check(model, x)
    assert diff <= 1e-5
    ratio = macs(small, x[:1]) / macs(model, x[:1])
    assert ratio <= 0.52, ratio
    if name == "ccnn-deap":
        assert ratio <= 0.30
    assert small(x[:1]).shape == model(x[:1]).shape
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())


def test_eegnet_depthwise_groups_stay_consistent():
    prof = load_profile("eegnet-deap")
    model = bundle_from_profile(prof, seed=0).module.eval()
    x = torch.randn(2, *prof.input.shape)
    plan, small, diff = _check(model, x)
    convs = [m for m in small.modules() if isinstance(m, nn.Conv2d)]
    first, depthwise = convs[0], convs[1]
    assert first.out_channels == 4  # F1 = 8 halved: the temporal conv is pruned
    assert depthwise.groups == depthwise.in_channels == 4 and depthwise.out_channels == 8  # D = 2 kept per group


def test_tsception_branches_share_channels():
    prof = load_profile("tsception-deap")
    model = bundle_from_profile(prof, seed=0).module.eval()
    groups = {g.name: g for g in channel_groups(model, torch.zeros(1, *prof.input.shape))}
    assert set(groups["Tception1.1"].producers) == {"Tception1.1", "Tception2.1", "Tception3.1"}
    x = torch.randn(2, *prof.input.shape)
    _, small, diff = _check(model, x)
    assert diff <= 1e-5
    assert {small.Tception1[1].out_channels, small.Tception2[1].out_channels, small.Tception3[1].out_channels} == {8}


def test_residual_and_concat():
    model = Residual().eval()
    x = torch.randn(3, 2, 8, 8)
    groups = {g.name: g for g in channel_groups(model, x[:1])}
    assert set(groups["stem"].producers) == {"stem", "a"}  # tied by the residual addition
    plan, small, diff = _check(model, x)
    assert diff <= 1e-5
    assert small.stem.out_channels == small.a.out_channels == 4
    assert small.mix.in_channels == 4 + 3  # concat of the two pruned groups


@pytest.mark.parametrize("act", ["elu", "relu", "sigmoid"])
def test_depthwise_multiplier_with_any_activation(act):
    model = Depthwise(act).eval()
    x = torch.randn(3, 1, 3, 16)
    _, small, diff = _check(model, x)
    assert diff <= 1e-5
    assert small.dw.groups == small.t.out_channels == 2 and small.dw.out_channels == 4


def test_classifier_output_and_keep_patterns_are_never_pruned():
    prof = load_profile("ccnn-deap")
    model = bundle_from_profile(prof, seed=0).module.eval()
    plan = prune(model, LFPConfig(0.5, keep=("conv1",)), example=torch.zeros(1, 4, 9, 9))
    assert len(plan.keep["conv1.1"]) == 64
    assert len(plan.keep["lin2"]) == 2 and plan.sizes["lin2"] == 2
    assert any("keep pattern" in n for n in plan.notes)


def test_unknown_op_makes_layer_unprunable_not_wrong():
    model = Unknown().eval()
    x = torch.randn(2, 1, 8, 8)
    groups = {g.name: g for g in channel_groups(model, x[:1])}
    assert not groups["c1"].prunable and "roll" in groups["c1"].reason
    assert groups["c2"].prunable
    plan, small, diff = _check(model, x)
    assert diff <= 1e-5 and small.c1.out_channels == 6 and small.c2.out_channels == 3


def test_lfp_removes_exactly_the_lowest_l1_filters():
    model = nn.Sequential(nn.Conv2d(1, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 16, 2)).eval()
    with torch.no_grad():
        for i in range(6):
            model[0].weight[i] = (i % 3 + 1) * (1 + i) * 0.01 * torch.sign(torch.randn(1, 3, 3))
    norms = model[0].weight.abs().sum(dim=(1, 2, 3))
    plan = prune(model, LFPConfig(0.5), example=torch.zeros(1, 1, 6, 6))
    assert plan.keep["0"] == sorted(torch.argsort(norms)[3:].tolist())


def test_global_scope_differs_per_layer():
    prof = load_profile("fbccnn-deap")
    model = bundle_from_profile(prof, seed=0).module.eval()
    plan = prune(model, LFPConfig(0.5, scope="global"), example=torch.zeros(1, 4, 9, 9))
    kept = [len(plan.keep[g]) / plan.sizes[g] for g in plan.keep if plan.sizes[g] > 2]
    assert len(set(round(k, 2) for k in kept)) > 1
    assert all(len(k) >= 1 for k in plan.keep.values())


def test_plan_round_trip_and_bad_plans():
    model = Residual().eval()
    x = torch.zeros(1, 2, 8, 8)
    plan = prune(model, LFPConfig(0.5), example=x)
    back = PrunePlan.from_dict(plan.to_dict())
    assert back.keep == plan.keep and back.input_shape == (2, 8, 8)
    assert verify_slim(model, slim(model, back), back, x) <= 1e-5
    back.keep["stem"] = []
    with pytest.raises(ConfigError, match="keep at least one"):
        slim(model, back, x)
    back.keep = {"nope": [0]}
    with pytest.raises(ConfigError, match="does not have"):
        slim(model, back, x)


def test_bad_configs():
    with pytest.raises(ConfigError, match="ratio"):
        LFPConfig(1.0)
    with pytest.raises(ConfigError, match="lfp"):
        make_config("magic", 0.5)
    with pytest.raises(ConfigError, match="no option"):
        make_config("lfp", 0.5, sparsity=1e-4)


def test_untraceable_model_is_a_clear_error():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 4, 3)

        def forward(self, x):
            if x.sum() > 0:
                return self.c(x)
            return self.c(-x)

    with pytest.raises(UnsupportedLayerError, match=r"branches on tensor values at .*test_slim.py:\d+ \(if x.sum\(\) > 0:\)") as err:
        analyse(Branchy(), torch.zeros(1, 1, 5, 5))
    assert "\n" not in str(err.value)


@settings(max_examples=examples(25), deadline=None)
@given(widths=st.lists(st.integers(2, 9), min_size=1, max_size=3), ratio=st.floats(0.05, 0.95),
       depthwise=st.booleans(), pool=st.booleans())
def test_property_slim_equals_pruned(widths, ratio, depthwise, pool):
    layers, c = [], 2
    for w in widths:
        layers += [nn.Conv2d(c, w, 3, padding=1), nn.BatchNorm2d(w), nn.ELU()]
        c = w
        if depthwise:
            layers += [nn.Conv2d(c, 2 * c, 3, padding=1, groups=c), nn.BatchNorm2d(2 * c), nn.ReLU()]
            c = 2 * c
        if pool:
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
    model = nn.Sequential(*layers, nn.Flatten(), nn.LazyLinear(3))
    x = torch.randn(3, 2, 6, 6)
    model(x)  # materialise the lazy layer
    model = nn.Sequential(*list(model))
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1); m.running_var.uniform_(0.5, 2); m.bias.data.uniform_(-1, 1)
    _, small, diff = _check(model, x, ratio)
    assert diff <= 1e-5


class _Branches(nn.Module):
    """Two conv branches concatenated on the channel axis or on the time axis (TSCeption-style), then a conv."""

    def __init__(self, a: int, b: int, axis: int, depthwise: bool) -> None:
        super().__init__()
        self.axis = axis
        self.a = nn.Sequential(nn.Conv2d(1, a, (1, 3), padding=(0, 1)), nn.BatchNorm2d(a), nn.LeakyReLU())
        self.b = nn.Sequential(nn.Conv2d(1, a if axis != 1 else b, (1, 5), padding=(0, 2)), nn.ReLU())
        c = a + b if axis == 1 else a
        self.mid = nn.Conv2d(c, 2 * c, (2, 1), groups=c) if depthwise else nn.Conv2d(c, 2 * c, (2, 1))
        self.head = nn.Linear(2 * c * (16 if axis == 1 else 32), 2)

    def forward(self, x):
        y = torch.cat([self.a(x), self.b(x)], dim=self.axis)
        return self.head(torch.flatten(torch.relu(self.mid(y)), 1))


@settings(max_examples=examples(20), deadline=None)
@given(a=st.integers(2, 8), b=st.integers(2, 8), axis=st.sampled_from([1, 3]), depthwise=st.booleans(),
       ratio=st.floats(0.05, 0.95))
def test_property_multibranch_concat(a, b, axis, depthwise, ratio):
    model = _Branches(a, b, axis, depthwise).eval()
    x = torch.randn(3, 1, 2, 16)
    _, small, diff = _check(model, x, ratio)
    assert diff <= 1e-5


def test_shallowconvnet_follows_square_and_log():
    # temporal conv (40) and spatial conv (40) are both prunable through BN → square → avg-pool → log → linear;
    # a removed channel is all zeros before square, so log(clamp(0)) is a constant the classifier bias absorbs
    prof = load_profile("shallowconvnet-bci")
    model = bundle_from_profile(prof, seed=0).module.eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-1, 1)  # non-trivial BN so the removed channels' constants matter
        model.bn.bias.uniform_(-1, 1)
    x = torch.randn(4, *prof.input.shape)
    plan, small, diff = _check(model, x)
    assert diff <= 1e-5
    convs = [m for m in small.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [20, 20]
    assert small.classifier.in_features == 20 * ((750 - 24 - 75) // 15 + 1)
