"""slim.pt: a slim model that reloads without its original class and without pickled code.

The slim network is traced with torch.fx and stored as plain data::

    {"format": "eegdeploy-portable", "version": 1,
     "modules": {"conv1": {"type": "Conv2d", "args": {...}}, ...},   # torch.nn layers and constructor args
     "graph": [{"op", "name", "target", "args", "kwargs"}, ...],      # fx nodes; targets from fixed whitelists
     "attrs": {"scale": {"kind": "parameter"}, ...},                   # tensors the graph reads directly
     "tensors": {...}, "state_dict": {...}, "meta": {...}}

``torch.load(path, weights_only=True)`` reads it (only tensors, strings, numbers, lists and dicts), and
``load_portable``/``from_portable`` rebuild a ``torch.fx.GraphModule`` computing the same outputs. Layers, functions
and tensor methods outside the whitelists fail at save time with UnsupportedLayerError naming them; a crafted file
naming anything else fails at load time with CheckpointError, so loading never calls code chosen by the file.
"""

from __future__ import annotations

import inspect
import operator
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from eegdeploy.errors import CheckpointError, ParityError, UnsupportedLayerError
from eegdeploy.io import atomic_path
from eegdeploy.limits import MAX_GRAPH_NODES, MAX_PARAMS, over
from eegdeploy.models.stored import FIX, KEY, ArgDecoder, adopt, bad, check_path, fill, free_after, kwarg
from eegdeploy.text import clean

__all__ = ["PORTABLE_FORMAT", "PortableModule", "from_portable", "load_portable", "save_portable", "to_portable",
           "write_portable"]

PORTABLE_FORMAT = "eegdeploy-portable"
VERSION = 1
_FIX = "use torch.nn layers and plain tensor operations in forward, or ship the ONNX file instead"
_FUNCTIONS: dict[str, Any] = {
    **{f"torch.{n}": getattr(torch, n) for n in (
        "cat", "flatten", "reshape", "squeeze", "unsqueeze", "mean", "sum", "amax", "amin", "var", "std", "relu",
        "tanh", "sigmoid", "abs", "square", "log", "exp", "sqrt", "pow", "clamp", "log1p", "neg", "add", "sub",
        "mul", "div", "matmul", "bmm", "einsum", "transpose", "permute", "softmax", "log_softmax", "stack", "max",
        "min", "split", "chunk", "erf", "sign", "logsumexp")},
    **{f"F.{n}": getattr(F, n) for n in (
        "relu", "relu6", "elu", "leaky_relu", "selu", "gelu", "silu", "mish", "hardtanh", "softplus", "dropout",
        "dropout1d", "dropout2d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d",
        "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d", "pad",
        "softmax", "log_softmax", "linear", "conv1d", "conv2d", "conv3d", "layer_norm", "batch_norm", "normalize",
        "interpolate")},
    **{f"operator.{n}": getattr(operator, n) for n in ("add", "sub", "mul", "truediv", "neg", "getitem", "floordiv",
                                                       "matmul", "pow", "mod")},
    "getattr": getattr,
}
_FUNCTION_NAMES = {id(v): k for k, v in _FUNCTIONS.items()}
_METHODS = {"flatten", "view", "reshape", "squeeze", "unsqueeze", "mean", "sum", "size", "dim", "relu", "abs", "pow",
            "log", "exp", "sqrt", "square", "clamp", "contiguous", "float", "sigmoid", "tanh", "neg", "permute",
            "transpose", "add", "sub", "mul", "div", "softmax", "log_softmax", "max", "min", "amax", "var", "std",
            "type_as", "detach", "clone", "log1p", "expand", "repeat", "chunk", "split", "unbind", "matmul",
            "view_as", "reshape_as", "expand_as"}
_GETATTR_NAMES = {"shape", "dtype", "device", "ndim"}
_SKIP_ARGS = {"self", "device", "dtype", "args", "kwargs"}


