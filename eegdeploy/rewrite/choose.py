"""Choosing a chain's form: measured in onnxruntime at the configured batch and threads, or a cost model.

Measurement times the *whole* model with each candidate form, interleaved round by round (A, B, C, A, B, C, ...),
and takes medians, so a layout change that a form forces on its neighbours is paid for too and machine noise
hits every candidate alike. The cost model (``measure=False``) adds MACs and the size of the unrolled input
(im2col) of every Conv, and the elements every non-fused activation touches; it is what a device you cannot
measure on is assumed to behave like.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from eegdeploy.rewrite.forms import FUSED_INTO_CONV
from eegdeploy.rewrite.graph import attr_dict, conv_attrs

__all__ = ["CLOCKS", "cost", "measure", "random_input", "session", "timings"]

IM2COL_WEIGHT = 8.0  # one unrolled input element costs about as much as this many MACs (fit on eegnet-deap)
# element-wise ops onnxruntime runs one scalar at a time, in units of a vectorised element-wise op: its Elu takes
# about 5 ns per element on this CPU against 0.2 ns for Min or Exp (eegnet-bci, batch 64, 1 thread); 10 is cautious
SCALAR_OPS = {"Elu": 10.0, "Selu": 10.0, "Celu": 10.0}
# onnxruntime's blocked-layout (NCHWc) convs run direct, with no unrolled input, when the channel counts fit the
# CPU's block (16 floats with AVX-512, 8 with AVX2); 16 fits both
BLOCK = 16


def blocked(cin: int, cout: int, group: int) -> bool:
    """Whether onnxruntime runs this conv in its blocked layout (no im2col): output channels a multiple of the block,
    and a dense conv over a multiple of the block (or fewer input channels than one block), or a depthwise conv."""
    if cout % BLOCK:
        return False
    if group == 1:
        return cin % BLOCK == 0 or cin < BLOCK
    return group == cin == cout


def session(data: bytes, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


def random_input(data: bytes, batch: int, seed: int = 0) -> np.ndarray:
    """A seeded N(0, 1) input for the model's first input at ``batch`` (a fixed first axis stays as exported)."""
    import onnx

    m = onnx.load_from_string(data)
    inits = {i.name for i in m.graph.initializer}
    inp = next(i for i in m.graph.input if i.name not in inits)
    dims = [d.dim_value if d.dim_value > 0 else batch for d in inp.type.tensor_type.shape.dim]
    if inp.type.tensor_type.shape.dim and inp.type.tensor_type.shape.dim[0].dim_value <= 0:
        dims[0] = batch
    return np.random.default_rng(seed).standard_normal(dims).astype(np.float32)


def run(sess: Any, x: np.ndarray) -> np.ndarray:
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


CLOCKS = ("wall", "cpu")


def timings(candidates: dict[str, bytes], x: np.ndarray, *, threads: int, rounds: int = 15, warmup: int = 3,
            min_time_s: float = 0.0) -> dict[str, dict[str, list[float]]]:
    """Every run's milliseconds per clock ("wall", "cpu") and candidate, interleaved round by round (A, B, C, A, ...).

    "cpu" is the CPU time of the calling thread. With one onnxruntime thread the whole run executes on that
    thread, so it is the latency an idle machine would show: time spent waiting while other processes hold the
    cores does not count. On a loaded machine wall time inflates a long run more than a short one (it is preempted
    more often); CPU time does not.
    """
    sessions = {k: session(v, threads) for k, v in candidates.items()}
    for s in sessions.values():
        for _ in range(warmup):
            run(s, x)
    out: dict[str, dict[str, list[float]]] = {c: {k: [] for k in sessions} for c in CLOCKS}
    t_end = time.perf_counter() + min_time_s
    r = 0
    while r < rounds or time.perf_counter() < t_end:
        for k, s in sessions.items():
            c0, t0 = time.thread_time(), time.perf_counter()
            run(s, x)
            t1, c1 = time.perf_counter(), time.thread_time()
            out["wall"][k].append((t1 - t0) * 1e3)
            out["cpu"][k].append((c1 - c0) * 1e3)
        r += 1
    return out


def measure(candidates: dict[str, bytes], x: np.ndarray, *, threads: int, rounds: int = 15, warmup: int = 3,
            min_time_s: float = 0.0, quantile: float = 50.0, clock: str = "wall") -> dict[str, float]:
    """Milliseconds of each candidate model on ``x`` (the ``quantile`` of its runs; median by default) on
    ``clock`` ("wall" or "cpu", see :func:`timings`), interleaved round by round."""
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {CLOCKS}, not {clock!r}")
    t = timings(candidates, x, threads=threads, rounds=rounds, warmup=warmup, min_time_s=min_time_s)[clock]
    return {k: float(np.percentile(v, quantile)) for k, v in t.items()}


def cost(data: bytes, batch: int) -> float:
    """Modelled cost of one forward pass at ``batch``: MACs + IM2COL_WEIGHT x unrolled inputs of convs that do not
    run blocked + element-wise ops (SCALAR_OPS weighs those onnxruntime does not vectorise; an activation it fuses
    into the conv before it costs nothing)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load_from_string(data)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    for inp in m.graph.input:
        if inp.name not in inits and inp.type.tensor_type.shape.dim:
            d0 = inp.type.tensor_type.shape.dim[0]
            if d0.dim_value <= 0:
                d0.Clear()
                d0.dim_value = batch
    m = onnx.shape_inference.infer_shapes(m)
    shapes: dict[str, list[int]] = {}
    for v in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input):
        dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            shapes[v.name] = dims
    producer = {o: n for n in m.graph.node for o in n.output}
    readers: dict[str, int] = {}
    for n in m.graph.node:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1
    total = 0.0
    for n in m.graph.node:
        out = shapes.get(n.output[0]) if n.output else None
        if out is None:
            continue
        elems = float(np.prod(out))
        if n.op_type == "Conv" and n.input[1] in inits:
            w = inits[n.input[1]]
            at = conv_attrs(n, w)
            per_out = float(np.prod(w.shape[1:]))
            total += elems * per_out
            if at is not None and (at.kernel != (1, 1) or at.strides != (1, 1)) \
                    and not blocked(int(w.shape[1]) * at.group, int(w.shape[0]), at.group):
                positions = elems / out[1]
                total += IM2COL_WEIGHT * positions * per_out * at.group
        elif n.op_type in ("Gemm", "MatMul") and len(n.input) > 1 and n.input[1] in inits:
            total += elems * float(inits[n.input[1]].shape[0 if attr_dict(n).get("transB", 0) else -2]
                                   if inits[n.input[1]].ndim == 2 else 1)
        elif n.op_type in FUSED_INTO_CONV and n.input and producer.get(n.input[0]) is not None \
                and producer[n.input[0]].op_type == "Conv" and readers.get(n.input[0], 0) == 1:
            continue  # fused only when the conv's output feeds nothing else
        else:
            total += elems * SCALAR_OPS.get(n.op_type, 1.0)
    return total
