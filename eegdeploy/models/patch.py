"""An exact, faster export form of the ViT patch embedding (torcheeg ViT and SimpleViT).

torcheeg cuts a ``[b, chunk, H, W]`` grid recording into patches with einops,
``Rearrange('b (c p0) (h p1) (w p2) -> b c h w (p1 p2 p0)')``, and embeds each with a ``Linear``. Exported to
ONNX that is a rank-7 ``Transpose`` of the whole input whose innermost output axis is the slowest-moving input
axis: onnxruntime (1.32, CPU) spends longer on it than on every attention block of a slim subnet (benchmarks/tnas.py
profiles it on vit-deap), and since the input is never pruned, that cost stays while everything else shrinks.

The same map is a strided convolution: fold the time patches into the batch (``[b*c, p0, H, W]``, a free
reshape of contiguous memory), convolve with the Linear's weight laid out as ``[E, p0, p1, p2]`` (kernel =
stride = the patch), and move the small output's channel axis last. ``patch_embedding_as_conv`` swaps every such
``Sequential(Rearrange, Linear)`` for it; the output is the same up to float summation order (checked).
``compress`` and ``export --optimize`` export this form of slim.onnx when it is measured faster (the rewrite
stage, ``eegdeploy.export.package``); slim.pt keeps the model's own modules.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from eegdeploy.errors import ParityError

PATCH_PATTERN = "b (c p0) (h p1) (w p2) -> b c h w (p1 p2 p0)"
PATCH_TOLERANCE = 1e-4


class PatchConv(nn.Module):
    """``Linear(rearrange(x, PATCH_PATTERN))`` computed as a Conv2d over time patches folded into the batch."""

    def __init__(self, linear: nn.Linear, p0: int, p1: int, p2: int) -> None:
        super().__init__()
        if linear.in_features != p0 * p1 * p2:
            raise ValueError(f"the Linear takes {linear.in_features} features, the patch has {p0 * p1 * p2}")
        self.p0 = p0
        self.conv = nn.Conv2d(p0, linear.out_features, (p1, p2), stride=(p1, p2), bias=linear.bias is not None)
        with torch.no_grad():
            w = linear.weight.detach().reshape(linear.out_features, p1, p2, p0).permute(0, 3, 1, 2)
            self.conv.weight.copy_(w)
            if linear.bias is not None:
                self.conv.bias.copy_(linear.bias.detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x.reshape(-1, self.p0, x.shape[-2], x.shape[-1]))  # [b*c, E, h, w]
        return y.reshape(x.shape[0], -1, *y.shape[1:]).permute(0, 1, 3, 4, 2)  # [b, c, h, w, E]


def _is_patch_embedding(m: nn.Module) -> bool:
    if not isinstance(m, nn.Sequential) or len(m) != 2 or not isinstance(m[1], nn.Linear):
        return False
    pattern = " ".join(str(getattr(m[0], "pattern", "")).split())
    lengths = getattr(m[0], "axes_lengths", None)
    return pattern == PATCH_PATTERN and isinstance(lengths, dict) and set(lengths) == {"p0", "p1", "p2"}


def patch_embedding_names(model: nn.Module) -> list[str]:
    """Module names of ``model``'s ViT patch embeddings that ``patch_embedding_as_conv`` would swap."""
    return [name for name, m in model.named_modules() if _is_patch_embedding(m)]


def patch_embedding_as_conv(model: nn.Module, example: torch.Tensor) -> tuple[nn.Module, int]:
    """A copy of ``model`` whose ViT patch embeddings run as ``PatchConv``, and how many were swapped.

    ``example`` (one input, batch first) is used to check the copy against the model (ParityError above
    ``PATCH_TOLERANCE``). A model without such an embedding comes back as an unchanged copy and 0.
    """
    out = copy.deepcopy(model).eval()
    swapped = 0
    for name, m in list(out.named_modules()):
        if _is_patch_embedding(m):
            owner, _, leaf = name.rpartition(".")
            parent = out.get_submodule(owner) if owner else out
            lengths = m[0].axes_lengths
            setattr(parent, leaf, PatchConv(m[1], lengths["p0"], lengths["p1"], lengths["p2"]))
            swapped += 1
    if swapped:
        gen = torch.Generator().manual_seed(0)
        x = torch.randn((4, *example.shape[1:]), generator=gen, dtype=example.dtype)
        was = model.training
        model.eval()
        with torch.no_grad():
            diff = float((out(x) - model(x)).abs().max())
        model.train(was)
        if not diff <= PATCH_TOLERANCE:
            raise ParityError(f"the convolutional patch embedding differs from the model's by {diff:.3g}",
                              fix="export the model as it is")
    return out, swapped
