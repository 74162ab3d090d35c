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

__all__ = ["PORTABLE_FORMAT", "from_portable", "load_portable", "save_portable", "to_portable"]

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


def _unplain(v: Any, nodes: Mapping[str, fx.Node]) -> Any:
    if isinstance(v, list):
        return [_unplain(x, nodes) for x in v]
    if isinstance(v, dict):
        if "tuple" in v:
            return tuple(_unplain(x, nodes) for x in v["tuple"])
        if "node" in v:
            return nodes[v["node"]]
        if "dtype" in v:
            dt = getattr(torch, str(v["dtype"]), None)
            if not isinstance(dt, torch.dtype):
                raise CheckpointError(f"slim.pt names an unknown dtype {v['dtype']!r}", fix="re-export the model")
            return dt
        if "slice" in v:
            return slice(*(_unplain(x, nodes) for x in v["slice"]))
        if "ellipsis" in v:
            return Ellipsis
        if "dict" in v:
            return {k: _unplain(x, nodes) for k, x in v["dict"].items()}
        raise CheckpointError("slim.pt holds an argument of an unknown kind", fix="re-export the model")
    return v


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
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    finally:
        module.train(was)
    return {"format": PORTABLE_FORMAT, "version": VERSION, "modules": modules, "graph": nodes, "attrs": attrs,
            "tensors": tensors, "state_dict": state, "meta": dict(meta or {})}


def _check_name(qual: str, what: str) -> list[str]:
    parts = str(qual).split(".")
    if not all((p.isidentifier() or p.isdigit()) and not p.startswith("__") for p in parts):
        raise CheckpointError(f"slim.pt names a {what} {qual!r} that is not a plain attribute path",
                              fix="re-export the model")
    return parts


def _container(root: nn.Module, parts: list[str]) -> nn.Module:
    parent = root
    for p in parts:
        if p not in parent._modules:
            if hasattr(parent, p):
                raise CheckpointError(f"slim.pt path {'.'.join(parts)!r} collides with an attribute",
                                      fix="re-export the model")
            parent.add_module(p, nn.Module())
        parent = parent._modules[p]
    return parent


def from_portable(obj: Mapping[str, Any]) -> nn.Module:
    """Rebuild the module from ``to_portable``'s data (as read by ``torch.load(weights_only=True)``)."""
    try:
        if obj.get("format") != PORTABLE_FORMAT or int(obj.get("version", 0)) > VERSION:
            raise CheckpointError("not an eegdeploy portable model (or a newer version)", fix="upgrade eegdeploy")
        root = nn.Module()
        for qual, spec in obj["modules"].items():
            parts = _check_name(qual, "layer")
            cls = getattr(nn, str(spec["type"]), None)
            if not (isinstance(cls, type) and issubclass(cls, nn.Module) and _is_torch_layer(cls)):
                raise CheckpointError(f"slim.pt names an unknown layer type {spec['type']!r}", fix="re-export the model")
            kwargs = {str(k): _unplain(v, {}) for k, v in spec["args"].items()}
            _container(root, parts[:-1]).add_module(parts[-1], cls(**kwargs))
        state = dict(obj["state_dict"])
        tensors = dict(obj.get("tensors") or {})
        for qual, spec in dict(obj.get("attrs") or {}).items():
            parts = _check_name(qual, "tensor")
            owner = _container(root, parts[:-1])
            name, kind = parts[-1], str(spec["kind"])
            if hasattr(owner, name):  # e.g. F.conv2d(x, self.conv.weight): the layer already has it
                continue
            if kind == "parameter":
                owner.register_parameter(name, nn.Parameter(torch.empty_like(state[qual])))
            elif kind == "buffer":
                owner.register_buffer(name, torch.empty_like(state[qual]))
            elif kind == "constant":
                owner.register_buffer(name, torch.as_tensor(tensors[qual]).clone(), persistent=False)
            else:
                raise CheckpointError(f"slim.pt has a tensor of unknown kind {kind!r}", fix="re-export the model")
        graph = fx.Graph()
        env: dict[str, fx.Node] = {}
        for n in obj["graph"]:
            op, target = str(n["op"]), str(n["target"])
            args, kwargs = _unplain(n["args"], env), _unplain(n["kwargs"], env)
            if op == "placeholder":
                node = graph.placeholder(target)
            elif op == "output":
                node = graph.output(args[0])
            elif op == "call_module":
                node = graph.call_module(target, args, kwargs)
            elif op == "get_attr":
                if target not in (obj.get("attrs") or {}):
                    raise CheckpointError(f"slim.pt reads an undeclared tensor {target!r}", fix="re-export the model")
                node = graph.get_attr(target)
            elif op == "call_function":
                if target not in _FUNCTIONS:
                    raise CheckpointError(f"slim.pt calls {target!r}, which is not allowed", fix="re-export the model")
                if target == "getattr" and (len(args) < 2 or args[1] not in _GETATTR_NAMES):
                    raise CheckpointError("slim.pt reads a forbidden attribute", fix="re-export the model")
                node = graph.call_function(_FUNCTIONS[target], args, kwargs)
            elif op == "call_method":
                if target not in _METHODS:
                    raise CheckpointError(f"slim.pt calls method {target!r}, which is not allowed",
                                          fix="re-export the model")
                node = graph.call_method(target, args, kwargs)
            else:
                raise CheckpointError(f"slim.pt has an unknown node kind {op!r}", fix="re-export the model")
            node.name = str(n["name"])
            env[str(n["name"])] = node
        gm = fx.GraphModule(root, graph)
        # GraphModule re-registers copied tensors as persistent buffers: the constants load like the rest
        constants = {q: tensors[q] for q, spec in dict(obj.get("attrs") or {}).items() if spec.get("kind") == "constant"}
        gm.load_state_dict({**state, **constants}, strict=True)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, IndexError) as err:
        raise CheckpointError(f"slim.pt is malformed ({type(err).__name__}: {str(err)[:120]})",
                              fix="re-create it with eegdeploy compress") from None
    return gm.eval()


def save_portable(module: nn.Module, example: torch.Tensor | None, path: str | Path, *,
                  meta: Mapping[str, Any] | None = None, verify: bool = True, tolerance: float = 1e-6) -> Path:
    """Write ``module`` as a portable slim.pt (atomically).

    The description is always rebuilt once before writing (a layer that cannot be rebuilt is an
    UnsupportedLayerError, not a broken file); with ``verify`` and an ``example``, the rebuilt module must also
    reproduce ``module``'s outputs on a random input of the example's shape within ``tolerance``.
    """
    obj = to_portable(module, meta=meta)
    try:
        back = from_portable(obj)
    except CheckpointError as err:
        raise UnsupportedLayerError(f"{type(module).__name__} cannot be rebuilt from slim.pt ({err})",
                                    fix=_FIX) from None
    if verify and example is not None:
        x = torch.randn(tuple(example.shape), generator=torch.Generator().manual_seed(0))
        was = module.training
        try:
            with torch.no_grad():
                diff = _max_diff(back(x), module.eval()(x))
        finally:
            module.train(was)
        if not diff <= tolerance:
            raise ParityError(f"slim.pt reloads with outputs {diff:.3g} away from the model (tolerance {tolerance:g})",
                              fix="check that forward is deterministic in eval mode (no dropout), or ship the ONNX "
                                  "file instead")
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


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
