"""slim.pt, ATen kind: a slim model that torch.fx cannot trace, stored as its torch.export graph of ATen operations.

Models written with einops, ``len()`` of a tensor, ``getattr`` or shape arithmetic (vit-deap, conformer-deap and
torcheeg's transformers) are captured with ``torch.export.export(model, (x,), dynamic_shapes=..., strict=False)``
and functionalized (``run_decompositions({})``: no in-place ops, eval-mode dropout gone). The graph is stored as
plain data::

    {"format": "eegdeploy-portable", "version": 2, "kind": "aten",
     "input": {"shape": [null, 4, 9, 9], "dtype": "float32"},   # null: the batch, dynamic (torch.export Dim)
     "graph": [{"op": "input" | "tensor" | "call" | "output", "name", "target", "args", "kwargs"}, ...],
     "params": {fqn: tensor}, "buffers": {fqn: tensor}, "constants": {name: tensor}, "meta": {...}}

``target`` of a ``call`` step is a key of ``ATEN_OPS``, a finite list of ATen operator overloads (and a few Python
operators on sizes) written out below; the loader looks file strings up in that table and never resolves a name
any other way. Arguments are plain values, dtypes and memory formats from short whitelists, and references to
earlier steps. Every shape is specialised to the recorded input except the batch.

``AtenModule`` interprets the steps. The first call with a new input shape runs the whole graph on the ``meta``
device (shapes only, nothing allocated) and checks every step's output, the values alive at once and the FLOPs
against ``eegdeploy.limits`` before any real tensor is computed. Parameters are ``nn.Parameter``s, so the model
trains; its shapes are fixed, so it cannot be pruned again (slim the original model instead).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import operator
import warnings
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from eegdeploy.errors import CheckpointError, InputError, UnsupportedLayerError
from eegdeploy.limits import (MAX_FLOPS_PER_SAMPLE, MAX_GRAPH_NODES, MAX_LIVE_ELEMENTS, MAX_PARAMS,
                              MAX_SAMPLE_ELEMENTS, over)
from eegdeploy.models.stored import FIX, ArgDecoder, Ref, adopt, bad, check_path, fill, free_after
from eegdeploy.text import clean

__all__ = ["ATEN_OPS", "ATEN_VERSION", "AtenModule", "from_aten", "to_aten"]

ATEN_VERSION = 2
_FIX = "slim.onnx carries the model; or write forward with the operations listed in docs/export.md"
_INT_ENDS = (2 ** 63 - 1, -(2 ** 63))  # "to the end" in slice steps; any size they would make is checked on meta

# The whitelist: ATen overloads by name. Grouped by how their output size relates to their inputs, which only the
# documentation needs: every size is checked on the meta device before the real run.
_ATEN_NAMES = """
view.default _unsafe_view.default reshape.default permute.default transpose.int t.default expand.default
cat.default stack.default split.Tensor split_with_sizes.default chunk.default slice.Tensor select.int narrow.default
unsqueeze.default squeeze.dim squeeze.dims squeeze.default flatten.using_ints unflatten.int unbind.int movedim.int
clone.default contiguous.default alias.default detach.default lift_fresh_copy.default repeat.default flip.default
index_select.default index.Tensor copy.default slice_scatter.default select_scatter.default index_put.default
constant_pad_nd.default pad.default _to_copy.default to.dtype type_as.default
zeros_like.default ones_like.default full_like.default zeros.default ones.default full.default scalar_tensor.default
arange.default arange.start arange.start_step new_zeros.default new_ones.default
linear.default addmm.default mm.default bmm.default matmul.default baddbmm.default einsum.default
conv1d.default conv2d.default conv3d.default conv1d.padding conv2d.padding conv3d.padding convolution.default
conv_transpose1d.default conv_transpose2d.input
layer_norm.default native_layer_norm.default group_norm.default native_group_norm.default batch_norm.default
_native_batch_norm_legit_no_training.default instance_norm.default
softmax.int _softmax.default log_softmax.int _log_softmax.default scaled_dot_product_attention.default
add.Tensor add.Scalar sub.Tensor sub.Scalar rsub.Scalar rsub.Tensor mul.Tensor mul.Scalar div.Tensor div.Scalar
div.Tensor_mode pow.Tensor_Scalar pow.Tensor_Tensor pow.Scalar neg.default abs.default exp.default log.default
log1p.default sqrt.default rsqrt.default square.default reciprocal.default sin.default cos.default tanh.default
sigmoid.default erf.default sign.default floor.default ceil.default round.default clamp.default clamp.Tensor
clamp_min.default clamp_max.default minimum.default maximum.default where.self masked_fill.Scalar
masked_fill.Tensor eq.Tensor eq.Scalar ne.Tensor ne.Scalar gt.Tensor gt.Scalar lt.Tensor lt.Scalar ge.Tensor
ge.Scalar le.Tensor le.Scalar logical_not.default logical_and.default logical_or.default
relu.default relu6.default hardtanh.default elu.default leaky_relu.default selu.default celu.default gelu.default
silu.default mish.default softplus.default hardswish.default hardsigmoid.default glu.default prelu.default
_prelu_kernel.default logsigmoid.default
mean.dim mean.default sum.dim_IntList sum.default amax.default amin.default max.dim min.dim max.default min.default
var.correction var.dim std.correction std.dim logsumexp.default argmax.default argmin.default cumsum.default
linalg_vector_norm.default norm.ScalarOpt_dim prod.dim_int
avg_pool1d.default avg_pool2d.default avg_pool3d.default max_pool1d.default max_pool2d.default max_pool3d.default
max_pool2d_with_indices.default max_pool3d_with_indices.default adaptive_avg_pool1d.default
adaptive_avg_pool2d.default adaptive_avg_pool3d.default _adaptive_avg_pool2d.default adaptive_max_pool1d.default
adaptive_max_pool2d.default upsample_nearest1d.vec upsample_nearest2d.vec upsample_linear1d.vec
upsample_bilinear2d.vec pixel_shuffle.default
dropout.default feature_dropout.default alpha_dropout.default sym_size.int
""".split()
_OPERATORS: dict[str, Callable[..., Any]] = {
    f"operator.{n}": getattr(operator, n) for n in ("add", "sub", "mul", "floordiv", "truediv", "mod", "neg", "getitem")}
_DROPOUT = {"aten.dropout.default", "aten.feature_dropout.default", "aten.alpha_dropout.default"}
# steps torch.export adds to check its own assumptions; they compute nothing the output depends on
_SKIPPED = {"aten._assert_scalar.default", "aten.sym_constrain_range_for_size.default",
            "aten._assert_tensor_metadata.default", "aten.sym_constrain_range.default"}
_CREATES = {"aten.zeros.default", "aten.ones.default", "aten.full.default", "aten.scalar_tensor.default",
            "aten.arange.default", "aten.arange.start", "aten.arange.start_step"}  # take the input's device


def _resolve(name: str) -> Any:
    packet, _, overload = name.partition(".")
    return getattr(getattr(torch.ops.aten, packet), overload)


def _table() -> dict[str, Callable[..., Any]]:
    ops: dict[str, Callable[..., Any]] = {}
    for name in _ATEN_NAMES:
        try:
            ops[f"aten.{name}"] = _resolve(name)
        except (AttributeError, RuntimeError):  # an overload this torch does not have: not needed here
            continue
    return {**ops, **_OPERATORS}


ATEN_OPS: dict[str, Callable[..., Any]] = _table()
# The graph is functional (no in-place op is on the list), so a view and a copy hold the same values: views run as
# reshape, which does not depend on the strides the capturing machine's kernels produced (sdpa's output layout
# differs between backends, and between them and the meta device the sizes are checked on).
ATEN_OPS["aten.view.default"] = ATEN_OPS["aten._unsafe_view.default"] = ATEN_OPS["aten.reshape.default"]
DTYPES: dict[str, torch.dtype] = {str(d).replace("torch.", ""): d for d in (
    torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16, torch.int8,
    torch.uint8, torch.bool)}
MEMORY_FORMATS: dict[str, torch.memory_format] = {
    "contiguous_format": torch.contiguous_format, "preserve_format": torch.preserve_format,
    "channels_last": torch.channels_last}


# --- writing ---------------------------------------------------------------------------------------------------

def _name_of(target: Any) -> str:
    if isinstance(target, torch._ops.OpOverload):
        return str(target)  # "aten.linear.default"
    mod = getattr(target, "__module__", None)
    if mod in ("_operator", "operator"):
        return f"operator.{target.__name__}"
    return getattr(target, "__name__", str(target))


def _enc(v: Any, where: str) -> Any:
    import torch.fx as fx

    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, fx.Node):
        return {"node": v.name}
    if isinstance(v, (list, tuple)):
        items = [_enc(x, where) for x in v]
        return {"tuple": items} if isinstance(v, tuple) else items
    if isinstance(v, torch.dtype):
        name = str(v).replace("torch.", "")
        if name not in DTYPES:
            raise UnsupportedLayerError(f"{where} uses dtype {name}, which slim.pt does not store", fix=_FIX)
        return {"dtype": name}
    if isinstance(v, torch.memory_format):
        for k, m in MEMORY_FORMATS.items():
            if m == v:
                return {"memory_format": k}
    raise UnsupportedLayerError(f"{where}: cannot store an argument of type {type(v).__name__} in slim.pt", fix=_FIX)


def _export(module: nn.Module, example: torch.Tensor) -> tuple[Any, bool]:
    """(functional ExportedProgram, whether the batch is dynamic)."""
    from torch.export import Dim

    quiet = [logging.getLogger(n) for n in ("torch", "torch.fx", "torch._dynamo", "torch.export")]
    levels = [lg.level for lg in quiet]
    x = torch.randn((2, *example.shape[1:]), generator=torch.Generator().manual_seed(0)).to(example.dtype)
    try:
        for lg in quiet:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            batch = ({0: Dim("batch", min=1, max=1 << 20)},)
            for strict in (False, True):  # non-strict specialises the batch on len(x); dynamo keeps it symbolic
                try:
                    ep = torch.export.export(module, (x,), dynamic_shapes=batch, strict=strict)
                    return ep.run_decompositions({}), True
                except Exception:  # noqa: BLE001 - export raises many types; the last try reports
                    continue
            # a model that only runs at one batch (e.g. MTCNN): specialised to the example's
            return torch.export.export(module, (example,), strict=False).run_decompositions({}), False
    except UnsupportedLayerError:
        raise
    except Exception as err:  # noqa: BLE001 - export raises many types
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        if any(k in f"{type(err).__name__} {first}" for k in ("DataDependent", "data-dependent", "data dependent")):
            raise UnsupportedLayerError(f"cannot capture {type(module).__name__} for slim.pt: its forward branches "
                                        "on tensor values", fix="compute that branch with torch.where (or on shapes "
                                        "only), or ship the ONNX file instead") from None
        raise UnsupportedLayerError(f"cannot capture {type(module).__name__} for slim.pt (torch.export: "
                                    f"{type(err).__name__}: {first})", fix=_FIX) from None
    finally:
        for lg, lv in zip(quiet, levels):
            lg.setLevel(lv)


def to_aten(module: nn.Module, example: torch.Tensor, *, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The plain-data ATen description of ``module`` (in eval mode) for inputs shaped like ``example``."""
    from torch.export.graph_signature import InputKind

    was = module.training
    module.eval()
    try:
        ep, dynamic = _export(module, example)
    finally:
        module.train(was)
    sig = ep.graph_signature
    if sig.buffers_to_mutate or getattr(sig, "user_inputs_to_mutate", None):
        raise UnsupportedLayerError(f"{type(module).__name__} writes to its buffers or input in forward (eval mode), "
                                    "which slim.pt cannot store", fix=_FIX)
    kinds: dict[str, tuple[str, str]] = {}  # placeholder -> (table, key)
    params: dict[str, torch.Tensor] = {}
    buffers: dict[str, torch.Tensor] = {}
    constants: dict[str, torch.Tensor] = {}
    users = 0
    for spec in sig.input_specs:
        name = spec.arg.name
        if spec.kind == InputKind.USER_INPUT:
            kinds[name] = ("input", str(users))
            users += 1
        elif spec.kind == InputKind.PARAMETER:
            kinds[name] = ("params", spec.target)
            params[spec.target] = ep.state_dict[spec.target].detach().clone()
        elif spec.kind == InputKind.BUFFER:
            value = ep.state_dict.get(spec.target) if spec.persistent else ep.constants.get(spec.target)
            kinds[name] = ("buffers", spec.target)
            buffers[spec.target] = value.detach().clone()
        elif spec.kind == InputKind.CONSTANT_TENSOR:
            key = f"c{len(constants)}"
            kinds[name] = ("constants", key)
            constants[key] = ep.constants[spec.target].detach().clone()
        else:
            raise UnsupportedLayerError(f"{type(module).__name__}'s graph takes a {spec.kind.name.lower()} input, "
                                        "which slim.pt cannot store", fix=_FIX)
    if users != 1:
        raise UnsupportedLayerError(f"{type(module).__name__} takes {users} inputs; slim.pt stores one-input models",
                                    fix=_FIX)
    for table in (params, buffers, constants):
        for key, t in table.items():
            if str(t.dtype).replace("torch.", "") not in DTYPES:
                raise UnsupportedLayerError(f"tensor {key!r} has dtype {t.dtype}, which slim.pt does not store",
                                            fix=_FIX)
    graph: list[dict[str, Any]] = []
    for node in ep.graph.nodes:
        where = f"graph node {node.name}"
        if node.op == "placeholder":
            table, key = kinds[node.name]
            op = "input" if table == "input" else "tensor"
            graph.append({"op": op, "name": node.name, "target": key if op == "input" else f"{table}:{key}",
                          "args": {"tuple": []}, "kwargs": {"dict": {}}})
        elif node.op == "call_function":
            target = _name_of(node.target)
            if target in _SKIPPED:
                continue
            if target not in ATEN_OPS:
                raise UnsupportedLayerError(f"operation {target} at {where} is outside the slim.pt whitelist of ATen "
                                            "operations", fix=_FIX)
            kwargs = {k: v for k, v in node.kwargs.items() if k not in ("device", "layout", "pin_memory")}
            graph.append({"op": "call", "name": node.name, "target": target,
                          "args": _enc(tuple(node.args), where),
                          "kwargs": {"dict": {k: _enc(v, where) for k, v in kwargs.items()}}})
        elif node.op == "output":
            outs = node.args[0]
            graph.append({"op": "output", "name": node.name, "target": "output",
                          "args": {"tuple": [_enc(outs[0] if len(outs) == 1 else tuple(outs), where)]},
                          "kwargs": {"dict": {}}})
        else:
            raise UnsupportedLayerError(f"{type(module).__name__}'s graph has a {node.op} step ({node.name}), which "
                                        "slim.pt cannot store", fix=_FIX)
    shape = [None if dynamic else int(example.shape[0]), *(int(d) for d in example.shape[1:])]
    return {"format": "eegdeploy-portable", "version": ATEN_VERSION, "kind": "aten",
            "input": {"shape": shape, "dtype": str(example.dtype).replace("torch.", "")},
            "graph": graph, "params": params, "buffers": buffers, "constants": constants,
            "meta": dict(meta or {})}


