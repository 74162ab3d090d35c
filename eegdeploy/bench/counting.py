"""Params, MACs and FLOPs, counted by eegdeploy and cross-checked by thop, fvcore and torch's FlopCounterMode.

Convention (stated in every report): MACs are multiply-accumulates of conv and linear layers and of the matrix
products a forward computes between activations (attention's ``q @ k^T`` and ``attn @ v``, ``torch.matmul``,
``bmm``, ``einsum``, ``scaled_dot_product_attention``, ``nn.MultiheadAttention``); FLOPs =
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

CONVENTION = ("MACs: multiply-accumulates of conv and linear layers and of matrix products between activations "
              "(attention; eegdeploy's own counter). "
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


_LINEAR_LIKE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _shape(v: Any) -> tuple[int, ...] | None:
    return tuple(int(d) for d in v.shape) if isinstance(v, torch.Tensor) else None


def contraction_macs(name: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None, out: Any) -> int:
    """Multiply-accumulates of one matrix-product call, from shapes (meta tensors do): ``name`` is the function's
    or ATen operator's bare name (``matmul``, ``__matmul__``, ``bmm``, ``mm``, ``addmm``, ``baddbmm``, ``einsum``,
    ``scaled_dot_product_attention``, ``multi_head_attention_forward``); anything else counts 0.

    Products count output values x contracted size; an einsum counts the product of all its index sizes (exact for
    two operands); attention counts ``q @ k^T`` and ``weights @ v``; ``nn.MultiheadAttention`` (its functional form)
    also its input and output projections."""
    kwargs = kwargs or {}
    t = [a for a in args if isinstance(a, torch.Tensor)]
    n_out = math.prod(out.shape) if isinstance(out, torch.Tensor) else 0
    if name in ("matmul", "__matmul__", "__rmatmul__", "bmm", "mm") and len(t) >= 2:
        a = t[1] if name == "__rmatmul__" else t[0]
        return n_out * int(a.shape[-1]) if a.dim() else 0
    if name in ("addmm", "baddbmm", "addbmm") and len(t) >= 3:
        return n_out * int(t[1].shape[-1])
    if name == "einsum" and args and isinstance(args[0], str):
        ops = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:]
        if "..." in args[0]:
            return n_out * 1
        sizes: dict[str, int] = {}
        for spec, x in zip(args[0].replace(" ", "").split("->")[0].split(","), ops):
            letters = [c for c in spec if c.isalpha()]
            if isinstance(x, torch.Tensor) and len(letters) == x.dim():
                sizes.update({c: int(d) for c, d in zip(letters, x.shape)})
        return math.prod(sizes.values()) if sizes else 0
    if name == "scaled_dot_product_attention" and len(t) >= 3:
        q, k, v = t[0], t[1], t[2]
        lead = math.prod(q.shape[:-1])  # batch x heads x target length
        return lead * int(k.shape[-2]) * (int(q.shape[-1]) + int(v.shape[-1]))
    if name == "multi_head_attention_forward" and len(t) >= 3:
        q, k = _shape(t[0]), _shape(t[1])
        e = q[-1]
        length, source = q[0], k[0]
        batch = q[1] if len(q) == 3 else 1
        projections = batch * (2 * length * e * e + 2 * source * e * e)  # q, k, v in; out
        return projections + batch * 2 * length * source * e
    return 0


def _contractions(on_macs: Any) -> Any:
    """A TorchFunctionMode calling ``on_macs(macs, name)`` for every matrix product ``contraction_macs`` counts."""
    from torch.overrides import TorchFunctionMode

    class _Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            name = getattr(func, "__name__", "")
            macs = contraction_macs(name, tuple(args), kwargs, out)
            if macs:
                on_macs(macs, name)
            return out

    return _Mode()


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

    stack: list[str] = []
    counted_in: set[str] = set()

    def enter(name: str):
        def fn(m: nn.Module, inputs: tuple) -> None:
            stack.append(name)
        return fn

    def leave(m: nn.Module, inputs: tuple, out: Any) -> None:
        if stack:
            stack.pop()

    def on_contraction(mac: int, fn: str) -> None:  # a matrix product outside conv and linear layers
        owner = stack[-1] if stack else ""
        macs[0] += mac
        flops[0] += 2 * mac
        counted_in.add(owner)
        per_layer[owner or "(forward)"] = per_layer.get(owner or "(forward)", 0) + mac

    modules = dict(model.named_modules())
    for name, m in modules.items():
        if isinstance(m, _LINEAR_LIKE):  # their own products are counted by the layer hook below
            continue
        hooks.append(m.register_forward_pre_hook(enter(name)))
        hooks.append(m.register_forward_hook(leave))
    for name, m in modules.items():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(hook(name)))
    try:
        with torch.no_grad(), _contractions(on_contraction):
            model(example)
    finally:
        for h in hooks:
            h.remove()
    skipped -= {type(modules[n]).__name__ for n in counted_in if n in modules}
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
