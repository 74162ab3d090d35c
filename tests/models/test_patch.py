"""The ViT patch embedding as a convolution: same values as a hand-written patch loop, swapped only where it fits."""

import torch
import torch.nn as nn
from einops.layers.torch import Rearrange

from eegdeploy.models.patch import PatchConv, patch_embedding_as_conv


def naive(x, lin):
    """Cut every patch by index and embed it: out[b, c, h, w] = W @ x[b, c*4:(c+1)*4, 3h:3h+3, 3w:3w+3] ordered
    (p1, p2, p0)."""
    b = x.shape[0]
    out = torch.zeros(b, 2, 2, 2, lin.out_features)
    for c in range(2):
        for h in range(2):
            for w in range(2):
                patch = x[:, 4 * c:4 * c + 4, 3 * h:3 * h + 3, 3 * w:3 * w + 3]  # b, p0, p1, p2
                out[:, c, h, w] = patch.permute(0, 2, 3, 1).reshape(b, 36) @ lin.weight.T + lin.bias
    return out


def test_patch_conv_matches_a_patch_loop():
    torch.manual_seed(0)
    lin = nn.Linear(36, 5)
    x = torch.randn(3, 8, 6, 6)
    with torch.no_grad():
        got = PatchConv(lin, 4, 3, 3)(x)
        assert got.shape == (3, 2, 2, 2, 5)
        assert torch.allclose(got, naive(x, lin), atol=1e-5)


def test_swaps_the_embedding_and_keeps_the_output(patchy):
    torch.manual_seed(0)
    m = patchy(5, 2).eval()
    x = torch.randn(5, 8, 6, 6)
    conv, n = patch_embedding_as_conv(m, x[:1])
    assert n == 1 and isinstance(conv.to_patch_embedding, PatchConv)
    assert isinstance(m.to_patch_embedding, nn.Sequential)  # the original is left alone
    with torch.no_grad():
        assert torch.allclose(conv(x), m(x), atol=1e-5)


def test_other_models_are_copied_unchanged():
    m = nn.Sequential(Rearrange("b c t -> b t c"), nn.Linear(4, 2))
    out, n = patch_embedding_as_conv(m, torch.zeros(1, 4, 3))
    assert n == 0 and isinstance(out[0], Rearrange) and out is not m