# --- reading ---------------------------------------------------------------------------------------------------

def _dtype(x: Any) -> torch.dtype:
    if not isinstance(x, str) or x not in DTYPES:
        raise bad(f"names a dtype {clean(x, max_len=40)!r} outside the whitelist")
    return DTYPES[x]


def _memory_format(decode: ArgDecoder, x: Any, index: Mapping[str, int], depth: int) -> torch.memory_format:
    if not isinstance(x, str) or x not in MEMORY_FORMATS:
        raise bad(f"names a memory format {clean(x, max_len=40)!r} outside the whitelist")
    return MEMORY_FORMATS[x]


def _decoder() -> ArgDecoder:
    """The ATen kind's argument decoder: whitelisted dtypes and memory formats, "to the end" slice bounds."""
    return ArgDecoder(_dtype, {"memory_format": _memory_format}, int_ends=_INT_ENDS)


def _numel(v: Any) -> int:
    if isinstance(v, torch.Tensor):
        return math.prod(v.shape)
    if isinstance(v, (list, tuple)):
        return sum(_numel(x) for x in v)
    return 0


def _flops(target: str, args: tuple[Any, ...], out: Any) -> int:
    """A FLOP estimate from shapes (meta tensors): contractions count their inner size, the rest their output."""
    n = _numel(out)
    t = [a for a in args if isinstance(a, torch.Tensor)]
    name = target.split(".")[1] if target.startswith("aten.") else ""
    if name in ("linear", "mm", "matmul", "bmm", "addmm", "baddbmm") and len(t) >= 2:
        inner = t[0].shape[-1] if name != "addmm" and name != "baddbmm" else t[1].shape[-1]
        return 2 * n * int(inner)
    if name.startswith("conv") and len(t) >= 2:
        return 2 * n * math.prod(t[1].shape[1:])
    if name == "scaled_dot_product_attention" and len(t) >= 3:
        q, k = t[0], t[1]
        return 4 * math.prod(q.shape) * int(k.shape[-2])
    if name == "einsum" and isinstance(args[0], str):
        sizes: dict[str, int] = {}
        ops = args[1] if len(args) > 1 and isinstance(args[1], (list, tuple)) else ()
        for spec, x in zip(args[0].replace(" ", "").split("->")[0].split(","), ops):
            letters = [c for c in spec if c.isalpha()]
            if isinstance(x, torch.Tensor) and len(letters) == x.dim():
                sizes.update({c: int(d) for c, d in zip(letters, x.shape)})
        return 2 * math.prod(sizes.values()) if sizes else n
    return 4 * n


