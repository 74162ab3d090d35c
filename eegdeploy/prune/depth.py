"""Depth: residual blocks that can be dropped whole, found and proven on the captured graph.

A residual sub-block computes ``y = x + f(x)``. When ``f`` is exactly one call of one module ``M`` (a PreNorm
attention, a feed-forward block, Conformer's ``ResidualAdd.fn``), replacing ``M`` by a module that returns
``x * 0`` turns the sub-block into the identity, and removes ``M``'s parameters and compute. The masked model
multiplies ``M``'s output by 0 (a forward hook); the slim model calls ``ZeroBranch`` instead of ``M``. Both give
the residual add a zero of the same shape, so slim == masked by construction.

What is proven on the graph before a branch is called droppable (``find_depth``), for an ``add`` of two tensors
of the same shape as its result, one operand ``f`` and the other the skip ``s``:
- ``f`` depends on ``s`` and on nothing else of the model's (parameters, buffers and constants aside): the skip
  is the identity path and the branch reads only what it adds back to; no value of the branch is used outside
  it, and it writes nothing in place outside itself;
- ``f`` is the output of one call of one module ``M``, every node of that call computes ``f``, and no parameter
  of ``M`` is read elsewhere (tied weights). ``M`` is the module computing the whole branch when there is one
  (torcheeg's ``PreNorm``, Conformer's ``ResidualAdd.fn``); in ``x + attn(norm(x))`` written in a block's own
  forward it is ``attn``, and modules that only feed it (``norm``) become ``nn.Identity`` in the slim model;
- at run time, ``M`` (and each feeding module) is called once and returns one tensor of its first argument's
  shape and dtype (what ``ZeroBranch`` and ``nn.Identity`` return).
An add that fails one of these (``y = conv(x) + shortcut(x)``, a branch written inline in the parent's forward,
a module reused elsewhere) is listed with the reason and never dropped.

Branches are grouped into *layers*, the unit of depth (a TNAS-style depth is a whole encoder layer): the module
path up to its first numbered component (``transformer.layers.0`` for ``transformer.layers.0.1``; ``encoder.2``
for Conformer's ``encoder.2.1.fn``); a branch with no numbered component is a layer of its own. Layers under the
same container (``transformer.layers``) form one depth group ``depth:<container>``, whose units are its layers in
forward order. Methods rank layers by the norm of what they write into the residual stream: the weights of the
branch's last conv/linear layers (the output projection of attention, the second linear of the MLP), summed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from eegdeploy.prune.capture import Captured, module_stack
from eegdeploy.prune.units import ChannelGroup

DEPTH_PREFIX = "depth:"
_ADDS = ("add.Tensor", "add_.Tensor")
_PRODUCERS = ("linear", "conv1d", "conv2d", "conv3d", "_convolution", "convolution", "addmm", "mm", "matmul",
              "bmm", "einsum")


@dataclass
class Branch:
    """One residual branch ``x + M(x)``: ``module`` is M's path; ``out_layers`` the conv/linear layers whose
    outputs reach M's output without passing another conv/linear (what the branch writes back)."""

    module: str
    add: str  # graph node of the residual add (for messages)
    out_layers: list[str] = field(default_factory=list)
    feeds: list[str] = field(default_factory=list)  # modules that only feed ``module`` (a pre-norm): identity


@dataclass
class Block:
    """A layer of a depth group: its residual branches, dropped together."""

    name: str
    branches: list[Branch]


@dataclass
class DepthInfo:
    """What ``find_depth`` found: depth groups (kind ``depth``), their blocks, and adds that were not proven."""

    groups: list[ChannelGroup] = field(default_factory=list)
    blocks: dict[str, list[Block]] = field(default_factory=dict)  # group name -> blocks in forward order
    refused: list[tuple[str, str]] = field(default_factory=list)  # (where, why not droppable)


