"""Depth: residual blocks found on the graph, ranked, dropped whole; slim == masked == a hand-written forward that
skips the block; adds that are not provably residual are never dropped and say why; per-dimension ratios."""

import copy

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings, strategies as st

from eegdeploy.errors import ConfigError
from eegdeploy.prune import (LFPConfig, PrunePlan, SFPConfig, UWMPConfig, ZeroBranch, analyse, apply_masks,
                             make_config, n_remove, prune, slim)
from eegdeploy.prune.methods import MethodConfig

from .test_transformers import TinyViT, _randomise


def _dims(model):
    return sum(p.numel() for p in model.parameters())


def _skip_block_forward(model, x, skip):
    """The TinyViT forward written out by hand, without the blocks in ``skip`` (a pre-norm block minus both of
    its branches is the identity)."""
    h = model.embed(x)
    h = torch.cat([model.cls.expand(h.shape[0], -1, -1), h], dim=1) + model.pos
    for i, blk in enumerate(model.blocks):
        if i not in skip:
            h = blk(h)
    return model.head(model.norm(h)[:, 0])


def test_vit_blocks_are_one_depth_group_with_readable_names():
    model = TinyViT(depth=3).eval()
    a = analyse(model, torch.randn(1, 5, 6))
    assert [(g.name, g.size, g.kind, g.prunable) for g in a.depth] == [("depth:blocks", 3, "depth", True)]
    assert a.depth[0].producers == ["blocks.0", "blocks.1", "blocks.2"]
    blk = a.blocks["depth:blocks"][1]
    assert [(b.module, b.feeds, b.out_layers) for b in blk.branches] == [
        ("blocks.1.attn", ["blocks.1.n1"], ["blocks.1.attn.out"]),
        ("blocks.1.mlp", ["blocks.1.n2"], ["blocks.1.mlp.2"])]
    assert a.depth_refused == []
    assert a.group("depth:blocks") is a.depth[0]


def test_weakest_block_is_dropped_and_slim_equals_masked_equals_the_forward_without_it():
    torch.manual_seed(0)
    model = TinyViT(depth=3).eval()
    _randomise(model)
    with torch.no_grad():  # block 1 writes back the least: its output projections are scaled down
        model.blocks[1].attn.out.weight.mul_(0.01)
        model.blocks[1].mlp[2].weight.mul_(0.01)
    x = torch.randn(4, 5, 6)
    # ratio 0.01 removes no channel of these small groups (floor), so only depth acts: 1 of 3 blocks
    plan = prune(model, LFPConfig(0.01, ratio_depth=0.34), example=x[:1])
    assert plan.keep["depth:blocks"] == [0, 2] and plan.sizes["depth:blocks"] == 3
    assert all(len(k) == plan.sizes[g] for g, k in plan.keep.items() if not g.startswith("depth:"))
    small = slim(model, plan, x[:1])
    masked = apply_masks(copy.deepcopy(model), plan, x[:1])
    with torch.no_grad():
        ref = _skip_block_forward(model, x, {1})
        assert float((small(x) - ref).abs().max()) <= 1e-5
        assert float((masked(x) - ref).abs().max()) <= 1e-5
    assert isinstance(small.blocks[1].attn, ZeroBranch) and isinstance(small.blocks[1].mlp, ZeroBranch)
    assert isinstance(small.blocks[1].n1, nn.Identity) and isinstance(small.blocks[1].n2, nn.Identity)
    gone = sum(_dims(m) for m in (model.blocks[1].attn, model.blocks[1].mlp, model.blocks[1].n1,
                                  model.blocks[1].n2))
    assert _dims(small) == _dims(model) - gone


@pytest.mark.slow
def test_depth_and_widths_together_slim_equal_masked():
    torch.manual_seed(1)
    model = TinyViT(depth=4, heads=4, dim_head=2, hidden=8).eval()
    _randomise(model)
    x = torch.randn(3, 5, 6)
    plan = prune(model, LFPConfig(0.5, ratio_depth=0.5), example=x[:1])
    assert len(plan.keep["depth:blocks"]) == 2
    small = slim(model, plan, x[:1])
    masked = apply_masks(copy.deepcopy(model), plan, x[:1])
    with torch.no_grad():
        assert float((small(x) - masked(x)).abs().max()) <= 1e-5
    assert sum(isinstance(m, ZeroBranch) for m in small.modules()) == 4


