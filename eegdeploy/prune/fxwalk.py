"""Fallback channel analysis over a torch.fx symbolic trace (module-level graph), used when torch.export fails.

The model is traced with torch.fx and run once on an example so every value has a shape. Every channel of every
tensor gets a *slot*; operations relate slots:
- a conv or linear layer *produces* fresh slots for its output channels and *consumes* its input's;
- BatchNorm, activations, pooling, padding, dropout and other per-channel ops pass slots through;
- a depthwise conv (groups == in_channels, output = D·input) ties each input channel to its D outputs, so EEGNet's
  F1·D layout is pruned in whole groups;
- residual additions and concatenation along a non-channel axis (TSCeption's branches) tie slots one to one;
  concatenation along the channel axis lays slots side by side;
- flatten/reshape into a linear layer maps each channel to its block of features.
Tied slots form a *unit* (union-find); a unit is removed as a whole. A unit is frozen (never removed) when it
reaches the model output (the classifier), a layer matching a keep pattern, or an operation the analysis does not
understand, with the reason recorded, so an unknown op makes a layer unprunable instead of silently wrong.
Units produced by the same layers form a *group*, named after its first producer: the level at which methods
rank and plans keep channels.
"""

from __future__ import annotations

import operator
from typing import Any, Sequence

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp

from eegdeploy.config import compile_patterns, matches_any
from eegdeploy.errors import UnsupportedLayerError
from eegdeploy.prune.units import Analysis, Layer, UnionFind, build_groups, param_axes_from_layers

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
PASS_MODULES = (
    nn.ReLU, nn.ReLU6, nn.ELU, nn.LeakyReLU, nn.SELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Softplus,
    nn.Hardtanh, nn.Hardswish, nn.Mish, nn.CELU, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
    nn.AlphaDropout, nn.Identity, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d,
    nn.AvgPool3d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d, nn.ZeroPad1d, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d,
    nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReplicationPad1d, nn.ReplicationPad2d, nn.Upsample,
    nn.LPPool1d, nn.LPPool2d,
)
PASS_FUNCTIONS = {
    F.relu, F.relu6, F.elu, F.leaky_relu, F.selu, F.gelu, F.silu, F.mish, F.hardtanh, F.softplus, torch.relu,
    torch.tanh, torch.sigmoid, F.dropout, F.dropout1d, F.dropout2d, F.avg_pool1d, F.avg_pool2d, F.max_pool1d,
    F.max_pool2d, F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.pad, torch.abs, torch.square, torch.log,
    torch.exp, torch.sqrt, torch.pow, torch.clamp, torch.log1p, operator.neg, torch.neg,
}
PASS_METHODS = {"relu", "abs", "pow", "log", "exp", "sqrt", "square", "clamp", "contiguous", "float", "sigmoid",
                "tanh", "neg", "log1p", "clone", "detach", "to", "type_as"}
BINARY = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub, torch.mul, torch.div}
BINARY_METHODS = {"add", "sub", "mul", "div"}
RESHAPE = {"flatten", "view", "reshape", "squeeze", "unsqueeze"}


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, CONV + NORM + (nn.Linear, nn.Flatten) + PASS_MODULES):
            return True
        return super().is_leaf_module(m, qualname)


def _shape(node: Any) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def trace(model: nn.Module) -> fx.GraphModule:
    try:
        graph = _Tracer().trace(model)
    except Exception as err:  # fx raises many types for data-dependent control flow
        raise UnsupportedLayerError(
            f"cannot trace {type(model).__name__} for channel analysis ({type(err).__name__}: {str(err)[:120]})",
            fix="avoid data-dependent Python control flow in forward (torch.where instead of if) so it can be traced") from None
    return fx.GraphModule(model, graph)