def _intermediate(target: str, args: tuple[Any, ...]) -> int:
    """Values a step holds inside itself beyond its output: attention's weight matrix, and what an einsum of more
    than two operands may build pairwise (at most the product of all its index sizes)."""
    if target == "aten.scaled_dot_product_attention.default" and len(args) >= 2 \
            and all(isinstance(a, torch.Tensor) and a.dim() >= 2 for a in args[:2]):
        return math.prod(args[0].shape[:-1]) * int(args[1].shape[-2])
    if target == "aten.einsum.default" and len(args) > 1 and isinstance(args[0], str) \
            and isinstance(args[1], (list, tuple)) and len(args[1]) > 2:
        sizes: dict[str, int] = {}
        for spec, x in zip(args[0].replace(" ", "").split("->")[0].split(","), args[1]):
            letters = [c for c in spec if c.isalpha()]
            if isinstance(x, torch.Tensor) and len(letters) == x.dim():
                sizes.update({c: int(d) for c, d in zip(letters, x.shape)})
        return math.prod(sizes.values())
    return 0


class AtenModule(nn.Module):
    """A slim.pt model of the ATen kind: stored tensors plus a list of steps, each a whitelisted ATen operation.

    ``forward`` interprets the steps (no code is generated from the file). Each new input shape is first run on the
    ``meta`` device, with every step's size and cost checked against the budgets, before any real computation."""

    not_prunable = ("an ATen-graph slim.pt is specialised to its layer widths (its reshapes store them), so it cannot "
                    "be pruned again")

    def __init__(self, root: nn.Module, steps: list[tuple[str, Any, Any, Any]], shape: tuple[int | None, ...],
                 dtype: torch.dtype, tensors: dict[str, str]) -> None:
        super().__init__()
        adopt(self, root)
        self._steps = steps
        self._tensors = tensors  # step target "params:fqn" -> attribute path
        self.input_shape = shape
        self.input_dtype = dtype
        self._checked: set[tuple[Any, ...]] = set()
        self._free_after = free_after(steps)

    def _tensor(self, target: str) -> torch.Tensor:
        path = self._tensors[target]
        owner, _, name = path.rpartition(".")
        return getattr(self.get_submodule(owner) if owner else self, name)

    def _check_input(self, x: Any) -> None:
        want = self.input_shape
        shape = tuple(x.shape)
        if len(shape) != len(want) or any(w is not None and w != s for w, s in zip(want, shape)):
            dims = ", ".join("B" if w is None else str(w) for w in want)
            raise InputError(f"this slim.pt takes inputs of shape ({dims}), got {list(shape)} (torch.export "
                             "specialised its graph to that shape)", fix="give inputs of that shape, or re-export the "
                             "model with eegdeploy compress for another --input-shape")

    def forward(self, x: torch.Tensor) -> Any:
        # no checks while torch.export / the ONNX exporter trace this module (fake tensors, no real values)
        tracing = not isinstance(x, torch.Tensor) or type(x) is not torch.Tensor or torch.jit.is_tracing() \
            or torch.compiler.is_compiling() or torch.compiler.is_exporting()
        if not tracing:
            self._check_input(x)
            key = (tuple(x.shape), x.dtype)
            if key not in self._checked:
                self._dry_run(x)
                self._checked.add(key)
        return self._run(x, meta=False)

    def _dry_run(self, x: torch.Tensor) -> None:
        """The whole graph on meta tensors: every size and the running cost within budget, or one clear error."""
        batch = max(1, int(x.shape[0]) if x.dim() else 1)
        try:
            self._run(torch.empty(x.shape, dtype=x.dtype, device="meta"), meta=True, batch=batch)
        except (CheckpointError, InputError):
            raise
        except (RuntimeError, TypeError, ValueError, IndexError, NotImplementedError, AttributeError) as err:
            raise bad(f"cannot run on input shape {list(x.shape)} ({type(err).__name__}: "
                       f"{clean(str(err).splitlines()[0] if str(err) else '', max_len=120)})") from None

    def count_macs(self, x: torch.Tensor) -> tuple[int, int, dict[str, int]]:
        """(MACs, FLOPs, MACs per layer) of one call on ``x``'s shape, in eegdeploy's counting convention
        (eegdeploy.bench.counting): MACs of the convolutions and linear layers, named by their weight's module
        path, and of matrix products between activations (attention); FLOPs 2 x MACs + bias adds + norms 2/element + activations 1/element + pooling windows. Shapes only
        (a run on the meta device)."""
        from eegdeploy.bench.counting import contraction_macs

        self._check_input(x)
        tally: dict[str, int] = {"macs": 0, "flops": 0}
        per_layer: dict[str, int] = {}
        names = {i: t.rpartition(":")[2].rpartition(".")[0] for i, (op, t, _, _) in enumerate(self._steps)
                 if op == "tensor"}

        def on_call(i: int, target: str, args: tuple[Any, ...], out: Any) -> None:
            name = target.split(".")[1] if target.startswith("aten.") else ""
            n = _numel(out)
            mac = 0
            t = [a for a in args if isinstance(a, torch.Tensor)]
            if name == "linear" and len(t) >= 2:
                mac = n * int(t[1].shape[-1])
            elif name.startswith("conv") and len(t) >= 2:
                mac = n * math.prod(t[1].shape[1:])
            else:
                mac = contraction_macs(name, args, None, out)
            if mac:
                if name in ("addmm", "baddbmm"):
                    bias = True
                else:
                    bias = (name == "linear" or name.startswith("conv")) and len(args) > 2 \
                        and isinstance(args[2], torch.Tensor)
                tally["flops"] += 2 * mac + (n if bias else 0)
                ref = self._steps[i][2][1]
                layer = names.get(ref.i, f"step {i}") if isinstance(ref, Ref) else f"step {i}"
                per_layer[layer] = per_layer.get(layer, 0) + mac
            elif "norm" in name:
                tally["flops"] += 2 * n
            elif name in _ACTIVATIONS:
                tally["flops"] += n
            elif "pool" in name and not name.startswith("adaptive") and len(args) > 1:
                k = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
                tally["flops"] += n * math.prod(int(v) for v in k)
            elif name.startswith("adaptive") and t:
                tally["flops"] += _numel(t[0])
            tally["macs"] += mac

        with torch.no_grad():
            self._run(torch.empty(x[:1].shape, dtype=x.dtype, device="meta"), meta=True, on_call=on_call)
        return tally["macs"], tally["flops"], per_layer

    def _run(self, x: Any, *, meta: bool, batch: int = 1,
             on_call: Callable[[int, str, tuple[Any, ...], Any], None] | None = None) -> Any:
        vals: list[Any] = [None] * len(self._steps)
        sizes = [0] * len(self._steps)
        live = flops = 0
        device = x.device if not meta else torch.device("cpu")
        for i, (op, target, a, kw) in enumerate(self._steps):
            if op == "input":
                out = x
            elif op == "tensor":
                out = self._tensor(target)
                if meta:
                    out = out.to("meta")
            elif op == "output":
                return fill(a, vals)[0]
            else:
                args = fill(a, vals)
                kwargs = fill(kw, vals)
                if target in _DROPOUT:
                    out = args[0]  # identity: the graph was captured in eval mode
                elif target == "aten.sym_size.int":
                    out = args[0].size(args[1])  # traced as a size, so ONNX export keeps the batch dynamic
                elif target in _TRACED and torch.jit.is_tracing():
                    # the TorchScript tracer (ONNX export) keeps a size dynamic only through the Python API
                    out = _TRACED[target](*args, **kwargs)
                else:
                    if target in _CREATES:
                        kwargs["device"] = "meta" if meta else device
                    if target.startswith("operator.") and target != "operator.getitem":
                        _guard_number(target, args)
                    out = ATEN_OPS[target](*args, **kwargs)
                if on_call is not None:
                    on_call(i, target, args, out)
                if meta:
                    sizes[i] = _numel(out)
                    hidden = _intermediate(target, args)
                    if hidden > MAX_SAMPLE_ELEMENTS * batch:
                        raise over(f"the intermediate of {target} (values per sample)", hidden // batch,
                                   MAX_SAMPLE_ELEMENTS, "slim.pt", _BIG)
                    if sizes[i] > MAX_SAMPLE_ELEMENTS * batch:
                        raise over("an activation (values per sample)", sizes[i] // batch, MAX_SAMPLE_ELEMENTS,
                                   "slim.pt", _BIG)
                    flops += _flops(target, args, out)
                    if flops > MAX_FLOPS_PER_SAMPLE * batch:
                        raise over("the FLOPs per sample", flops // batch, MAX_FLOPS_PER_SAMPLE, "slim.pt", _BIG)
            vals[i] = out
            if meta and op == "call":
                live += sizes[i]
                if live > MAX_LIVE_ELEMENTS * batch:
                    raise over("the values alive at once (per sample)", live // batch, MAX_LIVE_ELEMENTS, "slim.pt",
                               _BIG)
            for j in self._free_after[i]:
                vals[j] = None
                live -= sizes[j]
        raise bad("has no output step")


_TRACED: dict[str, Callable[..., Any]] = {
    "aten.view.default": torch.reshape, "aten._unsafe_view.default": torch.reshape, "aten.reshape.default": torch.reshape,
    "aten.expand.default": torch.Tensor.expand, "aten.repeat.default": torch.Tensor.repeat}
_ACTIVATIONS = {"relu", "relu6", "hardtanh", "elu", "leaky_relu", "selu", "celu", "gelu", "silu", "mish", "softplus",
                "hardswish", "hardsigmoid", "tanh", "sigmoid"}
_BIG = "a model this large is refused as a likely crafted file; check the file's source"


def _guard_number(target: str, args: tuple[Any, ...]) -> None:
    for a in args:
        if isinstance(a, torch.Tensor) and a.dim() == 0:  # a size while the TorchScript tracer runs
            continue
        if isinstance(a, bool) or not isinstance(a, (int, float, torch.SymInt, torch.SymFloat)):
            raise bad(f"applies {target} to a {type(a).__name__}")
        if isinstance(a, int) and abs(a) > 1 << 40:
            raise bad(f"computes an integer out of range in {target}")


def _tensors(obj: Mapping[str, Any], table: str) -> dict[str, torch.Tensor]:
    t = obj.get(table) or {}
    if not isinstance(t, Mapping) or len(t) > MAX_GRAPH_NODES \
            or not all(isinstance(v, torch.Tensor) and type(v) in (torch.Tensor, nn.Parameter) for v in t.values()):
        raise bad(f"holds a malformed {table} table")
    for key, v in t.items():
        if str(v.dtype).replace("torch.", "") not in DTYPES:
            raise bad(f"holds tensor {clean(key, max_len=60)!r} of dtype {v.dtype}, outside the whitelist")
    return dict(t)


def _input_spec(obj: Mapping[str, Any]) -> tuple[tuple[int | None, ...], torch.dtype]:
    spec = obj.get("input")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("shape"), list) or not 1 <= len(spec["shape"]) <= 8:
        raise bad("has a malformed input specification")
    shape = spec["shape"]
    if not (shape[0] is None or isinstance(shape[0], int) and not isinstance(shape[0], bool) and 1 <= shape[0]) \
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape[1:]):
        raise bad(f"declares an input shape {clean(shape, max_len=60)} that is not a list of positive sizes")
    n = math.prod(shape[1:])
    if n > MAX_SAMPLE_ELEMENTS:
        raise over("the input sample size (values)", n, MAX_SAMPLE_ELEMENTS, "slim.pt", _BIG)
    dtype = spec.get("dtype", "float32")
    if dtype not in DTYPES:
        raise bad(f"declares an input dtype {clean(dtype, max_len=30)!r} outside the whitelist")
    return tuple(shape), DTYPES[dtype]


