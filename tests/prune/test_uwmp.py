"""UWMP: one global |w| threshold, masks that survive recovery, and removal of channels nothing reads any more."""

import copy
import re

import numpy as np
import pytest
import torch
import torch.nn as nn

from eegdeploy.config import TrainConfig, load_profile
from eegdeploy.data import split_arrays
from eegdeploy.errors import ConfigError
from eegdeploy.models import bundle_from_profile
from eegdeploy.prune import KeepMasks, UWMPConfig, apply_masks, dead_channel_plan, make_config, prune, slim
from eegdeploy.recover import fit

X1 = torch.zeros(1, 1, 3, 16)


class Net(nn.Module):
    """Two convs, a hidden linear layer and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 4, (1, 3), padding=(0, 1))
        self.bn = nn.BatchNorm2d(4)
        self.c2 = nn.Conv2d(4, 5, (3, 1))
        self.hidden = nn.Linear(5 * 16, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        x = torch.relu(self.bn(self.c1(x)))
        x = torch.relu(self.c2(x))
        return self.out(torch.relu(self.hidden(x.flatten(1))))


def _distinct(model):
    """Give every weight a distinct magnitude; c1's are all smaller than c2's."""
    with torch.no_grad():
        n1, n2 = model.c1.weight.numel(), model.c2.weight.numel()
        signs = (-1.0) ** torch.arange(n1)  # magnitudes rank, not signed values
        model.c1.weight.copy_((torch.linspace(0.01, 0.1, n1) * signs).view_as(model.c1.weight))
        model.c2.weight.copy_(torch.linspace(0.2, 1.0, n2).view_as(model.c2.weight))
    return model


def _splits(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 1, 3, 16)).astype(np.float32)
    y = np.arange(n) % 2
    X[y == 1, ..., :4] += 1.0
    return split_arrays(X, y, None, None, seed=seed, val=0.25, test=0.25)


def test_one_global_threshold_removes_exactly_the_smallest_weights():
    model = _distinct(Net())
    plan = prune(model, UWMPConfig(0.4), example=X1)
    assert plan.kind == "unstructured" and set(plan.masks) == {"c1.weight", "c2.weight"}
    every = torch.cat([model.c1.weight.detach().abs().flatten(), model.c2.weight.detach().abs().flatten()])
    k = int(0.4 * every.numel())  # 0.4 * (12 + 60) = 28.8 -> 28
    gone = torch.cat([(~plan.masks["c1.weight"]).flatten(), (~plan.masks["c2.weight"]).flatten()])
    assert int(gone.sum()) == k
    assert torch.equal(gone, every <= every.sort().values[k - 1])
    assert not plan.masks["c1.weight"].any()  # global, not per layer: the small layer goes entirely first
    assert any("28 of 72 weights zeroed" in n for n in plan.notes)


def test_linear_layers_only_with_include_linear_and_never_the_classifier():
    model = Net()
    assert "hidden.weight" not in prune(model, UWMPConfig(0.5), example=X1).masks
    masks = prune(model, UWMPConfig(0.5, include_linear=True), example=X1).masks
    assert "hidden.weight" in masks and "out.weight" not in masks


def test_keep_patterns_are_honoured():
    masks = prune(Net(), UWMPConfig(0.5, keep=("c1",)), example=X1).masks
    assert set(masks) == {"c2.weight"}


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_pruned_weights_stay_zero_through_recovery(optimizer):
    model = Net()
    plan = prune(model, UWMPConfig(0.6, include_linear=True), example=X1)
    apply_masks(model, plan)
    start = copy.deepcopy(model.state_dict())
    train = TrainConfig(epochs=2, batch_size=16, lr=0.01, optimizer=optimizer, weight_decay=1e-3)
    fit(model, _splits(), train, callbacks=[KeepMasks(plan)], seed=0)
    params = dict(model.named_parameters())
    for name, mask in plan.masks.items():
        assert float(params[name].detach()[~mask].abs().sum()) == 0.0
        assert not torch.equal(params[name].detach()[mask], start[name][mask])  # the rest did train


def test_without_keepmasks_recovery_would_revive_them():
    """The control for the test above: the optimiser does move zeroed weights."""
    model = Net()
    plan = prune(model, UWMPConfig(0.6), example=X1)
    apply_masks(model, plan)
    fit(model, _splits(), TrainConfig(epochs=1, batch_size=16, lr=0.01), seed=0)
    assert float(model.c2.weight.detach()[~plan.masks["c2.weight"]].abs().sum()) > 0


def test_dead_channels_are_removed_and_slim_is_exact():
    model = Net().eval()
    with torch.no_grad():
        model.c2.weight[:, 1] = 0  # nothing reads c1's channel 1 any more
        model.c2.weight[:, 2, 0] = 0  # channel 2 is still read through the other kernel rows
        model.hidden.weight[:, 16 * 3:16 * 4] = 0  # c2's channel 3 feeds nothing
    plan = dead_channel_plan(model, X1)
    assert plan.keep["c1"] == [0, 2, 3] and plan.keep["c2"] == [0, 1, 2, 4]
    x = torch.randn(5, 1, 3, 16)
    small = slim(model, plan, X1)
    with torch.no_grad():
        assert float((small(x) - model(x)).abs().max()) <= 1e-5
    assert small.c1.out_channels == 3 and small.c2.out_channels == 4


@pytest.mark.slow
def test_through_compress_the_masked_weights_stay_zero(tmp_path):
    from eegdeploy.pipeline import CompressConfig, compress

    prof = load_profile("tsception-deap")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, *prof.input.shape)).astype(np.float32)
    splits = split_arrays(X, np.arange(32) % 2, None, None, seed=0, val=0.25, test=0.25, source="test")
    bundle = bundle_from_profile(prof, seed=0)
    cfg = CompressConfig(method="uwmp", ratio=0.5, recover="finetune", epochs=1, batches=(1,), iters=2, warmup=1,
                         runtimes=("ort-cpu",), train=TrainConfig(epochs=1, batch_size=16))
    r = compress(bundle, splits, cfg, tmp_path / "c").to_dict()
    assert r["recipe"]["method"] == "uwmp"
    (note,) = [n for n in r["extras"]["plan"]["notes"] if n.startswith("uwmp:")]
    plan_zeros = int(re.match(r"uwmp: ([\d,]+) of", note).group(1).replace(",", ""))
    assert plan_zeros > 0
    assert r["slim"]["nonzero_params"] <= r["baseline"]["params"] - plan_zeros  # recovery revived none of them
    assert any("dense latency does not drop" in n for n in r["extras"]["notes"])
    assert set(r["extras"]["compressed_bytes"]) == {"baseline.onnx", "slim.onnx"}


@pytest.mark.parametrize("ratio", [0.0, 1.0, "half", True])
def test_bad_ratio_names_the_value(ratio):
    with pytest.raises(ConfigError, match="ratio"):
        make_config("uwmp", ratio)
