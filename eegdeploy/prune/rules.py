"""Op rules: how channels flow through each ATen operation, and the extension point for a user's own layers.

``RULES`` maps an ATen op name (``conv2d``, ``linear``, ``view``...) to a function ``rule(walker, node)`` that
returns the node's value: for a tensor, a list with one entry per axis, either an array of slots (channels that
can be removed) or ``None`` (an axis kept whole). Rules relate slots with ``walker.tie`` and freeze what they
cannot follow with ``walker.freeze``. An op without a rule freezes every channel it touches. Rules that read
only their first argument's axes are written with ``axes_rule``, which hands them those axes.

A user's own layer type is described by a ``ChannelRule`` registered with ``register_channel_rule``: the
analysis then treats every call of that module as one step (its inside is not looked at), and slimming calls the
rule's ``prune_out``/``prune_in`` to cut it. See docs/slimming.md for a worked example.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.fx as fx
import torch.nn as nn

from eegdeploy.prune.capture import module_stack

Rule = Callable[[Any, fx.Node], Any]
RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    def deco(fn: Rule) -> Rule:
        for n in names:
            RULES[n] = fn
        return fn
    return deco


def axes_rule(*names: str, shapes: bool = False, parts: bool = False) -> Callable[[Callable[..., Any]], Rule]:
    """Register a rule over its first argument's axes: ``fn(w, node, xv)``; with ``shapes=True``
    ``fn(w, node, xv, in_shape, out_shape)``; with ``parts=True`` (an op returning several tensors)
    ``fn(w, node, xv, parts)``, ``parts`` being the output tensors. When the argument is not a tracked tensor,
    or a shape or the parts are unknown, the node is an unsupported operation and ``fn`` is not called."""
    def deco(fn: Callable[..., Any]) -> Rule:
        def run(w: Any, node: fx.Node) -> Any:
            xv = w.get(node.args[0])
            extra: tuple = ()
            if shapes:
                extra = (w.shape(node.args[0]), w.shape(node))
            elif parts:
                vals = node.meta.get("val")
                extra = (vals if isinstance(vals, (list, tuple)) else None,)
            if xv is None or any(e is None for e in extra):
                return w.unknown(node)
            return fn(w, node, xv, *extra)
        run.__name__, run.__doc__ = fn.__name__, fn.__doc__
        return rule(*names)(run)
    return deco


def _untie_axis(w: Any, xv: list, d: int, reason: str) -> list:
    """``xv`` with axis ``d`` frozen (its channels cannot follow a cut) and untracked from here on."""
    w.freeze(xv[d], reason)
    out = list(xv)
    out[d] = None
    return out


def _arg(node: fx.Node, i: int, name: str, default: Any = None) -> Any:
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _norm_dim(d: int, rank: int) -> int:
    return d + rank if d < 0 else d


# -- elementwise -------------------------------------------------------------------------------------------------
POINTWISE = """abs acos add addcdiv addcmul asin atan bitwise_not ceil celu clamp clamp_max clamp_min clip clone
contiguous cos cosh detach div dropout alpha_dropout feature_dropout feature_alpha_dropout elu eq erf exp expm1
floor fmod ge gelu gt hardshrink hardsigmoid hardswish hardtanh isnan le leaky_relu lerp lift_fresh_copy log log10
log1p log2 logical_and logical_not logical_or logit lt masked_fill maximum minimum mish mul ne neg pow reciprocal
relu relu6 remainder round rsqrt rsub selu sigmoid sign silu sin sinh softplus softshrink sqrt square sub tan
tanh threshold trunc where _to_copy to type_as alias zeros_like ones_like empty_like full_like rand_like
randn_like float double half bfloat16 nan_to_num logsigmoid hardtanh_ relu_ elu_ leaky_relu_ gelu_ silu_
sigmoid_ tanh_ add_ mul_ sub_ div_ clamp_ dropout_ copy_ fill_ masked_fill_ abs_ exp_ neg_ pow_ sqrt_""".split()


@rule(*POINTWISE)
def pointwise(w: Any, node: fx.Node) -> Any:
    """Elementwise with broadcasting: axes of equal size are tied; size-1 operands broadcast."""
    out = w.shape(node)
    if out is None:
        return w.untracked(node)
    tensors = [a for a in list(node.args) + list(node.kwargs.values())
               if isinstance(a, fx.Node) and w.shape(a) is not None]
    r = len(out)
    axes: list[np.ndarray | None] = []
    for k in range(r):
        cands = []
        for a in tensors:
            shp, val = w.shape(a), w.get(a)
            off = k - (r - len(shp))
            if off < 0 or val is None:
                continue
            if shp[off] == out[k]:
                cands.append(val[off])
        axes.append(w.tie_all(cands, f"{op_name_of(node)} with a tensor whose channels cannot be cut (the input, or "
                                     f"computed in forward) at {w.where()}") if cands else None)
    return axes


@rule("sym_size", "_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size", "_assert_async",
      "scalar_tensor", "zeros", "ones", "full", "empty", "arange", "tensor", "new_zeros", "new_ones", "new_full",
      "new_empty", "rand", "randn", "linspace", "eye", "sym_numel", "sym_stride")
def no_channels(w: Any, node: fx.Node) -> Any:
    return w.untracked(node)


@rule("getitem")
def getitem(w: Any, node: fx.Node) -> Any:
    from eegdeploy.prune.trace import Multi

    base, idx = node.args[0], node.args[1]
    v = w.get(base)
    if isinstance(v, Multi) and isinstance(idx, int):
        return v[idx]
    return w.unknown(node, "indexing")


# -- layers ------------------------------------------------------------------------------------------------------
@rule("linear")
def linear(w: Any, node: fx.Node) -> Any:
    x, wt, b = node.args[0], node.args[1], _arg(node, 2, "bias")
    xv, wv, bv = w.get(x), w.get(wt), w.get(b)
    if xv is None or wv is None or len(wv) != 2:
        return w.unknown(node, "linear")
    if xv[-1] is not None:
        w.tie(xv[-1], wv[1])
    if bv is not None:
        w.tie(wv[0], bv[0])
    name = w.param_name(wt)
    if name is not None:
        w.add_layer(w.owner(name), "linear", xv[-1], wv[0], producer=True)
    return list(xv[:-1]) + [wv[0]]


@rule("conv1d", "conv2d", "conv3d", "convolution", "_convolution")
def conv(w: Any, node: fx.Node) -> Any:
    x, wt, b = node.args[0], node.args[1], _arg(node, 2, "bias")
    if op_is(node, "convolution", "_convolution") and bool(node.args[6]):
        return w.unknown(node, "transposed convolution")
    groups = int(node.args[8] if op_is(node, "convolution", "_convolution") else _arg(node, 6, "groups", 1))
    xv, wv, bv = w.get(x), w.get(wt), w.get(b)
    if xv is None or wv is None:
        return w.unknown(node, "convolution")
    out = wv[0]
    n_out, n_in = len(wv[0]), w.shape(x)[1]
    mode = ""
    if bv is not None:
        w.tie(out, bv[0])
    if groups == 1:
        if xv[1] is not None:
            w.tie(xv[1], wv[1])
    else:
        ipg, opg = n_in // groups, n_out // groups
        if xv[1] is not None and not w.is_frozen(xv[1]):
            mode = "whole"  # whole groups go: group j's inputs and outputs are one unit (EEGNet's F1·D)
            for j in range(groups):
                block = list(xv[1][j * ipg:(j + 1) * ipg]) + list(out[j * opg:(j + 1) * opg])
                for s in block[1:]:
                    w.uf.union(block[0], s)
        else:
            mode = "position"  # inputs stay: the k-th filter of every group goes together, groups stay equal
            for j in range(1, groups):
                for k in range(opg):
                    w.uf.union(out[k], out[j * opg + k])
            if xv[1] is not None:
                w.freeze(xv[1], f"grouped convolution input at {w.where()}")
    name = w.param_name(wt)
    if name is not None:
        w.add_layer(w.owner(name), "conv", xv[1], out, producer=True, groups_mode=mode)
    return [xv[0], out] + [None] * (len(xv) - 2)


def op_is(node: fx.Node, *names: str) -> bool:
    from eegdeploy.prune.trace import op_name

    return op_name(node) in names


@rule("batch_norm", "_native_batch_norm_legit_no_training", "native_batch_norm", "_native_batch_norm_legit",
      "instance_norm", "cudnn_batch_norm")
def batch_norm(w: Any, node: fx.Node) -> Any:
    from eegdeploy.prune.trace import Multi

    x = node.args[0]
    xv = w.get(x)
    if xv is None or len(xv) < 2:
        return w.unknown(node, "batch_norm")
    params = [a for a in node.args[1:5] if isinstance(a, fx.Node)]
    ch = xv[1]
    for p in params:
        pv = w.get(p)
        if pv is not None and len(pv) == 1:
            ch = w.tie(pv[0], ch) if ch is not None else w.tie(None, pv[0])
    names = [w.param_name(p) for p in params if w.param_name(p)]
    if names:
        w.add_layer(w.owner(names[0]), "norm", xv[1], xv[1], producer=False)
    out = [xv[0], ch] + list(xv[2:])
    if isinstance(node.meta.get("val"), (list, tuple)):
        return Multi([out] + [[None] for _ in node.meta["val"][1:]])
    return out


@rule("layer_norm", "native_layer_norm", "rms_norm")
def layer_norm(w: Any, node: fx.Node) -> Any:
    from eegdeploy.prune.trace import Multi

    x, shape = node.args[0], node.args[1]
    xv = w.get(x)
    wt, b = _arg(node, 2, "weight"), _arg(node, 3, "bias")
    if xv is None:
        return w.unknown(node, "layer_norm")
    k = len(shape)
    out = list(xv)
    if k != 1:
        for a in xv[-k:]:
            w.freeze(a, f"layer_norm over several axes at {w.where()}")
        out = list(xv[:-k]) + [None] * k
    else:
        ch = xv[-1]
        stack = module_stack(node)
        mod = stack[-1] if stack else ""
        is_ln = isinstance(w.modules.get(mod), nn.LayerNorm)
        if ch is not None and not is_ln:
            w.freeze(ch, f"layer_norm outside nn.LayerNorm at {w.where()}")
        for p in (wt, b):
            pv = w.get(p)
            if pv is not None:
                ch = w.tie(pv[0], ch) if ch is not None else w.tie(None, pv[0])
        if is_ln:
            w.add_layer(mod, "layernorm", ch, ch, producer=False)
        out[-1] = ch
    if isinstance(node.meta.get("val"), (list, tuple)):
        return Multi([out] + [None for _ in node.meta["val"][1:]])
    return out


@rule("group_norm", "native_group_norm")
def group_norm(w: Any, node: fx.Node) -> Any:
    from eegdeploy.prune.trace import Multi

    x, g = node.args[0], int(node.args[1]) if op_is(node, "group_norm") else int(node.args[6])
    wt, b = (_arg(node, 2, "weight"), _arg(node, 3, "bias")) if op_is(node, "group_norm") else (node.args[1],
                                                                                                 node.args[2])
    xv = w.get(x)
    if xv is None or len(xv) < 2:
        return w.unknown(node, "group_norm")
    ch = xv[1]
    for p in (wt, b):
        pv = w.get(p)
        if isinstance(p, fx.Node) and pv is not None:
            ch = w.tie(pv[0], ch) if ch is not None else w.tie(None, pv[0])
    if ch is not None:  # statistics per group: a group is removed whole
        cpg = len(ch) // g
        for j in range(g):
            for s in ch[j * cpg + 1:(j + 1) * cpg]:
                w.uf.union(ch[j * cpg], s)
        stack = module_stack(node)
        mod = stack[-1] if stack else ""
        if isinstance(w.modules.get(mod), nn.GroupNorm):
            w.add_layer(mod, "groupnorm", ch, ch, producer=False)
        else:
            w.freeze(ch, f"group_norm outside nn.GroupNorm at {w.where()}")
    out = [xv[0], ch] + list(xv[2:])
    if isinstance(node.meta.get("val"), (list, tuple)):
        return Multi([out] + [None for _ in node.meta["val"][1:]])
    return out


@rule("embedding")
def embedding(w: Any, node: fx.Node) -> Any:
    wv, iv = w.get(node.args[0]), w.get(node.args[1])
    if wv is None or iv is None:
        return w.unknown(node, "embedding")
    for a in iv:
        w.freeze(a, f"embedding indices at {w.where()}")
    return [None] * len(iv) + [wv[1]]


@rule("lstm", "gru", "rnn_tanh", "rnn_relu")
def rnn(w: Any, node: fx.Node) -> Any:
    """The input size of an LSTM/GRU: the input features are tied to the first layer's input weights."""
    x = node.args[0]
    xv = w.get(x)
    params = node.args[2] if isinstance(node.args[2], (list, tuple)) else []
    has_bias = bool(node.args[3]) if len(node.args) > 3 else True
    bidir = bool(node.args[7]) if len(node.args) > 7 else False
    per = 4 if has_bias else 2
    firsts = [params[0]] + ([params[per]] if bidir and len(params) > per else [])
    names = [w.param_name(p) for p in firsts]
    if xv is None or not all(names) or not isinstance(w.modules.get(w.owner(names[0])), nn.RNNBase):
        return w.unknown(node, op_name_of(node))
    ch = xv[-1]
    for p in firsts:
        ch = w.tie(ch, w.get(p)[1]) if ch is not None else None
    mod = w.owner(names[0])
    w.add_layer(mod, "rnn", ch, None, producer=False)
    return w.untracked(node)  # the hidden size stays: outputs are untracked