class _Tracer(fx.Tracer):
    """Keeps torch.nn layers (but not containers) as leaves; traces through everything else."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return type(m).__module__.startswith("torch.nn.modules") and not isinstance(m, nn.Sequential) \
            or super().is_leaf_module(m, qualname)


def _is_torch_layer(cls: type) -> bool:
    return cls.__module__.startswith("torch.nn.modules") and getattr(nn, cls.__name__, None) is cls


def _module_spec(name: str, m: nn.Module) -> dict[str, Any]:
    cls = type(m)
    if not _is_torch_layer(cls):
        raise UnsupportedLayerError(f"layer {name!r} is a {cls.__module__}.{cls.__name__}, which slim.pt cannot store "
                                    "without its code", fix=_FIX)
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):  # RNN/LSTM/GRU: arguments are the class's __constants__
        names = [n for n in getattr(cls, "__constants__", ()) if n != "mode"] + ["nonlinearity"]
    else:
        names = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    args: dict[str, Any] = {}
    for arg in names:
        if arg in _SKIP_ARGS:
            continue
        if arg == "bias" and isinstance(getattr(m, "bias", None), (torch.Tensor, type(None))):
            args["bias"] = getattr(m, "bias", None) is not None
        elif arg == "proj_size" and getattr(m, "proj_size", 0) == 0:
            continue  # only LSTM accepts it
        elif hasattr(m, arg):
            value = getattr(m, arg)
            if isinstance(value, (nn.Module, torch.Tensor)) or callable(value):
                raise UnsupportedLayerError(f"layer {name!r} ({cls.__name__}) keeps its constructor argument {arg!r} "
                                            f"as a {type(value).__name__}, which slim.pt cannot store", fix=_FIX)
            args[arg] = _plain(value, f"layer {name!r} ({cls.__name__}) argument {arg!r}")
    return {"type": cls.__name__, "args": args}


def _plain(v: Any, where: str) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (tuple, list)):
        return {"tuple": [_plain(x, where) for x in v]} if isinstance(v, tuple) else [_plain(x, where) for x in v]
    if isinstance(v, torch.dtype):
        return {"dtype": str(v).replace("torch.", "")}
    if isinstance(v, slice):
        return {"slice": [_plain(v.start, where), _plain(v.stop, where), _plain(v.step, where)]}
    if v is Ellipsis:
        return {"ellipsis": True}
    if isinstance(v, fx.Node):
        return {"node": v.name}
    if isinstance(v, dict):
        return {"dict": {str(k): _plain(x, where) for k, x in v.items()}}
    raise UnsupportedLayerError(f"{where}: cannot store a value of type {type(v).__name__} in slim.pt", fix=_FIX)


def _owner(root: nn.Module, target: str) -> tuple[nn.Module, str]:
    *path, name = target.split(".")
    mod = root
    for p in path:
        mod = getattr(mod, p)
    return mod, name


def _attr_spec(module: nn.Module, target: str) -> tuple[dict[str, Any], torch.Tensor | None]:
    """How a tensor read by a get_attr node is stored: (spec, value if not in the state_dict)."""
    try:
        owner, name = _owner(module, target)
        value = getattr(owner, name)
    except AttributeError:
        raise UnsupportedLayerError(f"the graph reads {target!r}, which the model does not have", fix=_FIX) from None
    if not isinstance(value, torch.Tensor):
        raise UnsupportedLayerError(f"the graph reads attribute {target!r} of type {type(value).__name__}; slim.pt "
                                    "stores only tensors", fix=_FIX)
    if name in owner._parameters:
        return {"kind": "parameter"}, None
    if name in owner._buffers and name not in owner._non_persistent_buffers_set:
        return {"kind": "buffer"}, None
    return {"kind": "constant"}, value.detach().clone()


def to_portable(module: nn.Module, *, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The plain-data description of ``module`` (see the module docstring); ``module`` is traced in eval mode."""
    was = module.training
    module.eval()
    if _is_torch_layer(type(module)) and not isinstance(module, nn.Sequential):
        module = nn.Sequential(module)  # a bare layer (e.g. nn.LSTM) is a leaf: trace a call to it instead
    try:
        try:
            graph = _Tracer().trace(module)
        except Exception as err:
            first = str(err).splitlines()[0][:160] if str(err) else ""
            raise UnsupportedLayerError(f"cannot trace {type(module).__name__} for slim.pt ({type(err).__name__}: "
                                        f"{first})", fix="make forward traceable by torch.fx (no data-dependent "
                                        "control flow), or ship the ONNX file instead") from None
        modules: dict[str, Any] = {}
        attrs: dict[str, Any] = {}
        tensors: dict[str, torch.Tensor] = {}
        nodes: list[dict[str, Any]] = []
        for node in graph.nodes:
            target: Any = node.target
            if node.op == "call_module":
                modules[str(target)] = _module_spec(str(target), module.get_submodule(str(target)))
            elif node.op == "call_function":
                if id(target) not in _FUNCTION_NAMES:
                    fn = getattr(target, "__name__", str(target))
                    raise UnsupportedLayerError(f"operation {fn} at graph node {node.name} is not supported in "
                                                "slim.pt", fix=_FIX)
                target = _FUNCTION_NAMES[id(target)]
            elif node.op == "call_method" and target not in _METHODS:
                raise UnsupportedLayerError(f"tensor method .{target}() at graph node {node.name} is not supported "
                                            "in slim.pt", fix=_FIX)
            elif node.op == "get_attr":
                attrs[str(target)], value = _attr_spec(module, str(target))
                if value is not None:
                    tensors[str(target)] = value
            nodes.append({"op": node.op, "name": node.name, "target": str(target),
                          "args": _plain(tuple(node.args), f"graph node {node.name}"),
                          "kwargs": _plain(dict(node.kwargs), f"graph node {node.name}")})
        # only what the graph uses: a layer that forward never calls (e.g. MTCNN's unused head) is not stored
        state = {k: v.detach().clone() for k, v in module.state_dict().items()
                 if k.rpartition(".")[0] in modules or k in attrs}
    finally:
        module.train(was)
    return {"format": PORTABLE_FORMAT, "version": VERSION, "modules": modules, "graph": nodes, "attrs": attrs,
            "tensors": tensors, "state_dict": state, "meta": dict(meta or {})}


