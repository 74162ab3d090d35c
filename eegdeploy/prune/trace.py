"""Channel dependency analysis: which channels of which layers must be removed together.

The model is captured as an ATen graph (``capture.py``: ``torch.export``, with ``torch.fx`` as a fallback) on an
example input, so every value has a shape. Every axis of every tensor that carries removable channels has an
array of *slots*, one per position; other axes (batch, time, tokens, the model's input) are *untracked* and stay
whole. Parameters and buffers get slots on every axis. Operations relate slots through *op rules*
(``rules.py``, a registry users can extend):
- a conv or linear layer *produces*: its output channels are its weight's axis-0 slots, and its input channels
  are tied to its weight's input axis;
- BatchNorm/LayerNorm/InstanceNorm, activations, pooling, dropout and other per-channel ops pass slots through
  and tie them to their parameters; GroupNorm and grouped convs tie whole groups; a depthwise conv
  (groups == in_channels, output = D·input) ties each input channel to its D outputs (EEGNet's F1·D layout);
- elementwise ops tie the slots of their operands one to one (residual additions, gates, positional
  embeddings), broadcasting where an operand has size 1;
- axis moves (permute, transpose, reshape, flatten, einops) carry slots to their new axes; a reshape that
  merges the channel axis with untracked axes repeats them in blocks (flatten into a linear layer), one that
  splits channels into blocks ties each block into one unit (attention heads, ``b n (h d) -> b h n d``);
- matmul/einsum/attention tie batch-like axes and freeze a contracted channel axis.
Tied slots form a *unit* (union-find); a unit is removed as a whole. A unit is frozen (never removed) when it
reaches the model output (the classifier), a layer matching a keep pattern, or an operation no rule understands,
with the reason recorded, so an unknown op makes a layer unprunable instead of silently wrong.
Units produced by the same layers form a *group*, named after its first producer: the level at which methods
rank and plans keep channels.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from eegdeploy.config import compile_patterns, matches_any
from eegdeploy.prune.capture import Captured, capture, module_stack, value_shape
from eegdeploy.prune.units import Analysis, ChannelGroup, Fixup, Layer, UnionFind, build_groups

# modules whose forward reads widths it does not take from its parameters (nn.MultiheadAttention unflattens its
# fused projection with its embed_dim): everything they touch is kept whole, never cut wrong
OPAQUE: tuple[type, ...] = (nn.MultiheadAttention,)

Axes = list  # per-axis: np.ndarray of slots, or None (untracked)


class Multi(list):
    """The value of an op returning several tensors (split, chunk, max with indices, lstm)."""


def op_name(node: fx.Node) -> str:
    """``aten.conv2d.default`` -> ``conv2d``; Python callables by their name."""
    t = node.target
    s = str(t)
    if s.startswith("aten."):
        return s.split(".")[1]
    return getattr(t, "__name__", s)


class Walker:
    """Walks a captured graph once, applying the op rule of each node. Rules use the helpers below."""

    def __init__(self, cap: Captured, model: nn.Module, keep: Sequence[str]) -> None:
        self.cap = cap
        self.model = model
        self.modules = dict(model.named_modules())
        self.uf = UnionFind()
        self.val: dict[fx.Node, Any] = {}
        self.reasons: dict[int, str] = {}
        self.params: dict[str, dict[int, np.ndarray]] = {}
        self.param_of: dict[fx.Node, str] = {}
        self.layers: dict[str, Layer] = {}
        self.order: list[str] = []
        self.fixups: list[Fixup] = []
        self.keep = compile_patterns(list(keep))
        self.node: fx.Node | None = None

    # -- helpers for rules -----------------------------------------------------------------------------------
    def fresh(self, n: int) -> np.ndarray:
        return self.uf.new(n)

    def freeze(self, slots: np.ndarray | None, reason: str) -> None:
        if slots is None:
            return
        for s in np.asarray(slots).ravel():
            self.reasons.setdefault(int(s), reason)

    def freeze_value(self, value: Any, reason: str) -> None:
        if isinstance(value, Multi):
            for v in value:
                self.freeze_value(v, reason)
        elif isinstance(value, list):
            for a in value:
                self.freeze(a, reason)

    def is_frozen(self, slots: np.ndarray) -> bool:
        roots = {self.uf.find(s) for s in self.reasons}
        return all(self.uf.find(int(s)) in roots for s in slots)

    def tie(self, a: np.ndarray | None, b: np.ndarray | None, reason: str = "") -> np.ndarray | None:
        """Tie two axes position by position; an untracked side freezes the other. Returns the tied axis."""
        if a is None or b is None:
            self.freeze(a if b is None else b, reason or f"meets an untracked axis at {self.where()}")
            return None
        if len(a) != len(b):
            self.freeze(a, reason or f"axes of different sizes at {self.where()}")
            self.freeze(b, reason or f"axes of different sizes at {self.where()}")
            return None
        for x, y in zip(a, b):
            self.uf.union(x, y)
        return a

    def tie_all(self, axes: list[np.ndarray | None], reason: str = "") -> np.ndarray | None:
        if not axes:
            return None
        out = axes[0]
        for b in axes[1:]:
            out = self.tie(out, b, reason) if out is not None else self.tie(b, None, reason)
        if out is None:
            for a in axes:
                self.freeze(a, reason or f"meets an untracked axis at {self.where()}")
        return out

    def get(self, arg: Any) -> Any:
        return self.val.get(arg) if isinstance(arg, fx.Node) else None

    def shape(self, arg: Any) -> tuple[int, ...] | None:
        return value_shape(arg)

    def where(self) -> str:
        n = self.node
        if n is None:
            return "?"
        stack = module_stack(n)
        mod = stack[-1] if stack else ""
        return f"{n.name}" + (f" in {mod}" if mod else "")

    def owner(self, fqn: str) -> str:
        return fqn.rsplit(".", 1)[0] if "." in fqn else ""

    def param_name(self, arg: Any) -> str | None:
        return self.param_of.get(arg) if isinstance(arg, fx.Node) else None

    def add_layer(self, name: str, kind: str, in_slots: np.ndarray | None, out_slots: np.ndarray | None,
                  producer: bool, groups_mode: str = "") -> None:
        if name in self.layers or name not in self.modules:
            return
        self.layers[name] = Layer(name, self.modules[name], in_slots, out_slots, kind, groups_mode)
        if producer:
            if matches_any(name, self.keep):
                self.freeze(out_slots, f"{name} matches a keep pattern")
            self.order.append(name)

    def unknown(self, node: fx.Node, what: str | None = None) -> Any:
        reason = f"unsupported operation {what or op_name(node)} at {self.where()}"
        for a in node.all_input_nodes:
            self.freeze_value(self.val.get(a), reason)
        return self.untracked(node)

    def untracked(self, node: fx.Node) -> Any:
        val = node.meta.get("val")
        if isinstance(val, (list, tuple)):
            return Multi([[None] * v.dim() if isinstance(v, torch.Tensor) else None for v in val])
        if isinstance(val, torch.Tensor):
            return [None] * val.dim()
        return None

    # -- the walk --------------------------------------------------------------------------------------------
    def run(self, input_shape: tuple[int, ...]) -> Analysis:
        from eegdeploy.prune.rules import RULES, module_rule_for

        for node in self.cap.graph.nodes:
            self.node = node
            if node.op == "placeholder":
                shp = self.shape(node)
                if node.name in self.cap.tensors:
                    fqn = self.cap.tensors[node.name]
                    self.param_of[node] = fqn
                    axes = [self.fresh(n) for n in (shp or ())]
                    self.params[fqn] = dict(enumerate(axes))
                    self.val[node] = axes
                else:
                    self.val[node] = [None] * len(shp) if shp is not None else None
                continue
            if node.op == "output":
                for a in node.all_input_nodes:
                    self.freeze_value(self.val.get(a), "model output (classifier)")
                continue
            if node.op != "call_function":
                self.val[node] = self.unknown(node, node.op)
                continue
            opaque = next((p for p in module_stack(node) if isinstance(self.modules.get(p), OPAQUE)), None)
            if opaque is not None:  # its forward hard-codes its width (MultiheadAttention): kept whole
                self.val[node] = self.unknown(node, f"inside {type(self.modules[opaque]).__name__} {opaque}")
                continue
            custom = module_rule_for(self, node)
            if custom is not None:
                self.val[node] = custom
                continue
            rule = RULES.get(op_name(node))
            try:
                self.val[node] = rule(self, node) if rule is not None else self.unknown(node)
            except Exception as err:  # a rule meeting a form it was not written for: the node's inputs stay whole
                self.val[node] = self.unknown(node, f"{op_name(node)} in a form the analysis does not follow "
                                                    f"({type(err).__name__})")
        unit_of = self.uf.roots()
        frozen: dict[int, str] = {}
        for s, r in self.reasons.items():
            frozen.setdefault(int(unit_of[s]), r)
        groups = build_groups(self.layers, self.order, unit_of, frozen)
        _name_kinds(groups, self.layers)
        return Analysis(self.layers, groups, unit_of, frozen, input_shape, self.params, self.fixups, "export")


def _name_kinds(groups: list[ChannelGroup], layers: dict[str, Layer]) -> None:
    for g in groups:
        lay = layers[g.producers[0]]
        if lay.kind == "linear" and lay.out_slots is not None and len(lay.out_slots) > g.size > 0 and \
                len(lay.out_slots) % g.size == 0 and len(set(lay.out_slots.tolist())) == len(lay.out_slots):
            g.kind = "heads"  # several output features per unit: blocks of attention heads
        elif lay.kind == "linear" and len(g.producers) > 2:
            g.kind = "embedding"
        elif lay.kind == "linear":
            g.kind = "hidden"


def analyse(model: nn.Module, example: torch.Tensor, *, keep: Sequence[str] = ()) -> Analysis:
    """Capture ``model`` on ``example`` and work out its channel units and groups (model is not modified)."""
    was_training = model.training
    model.eval()
    hooks = _detach_mask_hooks(model)  # a masked LayerNorm's hook is not part of the model's structure
    try:
        cap = capture(model, example[:1])
        if isinstance(cap, fx.GraphModule):
            from eegdeploy.prune.fxwalk import walk

            analysis = walk(cap, example[:1], keep)
        else:
            analysis = Walker(cap, model, keep).run(tuple(example.shape[1:]))
            from eegdeploy.prune.depth import find_depth

            info = find_depth(cap, model, example[:1], set(analysis.layers))
            keep_pats = compile_patterns(list(keep))
            for g in info.groups:
                hit = next((b for b in g.producers + g.members if matches_any(b, keep_pats)), None)
                if hit is not None and g.prunable:
                    g.prunable, g.reason = False, f"{hit} matches a keep pattern"
            analysis.depth, analysis.blocks, analysis.depth_refused = info.groups, info.blocks, info.refused
        from eegdeploy.prune.probe import apply_verdicts, probe_groups, probing

        if not probing():  # what the graph cannot show, the slim model settles (prune/probe.py)
            apply_verdicts(analysis, probe_groups(model, analysis, example[:1], tuple(keep)))
        return analysis
    finally:
        for m, k, h in hooks:
            m._forward_hooks[k] = h
        model.train(was_training)


def _detach_mask_hooks(model: nn.Module) -> list[tuple[nn.Module, int, Any]]:
    out = []
    for m in model.modules():
        for k, h in list(m._forward_hooks.items()):
            if getattr(h, "eegdeploy_mask_hook", False):
                out.append((m, k, h))
                del m._forward_hooks[k]
    return out


def channel_groups(model: nn.Module, example: torch.Tensor, *, keep: Sequence[str] = ()) -> list[ChannelGroup]:
    """The channel groups of ``model`` (prunable or not, with the reason)."""
    return analyse(model, example, keep=keep).groups


__all__ = ["Analysis", "ChannelGroup", "Layer", "Multi", "Walker", "analyse", "channel_groups", "op_name"]
