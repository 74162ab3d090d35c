"""Params, MACs and FLOPs, counted by eegdeploy and cross-checked by thop, fvcore and torch's FlopCounterMode.

Convention (stated in every report): MACs are multiply-accumulates of conv and linear layers; FLOPs =
2 × MACs + elementwise work (BatchNorm 2 per element, activations 1, pooling one per window element, bias adds 1
per output). Counters disagree in known ways (thop misses subclassed convs, fvcore skips padding,
activations and pooling and counts 1 FLOP per MAC), so each counter's MACs are recorded side by side, with the
operators it skipped, and disagreements over 10% are flagged rather than one number presented as truth.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

CONVENTION = ("MACs: multiply-accumulates of conv and linear layers (eegdeploy's own counter). "
              "FLOPs: 2 x MACs + elementwise (BatchNorm 2/element, activation 1/element, pooling 1 per window "
              "element, bias 1/output).")
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.ELU, nn.LeakyReLU, nn.SELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid,
               nn.Softplus, nn.Hardtanh, nn.Mish, nn.CELU, nn.Hardswish)
POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d,
         nn.InstanceNorm2d)
DISAGREE = 0.10


@dataclass
class CountResult:
    params: int
    macs: int
    flops: int
    convention: str = CONVENTION
    counters: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {"macs", "flops", "skipped"}
    skipped_ops: list[str] = field(default_factory=list)  # module types eegdeploy's counter did not count
    disagreements: list[str] = field(default_factory=list)
    per_layer: dict[str, int] = field(default_factory=dict)  # module name -> MACs


def nonzero_params(model: nn.Module) -> int:
    return int(sum(int((p != 0).sum()) for p in model.parameters()))


def _own(model: nn.Module, example: torch.Tensor) -> tuple[int, int, dict[str, int], list[str]]:
    if callable(getattr(model, "count_macs", None)):  # an ATen-graph slim.pt counts its own steps, same convention
        macs_, flops_, layers = model.count_macs(example)
        return macs_, flops_, layers, []
    macs, flops = [0], [0]
    per_layer: dict[str, int] = {}
    skipped: set[str] = set()
    hooks = []

    def hook(name: str):
        def fn(m: nn.Module, inputs: tuple, out: Any) -> None:
            if not isinstance(out, torch.Tensor):
                return
            n_out = out.numel()
            x = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            mac = 0
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                mac = n_out * (m.in_channels // m.groups) * math.prod(m.kernel_size)
                flops[0] += 2 * mac + (n_out if m.bias is not None else 0)
            elif isinstance(m, nn.Linear):
                mac = n_out * m.in_features
                flops[0] += 2 * mac + (n_out if m.bias is not None else 0)
            elif isinstance(m, NORMS):
                flops[0] += 2 * n_out
            elif isinstance(m, ACTIVATIONS):
                flops[0] += n_out
            elif isinstance(m, POOLS):
                k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size,) * (out.dim() - 2)
                flops[0] += n_out * math.prod(k)
            elif isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and x is not None:
                flops[0] += x.numel()
            elif any(True for _ in m.parameters(recurse=False)):
                skipped.add(type(m).__name__)
            macs[0] += mac
            if mac:
                per_layer[name] = per_layer.get(name, 0) + mac
        return fn

    for name, m in model.named_modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
    return macs[0], flops[0], per_layer, sorted(skipped)


def _thop(model: nn.Module, example: torch.Tensor) -> dict[str, Any]:
    import copy

    from thop import profile

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        macs, _ = profile(copy.deepcopy(model), inputs=(example,), verbose=False)
    return {"macs": int(macs), "flops": None, "skipped": ["functional ops (matmul, cat, pooling via F.*)",
                                                          "subclassed conv layers"]}


def _fvcore(model: nn.Module, example: torch.Tensor) -> dict[str, Any]:
    from fvcore.nn import FlopCountAnalysis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fca = FlopCountAnalysis(model, example)
        fca.unsupported_ops_warnings(False)
        fca.uncalled_modules_warnings(False)
        total = int(fca.total())
        skipped = sorted(fca.unsupported_ops().keys())
    return {"macs": total, "flops": None, "skipped": skipped, "note": "fvcore counts one FLOP per MAC"}


def _torch_counter(model: nn.Module, example: torch.Tensor) -> dict[str, Any]:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(example)
    flops = int(fc.get_total_flops())
    return {"macs": flops // 2, "flops": flops, "skipped": ["elementwise ops (counts matmul/conv only)"]}


def count(model: nn.Module, example: torch.Tensor, *, cross_check: bool = True) -> CountResult:
    """Count ``model`` at batch 1 (``example[:1]``); ``cross_check`` adds thop, fvcore and torch's counter."""
    was = model.training
    model.eval()
    x = example[:1]
    try:
        macs, flops, per_layer, skipped = _own(model, x)
        res = CountResult(params=int(sum(p.numel() for p in model.parameters())), macs=int(macs), flops=int(flops),
                          skipped_ops=skipped, per_layer=per_layer)
        res.counters["eegdeploy"] = {"macs": int(macs), "flops": int(flops), "skipped": skipped}
        if cross_check:
            for name, fn in (("thop", _thop), ("fvcore", _fvcore), ("torch", _torch_counter)):
                try:
                    res.counters[name] = fn(model, x)
                except ImportError:
                    res.counters[name] = {"macs": None, "flops": None, "skipped": [], "note": f"{name} not installed"}
                except Exception as err:  # a third-party counter failing must not fail the run
                    res.counters[name] = {"macs": None, "flops": None, "skipped": [],
                                          "note": f"failed: {type(err).__name__}: {str(err)[:100]}"}
                other = res.counters[name].get("macs")
                if other is not None and macs > 0 and abs(other - macs) / macs > DISAGREE:
                    res.disagreements.append(f"{name} counts {other:,} MACs vs eegdeploy's {macs:,} "
                                             f"({other / macs:.2f}x)")
    finally:
        model.train(was)
    return res