class ZeroBranch(nn.Module):
    """What a dropped residual branch becomes: returns ``x * 0`` for its first argument ``x`` (the masked model
    multiplies the branch output by 0). Holds no parameters; the 0 is a buffer so the module moves with the model
    and torch.fx, torch.export and ONNX see plain ops."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("zero", torch.zeros(()), persistent=False)

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return x * self.zero


class ZeroOutput:
    """Forward hook of the masked model: the branch's output times 0."""

    eegdeploy_mask_hook = True  # the analysis ignores it: it is masking, not the model's structure

    def __call__(self, m: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
        return output * 0


def _is_add(node: fx.Node) -> bool:
    if node.op != "call_function":
        return False
    s = str(node.target)
    return s.startswith("aten.") and any(s.endswith(a) for a in _ADDS) and \
        node.kwargs.get("alpha", 1) == 1 and len(node.args) == 2


def _shape(node: Any) -> tuple[int, ...] | None:
    v = node.meta.get("val") if isinstance(node, fx.Node) else None
    return tuple(v.shape) if isinstance(v, torch.Tensor) else None


def _mutates(node: fx.Node) -> list[Any]:
    """The arguments an in-place op writes to."""
    schema = getattr(node.target, "_schema", None)
    if schema is None:
        return []
    out = []
    for i, a in enumerate(schema.arguments):
        if a.alias_info is not None and a.alias_info.is_write:
            if i < len(node.args):
                out.append(node.args[i])
            elif a.name in node.kwargs:
                out.append(node.kwargs[a.name])
    return out


def _slice(f: fx.Node, s: fx.Node) -> tuple[set[fx.Node], set[fx.Node]] | None:
    """Nodes computing ``f`` back to ``s`` (exclusive) and the placeholders they read; None if ``s`` is not
    reached (``f`` does not depend on ``s``: a positional embedding, not a branch)."""
    seen: set[fx.Node] = set()
    leaves: set[fx.Node] = set()
    reached = False
    todo = [f]
    while todo:
        n = todo.pop()
        if n is s:
            reached = True
            continue
        if n in seen:
            continue
        if n.op == "placeholder":
            leaves.add(n)
            continue
        seen.add(n)
        todo.extend(n.all_input_nodes)
    return (seen, leaves) if reached else None


def _common_module(nodes: set[fx.Node]) -> str:
    stacks = [module_stack(n) for n in nodes if n.op == "call_function"]
    if not stacks:
        return ""
    common = stacks[0]
    for st in stacks[1:]:
        k = 0
        while k < min(len(common), len(st)) and common[k] == st[k]:
            k += 1
        common = common[:k]
    return common[-1] if common else ""


def _prove(cap: Captured, add: fx.Node, f: fx.Node, s: fx.Node, scope: dict[str, set[fx.Node]],
           users_of_param: dict[str, set[fx.Node]]) -> tuple[Branch | None, str]:
    """(branch, "") when ``add = s + f`` is a droppable branch; (None, reason) when it is not; (None, "") when
    ``f`` does not depend on ``s`` at all (not a residual candidate)."""
    sl = _slice(f, s)
    if sl is None:
        return None, ""
    nodes, leaves = sl
    if any(p.name in cap.user_inputs for p in leaves):
        return None, "the branch also reads the model input directly"
    writes = False
    for n in nodes:
        if any(u is not add and u not in nodes for u in n.users):
            return None, f"{n.name} of the branch is also used outside it"
        for w in _mutates(n):
            writes = True
            if isinstance(w, fx.Node) and w not in nodes:
                return None, f"the branch writes {w.name} in place"
    calls = lambda m: {n for n in scope.get(m, set()) if n.op == "call_function"}  # noqa: E731
    parent = _common_module(nodes)
    if parent and calls(parent) <= nodes:
        module, feeds = parent, []  # one module computes the whole branch (PreNorm, Conformer's ResidualAdd.fn)
    else:
        st = module_stack(f)
        if parent not in st or st.index(parent) + 1 >= len(st):
            return None, f"the branch output is computed inline in the forward of {parent or 'the model'}, not by a module"
        module = st[st.index(parent) + 1]  # the module the branch output comes from (x + attn(norm(x)))
        if not calls(module) <= nodes:
            return None, f"{module} does more than compute the branch (it is called again, or adds the skip itself)"
        if any(u is not add and u not in scope.get(module, set()) for n in calls(module) if n is not f
               for u in n.users):
            return None, f"{module} hands values to the rest of the branch besides its output"
        depth = st.index(parent) + 1
        feeds = []
        if not writes:  # modules that only feed the branch (its pre-norm) go too, replaced by an identity
            for n in nodes:
                ns = module_stack(n)
                if len(ns) > depth and ns[depth] != module and ns[depth] not in feeds and calls(ns[depth]) <= nodes:
                    feeds.append(ns[depth])
    for gone in (module, *feeds):
        pre = gone + "."
        for fqn, users in users_of_param.items():
            if fqn.startswith(pre) and users - nodes:
                if gone == module:
                    return None, f"{fqn} is also used outside {module} (tied weights)"
                feeds.remove(gone)
                break
    return Branch(module, add.name, [], feeds), ""


def _out_layers(nodes: set[fx.Node], f: fx.Node, layer_names: set[str]) -> list[str]:
    """Conv/linear layers nearest to ``f`` walking back through the branch (what it writes back)."""
    found: list[str] = []
    seen: set[fx.Node] = set()
    todo = [f]
    while todo:
        n = todo.pop()
        if n in seen or n not in nodes:
            continue
        seen.add(n)
        op = str(n.target).split(".")[1] if str(n.target).startswith("aten.") else ""
        if op in _PRODUCERS:
            st = module_stack(n)
            name = next((p for p in reversed(st) if p in layer_names), None)
            if name is not None:
                if name not in found:
                    found.append(name)
                continue
        todo.extend(n.all_input_nodes)
    return found


def _layer_of(path: str) -> tuple[str, str]:
    """(layer, container): the path up to its first numbered component, and what holds it."""
    parts = path.split(".")
    for i, p in enumerate(parts):
        if p.isdigit():
            return ".".join(parts[:i + 1]), ".".join(parts[:i]) or "(root)"
    return path, path.rpartition(".")[0] or "(root)"


def _runtime_ok(model: nn.Module, example: torch.Tensor, modules: list[str], single: set[str]) -> dict[str, str]:
    """Run once with hooks: each module must be called once and return one tensor of its first argument's shape
    and dtype (what ZeroBranch returns); those in ``single`` (to become nn.Identity) with that one argument only.
    Returns the reason for each module that does not."""
    calls: dict[str, list[str]] = {m: [] for m in modules}

    def hook(name: str):
        def h(m: nn.Module, args: tuple[Any, ...], kwargs: dict, out: Any) -> None:
            x = args[0] if args else None
            if name in single and (len(args) != 1 or kwargs):
                calls[name].append(f"{name} takes more than one argument")
            elif not isinstance(out, torch.Tensor):
                calls[name].append(f"{name} returns {type(out).__name__}, not one tensor")
            elif not isinstance(x, torch.Tensor) or x.shape != out.shape or x.dtype != out.dtype:
                calls[name].append(f"{name}'s output is not shaped like its first argument")
            else:
                calls[name].append("")
        return h

    handles = [model.get_submodule(m).register_forward_hook(hook(m), with_kwargs=True) for m in modules]
    try:
        with torch.no_grad():
            model(example[:1])
    finally:
        for h in handles:
            h.remove()
    bad: dict[str, str] = {}
    for m, c in calls.items():
        if len(c) != 1:
            bad[m] = f"{m} is called {len(c)} times in one forward"
        elif c[0]:
            bad[m] = c[0]
    return bad


def find_depth(cap: Captured, model: nn.Module, example: torch.Tensor, layer_names: set[str]) -> DepthInfo:
    """The droppable residual branches of ``model`` grouped into depth groups (see the module doc)."""
    scope: dict[str, set[fx.Node]] = {}
    for n in cap.graph.nodes:
        for p in module_stack(n):
            scope.setdefault(p, set()).add(n)
    users_of_param: dict[str, set[fx.Node]] = {}
    for n in cap.graph.nodes:
        if n.op == "placeholder" and n.name in cap.tensors:
            users_of_param[cap.tensors[n.name]] = set(n.users)
    order = {n: i for i, n in enumerate(cap.graph.nodes)}
    info = DepthInfo()
    found: list[tuple[Branch, fx.Node]] = []
    taken: set[str] = set()
    for add in cap.graph.nodes:
        if not _is_add(add):
            continue
        a, b = add.args
        if not (isinstance(a, fx.Node) and isinstance(b, fx.Node)):
            continue
        if not (_shape(a) == _shape(b) == _shape(add) and _shape(add) is not None):
            continue
        br, why = None, ""
        f = s = None
        for f, s in ((a, b), (b, a)):
            if order[s] > order[f]:  # f runs before s: it cannot depend on it
                continue
            br, w = _prove(cap, add, f, s, scope, users_of_param)
            if br is not None:
                break
            why = why or w
        if br is not None:
            if {br.module, *br.feeds} & taken:
                info.refused.append((br.module, f"{br.module} is part of more than one residual branch"))
                continue
            taken.update({br.module, *br.feeds})
            nodes = _slice(f, s)[0]  # type: ignore[arg-type,index]
            br.out_layers = _out_layers(nodes, f, layer_names)  # type: ignore[arg-type]
            found.append((br, add))
        elif why:
            st = module_stack(a) or module_stack(b)
            info.refused.append((st[-1] if st and st[-1] else add.name, why))
    if not found:
        return info
    # a residual inside a branch (nested) goes with its outer branch: only the outermost are units
    outer = [b for b, _ in found]
    for br, _ in list(found):
        host = next((o for o in outer if o is not br and any(br.module.startswith(m + ".") for m in (o.module, *o.feeds))),
                    None)
        if host is not None:
            info.refused.append((br.module, f"inside the branch {host.module} (dropped with it)"))
            found = [(b, a) for b, a in found if b is not br]
    if not found:
        return info
    bad = _runtime_ok(model, example, [m for b, _ in found for m in (b.module, *b.feeds)],
                      {m for b, _ in found for m in b.feeds})
    layers: dict[str, list[Branch]] = {}
    containers: dict[str, list[str]] = {}
    for br, _ in found:
        if br.module in bad:
            info.refused.append((br.module, bad[br.module]))
            continue
        br.feeds = [m for m in br.feeds if m not in bad]  # a feed that fails stays (its output is zeroed anyway)
        layer, container = _layer_of(br.module)
        if layer not in layers:
            layers[layer] = []
            containers.setdefault(container, []).append(layer)
        layers[layer].append(br)
    for container, names in containers.items():
        gname = DEPTH_PREFIX + container
        blocks = [Block(n, layers[n]) for n in names]
        g = ChannelGroup(gname, len(blocks), [n for n in names], [br.module for n in names for br in layers[n]],
                         len(blocks) >= 2, "" if len(blocks) >= 2 else "a single block (at least one is kept)",
                         list(range(len(blocks))), "depth")
        info.groups.append(g)
        info.blocks[gname] = blocks
    return info


def block_scores(analysis: Any, group: ChannelGroup, row_scores: Any) -> torch.Tensor:
    """One score per block of a depth group: ``row_scores`` (an Importance's per-row norm) of the weights of the
    conv/linear layers each branch writes back with, summed over rows, layers and the block's branches."""
    blocks = analysis.blocks[group.name]
    out = torch.zeros(len(blocks), dtype=torch.float64)
    for i, blk in enumerate(blocks):
        for br in blk.branches:
            for name in br.out_layers:
                w = analysis.layers[name].module.weight.detach().double()
                out[i] += row_scores(w.reshape(w.shape[0], -1)).sum()
    return out


def dropped_blocks(analysis: Any, plan: Any) -> list[Block]:
    """The blocks a structured plan drops; checks the plan's depth entries against the model."""
    from eegdeploy.errors import ConfigError

    out: list[Block] = []
    for gname, kept in plan.keep.items():
        if not gname.startswith(DEPTH_PREFIX):
            continue
        blocks = analysis.blocks.get(gname)
        if blocks is None:
            raise ConfigError(f"the plan drops blocks of {gname!r}, which this model does not have",
                              fix="make the plan for this model (eegdeploy inspect lists its depth groups)")
        size = plan.sizes.get(gname, len(blocks))
        if size != len(blocks):
            raise ConfigError(f"the plan says {gname!r} has {size} blocks, the model has {len(blocks)}",
                              fix="make the plan for this model")
        bad = [k for k in kept if not 0 <= k < len(blocks)]
        if bad or not kept:
            raise ConfigError(f"the plan keeps blocks {bad or 'none'} of {gname!r} ({len(blocks)} blocks)",
                              fix="keep at least one valid block index per depth group")
        keep = set(kept)
        out += [b for i, b in enumerate(blocks) if i not in keep]
    return out


def mask_blocks(model: nn.Module, blocks: list[Block]) -> None:
    """The masked model: each dropped branch's output multiplied by 0 (a forward hook)."""
    for blk in blocks:
        for br in blk.branches:
            m = model.get_submodule(br.module)
            for k in [k for k, v in m._forward_hooks.items() if isinstance(v, ZeroOutput)]:
                del m._forward_hooks[k]
            m.register_forward_hook(ZeroOutput())


def drop_blocks(model: nn.Module, blocks: list[Block]) -> None:
    """The slim model: each dropped branch's module replaced by a ``ZeroBranch`` (its parameters are gone and
    forward no longer runs it)."""
    for blk in blocks:
        for br in blk.branches:
            owner, _, leaf = br.module.rpartition(".")
            parent = model.get_submodule(owner) if owner else model
            z = ZeroBranch()
            p = next(parent.get_submodule(leaf).parameters(), None)
            if p is not None:
                z.zero = z.zero.to(device=p.device, dtype=p.dtype)
            setattr(parent, leaf, z)
            for feed in br.feeds:
                owner, _, leaf = feed.rpartition(".")
                setattr(model.get_submodule(owner) if owner else model, leaf, nn.Identity())


__all__ = ["Block", "Branch", "DEPTH_PREFIX", "DepthInfo", "ZeroBranch", "block_scores", "drop_blocks",
           "dropped_blocks", "find_depth", "mask_blocks"]
