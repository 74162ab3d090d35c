"""The transformer search space: groups -> choices, nested subnets, full width = the model, space validation."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError
from eegdeploy.prune import slim
from eegdeploy.search.space import DEPTH_NOTE, build_space, load_space_file


class Attention(nn.Module):
    """Pre-norm multi-head attention as one residual branch (dim -> dim), as torcheeg's PreNorm(Attention)."""

    def __init__(self, dim, heads, dim_head):
        super().__init__()
        self.heads = heads
        self.n1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.out = nn.Linear(heads * dim_head, dim)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = (t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in self.qkv(self.n1(x)).chunk(3, dim=-1))
        a = torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v
        return self.out(a.transpose(1, 2).reshape(b, n, -1))


class Block(nn.Module):
    def __init__(self, dim, heads, dim_head, hidden):
        super().__init__()
        self.attn = Attention(dim, heads, dim_head)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(self.n2(x))


class TinyViT(nn.Module):
    """dim 16, 4 heads of 4, MLP 32, 2 blocks, learned positional embedding, head on the mean token."""

    def __init__(self, feat=6, tokens=5, dim=16, heads=4, dim_head=4, hidden=32, depth=2, classes=2):
        super().__init__()
        self.embed = nn.Linear(feat, dim)
        self.pos = nn.Parameter(torch.randn(1, tokens, dim) * 0.1)
        self.blocks = nn.ModuleList(Block(dim, heads, dim_head, hidden) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.embed(x) + self.pos
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x).mean(dim=1))


X = torch.zeros(1, 5, 6)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TinyViT().eval()


@pytest.fixture(scope="module")
def space(model):
    return build_space(model, X)


def test_default_space_from_the_analysis(space):
    # by hand: heads 1..4, MLP 32 x (1/4, 1/2, 3/4, 1), embedding 16 x (1/2, 5/8, 3/4, 7/8, 1)
    assert len(space.blocks) == 2
    for b in space.blocks:
        assert (b.heads, b.heads_choices) == (4, (1, 2, 3, 4))
        assert (b.hidden, b.hidden_choices) == (32, (8, 16, 24, 32))
    assert space.embedding_choices == (8, 10, 12, 14, 16)
    assert [b.name for b in space.blocks] == ["blocks.0", "blocks.1"]
    # depth: both residual blocks may be dropped (kept or dropped per block)
    assert space.depth_group == "depth:blocks" and [b.drop_choices for b in space.blocks] == [(0, 1), (0, 1)]
    assert space.size() == 5 * (4 * 4) ** 2 * 2 ** 2
    assert DEPTH_NOTE not in space.notes


def test_full_width_subnet_is_the_model(model, space):
    full = slim(model, space.plan(space.largest()), X)
    x = torch.randn(7, 5, 6)
    assert sum(p.numel() for p in full.parameters()) == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        assert torch.equal(full(x), model(x))


def test_keeps_the_top_units_by_a_naive_l1_order(model, space):
    genes = space.largest()
    genes[2] = 1  # block 0 MLP 16
    genes[1] = 1  # block 0 2 heads
    plan = space.plan(genes)
    w = model.blocks[0].mlp[0].weight.detach()
    top = sorted(torch.argsort(w.abs().sum(1), descending=True)[:16].tolist())
    assert plan.keep[space.blocks[0].hidden_group] == top
    q = model.blocks[0].attn.qkv.weight.detach().abs().reshape(3, 4, 4, 16).sum(dim=(0, 2, 3))  # per head
    assert plan.keep[space.blocks[0].heads_group] == sorted(torch.argsort(q, descending=True)[:2].tolist())


def test_smaller_subnet_is_a_slice_of_the_larger(model, space):
    small_g = [1, 0, 1, 2, 0]
    large_g = [3, 2, 2, 3, 3]
    small, large = space.plan(small_g), space.plan(large_g)
    for g, keep in small.keep.items():
        assert set(keep) <= set(large.keep[g])
        assert keep == sorted(space.order[g][:len(keep)])  # the first k of one importance order
    s, big = slim(model, small, X), slim(model, large, X)
    # the embedding Linear's rows: the small's are the large's rows at the small's channels
    emb = space.embedding_group
    pos = [large.keep[emb].index(c) for c in small.keep[emb]]
    assert torch.equal(s.embed.weight, big.embed.weight[pos])
    assert torch.equal(s.pos, big.pos[..., pos])
    hid = space.blocks[0].hidden_group
    hpos = [large.keep[hid].index(c) for c in small.keep[hid]]
    assert torch.equal(s.blocks[0].mlp[0].weight, big.blocks[0].mlp[0].weight[hpos][:, pos])
    assert torch.equal(s.blocks[0].mlp[2].weight, big.blocks[0].mlp[2].weight[pos][:, hpos])
    assert s.blocks[0].attn.heads == 1 and big.blocks[0].attn.heads == 3
    hg = space.blocks[0].heads_group
    (head,) = small.keep[hg]
    at = large.keep[hg].index(head)
    # q, k and v rows of the small's one head are the large's rows of that head (4 per head)
    rows = torch.cat([torch.arange(4) + 4 * at + 12 * part for part in range(3)])
    assert torch.equal(s.blocks[0].attn.qkv.weight, big.blocks[0].attn.qkv.weight[rows][:, pos])


