"""Every rewrite form equals the original graph (onnxruntime on the unmodified graph is the reference), and a
chain broken by a non-linearity or by padding that would read a bias is never built.

Graphs are built directly with onnx.helper (no export step), so hypothesis can draw many stacks quickly.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from eegdeploy.rewrite.forms import find_chains
from eegdeploy.rewrite.graph import Graph

ort = pytest.importorskip("onnxruntime")

ACTS = {"Relu": {}, "Elu": {"alpha": 1.0}, "LeakyRelu": {"alpha": 0.1}, "Tanh": {}, "Mul": {}}


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    s = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


class Stack:
    """Builds a small Conv/BN/activation/pool graph: x [N, C, H, W] → ... → y."""

    def __init__(self, shape: tuple[int, ...], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.shape = shape
        self.cur = "x"
        self.k = 0

    def _t(self, arr: np.ndarray) -> str:
        self.k += 1
        name = f"p{self.k}"
        self.inits.append(numpy_helper.from_array(arr.astype(np.float32), name))
        return name

    def _next(self) -> str:
        self.k += 1
        return f"t{self.k}"

    def conv(self, cin: int, cout: int, kernel: tuple[int, int], *, group: int = 1, pads=(0, 0, 0, 0),
             strides=(1, 1), dilations=(1, 1), bias: bool = True) -> None:
        w = self.rng.standard_normal((cout, cin // group, *kernel)) * 0.3
        ins = [self.cur, self._t(w)] + ([self._t(self.rng.standard_normal(cout))] if bias else [])
        out = self._next()
        self.nodes.append(helper.make_node("Conv", ins, [out], kernel_shape=list(kernel), pads=list(pads),
                                           strides=list(strides), dilations=list(dilations), group=group))
        self.cur = out

    def bn(self, c: int, negative: bool = False) -> None:
        gamma = self.rng.uniform(0.5, 1.5, c) * (-1 if negative else 1)
        ins = [self.cur, self._t(gamma), self._t(self.rng.standard_normal(c)), self._t(self.rng.standard_normal(c)),
               self._t(self.rng.uniform(0.5, 2.0, c))]
        out = self._next()
        self.nodes.append(helper.make_node("BatchNormalization", ins, [out], epsilon=1e-5))
        self.cur = out

    def op(self, op_type: str, **attrs) -> None:
        out = self._next()
        ins = [self.cur, self.cur] if op_type == "Mul" else [self.cur]
        self.nodes.append(helper.make_node(op_type, ins, [out], **attrs))
        self.cur = out

    def model(self, out_dims: tuple[str, ...] = ("N", "C", "H", "W")) -> onnx.ModelProto:
        self.nodes.append(helper.make_node("Identity", [self.cur], ["y"]))
        g = helper.make_graph(self.nodes, "stack", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                  ["N", *self.shape])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_dims))], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def apply_everything(model: onnx.ModelProto, pick: int, kinds=("bn-fold", "conv-chain", "act-pool")
                     ) -> tuple[Graph, list[str]]:
    """Apply every chain found, taking form number ``pick`` (mod the count) each time; returns the forms used."""
    g = Graph(model)
    used: list[str] = []
    seen: set = set()
    while True:
        chains, _ = find_chains(g)
        todo = [c for c in chains if c.key not in seen and c.kind in kinds]
        if not todo:
            return g, used
        c = todo[0]
        seen.add(c.key)
        names = sorted(c.forms)
        form = names[pick % len(names)]
        nxt = Graph(g.model)
        c.forms[form](nxt)
        g = nxt
        used.append(f"{c.kind}:{form}")


@st.composite
def temporal_spatial(draw):
    cin = draw(st.sampled_from([1, 1, 2]))
    f = draw(st.sampled_from([2, 3, 4])) * (cin if cin > 1 else 1)
    h, w = draw(st.integers(2, 5)), draw(st.integers(12, 24))
    k = draw(st.integers(1, 7))
    pad_t = draw(st.integers(0, k // 2 + 1))
    stride_t, dil_t = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    ga = draw(st.sampled_from([1, cin]))
    depthwise = draw(st.booleans())
    mult = draw(st.integers(1, 3))
    kh = draw(st.integers(1, h))
    dil_h = draw(st.integers(1, 2)) if kh > 1 and (kh - 1) * 2 < h else 1
    stride_h = draw(st.integers(1, 2))
    return dict(cin=cin, f=f, h=h, w=w, k=k, pad_t=pad_t, stride_t=stride_t, dil_t=dil_t, ga=ga,
                depthwise=depthwise, mult=mult, kh=kh, dil_h=dil_h, stride_h=stride_h,
                bias_a=draw(st.booleans()), bias_b=draw(st.booleans()), bn=draw(st.sampled_from(["none", "after_a", "after_b"])),
                act=draw(st.sampled_from(["none", "none", *ACTS])), pick=draw(st.integers(0, 3)), seed=draw(st.integers(0, 99)),
                tail=draw(st.sampled_from(["relu", "elu", "elu-avgpool-gemm"])), pool=draw(st.integers(1, 4)))


def build(p) -> Stack:
    s = Stack((p["cin"], p["h"], p["w"]), p["seed"])
    s.conv(p["cin"], p["f"], (1, p["k"]), group=p["ga"], pads=(0, p["pad_t"], 0, p["pad_t"]),
           strides=(1, p["stride_t"]), dilations=(1, p["dil_t"]), bias=p["bias_a"])
    if p["bn"] == "after_a":
        s.bn(p["f"])
    if p["act"] != "none":
        s.op(p["act"], **ACTS[p["act"]])
    out = p["f"] * p["mult"] if p["depthwise"] else 5
    s.conv(p["f"], out, (p["kh"], 1), group=p["f"] if p["depthwise"] else 1, strides=(p["stride_h"], 1),
           dilations=(p["dil_h"], 1), bias=p["bias_b"])
    if p["bn"] == "after_b":
        s.bn(out)
    if p["tail"] == "relu":
        s.op("Relu")
    else:
        s.op("Elu", alpha=1.0)
    if p["tail"] == "elu-avgpool-gemm":  # EEGNet's head: the pool folds into the classifier
        w1 = (p["w"] + 2 * p["pad_t"] - p["dil_t"] * (p["k"] - 1) - 1) // p["stride_t"] + 1
        h2 = (p["h"] - p["dil_h"] * (p["kh"] - 1) - 1) // p["stride_h"] + 1
        kp = min(p["pool"], w1)
        pool_gemm(s, (1, kp), (1, kp), out * h2 * ((w1 - kp) // kp + 1), 3)
    return s


@settings(max_examples=60)
@given(temporal_spatial())
def test_every_form_equals_the_original(p):
    model = build(p).model(("N", "K") if p["tail"].endswith("gemm") else ("N", "C", "H", "W"))
    x = np.random.default_rng(p["seed"]).standard_normal((3, p["cin"], p["h"], p["w"])).astype(np.float32)
    ref = _run(model, x)
    g, used = apply_everything(model, p["pick"], kinds=("bn-fold", "conv-chain", "act-pool", "elu-split", "pool-linear"))
    got = _run(g.model, x)
    assert ("pool-linear:folded" in used) == p["tail"].endswith("gemm")  # nothing non-linear between pool and Gemm
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())
    convs = [n for n in g.model.graph.node if n.op_type == "Conv"]
    merged_or_swapped = [u for u in used if u.startswith("conv-chain")]
    if p["act"] == "none":
        # nothing non-linear between them: the pair is a chain (temporal kernel spans time only, spatial conv
        # pads nothing), so one of its forms was applied (electrodes-first leaves a new pair, which may merge)
        assert 1 <= len(merged_or_swapped) <= 2
        assert len(convs) == (2 if merged_or_swapped[-1].endswith("electrodes-first") else 1)
    else:
        assert merged_or_swapped == []  # a non-linearity breaks the chain: both convs are left alone
        assert len(convs) == 2


def test_electrodes_first_offered_only_for_depthwise_spatial_convs():
    dw = dict(cin=1, f=4, h=3, w=16, k=5, pad_t=2, stride_t=1, dil_t=1, ga=1, depthwise=True, mult=2, kh=3,
              dil_h=1, stride_h=1, bias_a=True, bias_b=False, bn="none", act="none", pick=0, seed=0, tail="relu", pool=1)
    chains, _ = find_chains(Graph(build(dw).model()))
    assert sorted(chains[0].forms) == ["electrodes-first", "merged"]
    chains, _ = find_chains(Graph(build(dw | {"depthwise": False}).model()))
    assert sorted(chains[0].forms) == ["merged"]


def test_merged_weights_by_hand():
    # temporal [1, 2] over time, then spatial [3, 4] over 2 electrodes, biases 1 and 0.5:
    # y = 3*(x00*1 + x01*2 + 1) + 4*(x10*1 + x11*2 + 1) + 0.5 → merged kernel [[3, 6], [4, 8]], bias 7.5
    s = Stack((1, 2, 2), 0)
    s.inits += [numpy_helper.from_array(np.array([[[[1.0, 2.0]]]], np.float32), "wa"),
                numpy_helper.from_array(np.array([1.0], np.float32), "ba"),
                numpy_helper.from_array(np.array([[[[3.0], [4.0]]]], np.float32), "wb"),
                numpy_helper.from_array(np.array([0.5], np.float32), "bb")]
    s.nodes += [helper.make_node("Conv", ["x", "wa", "ba"], ["a"], kernel_shape=[1, 2]),
                helper.make_node("Conv", ["a", "wb", "bb"], ["b"], kernel_shape=[2, 1])]
    s.cur = "b"
    g = Graph(s.model())
    chains, _ = find_chains(g)
    chains[0].forms["merged"](g)
    conv = [n for n in g.model.graph.node if n.op_type == "Conv"]
    assert len(conv) == 1
    np.testing.assert_allclose(g.const(conv[0].input[1]), [[[[3, 6], [4, 8]]]])
    np.testing.assert_allclose(g.const(conv[0].input[2]), [7.5])


@pytest.mark.parametrize("pads", [(1, 0, 1, 0), (0, 1, 0, 1)])
def test_padding_that_would_read_a_bias_breaks_the_chain(pads):
    s = Stack((1, 4, 16), 0)
    s.conv(1, 4, (1, 5), bias=True)
    s.conv(4, 4, (2, 1), pads=pads, bias=False)
    chains, notes = find_chains(Graph(s.model()))
    assert [c.kind for c in chains] == []
    assert len(notes) == 1 and "pad" in notes[0]


@pytest.mark.parametrize("act,attrs,swapped", [
    ("Elu", {"alpha": 1.0}, True), ("Relu", {}, True), ("LeakyRelu", {"alpha": 0.2}, True),
    ("LeakyRelu", {"alpha": -0.5}, False),  # decreasing below zero: max and f do not commute
    ("Elu", {"alpha": -1.0}, False), ("Mul", {}, False),  # square is not monotonic
])
def test_pool_first_only_through_non_decreasing_activations(act, attrs, swapped):
    s = Stack((2, 3, 20), 1)
    s.conv(2, 3, (1, 3))
    s.op(act, **attrs)
    s.op("MaxPool", kernel_shape=[1, 2], strides=[1, 2])
    m = s.model()
    x = np.random.default_rng(0).standard_normal((4, 2, 3, 20)).astype(np.float32)
    g, used = apply_everything(m, 0)
    assert used == (["act-pool:pool-first"] if swapped else [])
    ops = [n.op_type for n in g.model.graph.node]
    if swapped:
        assert ops.index("MaxPool") < ops.index(act)
    np.testing.assert_array_equal(_run(g.model, x), _run(m, x))  # swapping is exact to the bit


def test_pool_first_not_through_a_negative_batchnorm():
    s = Stack((2, 3, 20), 1)
    s.conv(2, 3, (1, 3))
    s.op("Relu")
    s.bn(3, negative=True)
    s.op("MaxPool", kernel_shape=[1, 2], strides=[1, 2])
    chains, _ = find_chains(Graph(s.model()))
    assert [c.kind for c in chains] == []


def test_average_pool_is_not_swapped():
    s = Stack((2, 3, 20), 1)
    s.conv(2, 3, (1, 3))
    s.op("Elu", alpha=1.0)
    s.op("AveragePool", kernel_shape=[1, 2], strides=[1, 2])
    chains, _ = find_chains(Graph(s.model()))
    assert [c.kind for c in chains] == ["elu-split"]  # only the ELU's own form; no pool swap


def test_fan_out_breaks_the_chain():
    s = Stack((1, 3, 16), 0)
    s.conv(1, 4, (1, 3))
    a = s.cur
    s.conv(4, 4, (3, 1))
    s.nodes.append(helper.make_node("ReduceMean", [a], ["side"], keepdims=1))
    s.nodes.append(helper.make_node("Add", [s.cur, "side"], ["sum"]))
    s.cur = "sum"
    chains, _ = find_chains(Graph(s.model()))
    assert chains == []


@pytest.mark.parametrize("alpha,form", [(1.0, "relu+exp"), (1.0, "max+exp"), (0.3, "relu+exp"), (0.3, "max+exp"),
                                        (1.5, "relu+exp")])
def test_elu_split_is_the_same_function(alpha, form):
    s = Stack((2, 3, 50), 2)
    s.conv(2, 3, (1, 3))
    s.op("Elu", alpha=alpha)
    m = s.model()
    chains, _ = find_chains(Graph(m))
    # max(x, alpha * (e^x - 1)) equals ELU only for 0 < alpha <= 1 (above 1 the curve dips below x near 0)
    assert sorted(chains[0].forms) == (["max+exp", "relu+exp"] if alpha <= 1 else ["relu+exp"])
    g, used = apply_everything(m, sorted(chains[0].forms).index(form), kinds=("elu-split",))
    assert used == [f"elu-split:{form}"]
    assert "Elu" not in [n.op_type for n in g.model.graph.node]
    x = (np.random.default_rng(0).standard_normal((4, 2, 3, 50)) * 4).astype(np.float32)
    ref = _run(m, x)
    np.testing.assert_allclose(_run(g.model, x), ref, atol=1e-6)
    assert (ref < 0).any() and (ref > 0).any() and ref.min() >= -alpha - 1e-6


def test_elu_max_form_matches_elu_by_hand():
    # ELU(x) = x for x > 0, e^x - 1 otherwise: at -2, -0.5, 0, 0.5, 3 → e^-2 - 1, e^-0.5 - 1, 0, 0.5, 3
    s = Stack((1, 1, 5), 0)
    s.op("Elu", alpha=1.0)
    m = s.model()
    g, used = apply_everything(m, 0, kinds=("elu-split",))  # sorted forms: max+exp first
    assert used == ["elu-split:max+exp"]
    assert [n.op_type for n in g.model.graph.node] == ["Min", "Exp", "Sub", "Max", "Identity"]
    x = np.array([[[[-2.0, -0.5, 0.0, 0.5, 3.0]]]], np.float32)
    want = [np.exp(-2.0) - 1, np.exp(-0.5) - 1, 0.0, 0.5, 3.0]
    np.testing.assert_allclose(_run(g.model, x).ravel(), want, atol=1e-7)


def pool_gemm(s: Stack, kernel, strides, n_in: int, n_out: int, pads=None) -> None:
    """AveragePool → Flatten → Gemm(transB=1), the classifier head of EEGNet-style models."""
    attrs = dict(kernel_shape=list(kernel), strides=list(strides))
    if pads:
        attrs["pads"] = list(pads)
    s.op("AveragePool", **attrs)
    s.op("Flatten", axis=1)
    w, b = s._t(s.rng.standard_normal((n_out, n_in))), s._t(s.rng.standard_normal(n_out))
    out = s._next()
    s.nodes.append(helper.make_node("Gemm", [s.cur, w, b], [out], transB=1))
    s.cur = out


def test_pool_linear_weights_by_hand():
    # x [1, 1, 1, 4], pool 1x2 stride 2 → [mean(x0, x1), mean(x2, x3)], Gemm weights [1, 2], bias 0.5:
    # y = 0.5*x0 + 0.5*x1 + x2 + x3 + 0.5 → folded weights [0.5, 0.5, 1, 1], bias unchanged
    s = Stack((1, 1, 4), 0)
    s.op("AveragePool", kernel_shape=[1, 2], strides=[1, 2])
    s.op("Flatten", axis=1)
    s.inits += [numpy_helper.from_array(np.array([[1.0, 2.0]], np.float32), "w"),
                numpy_helper.from_array(np.array([0.5], np.float32), "b")]
    s.nodes.append(helper.make_node("Gemm", [s.cur, "w", "b"], ["g"], transB=1))
    s.cur = "g"
    g = Graph(s.model(("N", "K")))
    chains, _ = find_chains(g)
    assert [c.kind for c in chains] == ["pool-linear"]
    chains[0].forms["folded"](g)
    assert [n.op_type for n in g.model.graph.node] == ["Flatten", "Gemm", "Identity"]
    gemm = g.model.graph.node[1]
    np.testing.assert_allclose(g.const(gemm.input[1]), [[0.5, 0.5, 1.0, 1.0]])
    np.testing.assert_allclose(g.const(gemm.input[2]), [0.5])
    x = np.array([[[[1.0, 3.0, -2.0, 5.0]]]], np.float32)
    np.testing.assert_allclose(_run(g.model, x), [[0.5 + 1.5 - 2.0 + 5.0 + 0.5]], rtol=1e-6)


@settings(max_examples=40)
@given(c=st.integers(1, 4), h=st.integers(1, 3), w=st.integers(4, 20), kh=st.integers(1, 3), kw=st.integers(1, 6),
       sh=st.integers(1, 3), sw=st.integers(1, 6), n_out=st.integers(1, 4), seed=st.integers(0, 99),
       act_between=st.sampled_from(["none", "none", "Relu", "Elu"]))
def test_pool_linear_folds_exactly_and_not_through_a_non_linearity(c, h, w, kh, kw, sh, sw, n_out, seed, act_between):
    kh = min(kh, h)
    kw = min(kw, w)
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1  # windows may skip inputs (stride > kernel) or overlap
    s = Stack((c, h, w), seed)
    s.op("AveragePool", kernel_shape=[kh, kw], strides=[sh, sw])
    if act_between != "none":
        s.op(act_between, **ACTS[act_between])
    s.op("Flatten", axis=1)
    wt, b = s._t(s.rng.standard_normal((n_out, c * oh * ow))), s._t(s.rng.standard_normal(n_out))
    s.nodes.append(helper.make_node("Gemm", [s.cur, wt, b], ["g"], transB=1))
    s.cur = "g"
    m = s.model(("N", "K"))
    x = np.random.default_rng(seed).standard_normal((3, c, h, w)).astype(np.float32)
    ref = _run(m, x)
    g, used = apply_everything(m, 0, kinds=("pool-linear",))
    if act_between == "none":
        assert used == ["pool-linear:folded"]
        assert "AveragePool" not in [n.op_type for n in g.model.graph.node]
    else:
        assert used == []
    np.testing.assert_allclose(_run(g.model, x), ref, atol=1e-5 * max(1.0, np.abs(ref).max()))


def test_pool_linear_not_with_padding_or_max_pool():
    s = Stack((2, 1, 12), 0)
    pool_gemm(s, (1, 3), (1, 3), 2 * 5, 2, pads=(0, 1, 0, 2))  # count_include_pad decides the edge divisor
    assert find_chains(Graph(s.model(("N", "K"))))[0] == []
    s = Stack((2, 1, 12), 0)
    s.op("MaxPool", kernel_shape=[1, 3], strides=[1, 3])
    s.op("Flatten", axis=1)
    wt = s._t(s.rng.standard_normal((2, 8)))
    s.nodes.append(helper.make_node("Gemm", [s.cur, wt], ["g"], transB=1))
    s.cur = "g"
    assert find_chains(Graph(s.model(("N", "K"))))[0] == []
