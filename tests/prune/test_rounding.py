import copy

import pytest
import torch
import torch.nn as nn

from eegdeploy.config import load_profile
from eegdeploy.errors import EegDeployError
from eegdeploy.models import bundle_from_profile
from eegdeploy.prune import LFPConfig, apply_masks, prune, slim
from eegdeploy.prune.rounding import round_plan, rounded_count


@pytest.mark.parametrize("kept,size,multiple,expected", [
    (13, 25, 16, 16),   # nearest multiple
    (25, 50, 16, 32),   # 25 is nearer 32 than 16
    (50, 100, 16, 48),
    (20, 40, 16, 16),
    (24, 40, 16, 32),   # a tie goes up
    (3, 40, 16, 16),    # never below the multiple
    (30, 32, 16, 30),   # 32 would keep the group whole: unchanged
    (8, 16, 16, 8),     # group not larger than the multiple: unchanged
    (13, 25, 1, 13),
])
def test_rounded_count_by_hand(kept, size, multiple, expected):
    assert rounded_count(kept, size, multiple) == expected


def test_round_plan_on_deepconvnet_keeps_multiples_and_stays_exact():
    prof = load_profile("deepconvnet-bci")
    model = bundle_from_profile(prof, seed=0).module.eval()
    x = torch.randn(3, *prof.input.shape)
    plan = prune(model, LFPConfig(0.5), example=x[:1])
    rounded = round_plan(plan, model, x[:1], 16)
    # LFP at 0.5 keeps 13, 13, 25, 50, 100 of 25, 25, 50, 100, 200; nearest multiples of 16: 16, 16, 32, 48, 96
    assert {g: len(k) for g, k in rounded.keep.items() if g != "classifier"} == {
        "temporal": 16, "spatial": 16, "blocks.0.0": 32, "blocks.1.0": 48, "blocks.2.0": 96}
    for g, keep in rounded.keep.items():  # rounding up adds to the method's choice, rounding down takes from it
        before = set(plan.keep[g])
        assert set(keep) >= before if len(keep) >= len(before) else set(keep) <= before
    small = slim(model, rounded, x[:1])
    widths = [m.out_channels for m in small.modules() if isinstance(m, nn.Conv2d)]
    assert widths == [16, 16, 32, 48, 96]
    with torch.no_grad():
        assert float((small(x) - apply_masks(copy.deepcopy(model), rounded)(x)).abs().max()) <= 1e-5
    assert plan.keep["temporal"] != rounded.keep["temporal"]  # the input plan is not modified
    assert len(plan.keep["temporal"]) == 13


def test_round_to_one_is_identity_and_bad_values_fail():
    prof = load_profile("eegnet-bci")
    model = bundle_from_profile(prof, seed=0).module.eval()
    x = torch.zeros(1, *prof.input.shape)
    plan = prune(model, LFPConfig(0.5), example=x)
    assert round_plan(plan, model, x, 1) is plan
    with pytest.raises(EegDeployError, match="round-to"):
        round_plan(plan, model, x, 0)