_OPS = ("placeholder", "get_attr", "call_module", "call_function", "call_method", "output")


def _container(root: nn.Module, parts: list[str]) -> nn.Module:
    parent = root
    for p in parts:
        if p not in parent._modules:
            if hasattr(parent, p):
                raise bad(f"path {'.'.join(parts)!r} collides with an attribute")
            parent.add_module(p, nn.Module())
        parent = parent._modules[p]
    return parent


def _dtype(x: Any) -> torch.dtype:
    dt = getattr(torch, x, None) if isinstance(x, str) and KEY.match(x) else None
    if not isinstance(dt, torch.dtype):
        raise bad(f"names an unknown dtype {clean(x, max_len=40)!r}")
    return dt


def _slice(decode: ArgDecoder, x: Any, index: Mapping[str, int], depth: int) -> slice:
    if not (isinstance(x, list) and len(x) == 3):
        raise bad("holds an argument of an unknown kind")
    return slice(*(decode(e, index, depth + 1) for e in x))


def _ellipsis(decode: ArgDecoder, x: Any, index: Mapping[str, int], depth: int) -> Any:
    if x is not True:
        raise bad("holds an argument of an unknown kind")
    return Ellipsis


def _decoder() -> ArgDecoder:
    """The fx kind's argument decoder: torch dtypes by name, slices and Ellipsis for indexing."""
    return ArgDecoder(_dtype, {"slice": _slice, "ellipsis": _ellipsis})


_NUMBERS = (bool, int, float)