def test_sorted_weights_make_subnets_storage_prefixes(model):
    import copy

    from eegdeploy.search.space import sort_by_importance

    m = copy.deepcopy(model)
    sp = build_space(m, X)
    l1_mlp = m.blocks[0].mlp[0].weight.detach().abs().sum(1)
    sort_by_importance(m, sp, X)
    x = torch.randn(7, 5, 6)
    with torch.no_grad():  # function-preserving: the same outputs as the model before sorting
        assert torch.allclose(m(x), model(x), atol=1e-6)
    # stored most important first: the MLP rows' L1 norms (their group also reaches the second Linear's columns
    # and the bias, so the group's score is not only these rows) are a permutation of the originals
    assert sorted(m.blocks[0].mlp[0].weight.detach().abs().sum(1).tolist()) == pytest.approx(sorted(l1_mlp.tolist()))
    assert all(o == list(range(len(o))) for o in sp.order.values())
    assert build_space(m, X).order == sp.order  # re-ranking the sorted weights keeps storage order
    small_g = [1, 0, 1, 2, 0]  # embedding 10; block 0: 1 head, MLP 16; block 1: 3 heads, MLP 8
    large_g = [3, 2, 2, 3, 3]  # embedding 14; block 0: 3 heads, MLP 24; block 1: 4 heads, MLP 32
    for g, keep in sp.plan(small_g).keep.items():
        assert keep == list(range(len(keep)))  # the first k units in storage
    s, big = slim(m, sp.plan(small_g), X), slim(m, sp.plan(large_g), X)
    # by hand: every weight of the small subnet is the leading slice of the large one's
    assert torch.equal(s.embed.weight, big.embed.weight[:10])
    assert torch.equal(s.embed.bias, big.embed.bias[:10])
    assert torch.equal(s.pos, big.pos[..., :10])
    assert torch.equal(s.head.weight, big.head.weight[:, :10])
    assert torch.equal(s.norm.weight, big.norm.weight[:10])
    for i, (hs, hl, ws, wl) in enumerate([(1, 3, 16, 24), (3, 4, 8, 32)]):
        a, b = s.blocks[i], big.blocks[i]
        assert torch.equal(a.mlp[0].weight, b.mlp[0].weight[:ws, :10])
        assert torch.equal(a.mlp[0].bias, b.mlp[0].bias[:ws])
        assert torch.equal(a.mlp[2].weight, b.mlp[2].weight[:10, :ws])
        assert torch.equal(a.attn.n1.weight, b.attn.n1.weight[:10])
        # fused q, k, v: each of the three is the prefix of the large one's (4 rows per head)
        assert torch.equal(a.attn.qkv.weight.reshape(3, hs * 4, 10), b.attn.qkv.weight.reshape(3, hl * 4, 14)[:, :hs * 4, :10])
        assert torch.equal(a.attn.out.weight, b.attn.out.weight[:10, :hs * 4])
    full = slim(m, sp.plan(sp.largest()), X)
    with torch.no_grad():
        assert torch.equal(full(x), m(x))  # the full-width subnet is the (sorted) model


def test_space_file_grids(model, tmp_path):
    f = tmp_path / "space.toml"
    f.write_text("embedding = [12, 16]\nheads = [2, 4]\nmlp_ratio = [1.0, 2.0]\n[blocks.1]\nheads = [1]\n")
    sp = build_space(model, X, load_space_file(f))
    assert sp.embedding_choices == (12, 16)
    assert sp.blocks[0].heads_choices == (2, 4) and sp.blocks[1].heads_choices == (1,)
    assert sp.blocks[0].hidden_choices == (16, 32)  # ratio x embedding width 16
    assert sp.size() == 2 * (2 * 2) * (1 * 2) * 2 ** 2  # x kept/dropped per block
    j = tmp_path / "space.json"
    j.write_text('{"heads": [3]}')
    assert build_space(model, X, load_space_file(j)).blocks[1].heads_choices == (3,)