def test_depth_is_opt_in():
    model = TinyViT(depth=3).eval()
    plan = prune(model, LFPConfig(0.5), example=torch.randn(1, 5, 6))
    assert "depth:blocks" not in plan.keep  # no depth entry: every block kept
    small = slim(model, plan, torch.randn(1, 5, 6))
    assert not any(isinstance(m, ZeroBranch) for m in small.modules())


class TwoPaths(nn.Module):
    """y = a(x) + b(x): no identity skip."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.a(x) + self.b(x))


class Reused(nn.Module):
    """The same module on two residual adds: dropping it from one would drop it from both."""

    def __init__(self):
        super().__init__()
        self.f, self.head = nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2)

    def forward(self, x):
        x = x + self.f(x)
        x = x + self.f(x)
        return self.head(x)


class Tied(nn.Module):
    """A branch whose weight is also used by the head (tied weights)."""

    def __init__(self):
        super().__init__()
        self.f, self.g = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        x = x + self.f(x)
        x = x + self.g(x)
        return x @ self.f.weight[:2].T


class Leaky(nn.Module):
    """The branch's hidden value is also used after the add."""

    def __init__(self):
        super().__init__()
        self.f, self.g, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = self.f(x)
        y = x + self.g(h)
        return self.head(y + h)


class Inline(nn.Module):
    """The branch output is computed in the block's own forward (x + relu(f(x)))."""

    def __init__(self):
        super().__init__()
        self.f, self.g, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        x = x + torch.relu(self.f(x))
        x = x + torch.relu(self.g(x))
        return self.head(x)


def test_two_computed_paths_are_not_a_residual_block():
    a = analyse(TwoPaths().eval(), torch.randn(1, 4))
    assert a.depth == [] and a.blocks == {}


@pytest.mark.parametrize("cls, where, why", [
    (Reused, "f", "called again"),
    (Tied, "f", "tied weights"),
    (Leaky, "", "also used outside it"),
    (Inline, "", "computed inline"),
], ids=["reused", "tied", "leaky", "inline"])
def test_unprovable_branches_are_never_dropped_and_say_why(cls, where, why):
    model = cls().eval()
    a = analyse(model, torch.randn(1, 4))
    assert any(why in reason for _, reason in a.depth_refused), a.depth_refused
    if cls is Tied:  # g is a proven branch of its own (a single block: kept, there must be one left)
        assert [(g.name, g.size, g.prunable) for g in a.depth] == [("depth:(root)", 1, False)]
    else:
        assert a.depth == []
    if where:  # the refused module is in no depth group, so no plan can drop it
        assert not any(b.module == where for blocks in a.blocks.values() for blk in blocks for b in blk.branches)