def from_aten(obj: Mapping[str, Any]) -> AtenModule:
    """Rebuild an ``AtenModule`` from ``to_aten``'s data (as read by ``torch.load(weights_only=True)``)."""
    try:
        if obj.get("kind") != "aten" or obj.get("version") != ATEN_VERSION:
            raise CheckpointError("slim.pt is not an ATen-kind portable model of a version this eegdeploy reads",
                                  fix="upgrade eegdeploy")
        shape, dtype = _input_spec(obj)
        tables = {name: _tensors(obj, name) for name in ("params", "buffers", "constants")}
        n_params = sum(t.numel() for table in tables.values() for t in table.values())
        if n_params > MAX_PARAMS:
            raise over("the parameter count", n_params, MAX_PARAMS, "slim.pt", FIX)
        graph = obj.get("graph")
        if not isinstance(graph, list) or len(graph) > MAX_GRAPH_NODES:
            raise bad("has a malformed or oversized graph")
        root = nn.Module()
        paths: dict[str, str] = {}
        for table, content in tables.items():
            for key, t in content.items():
                parts = check_path(key, "tensor") if table != "constants" else check_path(f"constants.{key}",
                                                                                            "tensor")
                parent = root
                for p in parts[:-1]:
                    if p not in parent._modules:
                        if hasattr(parent, p):
                            raise bad(f"tensor path {key!r} collides with another tensor")
                        parent.add_module(p, nn.Module())
                    parent = parent._modules[p]
                leaf = parts[-1]
                if hasattr(parent, leaf):
                    raise bad(f"tensor path {clean(key, max_len=60)!r} is used twice")
                value = t.detach().clone()
                if table == "params":
                    parent.register_parameter(leaf, nn.Parameter(value, requires_grad=value.is_floating_point()))
                else:
                    parent.register_buffer(leaf, value, persistent=table == "buffers")
                paths[f"{table}:{key}"] = ".".join(parts)
        decode = _decoder()
        index: dict[str, int] = {}
        steps: list[tuple[str, Any, Any, Any]] = []
        inputs = outputs = 0
        for i, n in enumerate(graph):
            if not isinstance(n, Mapping) or n.get("op") not in ("input", "tensor", "call", "output") \
                    or not isinstance(n.get("name"), str) or not isinstance(n.get("target"), str) \
                    or len(n["name"]) > 256 or n["name"] in index:
                raise bad(f"has a malformed graph step at position {i}")
            op, target = n["op"], n["target"]
            args = decode(n.get("args", {"tuple": []}), index)
            kwargs = decode(n.get("kwargs", {"dict": {}}), index)
            if not isinstance(args, tuple) or not isinstance(kwargs, dict):
                raise bad(f"has malformed arguments at graph step {i}")
            if op == "input":
                inputs += 1
                if target != "0" or inputs > 1:
                    raise bad("declares more than one input")
                args, kwargs = (), {}
            elif op == "tensor":
                if target not in paths:
                    raise bad(f"reads an undeclared tensor {clean(target, max_len=60)!r}")
                args, kwargs = (), {}
            elif op == "call":
                if target not in ATEN_OPS:
                    raise bad(f"calls {clean(target, max_len=60)!r}, which is not in the whitelist of ATen "
                               "operations")
                if target.startswith("operator.") and kwargs:
                    raise bad(f"gives keyword arguments to {target}")
            else:
                outputs += 1
                if len(args) != 1:
                    raise bad("has a malformed output step")
            index[n["name"]] = i
            steps.append((op, target, args, kwargs))
            if op == "output":
                break
        if outputs != 1 or inputs != 1:
            raise bad("needs exactly one input step and one output step")
        module = AtenModule(root, steps, shape, dtype, paths)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, IndexError) as err:
        raise CheckpointError(f"slim.pt is malformed ({type(err).__name__}: {clean(err, max_len=120)})",
                              fix=FIX) from None
    return module.eval()
