"""Transformer slimming: heads, MLP width, embedding width (residual stream, LayerNorms, positional embedding,
class token), proven equal to the masked model on random blocks; the torcheeg transformers."""

import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st

from eegdeploy.prune import LFPConfig, analyse, apply_masks, prune, slim

from .conftest import examples


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int, fused: bool, sdpa: bool) -> None:
        super().__init__()
        self.heads, self.fused, self.sdpa = heads, fused, sdpa
        inner = heads * dim_head
        self.scale = dim_head ** -0.5
        if fused:
            self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        else:
            self.q, self.k, self.v = nn.Linear(dim, inner), nn.Linear(dim, inner), nn.Linear(dim, inner)
        self.out = nn.Linear(inner, dim)

    def forward(self, x):
        b, n, _ = x.shape
        if self.fused:
            q, k, v = self.to_qkv(x).chunk(3, dim=-1)
        else:
            q, k, v = self.q(x), self.k(x), self.v(x)
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        if self.sdpa:
            o = F.scaled_dot_product_attention(q, k, v)
        else:
            o = torch.softmax(torch.einsum("bhnd,bhmd->bhnm", q, k) * self.scale, dim=-1) @ v
        return self.out(o.transpose(1, 2).reshape(b, n, -1))


class Block(nn.Module):
    def __init__(self, dim, heads, dim_head, hidden, pre_norm, fused, sdpa):
        super().__init__()
        self.pre = pre_norm
        self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dim_head, fused, sdpa)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        if self.pre:
            x = x + self.attn(self.n1(x))
            return x + self.mlp(self.n2(x))
        x = self.n1(x + self.attn(x))
        return self.n2(x + self.mlp(x))


class TinyViT(nn.Module):
    """Patch embedding, class token, learned positional embedding, blocks, final norm, head on the class token."""

    def __init__(self, feat=6, tokens=5, dim=8, heads=2, dim_head=3, hidden=10, depth=2, pre_norm=True,
                 fused=True, sdpa=False, classes=3):
        super().__init__()
        self.embed = nn.Linear(feat, dim)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, tokens + 1, dim))
        self.blocks = nn.ModuleList(Block(dim, heads, dim_head, hidden, pre_norm, fused, sdpa) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.embed(x)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x)[:, 0])


def _randomise(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)


def _slim_vs_masked(model, x, ratio, ratio_depth=0.0):
    model.eval()
    plan = prune(model, LFPConfig(ratio, ratio_depth=ratio_depth), example=x[:1])
    small = slim(model, plan, x[:1])
    masked = apply_masks(copy.deepcopy(model), plan, x[:1])
    with torch.no_grad():
        return plan, small, float((small(x) - masked(x)).abs().max())


def test_groups_are_heads_mlp_and_embedding():
    model = TinyViT().eval()
    groups = {g.name: g for g in analyse(model, torch.randn(1, 5, 6)).groups}
    # the residual stream: embedding, every attention output and MLP output, tied by the additions
    emb = groups["embed"]
    assert set(emb.producers) == {"embed", "blocks.0.attn.out", "blocks.0.mlp.2", "blocks.1.attn.out",
                                  "blocks.1.mlp.2"}
    assert emb.size == 8 and emb.prunable and emb.kind == "embedding"
    heads = groups["blocks.0.attn.to_qkv"]
    assert heads.size == 2 and heads.prunable and heads.kind == "heads"  # 2 heads of 3·3 rows each
    assert groups["blocks.0.mlp.0"].size == 10 and groups["blocks.0.mlp.0"].kind == "hidden"
    assert not groups["head"].prunable


def test_heads_are_removed_whole_and_the_head_count_is_rewritten():
    model = TinyViT(heads=4, dim_head=2).eval()
    _randomise(model)
    x = torch.randn(3, 5, 6)
    plan, small, diff = _slim_vs_masked(model, x, 0.5)
    assert diff <= 1e-5
    attn = small.blocks[0].attn
    assert attn.heads == 2
    assert attn.to_qkv.out_features == 3 * 2 * 2 and attn.out.in_features == 2 * 2
    assert small.embed.out_features == 4 and small.pos.shape == (1, 6, 4) and small.cls.shape == (1, 1, 4)
    assert small.norm.normalized_shape == (4,) and small.blocks[1].mlp[0].out_features == 5