def test_conformer_style_residual_add_module():
    class ResidualAdd(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            res = x
            x = self.fn(x)
            x += res
            return x

    model = nn.Sequential(nn.Linear(3, 6), *[ResidualAdd(nn.Sequential(nn.LayerNorm(6), nn.Linear(6, 6), nn.GELU()))
                                             for _ in range(3)], nn.Linear(6, 2)).eval()
    a = analyse(model, torch.randn(1, 5, 3))
    assert [(g.name, g.size) for g in a.depth] == [("depth:(root)", 3)]
    assert [b.name for b in a.blocks["depth:(root)"]] == ["1", "2", "3"]
    assert [br.module for b in a.blocks["depth:(root)"] for br in b.branches] == ["1.fn", "2.fn", "3.fn"]
    plan = prune(model, LFPConfig(0.01, ratio_depth=0.67), example=torch.randn(1, 5, 3))
    kept = plan.keep["depth:(root)"]
    assert len(kept) == 1
    small = slim(model, plan, torch.randn(1, 5, 3))
    x = torch.randn(4, 5, 3)
    with torch.no_grad():
        ref = model[4](model[1 + kept[0]](model[0](x)))  # only the kept block runs
        assert float((small(x) - ref).abs().max()) <= 1e-5


def test_plan_with_depth_round_trips_and_is_checked(tmp_path):
    model = TinyViT(depth=3).eval()
    x = torch.randn(1, 5, 6)
    plan = prune(model, LFPConfig(0.5, ratio_depth=0.5), example=x)
    plan.save(tmp_path / "plan.json")
    again = PrunePlan.load(tmp_path / "plan.json")
    assert again.keep["depth:blocks"] == plan.keep["depth:blocks"] and again.sizes["depth:blocks"] == 3
    with torch.no_grad():
        assert torch.equal(slim(model, again, x)(x), slim(model, plan, x)(x))
    bad = copy.deepcopy(plan)
    bad.keep["depth:blocks"] = []
    with pytest.raises(ConfigError, match="keep at least one"):
        slim(model, bad, x)
    bad.keep["depth:blocks"], bad.sizes["depth:blocks"] = [0], 5
    with pytest.raises(ConfigError, match="has 5 blocks"):
        slim(model, bad, x)
    bad = copy.deepcopy(plan)
    bad.keep["depth:nowhere"], bad.sizes["depth:nowhere"] = [0], 2
    with pytest.raises(ConfigError, match="does not have"):
        apply_masks(copy.deepcopy(model), bad, x)


def test_per_dimension_ratios_override_ratio():
    model = TinyViT(depth=2, heads=4, dim_head=2, hidden=10, dim=8).eval()
    x = torch.randn(1, 5, 6)
    plan = prune(model, LFPConfig(0.5, ratio_heads=0.25, ratio_mlp=0.75, ratio_embed=0.125), example=x)
    # by hand: heads 4 - floor(0.25 * 4) = 3, MLP 10 - floor(7.5) = 3, embedding 8 - floor(1) = 7
    assert len(plan.keep["blocks.0.attn.to_qkv"]) == 3 and len(plan.keep["blocks.1.attn.to_qkv"]) == 3
    assert len(plan.keep["blocks.0.mlp.0"]) == 3 and len(plan.keep["blocks.1.mlp.0"]) == 3
    assert len(plan.keep["embed"]) == 7
    glob = prune(model, LFPConfig(0.5, scope="global", ratio_heads=0.25), example=x)
    assert len(glob.keep["blocks.0.attn.to_qkv"]) == 3
    small = slim(model, plan, x)
    assert small.blocks[0].attn.heads == 3 and small.blocks[0].mlp[0].out_features == 3


def test_sfp_ranks_blocks_with_its_l2_norm():
    from eegdeploy.prune.sfp import SFP

    model = TinyViT(depth=3).eval()
    with torch.no_grad():
        model.blocks[2].attn.out.weight.mul_(0.01)
        model.blocks[2].mlp[2].weight.mul_(0.01)
    a = analyse(model, torch.randn(1, 5, 6))
    scores = SFP.depth_importance()(a, a.depth[0])
    ref = [float(sum(w.detach().double().pow(2).sum(1).sqrt().sum() for w in (b.attn.out.weight, b.mlp[2].weight)))
           for b in model.blocks]
    assert torch.allclose(scores, torch.tensor(ref, dtype=torch.float64))
    assert int(scores.argmin()) == 2


def test_config_fields_validate_and_round_trip():
    cfg = make_config("lfp", 0.5, ratio_heads=0.25, ratio_depth=0.5)
    d = cfg.to_dict()
    assert d["ratio_heads"] == 0.25 and d["ratio_depth"] == 0.5 and d["ratio_mlp"] is None
    assert MethodConfig.from_dict(d) == cfg
    assert LFPConfig().ratio_depth == 0.0
    with pytest.raises(ConfigError, match="ratio_depth"):
        LFPConfig(ratio_depth=1.0)
    with pytest.raises(ConfigError, match="ratio_heads"):
        SFPConfig(ratio_heads=0.0)
    with pytest.raises(ConfigError, match="--ratio-depth need a structured method"):
        UWMPConfig(ratio_depth=0.5)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, derandomize=True)
@given(depth=st.integers(2, 4), ratio_depth=st.sampled_from([0.3, 0.5, 0.8]), pre_norm=st.booleans(),
       dim=st.integers(2, 6), heads=st.integers(1, 3))
