"""Chains of linear operators in an ONNX graph and their exact alternative forms.

A *chain* is a run of operators with nothing non-linear between them, found in the exported graph:

- ``conv-chain``: Conv → Conv where the first conv's output feeds only the second (BatchNorm is already folded
  into the convs by the exporter, or by ``bn-fold``). On each axis at most one of the two kernels is wider than 1,
  which covers EEG's temporal conv → spatial conv over electrodes, depthwise → pointwise, and pointwise → any.
  Forms: ``merged`` (one conv whose kernel is the product of the two) and, when every output of the spatial conv
  reads one temporal filter (depthwise with a multiplier), ``electrodes-first`` (mix the electrodes first with a
  Cin→O conv, then a depthwise temporal conv with the temporal weights and the folded bias).
- ``act-pool``: a non-decreasing activation directly before a MaxPool. ``max(f(x)) = f(max(x))`` for any
  non-decreasing ``f``, so ``pool-first`` runs the activation on fewer values. Only adjacent pairs are swapped,
  so no BatchNorm (whose scale may be negative) ever sits between them.
- ``bn-fold``: Conv → BatchNormalization (inference) becomes one Conv with scaled weights and bias.
- ``elu-split``: ELU written with vectorised element-wise ops, the same function; onnxruntime runs these faster
  than its scalar ELU kernel on some CPUs (measured, never assumed). Forms: ``relu+exp`` is
  ``relu(x) + alpha * (exp(min(x, 0)) - 1)`` (five ops); ``max+exp`` is ``max(x, alpha * (exp(min(x, 0)) - 1))``
  (four ops, offered for 0 < alpha <= 1: there ``alpha * (e^x - 1) >= x`` for every x <= 0, because the two sides
  meet at 0 and the left one falls more slowly, while for x > 0 the right term is 0 < x). Their difference from
  ELU is rounding (about 1e-7).
- ``pool-linear``: AveragePool (no padding) → Flatten → Gemm. Averaging is linear, so the pool folds into the
  Gemm's weights (each pooled position's weight spread over the inputs of its window, divided by the window size):
  one Gemm on the unpooled features, no pool and no layout change before it. Positions no window reads get 0.

Exactness rules (a chain that breaks one is never built): the first conv's output has one consumer and is not a
graph output; no padding of the second conv reads the first conv's bias (on an axis where the second conv pads,
the first must be bias-free, kernel 1, stride 1); strides and dilations compose only along an axis where one
kernel is 1. Each form is a function that edits a :class:`Graph` in place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from eegdeploy.rewrite.graph import ConvAttrs, Graph, attr_dict, conv_attrs

__all__ = ["Chain", "MONOTONIC", "find_chains"]

# activations that never decrease, with a check on their attributes (alpha < 0 would bend them down)
MONOTONIC: dict[str, Callable[[dict[str, Any]], bool]] = {
    "Relu": lambda a: True, "Sigmoid": lambda a: True, "Tanh": lambda a: True, "Softplus": lambda a: True,
    "Softsign": lambda a: True, "Clip": lambda a: True, "Identity": lambda a: True,
    "LeakyRelu": lambda a: a.get("alpha", 0.01) >= 0, "Elu": lambda a: a.get("alpha", 1.0) >= 0,
    "Selu": lambda a: a.get("alpha", 1.67326) >= 0 and a.get("gamma", 1.0507) > 0,
    "HardSigmoid": lambda a: a.get("alpha", 0.2) >= 0, "Celu": lambda a: a.get("alpha", 1.0) > 0,
}
# activations onnxruntime fuses into the preceding Conv (free there); the cost model knows this
FUSED_INTO_CONV = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid"}

Form = Callable[[Graph], None]


@dataclass
class Chain:
    kind: str  # conv-chain | act-pool | bn-fold
    nodes: tuple[str, ...]  # node names, in graph order
    forms: dict[str, Form] = field(default_factory=dict)  # alternatives to "as-is"

    @property
    def key(self) -> tuple[str, ...]:
        return (self.kind, *self.nodes)


def find_chains(g: Graph) -> tuple[list[Chain], list[str]]:
    """Every chain in ``g`` with its candidate forms, and notes on Conv → Conv pairs left alone and why."""
    chains: list[Chain] = []
    notes: list[str] = []
    for a in g.g.node:
        nxt = g.only_consumer(a.output[0]) if a.output else None
        if nxt is None or not nxt.input or nxt.input[0] != a.output[0]:
            continue
        if a.op_type == "Conv" and nxt.op_type == "BatchNormalization":
            fold = _bn_fold(g, a, nxt)
            if fold:
                chains.append(Chain("bn-fold", (a.name, nxt.name), {"folded": fold}))
        elif a.op_type == "Conv" and nxt.op_type == "Conv":
            forms, why = _conv_chain(g, a, nxt)
            if forms:
                chains.append(Chain("conv-chain", (a.name, nxt.name), forms))
            else:
                notes.append(f"{a.name} → {nxt.name} left as is: {why}")
        elif a.op_type in MONOTONIC and nxt.op_type == "MaxPool" and MONOTONIC[a.op_type](attr_dict(a)) \
                and len([o for o in nxt.output if o]) == 1 and len(a.input) >= 1:
            chains.append(Chain("act-pool", (a.name, nxt.name), {"pool-first": _swap(a.name, nxt.name)}))
    for n in g.g.node:  # after the pairs: a pool-first swap changes what the ELU runs on
        if n.op_type == "Elu" and len(n.input) == 1:
            alpha = float(attr_dict(n).get("alpha", 1.0))
            forms = {"relu+exp": _elu_split(n.name, alpha)}
            if 0.0 < alpha <= 1.0:
                forms["max+exp"] = _elu_max(n.name, alpha)
            chains.append(Chain("elu-split", (n.name,), forms))
        elif n.op_type == "AveragePool":
            fold = _pool_linear(g, n)
            if fold is not None:
                chains.append(Chain("pool-linear", fold[0], {"folded": fold[1]}))
    return chains, notes


def _elu_negative(gr: Graph, name: str, x: str, alpha: float) -> tuple[list[Any], str]:
    """Nodes computing alpha·(exp(min(x, 0)) − 1), ELU's value where x <= 0, and the tensor that holds it."""
    from onnx import helper

    zero, one = gr.add_const(name + ".zero", np.zeros((), np.float32)), gr.add_const(name + ".one", np.ones((), np.float32))
    t = [gr.fresh_tensor(name) for _ in range(3)]
    nodes = [helper.make_node("Min", [x, zero], [t[0]], name=f"{name}/min"),
             helper.make_node("Exp", [t[0]], [t[1]], name=f"{name}/exp"),
             helper.make_node("Sub", [t[1], one], [t[2]], name=f"{name}/sub")]
    if alpha != 1.0:
        t.append(gr.fresh_tensor(name))
        nodes.append(helper.make_node("Mul", [t[2], gr.add_const(name + ".alpha", np.asarray(alpha, np.float32))],
                                      [t[3]], name=f"{name}/mul"))
    return nodes, t[-1]