@pytest.mark.parametrize("spec, words", [
    ({"heads": [0]}, "heads: choice 0"),
    ({"heads": [5]}, "between 1 and 4"),
    ({"heads": []}, "non-empty list"),
    ({"embedding": [17]}, "embedding: choice 17"),
    ({"mlp_ratio": [3.0]}, "MLP width 48, outside 1..32"),
    ({"depth": [1]}, "unknown key 'depth'"),
    ({"drop": "yes"}, "drop must be true or false"),
    ({"blocks": {"1": {"drop": 1}}}, "drop must be true or false"),
    ({"blocks": {"7": {"heads": [1]}}}, "blocks.7 is not a block"),
    ({"blocks": {"0": {"width": [1]}}}, "unknown key 'width'"),
])
def test_bad_space_is_one_config_error(model, spec, words):
    with pytest.raises(ConfigError) as err:
        build_space(model, X, spec)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_depth_genes_drop_whole_blocks(model, space):
    from eegdeploy.search.space import structure

    x = torch.randn(7, 5, 6)
    genes = space.largest()
    genes[-2] = 0  # drop block 0
    plan = space.plan(genes)
    assert plan.keep["depth:blocks"] == [1] and plan.sizes["depth:blocks"] == 2
    assert space.blocks[0].heads_group not in plan.keep  # a dropped block's widths are not cut
    small = slim(model, plan, X)
    # by hand: without block 0 the model is embed -> block 1 -> head
    with torch.no_grad():
        h = model.embed(x) + model.pos
        want = model.head(model.norm(model.blocks[1](h)).mean(dim=1))
        assert torch.allclose(small(x), want, atol=1e-5)
    # block 0's residual branches (attention, MLP) and the norm feeding only the MLP are gone with their weights
    gone = sum(p.numel() for m in (model.blocks[0].attn, model.blocks[0].mlp, model.blocks[0].n2)
               for p in m.parameters())
    assert sum(p.numel() for p in small.parameters()) == sum(p.numel() for p in model.parameters()) - gone
    st = structure(model, plan, X)
    assert st["depth"] == [2, 1] and [b["kept"] for b in st["blocks"]] == [False, True]
    assert st["blocks"][0]["heads"] == [4, 0]
    # every block dropped: the most important one stays
    sub = space.decode(space.smallest())
    assert sum(b["kept"] for b in sub["blocks"]) == 1
    assert "dropped" in space.describe(space.smallest())


def test_space_file_can_fix_depth(model):
    sp = build_space(model, X, {"drop": False})
    assert [b.drop_choices for b in sp.blocks] == [(1,), (1,)]
    assert all(b["kept"] for b in sp.decode(sp.smallest())["blocks"])
    sp = build_space(model, X, {"blocks": {"0": {"drop": False}}})
    assert [b.drop_choices for b in sp.blocks] == [(1,), (0, 1)]


def test_bad_space_file_syntax(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text("heads = [1,\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_space_file(f)
    with pytest.raises(ConfigError, match="not found"):
        load_space_file(tmp_path / "none.toml")


def test_a_cnn_has_no_transformer_space():
    m = nn.Sequential(nn.Conv1d(2, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6, 2))
    with pytest.raises(ConfigError, match="no prunable attention-head groups"):
        build_space(m, torch.zeros(1, 2, 8))


def test_structure_before_and_after(model, space):
    from eegdeploy.prune.plan import PrunePlan
    from eegdeploy.search.space import dropped_block_indices, structure

    st = structure(model, space.plan([1, 0, 1, 2, 0]), X)
    # by hand: embedding 16 -> 10; block 0: 4 -> 1 heads, MLP 32 -> 16; block 1: 4 -> 3 heads, MLP 32 -> 8
    assert st["embedding"] == [16, 10] and st["depth"] == [2, 2]
    assert [(b["heads"], b["mlp"], b["kept"]) for b in st["blocks"]] == [([4, 1], [32, 16], True),
                                                                         ([4, 3], [32, 8], True)]
    assert dropped_block_indices(PrunePlan("x", 0.5, keep={"depth:blocks": [1]}, sizes={"depth:blocks": 2}),
                                 "depth:blocks", 2) == [0]
    assert structure(nn.Sequential(nn.Conv1d(2, 4, 3), nn.Flatten(), nn.Linear(24, 2)),
                     PrunePlan("x", 0.0, keep={}, sizes={}), torch.zeros(1, 2, 8)) is None