def test_property_random_stacks_drop_blocks_exactly(depth, ratio_depth, pre_norm, dim, heads):
    torch.manual_seed(0)
    model = TinyViT(depth=depth, pre_norm=pre_norm, dim=dim, heads=heads).eval()
    _randomise(model)
    x = torch.randn(3, 5, 6)
    plan = prune(model, LFPConfig(0.01, ratio_depth=ratio_depth), example=x[:1])
    dropped = sorted(set(range(depth)) - set(plan.keep["depth:blocks"]))
    assert len(dropped) == n_remove(ratio_depth, depth)
    small = slim(model, plan, x[:1])
    with torch.no_grad():
        if pre_norm:  # a pre-norm block without its branches is the identity: the forward that skips it
            assert float((small(x) - _skip_block_forward(model, x, set(dropped))).abs().max()) <= 1e-5
        masked = apply_masks(copy.deepcopy(model), plan, x[:1])
        assert float((small(x) - masked(x)).abs().max()) <= 1e-5


def test_slim_with_dropped_blocks_round_trips_through_slim_pt(tmp_path):
    """ZeroBranch is plain ops (a multiply by a zero buffer) and nn.Identity a whitelisted layer: slim.pt reloads
    as a PortableModule without the class and computes the same."""
    from eegdeploy.models.portable import load_portable, save_portable

    torch.manual_seed(0)
    model = TinyViT(depth=3, fused=False).eval()
    x = torch.randn(2, 5, 6)
    plan = prune(model, LFPConfig(0.5, ratio_depth=0.5), example=x[:1])
    small = slim(model, plan, x[:1])
    save_portable(small, x[:1], tmp_path / "slim.pt")
    again = load_portable(tmp_path / "slim.pt")
    assert type(again).__name__ == "PortableModule"
    with torch.no_grad():
        assert torch.equal(again(x), small(x))


def test_a_residual_inside_a_branch_goes_with_its_outer_branch():
    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.f = nn.Sequential(nn.Linear(6, 6), nn.ReLU())

        def forward(self, x):
            return x + self.f(x)

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Sequential(Inner(), nn.Linear(6, 6))

        def forward(self, x):
            return x + self.inner(x)

    model = nn.Sequential(nn.Linear(3, 6), *[Outer() for _ in range(3)], nn.Linear(6, 2)).eval()
    a = analyse(model, torch.randn(1, 3))
    assert [br.module for b in a.blocks["depth:(root)"] for br in b.branches] == ["1.inner", "2.inner", "3.inner"]
    assert sum("dropped with it" in why for _, why in a.depth_refused) == 3
    plan = prune(model, LFPConfig(0.01, ratio_depth=0.67, include_linear=True), example=torch.randn(1, 3))
    small = slim(model, plan, torch.randn(1, 3))
    x = torch.randn(5, 3)
    kept = plan.keep["depth:(root)"]
    with torch.no_grad():
        assert float((small(x) - model[4](model[1 + kept[0]](model[0](x)))).abs().max()) <= 1e-5


def test_a_feeding_module_with_two_arguments_stays():
    """``x + attn(mix(x, x))``: mix only feeds the branch but takes two arguments, so it is not replaced by
    nn.Identity (it keeps running, its output zeroed with the branch); the drop stays exact."""
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(6, 6)

        def forward(self, a, b):
            return self.lin(a) * b

    class Blk(nn.Module):
        def __init__(self):
            super().__init__()
            self.mix, self.attn = Mix(), nn.Sequential(nn.Linear(6, 6), nn.ReLU())

        def forward(self, x):
            return x + self.attn(self.mix(x, x))

    model = nn.Sequential(nn.Linear(3, 6), Blk(), Blk(), nn.Linear(6, 2)).eval()
    a = analyse(model, torch.randn(1, 3))
    assert [(br.module, br.feeds) for b in a.blocks["depth:(root)"] for br in b.branches] == [("1.attn", []),
                                                                                             ("2.attn", [])]
    plan = prune(model, LFPConfig(0.01, ratio_depth=0.5, include_linear=True), example=torch.randn(1, 3))
    small = slim(model, plan, torch.randn(1, 3))
    x = torch.randn(5, 3)
    kept = plan.keep["depth:(root)"][0]
    with torch.no_grad():
        assert float((small(x) - model[3](model[1 + kept](model[0](x)))).abs().max()) <= 1e-5
