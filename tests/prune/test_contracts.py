"""Typed method configs (MethodConfig), registry dispatch by config type, the conv-filters-only default and
``--include-linear``, plan files that keep their masks, and the seed models' published parameter counts."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError
from eegdeploy.prune import (METHODS, LFPConfig, MethodConfig, NSFPConfig, PrunePlan, SFPConfig, UWMPConfig,
                             make_config, prune, slim)
from eegdeploy.prune.methods import LINEAR_OPT_IN, options_from_flags


class DenseHead(nn.Module):
    """conv(2->8) -> BN -> relu -> conv(8->6) -> flatten -> hidden linear (96 -> 10) -> relu -> classifier (10 -> 3):
    CCNN's shape in miniature (``lin1`` is ``hidden``)."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(2, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 6, 3, padding=1)
        self.hidden = nn.Linear(6 * 4 * 4, 10)
        self.out = nn.Linear(10, 3)

    def forward(self, x):
        x = self.c2(torch.relu(self.bn(self.c1(x))))
        return self.out(torch.relu(self.hidden(x.flatten(1))))


X = torch.zeros(1, 2, 4, 4)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_config_round_trips_through_to_dict(name):
    options = {"lfp": {"scope": "global"}, "sfp": {"schedule": "linear", "epochs": 2}, "nsfp": {"sparsity": 1e-3},
               "uwmp": {}}[name]
    cfg = make_config(name, 0.3, keep=("c1",), include_linear=True, **options)
    d = cfg.to_dict()
    dims = {"ratio_heads": None, "ratio_mlp": None, "ratio_embed": None, "ratio_depth": 0.0}  # defaults: --ratio
    assert d == {"method": name, "version": 1, "ratio": 0.3, "keep": ["c1"], "include_linear": True, **dims,
                 **options}
    assert MethodConfig.from_dict(d) == cfg and type(MethodConfig.from_dict(d)) is type(cfg)


def test_base_fields_are_checked_once_for_every_method():
    for cls in (LFPConfig, SFPConfig, NSFPConfig, UWMPConfig):
        with pytest.raises(ConfigError, match="ratio"):
            cls(ratio=1.0)
        with pytest.raises(ConfigError, match="keep"):
            cls(keep="c1")  # a bare string would be read letter by letter
    with pytest.raises(ConfigError, match="version"):
        MethodConfig.from_dict({"method": "lfp", "version": 99, "ratio": 0.5})
    with pytest.raises(ConfigError, match="has no option"):
        MethodConfig.from_dict({"method": "lfp", "ratio": 0.5, "sparsity": 1.0})


def test_dispatch_is_by_config_type_and_a_stranger_is_refused():
    @__import__("dataclasses").dataclass(frozen=True)
    class Lookalike(LFPConfig):  # a subclass is not registered: no silent isinstance match
        pass

    with pytest.raises(ConfigError, match="not a pruning method's config"):
        prune(DenseHead().eval(), Lookalike(0.5), example=X)
    assert prune(DenseHead().eval(), LFPConfig(0.5), example=X).method == "lfp"


def test_lfp_prunes_conv_filters_only_unless_include_linear():
    model = DenseHead().eval()
    plan = prune(model, LFPConfig(0.5), example=X)
    # by hand: floor(0.5 * 8) = 4 of c1's filters and 3 of c2's go; the hidden linear keeps its 10 units
    assert {g: len(k) for g, k in plan.keep.items()} == {"c1": 4, "c2": 3, "hidden": 10, "out": 3}
    assert f"hidden: kept whole ({LINEAR_OPT_IN})" in plan.notes
    plan_all = prune(model, LFPConfig(0.5, include_linear=True), example=X)
    assert {g: len(k) for g, k in plan_all.keep.items()} == {"c1": 4, "c2": 3, "hidden": 5, "out": 3}
    small = slim(model, plan_all, X)
    assert small.hidden.in_features == 3 * 16 and small.hidden.out_features == 5 and small.out.in_features == 5


def test_include_linear_is_a_flag_for_every_method_and_method_flags_stay_with_their_method():
    opts = options_from_flags({"include_linear": True, "scope": "global"}, ("lfp", "uwmp"))
    assert opts == {"lfp": {"include_linear": True, "scope": "global"}, "uwmp": {"include_linear": True}}
    with pytest.raises(ConfigError, match="--sparsity applies to nsfp"):
        options_from_flags({"sparsity": 1e-3}, ("lfp",))
    with pytest.raises(ConfigError, match="schedule"):
        options_from_flags({"sfp_schedule": "cubic"}, ("sfp",))


def test_an_unstructured_plan_saved_to_disk_keeps_its_masks(tmp_path):
    masks = {"c1.weight": torch.tensor([[True, False], [False, True]]), "c2.weight": torch.tensor([False, True])}
    plan = PrunePlan("uwmp", 0.5, kind="unstructured", masks=masks, notes=["n"], input_shape=(2, 4, 4))
    written = plan.save(tmp_path / "plan.json")
    assert [p.name for p in written] == ["plan.json", "plan.masks.npz"]
    back = PrunePlan.load(tmp_path / "plan.json")
    assert back.kind == "unstructured" and back.input_shape == (2, 4, 4) and set(back.masks) == set(masks)
    for k, v in masks.items():
        assert torch.equal(back.masks[k], v)
    (tmp_path / "plan.masks.npz").unlink()
    with pytest.raises(ConfigError, match="masks file"):
        PrunePlan.load(tmp_path / "plan.json")
    with pytest.raises(ConfigError, match="not found"):
        PrunePlan.load(tmp_path / "missing.json")


def test_deepconvnet_bci_has_the_lab3_parameter_count():
    from eegdeploy.models.seed import DeepConvNetBCI

    C, T, K = 2, 750, 2
    t = T - 4  # after the temporal conv
    for _ in range(4):  # max-pool 1x2 after the spatial conv, then (conv 1x5, pool) three times
        t = t // 2 if _ == 0 else (t - 4) // 2
    convs = (25 * 5 + 25) + (25 * 25 * C + 25) + (25 * 50 * 5 + 50) + (50 * 100 * 5 + 100) + (100 * 200 * 5 + 200)
    norms = 2 * (25 + 50 + 100 + 200)
    classifier = 200 * t * K + K
    model = DeepConvNetBCI(num_electrodes=C, chunk_size=T, num_classes=K)
    assert sum(p.numel() for p in model.parameters()) == convs + norms + classifier