def op_name_of(node: fx.Node) -> str:
    from eegdeploy.prune.trace import op_name

    return op_name(node)


# -- spatial ops: batch and channel axes pass, the rest change size ----------------------------------------------
SPATIAL = """max_pool1d max_pool2d max_pool3d max_pool2d_with_indices max_pool3d_with_indices avg_pool1d avg_pool2d
avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d
adaptive_max_pool3d upsample_nearest1d upsample_nearest2d upsample_bilinear2d upsample_linear1d
upsample_nearest3d lp_pool1d lp_pool2d reflection_pad1d reflection_pad2d reflection_pad3d replication_pad1d
replication_pad2d replication_pad3d _adaptive_avg_pool2d""".split()


@axes_rule(*SPATIAL)
def spatial(w: Any, node: fx.Node, xv: list) -> Any:
    from eegdeploy.prune.trace import Multi

    out_val = node.meta.get("val")
    first = out_val[0] if isinstance(out_val, (list, tuple)) else out_val
    in_shp = w.shape(node.args[0])
    out = []
    for k, a in enumerate(xv):
        if k < 2 and first.shape[k] == in_shp[k]:
            out.append(a)
        else:
            w.freeze(a, f"{op_name_of(node)} changes a channel axis at {w.where()}")
            out.append(None)
    if isinstance(out_val, (list, tuple)):
        return Multi([out] + [[None] * len(out) for _ in out_val[1:]])
    return out