def _guard_plain(target: str, args: tuple[Any, ...]) -> None:
    """Python-level (non-tensor) arithmetic stays small: no list repetition, no huge powers."""
    if target.startswith("operator.") and target != "operator.getitem":
        for a in args:
            if not isinstance(a, (torch.Tensor, *_NUMBERS)) and not _is_symbolic(a):
                raise bad(f"applies {target} to a {type(a).__name__}")
        if target == "operator.pow" and all(isinstance(a, _NUMBERS) for a in args) and abs(args[1]) > 64:
            raise bad("raises a number to a power above 64")
    for a in args:
        if isinstance(a, int) and not isinstance(a, bool) and abs(a) > 1 << 40:
            raise bad(f"computes an integer out of range in {target}")


def _is_symbolic(a: Any) -> bool:
    return isinstance(a, fx.Proxy) or type(a).__module__.startswith("torch")


class PortableModule(nn.Module):
    """A slim.pt model: torch.nn layers plus a fixed list of steps, each a whitelisted layer, function or method.

    ``forward`` walks the steps; no Python source is generated from the file and nothing in it is executed. Before
    each step that can grow its input (see ``eegdeploy.models.budget``), its output size and cost are predicted from
    shapes and checked against the budgets in ``eegdeploy.limits``, per sample of the batch."""

    def __init__(self, root: nn.Module, steps: list[tuple[str, Any, Any, Any]]) -> None:
        super().__init__()
        adopt(self, root)
        self._steps = steps
        self._inputs = sum(1 for s in steps if s[0] == "placeholder")
        self._free_after = free_after(steps)

    def forward(self, x: Any) -> Any:
        return self.run((x,))

    def run(self, inputs: tuple[Any, ...]) -> Any:
        """Walk the steps on ``inputs`` (one per placeholder)."""
        from eegdeploy.models.budget import Meter, numel

        if len(inputs) != self._inputs:
            raise TypeError(f"this slim.pt model takes {self._inputs} input(s), got {len(inputs)}")
        x = inputs[0] if inputs else None
        # no budget while torch.fx / torch.export / the ONNX exporter trace this module: they run no real tensors,
        # and the checks would enter their graphs
        tracing = not isinstance(x, torch.Tensor) or torch.jit.is_tracing() or torch.compiler.is_compiling() \
            or torch.compiler.is_exporting()
        meter = None if tracing else Meter(x.shape[0] if x.dim() else 1, "slim.pt")
        vals: list[Any] = [None] * len(self._steps)
        sizes = [0] * len(self._steps)
        live = 0
        feed = iter(inputs)
        for i, (op, target, a, kw) in enumerate(self._steps):
            args = fill(a, vals)
            kwargs = fill(kw, vals)
            if op == "placeholder":
                out = next(feed)
            elif op == "output":
                return args[0]
            elif op == "get_attr":
                path, _, name = target.rpartition(".")
                out = getattr(self.get_submodule(path) if path else self, name)
            elif op == "call_module":
                layer = self.get_submodule(target)
                if meter:
                    meter.before_layer(layer, args)
                out = layer(*args, **kwargs)
            elif op == "call_function":
                _guard_plain(target, args)
                if meter:
                    meter.before_call(target, args, kwargs)
                out = _FUNCTIONS[target](*args, **kwargs)
            else:  # call_method on a tensor
                if not (args and (isinstance(args[0], torch.Tensor) or _is_symbolic(args[0]))):
                    raise bad(f"calls .{target}() on a {type(args[0] if args else None).__name__}, not a tensor")
                if meter:
                    meter.before_call(target, args, kwargs)
                out = getattr(args[0], target)(*args[1:], **kwargs)
            vals[i] = out
            if meter and op != "get_attr":
                sizes[i] = numel(out)
                meter.values(sizes[i])
                live += sizes[i]
                meter.live(live)
            for j in self._free_after[i]:
                vals[j] = None
                live -= sizes[j]
        raise bad("has no output node")


class PortableModuleN(PortableModule):
    """A slim.pt model with several inputs (``forward(*inputs)``); torch.fx cannot trace it for pruning."""

    def forward(self, *inputs: Any) -> Any:  # type: ignore[override]
        return self.run(inputs)


