"""Budgets before allocation: each step's output size and cost, predicted from shapes before it runs.

A file decides layer widths (arch kwargs, slim.pt layer arguments), the input shape and, in slim.pt, the steps of
``forward``. Running that blindly is how a 2 KB file takes gigabytes. Before a step that can produce more values
than it receives (broadcasting, repeat, cat, padding, interpolation, matrix products, convolutions, adaptive pools,
recurrent layers), its output size is computed from the input shapes and the step's arguments, and compared with
the budgets in ``eegdeploy.limits``; so are the values alive at once and the running FLOP estimate. Every step's
actual output size is checked after it runs too (views such as ``expand`` allocate nothing, but a later step would).
Shape arithmetic only: no meta tensors (their first use imports sympy, seconds on a small machine).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Iterator, Sequence

import torch
import torch.nn as nn

from eegdeploy.limits import MAX_FLOPS_PER_SAMPLE, MAX_LIVE_ELEMENTS, MAX_PARAMS, MAX_SAMPLE_ELEMENTS, BudgetError, over

__all__ = ["Meter", "call_bound", "check_params", "check_sample_shape", "guard_layers", "layer_bound", "param_budget"]

_FIX = "a model this large is refused as a likely crafted file; check the file's source"


def numel(v: Any) -> int:
    if isinstance(v, torch.Tensor):
        return math.prod(v.shape)
    if isinstance(v, (list, tuple)):
        return sum(numel(x) for x in v)
    if isinstance(v, dict):
        return sum(numel(x) for x in v.values())
    return 0


def _shape(t: Any) -> tuple[int, ...] | None:
    return tuple(int(d) for d in t.shape) if isinstance(t, torch.Tensor) else None


def _tup(v: Any, n: int) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        return tuple(int(x) if isinstance(x, (int, float)) else 1 for x in v) or (1,) * n
    return (int(v) if isinstance(v, (int, float)) else 1,) * n


class Meter:
    """Per-call accounting: the batch the budgets scale with, the FLOPs so far, and where to blame."""

    def __init__(self, batch: int, where: str) -> None:
        self.batch = max(1, int(batch))
        self.where = where
        self.flops = 0

    def values(self, n: int, what: str = "an activation (values per sample)") -> None:
        if n > MAX_SAMPLE_ELEMENTS * self.batch:
            raise over(what, n // self.batch, MAX_SAMPLE_ELEMENTS, self.where, _FIX)

    def live(self, n: int) -> None:
        if n > MAX_LIVE_ELEMENTS * self.batch:
            raise over("the values alive at once (per sample)", n // self.batch, MAX_LIVE_ELEMENTS, self.where, _FIX)

    def cost(self, flops: int) -> None:
        self.flops += int(flops)
        if self.flops > MAX_FLOPS_PER_SAMPLE * self.batch:
            raise over("the FLOPs per sample", self.flops // self.batch, MAX_FLOPS_PER_SAMPLE, self.where, _FIX)

    def before_layer(self, layer: nn.Module, args: Sequence[Any]) -> None:
        out, flops = layer_bound(layer, args)
        self.values(out)
        self.cost(flops)

    def before_call(self, fn: str, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        out, flops = call_bound(fn, args, kwargs)
        self.values(out)
        self.cost(flops)


def layer_bound(layer: nn.Module, args: Sequence[Any]) -> tuple[int, int]:
    """(upper bound on output values, FLOP estimate) of ``layer(*args)``, from shapes and layer attributes."""
    x = args[0] if args else None
    s = _shape(x)
    n_in = numel(args)
    if s is None:
        return n_in, n_in
    if isinstance(layer, nn.modules.conv._ConvNd):
        k = len(layer.kernel_size)
        lead, spatial = s[:-k - 1] if len(s) > k + 1 else (), s[-k:]
        if layer.transposed:
            dims = [(d - 1) * st + dl * (kk - 1) + op + 1 for d, st, dl, kk, op in
                    zip(spatial, _tup(layer.stride, k), _tup(layer.dilation, k), layer.kernel_size,
                        _tup(layer.output_padding, k))]
        else:
            pad = (0,) * k if isinstance(layer.padding, str) else _tup(layer.padding, k)
            dims = [d + 2 * p for d, p in zip(spatial, pad)]
        out = math.prod(lead) * layer.out_channels * math.prod(max(1, d) for d in dims)
        w = tuple(layer.weight.shape)  # shapes only: no tensor op (this also runs under torch.export)
        return out, 2 * out * max(1, math.prod(w[1:]) if not layer.transposed else math.prod(w) // max(1, w[1]))
    if isinstance(layer, nn.Linear):
        out = n_in // max(1, layer.in_features) * layer.out_features
        return out, 2 * out * layer.in_features
    if isinstance(layer, nn.Bilinear):
        out = n_in // max(1, layer.in1_features) * layer.out_features
        return out, 2 * out * layer.in1_features * layer.in2_features
    if isinstance(layer, nn.RNNBase):
        rows = numel(x) // max(1, s[-1])
        dirs = 2 if layer.bidirectional else 1
        out = rows * layer.hidden_size * dirs * (1 + layer.num_layers)
        return out, 2 * rows * sum(math.prod(p.shape) for p in layer.parameters())
    if isinstance(layer, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
        size = layer.output_size
        k = len(size) if isinstance(size, (tuple, list)) else 1
        dims = [d if o is None else int(o) for d, o in zip(s[-k:], size if isinstance(size, (list, tuple)) else (size,))]
        out = math.prod(s[:-k]) * math.prod(dims)
        return out, n_in + out
    if isinstance(layer, (nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
                          nn.modules.padding._ReplicationPadNd, nn.ZeroPad2d, nn.ZeroPad1d, nn.ZeroPad3d)):
        out = _padded(s, layer.padding)
        return out, out
    if isinstance(layer, nn.Upsample):
        out = _interpolated(s, layer.size, layer.scale_factor)
        return out, 4 * out
    if isinstance(layer, nn.Unfold):
        ks = math.prod(_tup(layer.kernel_size, 2))
        return n_in * ks * 4, n_in * ks * 4
    return n_in, 8 * n_in  # elementwise layers, norms, pools, flatten/unflatten, dropout: no more than the input


def _padded(s: tuple[int, ...], pad: Any) -> int:
    pads = list(_tup(pad, 2)) if not isinstance(pad, (list, tuple)) else [int(p) for p in pad]
    dims = list(s)
    for i in range(0, len(pads) - 1, 2):
        axis = len(dims) - 1 - i // 2
        if axis >= 0:
            dims[axis] = max(0, dims[axis] + pads[i] + pads[i + 1])
    return math.prod(dims)


def _interpolated(s: tuple[int, ...], size: Any, scale: Any) -> int:
    k = max(1, len(s) - 2)
    if size is not None:
        return math.prod(s[:2]) * math.prod(_tup(size, k))
    factors = scale if isinstance(scale, (list, tuple)) else (scale or 1,) * k
    return math.prod(s[:2]) * math.prod(max(1, math.ceil(d * float(f))) for d, f in zip(s[2:], factors))


_ELEMENTWISE = {"torch.add", "torch.sub", "torch.mul", "torch.div", "torch.pow", "operator.add", "operator.sub",
                "operator.mul", "operator.truediv", "operator.floordiv", "operator.pow", "operator.mod", "add", "sub",
                "mul", "div", "pow", "torch.clamp", "clamp"}


def call_bound(fn: str, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[int, int]:
    """(upper bound on output values, FLOP estimate) of a whitelisted function or tensor method."""
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    n_in = numel(args) + numel(kwargs)
    name = fn.split(".")[-1]
    if fn in _ELEMENTWISE and tensors:
        try:
            out = math.prod(torch.broadcast_shapes(*(t.shape for t in tensors)))
        except RuntimeError:
            out = n_in
        return out, 2 * out
    if name in ("matmul", "bmm") and len(tensors) >= 2:
        a, b = _shape(tensors[0]) or (1,), _shape(tensors[1]) or (1,)
        batch_a, batch_b = a[:-2], b[:-2]
        try:
            lead = math.prod(torch.broadcast_shapes(torch.Size(batch_a), torch.Size(batch_b)))
        except RuntimeError:
            lead = max(math.prod(batch_a), math.prod(batch_b))
        m = a[-2] if len(a) >= 2 else 1
        n = b[-1] if len(b) >= 2 else 1
        out = lead * m * n
        return out, 2 * out * a[-1]
    if fn == "F.linear" and len(tensors) >= 2:
        w = _shape(tensors[1]) or (1, 1)
        out = numel(tensors[0]) // max(1, w[-1]) * (w[0] if len(w) > 1 else 1)
        return out, 2 * out * w[-1]
    if fn in ("F.conv1d", "F.conv2d", "F.conv3d") and len(tensors) >= 2:
        x, w = _shape(tensors[0]) or (1,), _shape(tensors[1]) or (1,)
        k = len(w) - 2
        pad = kwargs.get("padding", args[4] if len(args) > 4 else 0)
        pad = (0,) * k if isinstance(pad, str) else _tup(pad, k)
        out = (x[0] if len(x) > k + 1 else 1) * w[0] * math.prod(d + 2 * p for d, p in zip(x[-k:], pad))
        return out, 2 * out * math.prod(w[1:])
    if fn == "torch.einsum" and args and isinstance(args[0], str):
        ops = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:]
        sizes: dict[str, int] = {}
        for spec, t in zip(args[0].replace(" ", "").split("->")[0].split(","), ops):
            letters = [c for c in spec if c.isalpha()]
            for c, d in zip(letters, (_shape(t) or ())[-len(letters):] if letters else ()):
                sizes[c] = max(sizes.get(c, 1), int(d))
        total = math.prod(sizes.values()) if sizes else n_in
        return total, 2 * total
    if name in ("cat", "stack"):
        return n_in, n_in
    if name == "repeat" and tensors:
        reps = args[1:] if not (len(args) == 2 and isinstance(args[1], (list, tuple))) else args[1]
        out = numel(tensors[0]) * math.prod(int(r) if isinstance(r, int) else 1 for r in reps)
        return out, out
    if fn == "F.pad" and tensors:
        pad = args[1] if len(args) > 1 else kwargs.get("pad", ())
        out = _padded(_shape(tensors[0]) or (), pad)
        return out, out
    if fn == "F.interpolate" and tensors:
        out = _interpolated(_shape(tensors[0]) or (), kwargs.get("size", args[1] if len(args) > 1 else None),
                            kwargs.get("scale_factor", args[2] if len(args) > 2 else None))
        return out, 4 * out
    if fn.startswith("F.adaptive_") and tensors:
        size = kwargs.get("output_size", args[1] if len(args) > 1 else 1)
        s = _shape(tensors[0]) or (1,)
        k = 2 if "2d" in fn else 1
        out = math.prod(s[:-k]) * math.prod(d if o is None else int(o) for d, o in
                                            zip(s[-k:], size if isinstance(size, (list, tuple)) else (size,) * k))
        return out, n_in + out
    return n_in, 4 * n_in  # reshapes, reductions, pools, activations: no more than their inputs


def check_sample_shape(shape: tuple[int, ...], where: str) -> None:
    """One input sample (without batch) must be positive and within MAX_SAMPLE_ELEMENTS."""
    if not shape or any((not isinstance(d, int)) or d < 1 for d in shape):
        raise BudgetError(f"{where}: input shape {list(shape)} needs positive sizes", fix="give positive sizes")
    n = math.prod(shape)
    if n > MAX_SAMPLE_ELEMENTS:
        raise over("the input sample size (values)", n, MAX_SAMPLE_ELEMENTS, where, "check the input shape")


def check_params(module: nn.Module, where: str) -> int:
    n = sum(t.numel() for t in module.state_dict(keep_vars=True).values())
    if n > MAX_PARAMS:
        raise over("the parameter count", n, MAX_PARAMS, where, _FIX)
    return n


@contextlib.contextmanager
def param_budget(where: str, limit: int = MAX_PARAMS) -> Iterator[None]:
    """While active, building modules refuses once the parameters and buffers registered exceed ``limit``, or a
    layer run by a constructor (a mock forward that sizes the classifier) would produce too many values.

    The hooks run when a tensor is registered, before a layer initialises it, so memory for a refused layer is never
    touched (``torch.empty`` only reserves address space)."""
    from torch.nn.modules.module import (register_module_buffer_registration_hook,
                                         register_module_forward_pre_hook,
                                         register_module_parameter_registration_hook)

    total = [0]
    meter = Meter(1, where)

    def hook(_m: nn.Module, _name: str, t: Any) -> None:
        if isinstance(t, torch.Tensor):
            total[0] += t.numel()
            if total[0] > limit:
                raise over("the parameter count", total[0], limit, where, _FIX)

    def forward_pre(m: nn.Module, args: tuple[Any, ...]) -> None:  # constructors that run a mock forward
        if not m._modules:
            meter.values(layer_bound(m, args)[0])

    handles = [register_module_parameter_registration_hook(hook), register_module_buffer_registration_hook(hook),
               register_module_forward_pre_hook(forward_pre)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def guard_layers(module: nn.Module, batch: int, where: str) -> Iterator[Meter]:
    """While active, every leaf layer of ``module`` checks its output bound and cost before it runs (for models
    whose code is trusted but whose sizes come from a file: arch kwargs, input shapes)."""
    meter = Meter(batch, where)

    def pre(m: nn.Module, args: tuple[Any, ...]) -> None:
        meter.before_layer(m, args)

    def post(m: nn.Module, args: tuple[Any, ...], out: Any) -> None:
        meter.values(numel(out))

    leaves = [m for m in module.modules() if not list(m.children())]
    hooks = [m.register_forward_pre_hook(pre) for m in leaves] + [m.register_forward_hook(post) for m in leaves]
    try:
        yield meter
    finally:
        for h in hooks:
            h.remove()