def test_masked_layernorm_ignores_removed_channels():
    """Removing embedding channels changes LayerNorm statistics: the masked model must normalise over the kept
    channels only. Reference by hand: LayerNorm of the kept columns."""
    model = nn.Sequential(nn.Linear(4, 6), nn.LayerNorm(6), nn.Linear(6, 2)).eval()
    plan = prune(model, LFPConfig(0.5, include_linear=True), example=torch.zeros(1, 4))
    kept = plan.keep["0"]
    masked = apply_masks(copy.deepcopy(model), plan, torch.zeros(1, 4))
    x = torch.randn(5, 4)
    h = model[0](x)[:, kept]
    ref = F.layer_norm(h, (3,), model[1].weight[kept], model[1].bias[kept]) @ model[2].weight[:, kept].T + model[2].bias
    with torch.no_grad():
        assert torch.allclose(masked(x), ref, atol=1e-6)


@settings(max_examples=examples(10), deadline=None, derandomize=True)
@given(heads=st.integers(1, 4), dim_head=st.integers(1, 4), dim=st.integers(2, 9), hidden=st.integers(2, 12),
       depth=st.integers(1, 3), pre_norm=st.booleans(), fused=st.booleans(), sdpa=st.booleans(),
       ratio=st.floats(0.1, 0.9), ratio_depth=st.sampled_from([0.0, 0.5]))
def test_property_random_transformer_blocks_slim_equals_masked(heads, dim_head, dim, hidden, depth, pre_norm, fused,
                                                               sdpa, ratio, ratio_depth):
    torch.manual_seed(0)
    model = TinyViT(dim=dim, heads=heads, dim_head=dim_head, hidden=hidden, depth=depth, pre_norm=pre_norm,
                    fused=fused, sdpa=sdpa).eval()
    _randomise(model)
    x = torch.randn(3, 5, 6)
    plan, small, diff = _slim_vs_masked(model, x, ratio, ratio_depth)
    assert diff <= 1e-5
    assert small(x).shape == (3, 3)
    # depth: whole blocks dropped (floor of ratio_depth x depth, one kept), their branches no longer run
    dropped = depth - len(plan.keep.get("depth:blocks", range(depth)))
    assert dropped == (int(ratio_depth * depth) if depth > 1 else 0)
    assert sum(type(m).__name__ == "ZeroBranch" for m in small.modules()) == 2 * dropped


def test_head_of_size_one_rewrites_the_head_count():
    model = TinyViT(heads=2, dim_head=1, dim=2, hidden=2, depth=1, pre_norm=False, fused=False).eval()
    x = torch.randn(3, 5, 6)
    plan, small, diff = _slim_vs_masked(model, x, 0.5)
    assert diff <= 1e-5 and small.blocks[0].attn.heads == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ViT", "SimpleViT", "VanillaTransformer", "ArjunViT", "Conformer"])
def test_torcheeg_transformers_slim_exactly(name):
    from eegdeploy.models.zoo import build_model
    from eegdeploy.prune.coverage import TORCHEEG_CASES

    kwargs, shape = TORCHEEG_CASES[name]
    torch.manual_seed(0)
    model = build_model(f"torcheeg:{name}", kwargs)
    x = torch.randn(2, *shape)
    plan, small, diff = _slim_vs_masked(model, x, 0.5)
    assert diff <= 1e-5
    orig = dict(model.named_modules())
    attn = [(n, m) for n, m in small.named_modules() if n and (hasattr(m, "heads") or hasattr(m, "num_heads"))]
    assert attn
    for n, m in attn:  # every attention module lost half its heads (LFP 0.5, floor), written back
        before = getattr(orig[n], "heads", getattr(orig[n], "num_heads", None))
        assert getattr(m, "heads", getattr(m, "num_heads", None)) == before - before // 2


def test_multihead_attention_is_kept_whole_and_the_mlp_slims():
    class Enc(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Linear(6, 16)
            layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.head = nn.Linear(16, 2)

        def forward(self, x):
            return self.head(self.enc(self.emb(x)).mean(1))

    torch.manual_seed(0)
    model = Enc().eval()
    x = torch.randn(3, 5, 6)
    groups = {g.name: g for g in analyse(model, x[:1]).groups}
    assert not groups["emb"].prunable and "MultiheadAttention" in groups["emb"].reason
    assert groups["enc.layers.0.linear1"].prunable and groups["enc.layers.0.linear1"].size == 32
    plan, small, diff = _slim_vs_masked(model, x, 0.5)
    assert diff <= 1e-5 and small.enc.layers[0].linear1.out_features == 16
    assert small.enc.layers[0].self_attn.in_proj_weight.shape == (48, 16)