def _build_layers(obj: Mapping[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """Layers (on the current default device) from the stored specs, with every name and argument checked."""
    modules = obj["modules"]
    if not isinstance(modules, Mapping) or len(modules) > MAX_GRAPH_NODES:
        raise bad("has a malformed or oversized layer table")
    root, decode = nn.Module(), _decoder()
    for qual, spec in modules.items():
        parts = check_path(qual, "layer")
        if not isinstance(spec, Mapping):
            raise bad(f"has a malformed layer entry {qual!r}")
        kind = spec.get("type")
        cls = getattr(nn, kind, None) if isinstance(kind, str) and KEY.match(kind) else None
        if not (isinstance(cls, type) and issubclass(cls, nn.Module) and _is_torch_layer(cls)) \
                or issubclass(cls, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            raise bad(f"names an unknown layer type {clean(kind, max_len=40)!r}")
        stored = spec.get("args") or {}
        if not isinstance(stored, Mapping):
            raise bad(f"has malformed arguments for layer {qual!r}")
        allowed = set(inspect.signature(cls.__init__).parameters) - _SKIP_ARGS
        allowed |= set(getattr(cls, "__constants__", ())) | {"nonlinearity"}
        kwargs = {}
        for k, v in stored.items():
            if kwarg(k) not in allowed:
                raise bad(f"gives layer {qual!r} ({cls.__name__}) an unknown argument {k!r}")
            kwargs[k] = decode(v, {})
        try:
            layer = cls(**kwargs)
        except (TypeError, ValueError, RuntimeError, AssertionError, AttributeError, OverflowError) as err:
            raise bad(f"cannot build layer {qual!r} ({cls.__name__}: {clean(err, max_len=100)})") from None
        _container(root, parts[:-1]).add_module(parts[-1], layer)
    return root, dict(modules)


def _add_attrs(root: nn.Module, obj: Mapping[str, Any], state: Mapping[str, torch.Tensor],
               tensors: Mapping[str, torch.Tensor]) -> dict[str, str]:
    attrs = obj.get("attrs") or {}
    if not isinstance(attrs, Mapping):
        raise bad("has a malformed tensor table")
    kinds: dict[str, str] = {}
    for qual, spec in attrs.items():
        parts = check_path(qual, "tensor")
        owner = _container(root, parts[:-1])
        name, kind = parts[-1], str(spec.get("kind") if isinstance(spec, Mapping) else "")
        kinds[qual] = kind
        if name in owner._parameters or name in owner._buffers:  # e.g. F.conv2d(x, self.conv.weight)
            continue
        if name in owner._modules:
            raise bad(f"tensor {qual!r} collides with a layer")
        if kind in ("parameter", "buffer"):
            src = state.get(qual)
            if not isinstance(src, torch.Tensor):
                raise bad(f"declares tensor {qual!r} without its value")
            t = torch.empty(src.shape, dtype=src.dtype)
            if kind == "parameter":
                owner.register_parameter(name, nn.Parameter(t, requires_grad=src.dtype.is_floating_point))
            else:
                owner.register_buffer(name, t)
        elif kind == "constant":
            src = tensors.get(qual)
            if not isinstance(src, torch.Tensor):
                raise bad(f"declares constant {qual!r} without its value")
            owner.register_buffer(name, torch.empty(src.shape, dtype=src.dtype), persistent=False)
        else:
            raise bad(f"has a tensor of unknown kind {clean(kind, max_len=30)!r}")
    return kinds


def _steps(obj: Mapping[str, Any], modules: Mapping[str, Any], kinds: Mapping[str, str]) -> list[tuple[str, Any, Any, Any]]:
    graph = obj["graph"]
    if not isinstance(graph, list) or len(graph) > MAX_GRAPH_NODES:
        raise bad("has a malformed or oversized graph")
    index: dict[str, int] = {}
    decode = _decoder()
    steps: list[tuple[str, Any, Any, Any]] = []
    outputs = 0
    for i, n in enumerate(graph):
        if not isinstance(n, Mapping) or n.get("op") not in _OPS or not isinstance(n.get("name"), str) \
                or not isinstance(n.get("target"), str) or len(n["name"]) > 256 or n["name"] in index:
            raise bad(f"has a malformed graph node at position {i}")
        op, target = n["op"], n["target"]
        args, kwargs = decode(n.get("args", {"tuple": []}), index), decode(n.get("kwargs", {"dict": {}}), index)
        if not isinstance(args, tuple) or not isinstance(kwargs, dict):
            raise bad(f"has malformed arguments at graph node {i}")
        if op == "placeholder":
            args, kwargs = (), {}
        elif op == "output":
            outputs += 1
            if len(args) != 1:
                raise bad("has a malformed output node")
        elif op == "call_module":
            if target not in modules:
                raise bad(f"calls an undeclared layer {clean(target, max_len=60)!r}")
        elif op == "get_attr":
            if target not in kinds:
                raise bad(f"reads an undeclared tensor {clean(target, max_len=60)!r}")
        elif op == "call_function":
            if target not in _FUNCTIONS:
                raise bad(f"calls {clean(target, max_len=60)!r}, which is not allowed")
            if target == "getattr" and (len(args) != 2 or args[1] not in _GETATTR_NAMES or kwargs):
                raise bad("reads a forbidden attribute")
        elif target not in _METHODS:
            raise bad(f"calls method {clean(target, max_len=60)!r}, which is not allowed")
        index[n["name"]] = i
        steps.append((op, target, args, kwargs))
        if op == "output":
            break
    if outputs != 1:
        raise bad("has no output node")
    return steps


def from_portable(obj: Mapping[str, Any]) -> nn.Module:
    """Rebuild the module from ``to_portable``'s data (as read by ``torch.load(weights_only=True)``).

    Every layer is first built on the ``meta`` device (no memory), its parameter count checked against
    ``MAX_PARAMS`` and its tensors' shapes against the file's; only then are real tensors allocated, each no larger
    than a tensor the file actually holds."""
    if obj.get("format") == PORTABLE_FORMAT and obj.get("kind") == "aten":
        from eegdeploy.models.aten import from_aten

        return from_aten(obj)
    try:
        if obj.get("format") != PORTABLE_FORMAT or not isinstance(obj.get("version"), int) or obj["version"] > VERSION:
            raise CheckpointError("not an eegdeploy portable model (or a newer version)", fix="upgrade eegdeploy")
        state = obj["state_dict"]
        tensors = obj.get("tensors") or {}
        if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()) \
                or not isinstance(tensors, Mapping) or not all(isinstance(v, torch.Tensor) for v in tensors.values()):
            raise bad("holds a malformed state_dict")
        with torch.device("meta"):
            skeleton, modules = _build_layers(obj)
            kinds = _add_attrs(skeleton, obj, state, tensors)
        steps = _steps(obj, modules, kinds)
        n_params = sum(t.numel() for t in skeleton.state_dict(keep_vars=True).values())
        if n_params > MAX_PARAMS:
            raise over("the parameter count", n_params, MAX_PARAMS, "slim.pt", FIX)
        want = skeleton.state_dict()
        for key, t in want.items():
            got = state.get(key)
            if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(t.shape):
                raise bad(f"declares tensor {key!r} with shape {list(t.shape)} but holds "
                           f"{list(got.shape) if isinstance(got, torch.Tensor) else 'none'}")
        extra = sorted(set(state) - set(want))
        if extra:
            raise bad(f"holds an unexpected tensor {clean(extra[0], max_len=60)!r}")
        root, _ = _build_layers(obj)  # real layers: sizes are now known to match the file's tensors
        _add_attrs(root, obj, state, tensors)
        root.load_state_dict(dict(state), strict=True)
        for qual, kind in kinds.items():
            if kind == "constant":
                owner = root.get_submodule(qual.rpartition(".")[0])
                name = qual.rpartition(".")[2]
                if name in owner._buffers and name in owner._non_persistent_buffers_set:
                    owner._buffers[name] = tensors[qual].detach().clone().to(owner._buffers[name].dtype)
        n_inputs = sum(1 for s in steps if s[0] == "placeholder")
        module = (PortableModule if n_inputs == 1 else PortableModuleN)(root, steps)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, IndexError) as err:
        raise CheckpointError(f"slim.pt is malformed ({type(err).__name__}: {clean(err, max_len=120)})",
                              fix="re-create it with eegdeploy compress") from None
    return module.eval()


def save_portable(module: nn.Module, example: torch.Tensor | None, path: str | Path, *,
                  meta: Mapping[str, Any] | None = None, verify: bool = True, tolerance: float = 1e-6) -> Path:
    """Write ``module`` as a portable slim.pt (atomically); see ``write_portable``."""
    return write_portable(module, example, path, meta=meta, verify=verify, tolerance=tolerance)[0]


def write_portable(module: nn.Module, example: torch.Tensor | None, path: str | Path, *,
                   meta: Mapping[str, Any] | None = None, verify: bool = True,
                   tolerance: float = 1e-6) -> tuple[Path, str]:
    """Write ``module`` as a portable slim.pt (atomically); returns (path, kind): ``"fx"`` (torch.nn layers and
    steps traced by torch.fx) or, when torch.fx cannot trace ``forward`` and an ``example`` is given, ``"aten"``
    (the torch.export graph of whitelisted ATen operations, ``eegdeploy.models.aten``; batch dynamic).

    The description is always rebuilt once before writing (a layer that cannot be rebuilt is an
    UnsupportedLayerError, not a broken file); with ``verify`` and an ``example``, the rebuilt module must also
    reproduce ``module``'s outputs on random inputs within ``tolerance``: of the example's shape, or of batch 1 and
    5 for an ATen graph with a dynamic batch.
    """
    try:
        obj = to_portable(module, meta=meta)
        back = _rebuilt(module, obj)
    except UnsupportedLayerError:
        if example is None:
            raise
        # torch.fx cannot trace it (einops, len(), getattr, custom layers): store its torch.export ATen graph
        from eegdeploy.models.aten import to_aten

        obj = to_aten(module, example, meta=meta)
        back = _rebuilt(module, obj)
    if verify and example is not None:
        shapes = [tuple(example.shape)]
        if obj.get("kind") == "aten" and obj["input"]["shape"][0] is None:  # dynamic batch: check two batches
            shapes = [(1, *example.shape[1:]), (5, *example.shape[1:])]
        was = module.training
        try:
            for shape in shapes:
                x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(example.dtype)
                with torch.no_grad():
                    diff = _max_diff(back(x), module.eval()(x))
                if not diff <= tolerance:
                    raise ParityError(f"slim.pt reloads with outputs {diff:.3g} away from the model at input shape "
                                      f"{list(shape)} (tolerance {tolerance:g})",
                                      fix="check that forward is deterministic in eval mode (no dropout), or ship "
                                          "the ONNX file instead")
        finally:
            module.train(was)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path), str(obj.get("kind", "fx"))


def _rebuilt(module: nn.Module, obj: Mapping[str, Any]) -> nn.Module:
    try:
        return from_portable(obj)
    except CheckpointError as err:
        raise UnsupportedLayerError(f"{type(module).__name__} cannot be rebuilt from slim.pt ({err})",
                                    fix=_FIX) from None


def _max_diff(a: Any, b: Any) -> float:
    if isinstance(a, (tuple, list)):
        return max((_max_diff(x, y) for x, y in zip(a, b)), default=0.0)
    if a.shape != b.shape:
        return float("inf")
    return float((a - b).abs().max()) if a.numel() else 0.0


def load_portable(path: str | Path) -> nn.Module:
    """Read a slim.pt with ``torch.load(weights_only=True)`` and rebuild its module."""
    try:
        obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"cannot read {str(path)!r} as a portable model ({type(err).__name__})",
                              fix="give a slim.pt written by eegdeploy compress") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{str(path)!r} is not a portable model", fix="give a slim.pt written by eegdeploy")
    return from_portable(obj)