def walk(gm: fx.GraphModule, example: torch.Tensor, keep: Sequence[str] = ()) -> Analysis:
    """Shape-propagate ``gm`` on ``example`` and work out its channel units and groups."""
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(example)
    except Exception as err:
        raise UnsupportedLayerError(f"cannot run the model symbolically on input {tuple(example.shape)} "
                                    f"({type(err).__name__}: {str(err)[:120]})",
                                    fix="check --input-shape; see docs/slimming.md for supported operations") from None
    return _Walker(gm, keep).run(tuple(example.shape[1:]))


class _Walker:
    def __init__(self, gm: fx.GraphModule, keep: Sequence[str]) -> None:
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.uf = UnionFind()
        self.slots: dict[fx.Node, np.ndarray | None] = {}
        self.reasons: dict[int, str] = {}  # slot -> why frozen
        self.layers: dict[str, Layer] = {}
        self.order: list[str] = []
        self.keep = compile_patterns(list(keep))
        self.calls: dict[str, int] = {}

    def freeze(self, slots: np.ndarray | None, reason: str) -> None:
        if slots is None:
            return
        for s in slots:
            self.reasons.setdefault(int(s), reason)

    def fresh(self, n: int, reason: str | None = None) -> np.ndarray:
        s = self.uf.new(n)
        if reason:
            self.freeze(s, reason)
        return s

    def tie(self, a: np.ndarray, b: np.ndarray) -> None:
        for x, y in zip(a, b):
            self.uf.union(x, y)

    def arg_slots(self, a: Any) -> np.ndarray | None:
        return self.slots.get(a) if isinstance(a, fx.Node) else None

    def unknown(self, node: fx.Node, what: str) -> np.ndarray | None:
        reason = f"unsupported operation {what} at {node.name}"
        for a in node.all_input_nodes:
            self.freeze(self.slots.get(a), reason)
        shp = _shape(node)
        return self.fresh(shp[1], reason) if shp and len(shp) >= 2 else None

    def run(self, input_shape: tuple[int, ...]) -> Analysis:
        for node in self.gm.graph.nodes:
            try:
                self.slots[node] = self.visit(node)
            except Exception as err:  # a form the walk was not written for: the node's inputs stay whole
                self.slots[node] = self.unknown(node, f"{node.target} ({type(err).__name__})")
        unit_of = self.uf.roots()
        frozen: dict[int, str] = {}
        for s, r in self.reasons.items():
            frozen.setdefault(int(unit_of[s]), r)
        groups = build_groups(self.layers, self.order, unit_of, frozen)
        return Analysis(self.layers, groups, unit_of, frozen, input_shape, param_axes_from_layers(self.layers),
                        [], "fx")

    def visit(self, node: fx.Node) -> np.ndarray | None:
        shp = _shape(node)
        if node.op == "placeholder":
            return self.fresh(shp[1], "model input") if shp and len(shp) >= 2 else None
        if node.op == "output":
            for a in node.all_input_nodes:
                self.freeze(self.slots.get(a), "model output (classifier)")
            return None
        if node.op == "get_attr":
            return self.fresh(shp[1], f"parameter {node.target} used directly") if shp and len(shp) >= 2 else None
        if node.op == "call_module":
            return self.visit_module(node, self.modules[str(node.target)], shp)
        if node.op == "call_function":
            return self.visit_function(node, node.target, shp)
        if node.op == "call_method":
            return self.visit_method(node, str(node.target), shp)
        return self.unknown(node, node.op)

    # -- modules ---------------------------------------------------------------------------------------------
    def visit_module(self, node: fx.Node, m: nn.Module, shp: tuple[int, ...] | None) -> np.ndarray | None:
        name = str(node.target)
        self.calls[name] = self.calls.get(name, 0) + 1
        x = self.arg_slots(node.args[0]) if node.args else None
        if self.calls[name] > 1 and isinstance(m, CONV + NORM + (nn.Linear,)):
            self.freeze(x, f"{name} is called more than once")
            self.freeze(self.layers[name].out_slots, f"{name} is called more than once")
            self.freeze(self.layers[name].in_slots, f"{name} is called more than once")
            return self.fresh(shp[1], f"{name} is called more than once") if shp and len(shp) >= 2 else None
        if isinstance(m, CONV):
            return self.visit_conv(node, name, m, x)
        if isinstance(m, nn.Linear):
            in_shape = _shape(node.args[0])
            if in_shape is None or len(in_shape) != 2:
                self.freeze(x, f"{name} applied to a {len(in_shape or ())}-D tensor")
                out = self.fresh(m.out_features, f"{name} applied to a {len(in_shape or ())}-D tensor")
            else:
                out = self.fresh(m.out_features)
            self._producer(name, m, x, out, "linear")
            return out
        if isinstance(m, NORM):
            self.layers[name] = Layer(name, m, x, x, "norm")
            return x
        if isinstance(m, PASS_MODULES):
            return self._passthrough(node, x, shp)
        if isinstance(m, nn.Flatten):
            return self._reshape(node, x, shp)
        if not any(True for _ in m.parameters(recurse=False)) and not list(m.children()):
            return self.unknown(node, type(m).__name__)
        return self.unknown(node, f"module {type(m).__name__} with parameters")

    def _producer(self, name: str, m: nn.Module, x: np.ndarray | None, out: np.ndarray, kind: str) -> None:
        if matches_any(name, self.keep):
            self.freeze(out, f"{name} matches a keep pattern")
        self.layers[name] = Layer(name, m, x, out, kind)
        self.order.append(name)

    def visit_conv(self, node: fx.Node, name: str, m: nn.Module, x: np.ndarray | None) -> np.ndarray:
        g = m.groups
        mode = "whole"
        if x is None or len(x) != m.in_channels:
            out = self.fresh(m.out_channels, f"{name}: input channels not tracked")
            self.freeze(x, f"{name}: input channels not tracked")
        elif g == 1:
            out = self.fresh(m.out_channels)
        elif g == m.in_channels:  # depthwise, depth multiplier D = out / in
            d = m.out_channels // m.in_channels
            out = self.fresh(m.out_channels)
            frozen_roots = {self.uf.find(s) for s in self.reasons}
            if d > 1 and all(self.uf.find(int(s)) in frozen_roots for s in x):
                # the inputs cannot be removed (e.g. the model's input bands, FBCNet): prune the multiplier
                # instead, the j-th filter of every group together, so each group keeps the same count
                mode = "position"
                for i in range(1, m.in_channels):
                    for j in range(d):
                        self.uf.union(out[j], out[i * d + j])
            else:  # EEGNet's F1·D: removing input channel i removes its D filters
                for i in range(m.in_channels):
                    for j in range(d):
                        self.uf.union(x[i], out[i * d + j])
        else:
            reason = f"{name}: grouped convolution (groups={g}) is kept whole"
            self.freeze(x, reason)
            out = self.fresh(m.out_channels, reason)
        self._producer(name, m, x, out, "conv")
        self.layers[name].groups_mode = mode if g > 1 else ""
        return out

    # -- functions and methods -------------------------------------------------------------------------------
    def _passthrough(self, node: fx.Node, x: np.ndarray | None, shp: tuple[int, ...] | None) -> np.ndarray | None:
        if x is None:
            return None
        if shp is None or len(shp) < 2 or shp[1] != len(x):
            return self.unknown(node, f"{node.target} changing the channel axis")
        return x

    def visit_function(self, node: fx.Node, fn: Any, shp: tuple[int, ...] | None) -> np.ndarray | None:
        x = self.arg_slots(node.args[0]) if node.args else None
        if fn in PASS_FUNCTIONS:
            return self._passthrough(node, x, shp)
        if fn in BINARY:
            return self._binary(node, shp)
        if fn is torch.cat:
            return self._cat(node, shp)
        if fn in (torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze):
            return self._reshape(node, x, shp)
        if fn in (torch.mean, torch.sum, torch.amax, torch.var, torch.std):
            return self._reduce(node, x, shp)
        if fn is operator.getitem and not isinstance(node.args[0], fx.Node):
            return None
        if fn is getattr or (fn is operator.getitem and _shape(node) is None):
            return None  # x.shape / x.size() arithmetic: no tensor channels
        return self.unknown(node, getattr(fn, "__name__", str(fn)))

    def visit_method(self, node: fx.Node, name: str, shp: tuple[int, ...] | None) -> np.ndarray | None:
        x = self.arg_slots(node.args[0])
        if name == "size" or name == "dim":
            return None
        if name in PASS_METHODS:
            return self._passthrough(node, x, shp)
        if name in BINARY_METHODS:
            return self._binary(node, shp)
        if name in RESHAPE:
            return self._reshape(node, x, shp)
        if name in ("mean", "sum", "amax", "var", "std"):
            return self._reduce(node, x, shp)
        return self.unknown(node, f".{name}()")

    def _binary(self, node: fx.Node, shp: tuple[int, ...] | None) -> np.ndarray | None:
        tensors = [a for a in node.args[:2] if isinstance(a, fx.Node) and _shape(a) is not None]
        slots = [self.slots.get(a) for a in tensors]
        slots = [s for s in slots if s is not None]
        if not slots:
            return None
        if shp is None or len(shp) < 2:
            return self.unknown(node, "binary op without a channel axis")
        for a in tensors:
            ashp = _shape(a)
            if ashp is not None and len(ashp) >= 2 and ashp[1] == 1 and shp[1] != 1:
                return self.unknown(node, "broadcast over channels")
        base = slots[0]
        if len(base) != shp[1]:
            return self.unknown(node, "binary op changing channels")
        for other in slots[1:]:
            if len(other) != len(base):
                return self.unknown(node, "binary op on different channel counts")
            self.tie(base, other)
        return base

    def _cat(self, node: fx.Node, shp: tuple[int, ...] | None) -> np.ndarray | None:
        parts = list(node.args[0])
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        rank = len(shp) if shp else 0
        dim = dim + rank if isinstance(dim, int) and dim < 0 else dim
        slots = [self.slots.get(p) if isinstance(p, fx.Node) else None for p in parts]
        if any(s is None for s in slots) or not shp:
            return self.unknown(node, "cat of untracked tensors")
        if dim == 1:
            return np.concatenate(slots)
        if dim == 0:
            return self.unknown(node, "cat along the batch axis")
        for s in slots[1:]:
            if len(s) != len(slots[0]):
                return self.unknown(node, "cat of different channel counts")
            self.tie(slots[0], s)
        return slots[0]

    def _reshape(self, node: fx.Node, x: np.ndarray | None, shp: tuple[int, ...] | None) -> np.ndarray | None:
        in_shp = _shape(node.args[0])
        if x is None or in_shp is None or shp is None:
            return None if x is None else self.unknown(node, str(node.target))
        if len(shp) >= 2 and shp[0] == in_shp[0] and shp[1] == in_shp[1]:
            return x  # channel axis untouched (squeeze/unsqueeze/flatten of trailing axes)
        if len(shp) == 2 and shp[0] == in_shp[0] and shp[1] == int(np.prod(in_shp[1:])):
            return np.repeat(x, int(np.prod(in_shp[2:])))  # flatten into features, channel-major
        return self.unknown(node, f"{node.target} to {shp}")

    def _reduce(self, node: fx.Node, x: np.ndarray | None, shp: tuple[int, ...] | None) -> np.ndarray | None:
        if x is None:
            return None
        if shp is not None and len(shp) >= 2 and shp[1] == len(x):
            in_shp = _shape(node.args[0])
            dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
            if dims and all((d % len(in_shp)) >= 2 for d in dims):
                return x
        return self.unknown(node, f"{node.target} over the channel axis")