def _elu_max(name: str, alpha: float) -> Form:
    def apply(gr: Graph) -> None:
        from onnx import helper

        n = gr.node(name)
        x, y = n.input[0], n.output[0]
        nodes, negative = _elu_negative(gr, name, x, alpha)
        gr.replace([n], nodes + [helper.make_node("Max", [x, negative], [y], name=f"{name}/max")])

    return apply


# -- average pool → flatten → Gemm ------------------------------------------------------------------------------

def _pool_linear(g: Graph, pool: Any) -> tuple[tuple[str, ...], Form] | None:
    """The nodes and the folding form of AveragePool → Flatten(axis 1) → Gemm(constant weights), or None."""
    a = attr_dict(pool)
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or any(a.get("pads", [0])) \
            or a.get("ceil_mode", 0) or any(d != 1 for d in a.get("dilations", [1])):
        return None
    kernel = [int(k) for k in a.get("kernel_shape", [])]
    strides = [int(v) for v in a.get("strides", [1] * len(kernel))]
    flat = g.only_consumer(pool.output[0])
    if flat is None or flat.op_type != "Flatten" or int(attr_dict(flat).get("axis", 1)) != 1:
        return None
    gemm = g.only_consumer(flat.output[0])
    if gemm is None or gemm.op_type != "Gemm" or gemm.input[0] != flat.output[0]:
        return None
    ga = attr_dict(gemm)
    w = g.const(gemm.input[1])
    if w is None or w.ndim != 2 or ga.get("transA", 0):
        return None
    shape = g.shape(pool.input[0])
    if shape is None or len(shape) != 2 + len(kernel) or any(d <= 0 for d in shape[1:]):
        return None
    spatial = shape[2:]
    out = [(s - k) // st + 1 for s, k, st in zip(spatial, kernel, strides)]
    if any(o < 1 for o in out):
        return None
    wt = (w.T if ga.get("transB", 0) == 0 else w).astype(np.float64)  # [O, C * prod(out)]
    c = shape[1]
    if wt.shape[1] != c * int(np.prod(out)):
        return None
    wo = wt.reshape(wt.shape[0], c, *out)
    wi = np.zeros((wt.shape[0], c, *spatial))
    size = float(np.prod(kernel))
    for idx in np.ndindex(*out):  # every pooled position spreads its weight over its window
        window = tuple(slice(i * st, i * st + k) for i, st, k in zip(idx, strides, kernel))
        wi[(slice(None), slice(None), *window)] += wo[(slice(None), slice(None), *idx)][(..., *([None] * len(out)))] / size
    new_w = wi.reshape(wt.shape[0], -1)

    def apply(gr: Graph) -> None:
        from onnx import helper

        p, f, m = gr.node(pool.name), gr.node(flat.name), gr.node(gemm.name)
        f2 = helper.make_node("Flatten", [p.input[0]], [f.output[0]], name=f"{f.name}+{p.name}", axis=1)
        ins = [f.output[0], gr.add_const(m.name + ".w", new_w)] + list(m.input[2:])
        m2 = helper.make_node("Gemm", ins, list(m.output), name=f"{p.name}+{m.name}", transB=1,
                              alpha=float(ga.get("alpha", 1.0)), beta=float(ga.get("beta", 1.0)))
        gr.replace([p, f, m], [f2, m2])

    return (pool.name, flat.name, gemm.name), apply


def _elu_split(name: str, alpha: float) -> Form:
    def apply(gr: Graph) -> None:
        from onnx import helper

        n = gr.node(name)
        x, y = n.input[0], n.output[0]
        positive = gr.fresh_tensor(name)
        nodes, negative = _elu_negative(gr, name, x, alpha)
        gr.replace([n], [helper.make_node("Relu", [x], [positive], name=f"{name}/relu"), *nodes,
                         helper.make_node("Add", [positive, negative], [y], name=f"{name}/add")])

    return apply


# -- conv → BatchNorm ------------------------------------------------------------------------------------------

def _bn_fold(g: Graph, conv: Any, bn: Any) -> Form | None:
    w = g.const(conv.input[1])
    b = g.const(conv.input[2]) if len(conv.input) > 2 else None
    params = [g.const(n) for n in bn.input[1:5]]
    if w is None or any(p is None for p in params) or len([o for o in bn.output if o]) != 1:
        return None
    gamma, beta, mean, var = (np.asarray(p, dtype=np.float64) for p in params)  # type: ignore[arg-type]
    eps = float(attr_dict(bn).get("epsilon", 1e-5))
    s = gamma / np.sqrt(var + eps)
    new_w = w.astype(np.float64) * s[:, None, None, None]
    new_b = ((b.astype(np.float64) if b is not None else 0.0) - mean) * s + beta

    def apply(gr: Graph) -> None:
        from onnx import helper

        c, n = gr.node(conv.name), gr.node(bn.name)
        node = helper.make_node("Conv", [c.input[0], gr.add_const(c.name + ".w", new_w), gr.add_const(c.name + ".b", new_b)],
                                [n.output[0]], name=f"{c.name}+{n.name}")
        node.attribute.extend(c.attribute)
        gr.replace([c, n], [node])

    return apply


# -- conv → conv -----------------------------------------------------------------------------------------------

def _dense(w: np.ndarray, group: int) -> np.ndarray:
    """A grouped conv weight [O, C/g, kh, kw] as the dense [O, C, kh, kw] it equals (zeros off the groups)."""
    o, cg, kh, kw = w.shape
    d = np.zeros((o, cg * group, kh, kw), dtype=np.float64)
    per = o // group
    for gi in range(group):
        d[gi * per:(gi + 1) * per, gi * cg:(gi + 1) * cg] = w[gi * per:(gi + 1) * per]
    return d


def _best_group(m: np.ndarray, choices: list[int]) -> int:
    """The largest group count whose block structure the (structural) dependency matrix ``m`` [O, C] fits."""
    o, c = m.shape
    for g in sorted(set(choices), reverse=True):
        if g <= 1 or o % g or c % g:
            continue
        po, pc = o // g, c // g
        mask = np.zeros_like(m, dtype=bool)
        for gi in range(g):
            mask[gi * po:(gi + 1) * po, gi * pc:(gi + 1) * pc] = True
        if not m[~mask].any():
            return g
    return 1


def _conv_chain(g: Graph, a: Any, b: Any) -> tuple[dict[str, Form], str]:
    wa, wb = g.const(a.input[1]), g.const(b.input[1])
    if wa is None or wb is None:
        return {}, "weights are not constants"
    ba = g.const(a.input[2]) if len(a.input) > 2 and a.input[2] else None
    bb = g.const(b.input[2]) if len(b.input) > 2 and b.input[2] else None
    if (len(a.input) > 2 and a.input[2] and ba is None) or (len(b.input) > 2 and b.input[2] and bb is None):
        return {}, "a bias is not a constant"
    ca, cb = conv_attrs(a, wa), conv_attrs(b, wb)
    if ca is None or cb is None:
        return {}, "not plain 2-D convolutions"
    a_bias = ba is not None and bool(np.any(ba != 0))
    kernel, strides, dil, pads = [], [], [], [0, 0, 0, 0]
    for ax in (0, 1):
        ka, kb = ca.kernel[ax], cb.kernel[ax]
        pa = (ca.pads[ax], ca.pads[ax + 2])
        pb = (cb.pads[ax], cb.pads[ax + 2])
        if ka > 1 and kb > 1:
            return {}, "both kernels span the same axis"
        if kb == 1:  # the second conv only subsamples this axis: the first conv's geometry, strides multiplied
            if any(pb):
                return {}, "the second conv pads an axis its kernel does not span"
            kernel.append(ka)
            dil.append(ca.dilations[ax])
            strides.append(ca.strides[ax] * cb.strides[ax])
            pads[ax], pads[ax + 2] = pa
        else:  # the second conv's kernel, in units of the input
            if any(pa):
                return {}, "the first conv pads an axis only the second conv's kernel spans"
            if any(pb) and (a_bias or ca.strides[ax] != 1):
                return {}, "the second conv pads the first conv's output (a bias or stride would be read as zero)"
            kernel.append(kb)
            dil.append(cb.dilations[ax] * ca.strides[ax])
            strides.append(cb.strides[ax] * ca.strides[ax])
            pads[ax], pads[ax + 2] = pb
    da, db = _dense(wa.astype(np.float64), ca.group), _dense(wb.astype(np.float64), cb.group)
    o, f, cin = db.shape[0], db.shape[1], da.shape[1]
    if da.shape[0] != f:
        return {}, "channel counts do not match"
    merged = np.einsum("ofhw,fiHW->oihHwW", db, da).reshape(o, cin, db.shape[2] * da.shape[2], db.shape[3] * da.shape[3])
    dep = (np.abs(_dense(np.ones_like(wb), cb.group)).sum((2, 3)) @ np.abs(_dense(np.ones_like(wa), ca.group)).sum((2, 3))) > 0
    group = _best_group(dep, [ca.group, cb.group, math.gcd(ca.group, cb.group)])
    mw = np.concatenate([merged[gi * (o // group):(gi + 1) * (o // group), gi * (cin // group):(gi + 1) * (cin // group)]
                         for gi in range(group)], axis=0)
    mb = (bb.astype(np.float64) if bb is not None else np.zeros(o)) + \
        (np.einsum("ofhw,f->o", db, ba.astype(np.float64)) if ba is not None else 0.0)
    m_attrs = ConvAttrs(tuple(kernel), tuple(strides), tuple(dil), tuple(pads), group)  # type: ignore[arg-type]
    forms: dict[str, Form] = {"merged": _emit([(a.name, b.name)], [(mw, mb, m_attrs)])}

    # electrodes first: temporal (1 x K, dense over inputs) → spatial (kh x 1, one temporal filter per output)
    if (ca.kernel[0] == 1 and ca.pads[0] == ca.pads[2] == 0 and ca.strides[0] == 1 and ca.group == 1
            and cb.kernel[1] == 1 and not any(cb.pads) and cb.strides[1] == 1 and cb.group == f and ca.kernel[1] > 1
            and cin * o <= 4096):
        mult = o // f
        w1 = np.zeros((o * cin, cin, cb.kernel[0], 1))
        for oo in range(o):
            for i in range(cin):
                w1[oo * cin + i, i, :, 0] = wb[oo, 0, :, 0]
        w2 = np.stack([wa[oo // mult] for oo in range(o)])  # [O, Cin, 1, Ka]
        b2 = (bb.astype(np.float64) if bb is not None else np.zeros(o)) + \
            (np.array([ba[oo // mult] * wb[oo, 0].sum() for oo in range(o)]) if ba is not None else 0.0)
        at1 = ConvAttrs((cb.kernel[0], 1), (cb.strides[0], 1), (cb.dilations[0], 1), (0, 0, 0, 0), 1)
        at2 = ConvAttrs((1, ca.kernel[1]), (1, ca.strides[1]), (1, ca.dilations[1]),
                        (0, ca.pads[1], 0, ca.pads[3]), o)
        forms["electrodes-first"] = _emit([(a.name, b.name)], [(w1, None, at1), (w2, b2, at2)])
    return forms, ""


def _emit(replaced: list[tuple[str, str]], convs: list[tuple[np.ndarray, np.ndarray | None, ConvAttrs]]) -> Form:
    """A form that replaces the named pair with a sequence of convs (weights, bias, geometry)."""
    first, last = replaced[0]

    def apply(gr: Graph) -> None:
        from onnx import helper

        a, b = gr.node(first), gr.node(last)
        x, out = a.input[0], b.output[0]
        nodes = []
        for k, (w, bias, at) in enumerate(convs):
            y = out if k == len(convs) - 1 else gr.fresh_tensor(f"{a.name}.mid")
            ins = [x, gr.add_const(f"{a.name}.w", w)] + ([gr.add_const(f"{a.name}.b", bias)] if bias is not None else [])
            name = f"{a.name}+{b.name}" if len(convs) == 1 else f"{a.name}+{b.name}/{k}"
            nodes.append(helper.make_node("Conv", ins, [y], name=name, kernel_shape=list(at.kernel),
                                          strides=list(at.strides), dilations=list(at.dilations),
                                          pads=list(at.pads), group=at.group))
            x = y
        gr.replace([a, b], nodes)

    return apply


# -- activation → max-pool ---------------------------------------------------------------------------------------

def _swap(act_name: str, pool_name: str) -> Form:
    def apply(gr: Graph) -> None:
        import copy

        act, pool = copy.deepcopy(gr.node(act_name)), copy.deepcopy(gr.node(pool_name))
        x, y = act.input[0], pool.output[0]
        mid = gr.fresh_tensor(pool.name + ".pooled")
        pool.input[0], pool.output[0] = x, mid
        act.input[0], act.output[0] = mid, y
        gr.replace([gr.node(act_name), gr.node(pool_name)], [pool, act])

    return apply