@axes_rule("constant_pad_nd", "pad")
def pad(w: Any, node: fx.Node, xv: list) -> Any:
    pads = list(node.args[1])
    out = list(xv)
    for i in range(len(pads) // 2):
        k = len(xv) - 1 - i
        if pads[2 * i] or pads[2 * i + 1]:
            w.freeze(out[k], f"padding a channel axis at {w.where()}")
            out[k] = None
    return out


# -- reductions and softmax --------------------------------------------------------------------------------------
@axes_rule("softmax", "_softmax", "log_softmax", "_log_softmax", "cumsum", "cumprod", "logcumsumexp")
def along_axis(w: Any, node: fx.Node, xv: list) -> Any:
    d = _norm_dim(int(node.args[1]), len(xv))
    return _untie_axis(w, xv, d, f"{op_name_of(node)} along a channel axis at {w.where()}")


REDUCE = "mean sum amax amin var std logsumexp max min prod norm argmax argmin var_mean std_mean nansum any all"


@axes_rule(*REDUCE.split())
def reduce(w: Any, node: fx.Node, xv: list) -> Any:
    from eegdeploy.prune.trace import Multi

    if w.shape(node.args[0]) is None:
        return w.unknown(node)
    name = op_name_of(node)
    dims = _arg(node, 1, "dim")
    if name == "norm":
        dims = _arg(node, 2, "dim")
    if name in ("var", "std", "var_mean", "std_mean") and isinstance(dims, (int, float)) and not isinstance(
            dims, bool) and "correction" not in str(node.target):
        dims = None
    if dims is None or dims == []:
        dims = list(range(len(xv)))
    if isinstance(dims, int):
        dims = [dims]
    dims = [_norm_dim(int(d), len(xv)) for d in dims]
    val = node.meta.get("val")
    first = val[0] if isinstance(val, (list, tuple)) else val
    keepdim = first is not None and hasattr(first, "dim") and first.dim() == len(xv)
    out = []
    for k, a in enumerate(xv):
        if k in dims:
            w.freeze(a, f"{name} over a channel axis at {w.where()}")
            if keepdim:
                out.append(None)
        else:
            out.append(a)
    if isinstance(val, (list, tuple)):
        return Multi([out for _ in val])
    return out


# -- axis moves --------------------------------------------------------------------------------------------------
@axes_rule("permute")
def permute(w: Any, node: fx.Node, xv: list) -> Any:
    dims = [_norm_dim(int(d), len(xv)) for d in node.args[1]]
    return [xv[d] for d in dims]


@axes_rule("transpose", "swapaxes", "swapdims")
def transpose(w: Any, node: fx.Node, xv: list) -> Any:
    a, b = (_norm_dim(int(d), len(xv)) for d in node.args[1:3])
    out = list(xv)
    out[a], out[b] = out[b], out[a]
    return out


@axes_rule("t", "numpy_T")
def t(w: Any, node: fx.Node, xv: list) -> Any:
    return list(reversed(xv))


@axes_rule("movedim", "moveaxis")
def movedim(w: Any, node: fx.Node, xv: list) -> Any:
    r = len(xv)
    src, dst = node.args[1], node.args[2]
    src = [src] if isinstance(src, int) else list(src)
    dst = [dst] if isinstance(dst, int) else list(dst)
    src = [_norm_dim(s, r) for s in src]
    dst = [_norm_dim(d, r) for d in dst]
    order = [None] * r
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(i for i in range(r) if i not in src)
    order = [o if o is not None else next(rest) for o in order]
    return [xv[i] for i in order]


@axes_rule("view", "reshape", "_unsafe_view", "flatten", "unflatten", "squeeze", "unsqueeze", "view_as", "reshape_as",
      "_reshape_alias", "expand_dims", "ravel", shapes=True)
def reshape(w: Any, node: fx.Node, xv: list, in_shp: tuple[int, ...], out_shp: tuple[int, ...]) -> list:
    """Carry slots through a reshape. The shapes are cut into blocks of equal element count; in a block with one
    tracked axis, an output axis along which only the slots vary inherits them (repeated where merged with
    untracked axes), otherwise the outermost varying output axis splits the channels into blocks, each tied into
    one unit (attention heads), and ``forward`` must read the block count from an attribute we can rewrite."""
    out: list[np.ndarray | None] = [None] * len(out_shp)
    ins = [i for i, n in enumerate(in_shp) if n != 1]
    outs = [j for j, n in enumerate(out_shp) if n != 1]
    for i, a in enumerate(xv):
        if in_shp[i] == 1 and a is not None:
            w.freeze(a, f"reshape of a one-channel axis at {w.where()}")
    bi = bj = 0
    while bi < len(ins) and bj < len(outs):
        blk_i, blk_j = [ins[bi]], [outs[bj]]
        pi, pj = in_shp[ins[bi]], out_shp[outs[bj]]
        bi += 1
        bj += 1
        while pi != pj:
            if pi < pj and bi < len(ins):
                blk_i.append(ins[bi]); pi *= in_shp[ins[bi]]; bi += 1
            elif pj < pi and bj < len(outs):
                blk_j.append(outs[bj]); pj *= out_shp[outs[bj]]; bj += 1
            else:
                break
        if pi != pj:  # cannot happen for a valid reshape; be safe
            for i in blk_i:
                w.freeze(xv[i], f"reshape at {w.where()}")
            continue
        tracked = [i for i in blk_i if xv[i] is not None]
        if not tracked:
            continue
        for i in tracked[1:]:
            w.freeze(xv[i], f"reshape merging two channel axes at {w.where()}")
        a = tracked[0]
        in_block = [in_shp[i] for i in blk_i]
        out_block = [out_shp[j] for j in blk_j]
        idx = np.indices(in_block)[blk_i.index(a)]
        slots = np.asarray(xv[a])[idx].reshape(out_block)
        done = False
        for m, j in enumerate(blk_j):
            lines = np.moveaxis(slots, m, 0).reshape(out_block[m], -1)
            if (lines == lines[:, :1]).all():
                out[j] = lines[:, 0].copy()
                done = True
                sizes = node.args[1] if len(node.args) > 1 and isinstance(node.args[1], (list, tuple)) else ()
                if j < len(sizes) and sizes[j] == out_block[m] and len(np.unique(out[j])) == out_block[m]:
                    # a size written into the reshape that forward may read from an attribute (heads of size 1)
                    found = _count_attr(w, node, out_block[m])
                    if found is not None:
                        from eegdeploy.prune.units import Fixup

                        w.fixups.append(Fixup(found[0], found[1], out[j]))
                break
        if done:
            continue
        varying = [m for m in range(len(blk_j))
                   if len(np.unique(np.moveaxis(slots, m, 0).reshape(out_block[m], -1)[:, 0])) > 1]
        # the axis whose size forward reads from an attribute (heads), else the outermost varying axis
        m = next((m for m in varying if _count_attr(w, node, out_block[m]) is not None), None)
        if m is None:
            m = varying[0] if varying else len(blk_j) - 1
        lines = np.moveaxis(slots, m, 0).reshape(out_block[m], -1)
        for row in lines:  # every position along the other axes of one block is one unit
            for s in row[1:]:
                w.uf.union(row[0], s)
        reps = lines[:, 0].copy()
        inner = int(np.prod(out_block)) // max(1, out_block[m])
        _split_fixup(w, node, reps, len(set(int(w.uf.find(s)) for s in reps)), inner)
        out[blk_j[m]] = reps
    return out


def _count_attr(w: Any, node: fx.Node, n: int) -> tuple[str, str] | None:
    """(module path, attribute) of an int attribute equal to ``n`` in the module the node ran in or a parent."""
    if n < 2:
        return None
    for path in reversed(module_stack(node) or [""]):
        m = w.modules.get(path)
        if m is None:
            continue
        for k, v in vars(m).items():
            if isinstance(v, int) and not isinstance(v, bool) and not k.startswith("_") and v == n:
                return path, k
    return None


def _split_fixup(w: Any, node: fx.Node, reps: np.ndarray, n_blocks: int, inner: int) -> None:
    """Channels split into ``n_blocks`` blocks: forward must learn the new count. An int attribute of the module
    the reshape ran in (or of its parents) equal to the count is rewritten at slimming; one equal to the block
    size means forward derives the count itself. Otherwise the blocks are frozen."""
    from eegdeploy.prune.units import Fixup

    uniq: dict[int, int] = {}
    for s in reps:
        uniq.setdefault(int(w.uf.find(int(s))), int(s))
    rep_slots = np.array(list(uniq.values()))
    found = _count_attr(w, node, n_blocks)
    if found is not None:
        w.fixups.append(Fixup(found[0], found[1], rep_slots))
        return
    for path in reversed(module_stack(node) or [""]):
        m = w.modules.get(path)
        if m is not None and inner in [v for k, v in vars(m).items() if isinstance(v, int) and not k.startswith("_")]:
            return
    w.freeze(rep_slots, f"reshape at {w.where()} splits channels into {n_blocks} blocks and no attribute holds "
                        f"{n_blocks} for forward to read")


@axes_rule("expand", "expand_as", "broadcast_to", shapes=True)
def expand(w: Any, node: fx.Node, xv: list, in_shp: tuple[int, ...], out_shp: tuple[int, ...]) -> Any:
    off = len(out_shp) - len(in_shp)
    out: list = [None] * off
    for k, a in enumerate(xv):
        out.append(a if in_shp[k] == out_shp[off + k] else None)
    return out


@axes_rule("repeat", "tile", shapes=True)
def repeat(w: Any, node: fx.Node, xv: list, in_shp: tuple[int, ...], out_shp: tuple[int, ...]) -> Any:
    off = len(out_shp) - len(in_shp)
    out: list = [None] * off
    for k, a in enumerate(xv):
        if in_shp[k] == out_shp[off + k]:
            out.append(a)
        else:
            w.freeze(a, f"repeat along a channel axis at {w.where()}")
            out.append(None)
    return out


@axes_rule("select")
def select(w: Any, node: fx.Node, xv: list) -> Any:
    d = _norm_dim(int(node.args[1]), len(xv))
    w.freeze(xv[d], f"selecting one channel at {w.where()}")
    return list(xv[:d]) + list(xv[d + 1:])


@axes_rule("slice", "narrow", shapes=True)
def slice_(w: Any, node: fx.Node, xv: list, in_shp: tuple[int, ...], out_shp: tuple[int, ...]) -> Any:
    d = _norm_dim(int(_arg(node, 1, "dim", 0)), len(xv))
    if in_shp[d] != out_shp[d]:
        return _untie_axis(w, xv, d, f"slicing a channel axis at {w.where()}")
    return list(xv)


@axes_rule("chunk", parts=True)
def chunk(w: Any, node: fx.Node, xv: list, vals: list) -> Any:
    """``chunk`` splits into equal parts whatever the size: the parts are tied position by position, so every
    part loses the same channels and stays equal (q, k, v of a fused projection)."""
    from eegdeploy.prune.trace import Multi

    d = _norm_dim(int(_arg(node, 2, "dim", 0)), len(xv))
    sizes = [int(v.shape[d]) for v in vals]
    return Multi(_pieces(w, xv, d, sizes, equal=True))


@axes_rule("split", "split_with_sizes", "unsafe_split", "tensor_split", parts=True)
def split(w: Any, node: fx.Node, xv: list, vals: list) -> Any:
    """Split with sizes written in forward: the sizes cannot follow a cut, so a split channel axis is frozen."""
    from eegdeploy.prune.trace import Multi

    d = _norm_dim(int(_arg(node, 2, "dim", 0)), len(xv))
    sizes = [int(v.shape[d]) for v in vals]
    if len(sizes) > 1:
        xv = _untie_axis(w, xv, d, f"split with fixed sizes along a channel axis at {w.where()}")
    return Multi(_pieces(w, xv, d, sizes, equal=False))


def _pieces(w: Any, xv: list, d: int, sizes: list[int], equal: bool) -> list:
    out, start = [], 0
    first = None
    for n in sizes:
        piece = list(xv)
        if xv[d] is not None:
            piece[d] = xv[d][start:start + n]
            if equal:
                if first is None:
                    first = piece[d]
                elif len(piece[d]) == len(first):
                    w.tie(first, piece[d])
                else:
                    w.freeze(xv[d], f"chunk into unequal parts at {w.where()}")
        out.append(piece)
        start += n
    return out


@axes_rule("unbind", parts=True)
def unbind(w: Any, node: fx.Node, xv: list, vals: list) -> Any:
    from eegdeploy.prune.trace import Multi

    d = _norm_dim(int(_arg(node, 1, "dim", 0)), len(xv))
    w.freeze(xv[d], f"unbind along a channel axis at {w.where()}")
    rest = list(xv[:d]) + list(xv[d + 1:])
    return Multi([list(rest) for _ in vals])


@rule("cat", "concat", "concatenate")
def cat(w: Any, node: fx.Node) -> Any:
    parts = list(node.args[0])
    vals = [w.get(p) for p in parts]
    shapes = [w.shape(p) for p in parts]
    out_shp = w.shape(node)
    if out_shp is None or any(v is None for v in vals):
        return w.unknown(node, "cat")
    r = len(out_shp)
    d = _norm_dim(int(_arg(node, 1, "dim", 0)), r)
    vals = [v for v, s in zip(vals, shapes) if s is not None and len(s) == r]  # legacy empty tensors dropped
    shapes = [s for s in shapes if s is not None and len(s) == r]
    out: list = []
    for k in range(r):
        if k == d:
            if all(v[k] is None for v in vals):
                out.append(None)
            else:  # an untracked part gets slots of its own, frozen: its positions stay
                axes = []
                for v, s in zip(vals, shapes):
                    if v[k] is None:
                        f = w.fresh(s[k])
                        w.freeze(f, f"concatenated with an untracked tensor at {w.where()}")
                        axes.append(f)
                    else:
                        axes.append(v[k])
                out.append(np.concatenate(axes))
        else:
            out.append(w.tie_all([v[k] for v in vals], f"cat of a tracked and an untracked axis at {w.where()}"))
    return out


@rule("stack")
def stack(w: Any, node: fx.Node) -> Any:
    parts = list(node.args[0])
    vals = [w.get(p) for p in parts]
    out_shp = w.shape(node)
    if out_shp is None or any(v is None for v in vals):
        return w.unknown(node, "stack")
    d = _norm_dim(int(_arg(node, 1, "dim", 0)), len(out_shp))
    inner = [w.tie_all([v[k] for v in vals]) for k in range(len(vals[0]))]
    return inner[:d] + [None] + inner[d:]


@axes_rule("roll", "flip", "fliplr", "flipud", "rot90")
def roll(w: Any, node: fx.Node, xv: list) -> Any:
    name = op_name_of(node)
    dims = _arg(node, 2 if name == "roll" else 1, "dims")
    if dims is None or name in ("fliplr", "flipud", "rot90"):
        return w.unknown(node, name)
    dims = [dims] if isinstance(dims, int) else list(dims)
    for d in dims:
        d = _norm_dim(int(d), len(xv))
        if xv[d] is not None:
            return w.unknown(node, name)
    return list(xv)


# -- contractions ------------------------------------------------------------------------------------------------
def _batch_tie(w: Any, axes_lists: list[list], shapes: list[tuple[int, ...]], out_batch: tuple[int, ...]) -> list:
    out = []
    r = len(out_batch)
    for k in range(r):
        cands = []
        for v, s in zip(axes_lists, shapes):
            off = k - (r - len(s))
            if off >= 0 and s[off] == out_batch[k]:
                cands.append(v[off])
        out.append(w.tie_all(cands, f"batched product of a tracked and an untracked axis at {w.where()}")
                   if cands else None)
    return out


@rule("matmul", "bmm", "mm")
def matmul(w: Any, node: fx.Node) -> Any:
    a, b = node.args[0], node.args[1]
    av, bv, sa, sb, so = w.get(a), w.get(b), w.shape(a), w.shape(b), w.shape(node)
    if av is None or bv is None or sa is None or sb is None or so is None or len(sa) < 2 or len(sb) < 2:
        return w.unknown(node, "matmul")
    reason = f"matmul contracts a channel axis at {w.where()}"
    w.freeze(av[-1], reason)
    w.freeze(bv[-2], reason)
    batch = _batch_tie(w, [av[:-2], bv[:-2]], [sa[:-2], sb[:-2]], so[:-2])
    return batch + [av[-2], bv[-1]]


@rule("einsum")
def einsum(w: Any, node: fx.Node) -> Any:
    eq = str(node.args[0]).replace(" ", "")
    ops = list(node.args[1])
    if "..." in eq or "->" not in eq:
        return w.unknown(node, "einsum with an implicit output or ellipsis")
    lhs, rhs = eq.split("->")
    terms = lhs.split(",")
    vals, shapes = [w.get(o) for o in ops], [w.shape(o) for o in ops]
    if any(v is None for v in vals) or len(terms) != len(ops):
        return w.unknown(node, "einsum")
    out = []
    for letter in rhs:
        cands = []
        for term, v, s in zip(terms, vals, shapes):
            if term.count(letter) > 1:
                return w.unknown(node, "einsum with a repeated index")
            if letter in term:
                i = term.index(letter)
                size = w.shape(node)[rhs.index(letter)]
                if s[i] == size:
                    cands.append(v[i])
        out.append(w.tie_all(cands, f"einsum of a tracked and an untracked axis at {w.where()}") if cands else None)
    for term, v in zip(terms, vals):
        for i, letter in enumerate(term):
            if letter not in rhs:
                w.freeze(v[i], f"einsum contracts a channel axis at {w.where()}")
    return out


@rule("scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu")
def sdpa(w: Any, node: fx.Node) -> Any:
    from eegdeploy.prune.trace import Multi

    q, k, v = node.args[:3]
    qv, kv, vv = w.get(q), w.get(k), w.get(v)
    sq, sk, sv = w.shape(q), w.shape(k), w.shape(v)
    if None in (qv, kv, vv, sq, sk, sv):
        return w.unknown(node, "scaled_dot_product_attention")
    reason = f"attention contracts a channel axis at {w.where()}"
    for a in (qv[-1], kv[-1], kv[-2], vv[-2]):
        w.freeze(a, reason)
    mask = _arg(node, 3, "attn_mask")
    if isinstance(mask, fx.Node):
        w.freeze_value(w.get(mask), reason)
    out_batch = tuple(sq[:-2])
    batch = _batch_tie(w, [qv[:-2], kv[:-2], vv[:-2]], [sq[:-2], sk[:-2], sv[:-2]], out_batch)
    out = batch + [qv[-2], vv[-1]]
    if isinstance(node.meta.get("val"), (list, tuple)):
        return Multi([out] + [w.untracked(node)[i] for i in range(1, len(node.meta["val"]))])
    return out


# -- user channel rules ------------------------------------------------------------------------------------------
class ChannelRule:
    """How channels flow through a user's layer type (like Torch-Pruning's custom pruners).

    The layer reads its input channels on ``in_axis`` and writes ``out_channels(m)`` channels on ``out_axis`` of
    its output. Return ``None`` from ``out_channels`` for a layer that keeps its input's channels (an elementwise
    layer): its channels are then tied to the input's. Slimming calls ``prune_out``/``prune_in`` with the indices
    to keep; masking calls ``mask_out``/``mask_in`` with the indices to zero (defaults: the rows/columns of
    ``weight`` and ``bias``). Methods rank channels by ``weight`` rows, so keep output channels on axis 0.
    """

    in_axis: int = 1
    out_axis: int = 1

    def out_channels(self, m: nn.Module) -> int | None:
        raise NotImplementedError

    def in_channels(self, m: nn.Module) -> int | None:
        return None

    def prune_out(self, m: nn.Module, keep: torch.Tensor) -> None:
        raise NotImplementedError

    def prune_in(self, m: nn.Module, keep: torch.Tensor) -> None:
        raise NotImplementedError

    @torch.no_grad()
    def mask_out(self, m: nn.Module, drop: torch.Tensor) -> None:
        for attr in ("weight", "bias"):
            p = getattr(m, attr, None)
            if isinstance(p, torch.Tensor):
                p[drop] = 0

    @torch.no_grad()
    def mask_in(self, m: nn.Module, drop: torch.Tensor) -> None:
        p = getattr(m, "weight", None)
        if isinstance(p, torch.Tensor) and p.dim() > 1:
            p[:, drop] = 0


CHANNEL_RULES: dict[type, ChannelRule] = {}


def register_channel_rule(layer_type: type[nn.Module], channel_rule: ChannelRule) -> None:
    """Tell the analysis how channels flow through ``layer_type`` (and how to cut it)."""
    if not (isinstance(layer_type, type) and issubclass(layer_type, nn.Module)):
        from eegdeploy.errors import ConfigError

        raise ConfigError(f"register_channel_rule needs an nn.Module subclass, not {layer_type!r}",
                          fix="pass the layer's class")
    CHANNEL_RULES[layer_type] = channel_rule


def module_rule_for(w: Any, node: fx.Node) -> Any:
    """The value of ``node`` when it runs inside a module with a registered ChannelRule, or None."""
    if not CHANNEL_RULES:
        return None
    for path in module_stack(node):
        m = w.modules.get(path)
        if m is None or type(m) not in CHANNEL_RULES:
            continue
        state = w.__dict__.setdefault("_custom", {})
        if path not in state:
            state[path] = _enter_custom(w, node, path, m, CHANNEL_RULES[type(m)])
        return _custom_value(w, node, path, state[path])
    return None


def _enter_custom(w: Any, node: fx.Node, path: str, m: nn.Module, cr: ChannelRule) -> dict:
    # the module's input: the first tensor argument of its first node that comes from outside the module
    inside = {n for n in w.cap.graph.nodes if path in module_stack(n)}
    x = next((a for a in node.all_input_nodes if a not in inside and a not in w.param_of), None)
    xv = w.get(x)
    in_slots = None
    if xv is not None:
        in_slots = xv[cr.in_axis]
    n_out = cr.out_channels(m)
    if n_out is None:
        out = in_slots
    else:
        out = w.fresh(n_out)
    w.add_layer(path, "custom", in_slots, out, producer=n_out is not None)
    if path in w.layers:
        w.layers[path].rule = cr  # type: ignore[attr-defined]
    return {"inside": inside, "out": out, "x": x}


def _custom_value(w: Any, node: fx.Node, path: str, st: dict) -> Any:
    users_outside = [u for u in node.users if u not in st["inside"]]
    val = node.meta.get("val")
    if not isinstance(val, torch.Tensor):
        return w.untracked(node)
    axes = [None] * val.dim()
    if users_outside:
        cr = CHANNEL_RULES[type(w.modules[path])]
        ax = cr.out_axis if cr.out_axis >= 0 else val.dim() + cr.out_axis
        if st["out"] is not None and val.shape[ax] == len(st["out"]):
            axes[ax] = st["out"]
    return axes

