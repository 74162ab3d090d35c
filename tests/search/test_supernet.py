"""Supernet training: masks from the subnets, gradients only on kept weights, the sandwich order."""

import random

import numpy as np
import pytest
import torch

from eegdeploy.data import split_arrays
from eegdeploy.search.space import build_space, sort_by_importance
from eegdeploy.search.supernet import SupernetConfig, keep_masks, sandwich, train_supernet

from tests.search.test_space import TinyViT, X


def _splits():
    rng = np.random.default_rng(0)
    Xs = rng.standard_normal((48, 5, 6)).astype(np.float32)
    y = (Xs[:, :, 0].mean(axis=1) > 0).astype(np.int64)
    return split_arrays(Xs, y, None, None, seed=0, val=0.25, test=0.25)


def test_keep_masks_count_by_hand():
    torch.manual_seed(0)
    m = TinyViT().eval()
    sp = build_space(m, X, {"drop": False})  # widths only (a dropped block is zeroed by a hook, not by masks)
    mk = keep_masks(m, sp, sp.smallest(), X)
    # smallest: embedding 8 of 16, 1 head of 4 (4 dims), MLP 8 of 32
    assert int(mk["blocks.0.mlp.0.weight"].sum()) == 8 * 8
    assert int(mk["blocks.0.attn.qkv.weight"].sum()) == 3 * 4 * 8
    assert int(mk["embed.weight"].sum()) == 8 * 6
    assert int(mk["head.weight"].sum()) == 2 * 8
    assert all(bool(v.all()) for v in keep_masks(m, sp, sp.largest(), X).values())


def test_sandwich_is_largest_smallest_then_random():
    torch.manual_seed(0)
    sp = build_space(TinyViT().eval(), X)
    s = sandwich(sp, random.Random(0), 3)
    assert s[0] == sp.largest() and s[1] == sp.smallest() and len(s) == 5


@pytest.mark.slow
def test_training_moves_only_weights_some_subnet_keeps():
    torch.manual_seed(0)
    m = TinyViT().eval()
    # a space whose largest subnet keeps 12 of the 16 embedding channels: the other 4 are never trained
    sp = build_space(m, X, {"embedding": [8, 12], "heads": [1, 2], "mlp_ratio": [0.5, 1.0], "drop": False})
    sort_by_importance(m, sp, X)  # what train_supernet does first: afterwards it is a no-op there
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    res = train_supernet(m, sp, _splits(), X, SupernetConfig(epochs=1, random_subnets=1, lr=1e-2))
    assert res["sorted"] and sp.order[sp.embedding_group] == list(range(16))
    # storage order: embedding channels 12..15 are in no subnet and never trained, 0..11 are
    w0, w1 = before["embed.weight"], m.embed.weight.detach()
    assert torch.equal(w1[12:], w0[12:])
    assert not torch.equal(w1[:12], w0[:12])
    # MLP units beyond 16 are never kept either
    assert torch.equal(m.blocks[0].mlp[0].weight.detach()[16:], before["blocks.0.mlp.0.weight"][16:])
    assert len(res["history"]) == 1 and 0 <= res["history"][0]["val_smallest"] <= 1


def test_a_reset_working_copy_masks_like_a_fresh_copy():
    """The working copy reused across subnets: masked for one subnet, reset, masked for another, it computes what a
    fresh deep copy masked for that subnet computes, with the same weights and no hook left from the first."""
    import copy

    from eegdeploy.prune import apply_masks
    from eegdeploy.search.supernet import reset

    torch.manual_seed(0)
    m = TinyViT().eval()
    sp = build_space(m, X)
    x = torch.randn(7, 5, 6)
    a = sp.smallest()
    a[-2] = 0  # drops block 0 (a zeroing hook) and cuts LayerNorms to 8 channels (kept-channel hooks)
    b = sp.largest()
    b[0] = 1  # embedding 10 of 16, every block kept
    work = copy.deepcopy(m)
    apply_masks(work, sp.plan(a), X)
    hooked = sum(len(mod._forward_hooks) for mod in work.modules())
    assert hooked > 0
    reset(work, m)
    assert sum(len(mod._forward_hooks) for mod in work.modules()) == 0
    assert all(torch.equal(p, q) for p, q in zip(work.parameters(), m.parameters()))
    apply_masks(work, sp.plan(b), X)
    fresh = apply_masks(copy.deepcopy(m), sp.plan(b), X)
    with torch.no_grad():
        assert torch.equal(work(x), fresh(x))
        assert not torch.allclose(work(x), m(x))  # the mask did something
    assert all(torch.equal(p, q) for p, q in zip(work.parameters(), fresh.parameters()))
