"""slim.pt: a slim model that reloads without its original class and without pickled code.

The slim network is traced with torch.fx and stored as plain data: for each submodule its torch.nn class name
and constructor arguments, the graph as a list of nodes whose targets come from a fixed whitelist of torch
functions and tensor methods, and the state_dict. ``torch.load(path, weights_only=True)`` reads it (only
tensors, strings, numbers, lists and dicts), and ``load_portable`` rebuilds a ``torch.fx.GraphModule`` that
computes the same outputs. Anything outside the whitelist fails at save time with UnsupportedLayerError, and a
crafted file naming anything else fails at load time, so loading never calls arbitrary code.
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

from eegdeploy.errors import CheckpointError, UnsupportedLayerError
from eegdeploy.io import atomic_path

PORTABLE_FORMAT = "eegdeploy-portable"
VERSION = 1
_FUNCTIONS: dict[str, Any] = {
    **{f"torch.{n}": getattr(torch, n) for n in (
        "cat", "flatten", "reshape", "squeeze", "unsqueeze", "mean", "sum", "amax", "var", "std", "relu", "tanh",
        "sigmoid", "abs", "square", "log", "exp", "sqrt", "pow", "clamp", "log1p", "neg", "add", "sub", "mul",
        "div", "matmul", "transpose", "permute", "softmax", "log_softmax", "stack", "max", "min")},
    **{f"F.{n}": getattr(F, n) for n in (
        "relu", "relu6", "elu", "leaky_relu", "selu", "gelu", "silu", "mish", "hardtanh", "softplus", "dropout",
        "dropout1d", "dropout2d", "avg_pool1d", "avg_pool2d", "max_pool1d", "max_pool2d", "adaptive_avg_pool1d",
        "adaptive_avg_pool2d", "pad", "softmax", "log_softmax", "linear", "conv1d", "conv2d")},
    **{f"operator.{n}": getattr(operator, n) for n in ("add", "sub", "mul", "truediv", "neg", "getitem", "floordiv",
                                                       "matmul", "pow")},
    "getattr": getattr,
}
_FUNCTION_NAMES = {id(v): k for k, v in _FUNCTIONS.items()}
_METHODS = {"flatten", "view", "reshape", "squeeze", "unsqueeze", "mean", "sum", "size", "dim", "relu", "abs", "pow",
            "log", "exp", "sqrt", "square", "clamp", "contiguous", "float", "sigmoid", "tanh", "neg", "permute",
            "transpose", "add", "sub", "mul", "div", "softmax", "log_softmax", "max", "min", "amax", "var", "std",
            "type_as", "detach", "clone", "log1p", "expand", "repeat", "chunk", "split"}
_GETATTR_NAMES = {"shape", "dtype", "device", "ndim"}
_SKIP_ARGS = {"self", "device", "dtype", "args", "kwargs"}


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return type(m).__module__.startswith("torch.nn.modules") and not isinstance(m, nn.Sequential) \
            or super().is_leaf_module(m, qualname)


def _module_spec(name: str, m: nn.Module) -> dict[str, Any]:
    cls = type(m)
    if not cls.__module__.startswith("torch.nn.modules") or getattr(nn, cls.__name__, None) is not cls:
        raise UnsupportedLayerError(f"layer {name!r} is a {cls.__module__}.{cls.__name__}, which slim.pt cannot store "
                                    "without its code", fix="use torch.nn layers, or ship the ONNX file instead")
    args: dict[str, Any] = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.name in _SKIP_ARGS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.name == "bias" and isinstance(getattr(m, "bias", None), (torch.Tensor, type(None))):
            args["bias"] = getattr(m, "bias", None) is not None
        elif hasattr(m, p.name):
            args[p.name] = _plain(getattr(m, p.name), name)
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
    raise UnsupportedLayerError(f"{where}: cannot store a value of type {type(v).__name__} in slim.pt",
                                fix="ship the ONNX file instead")


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
    return v


def to_portable(module: nn.Module, *, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The plain-data description of ``module`` (see the module docstring)."""
    module = module.eval()
    try:
        graph = _Tracer().trace(module)
    except Exception as err:
        raise UnsupportedLayerError(f"cannot trace {type(module).__name__} for slim.pt ({type(err).__name__})",
                                    fix="ship the ONNX file instead") from None
    modules: dict[str, Any] = {}
    nodes: list[dict[str, Any]] = []
    for node in graph.nodes:
        target: Any = node.target
        if node.op == "call_module":
            modules[str(target)] = _module_spec(str(target), module.get_submodule(str(target)))
        elif node.op == "call_function":
            if id(target) not in _FUNCTION_NAMES:
                raise UnsupportedLayerError(f"operation {getattr(target, '__name__', target)} at {node.name} is not "
                                            "supported in slim.pt", fix="ship the ONNX file instead")
            target = _FUNCTION_NAMES[id(target)]
        elif node.op == "call_method" and target not in _METHODS:
            raise UnsupportedLayerError(f"tensor method .{target}() at {node.name} is not supported in slim.pt",
                                        fix="ship the ONNX file instead")
        elif node.op == "get_attr":
            raise UnsupportedLayerError(f"{node.name} reads attribute {target} directly", fix="ship the ONNX file instead")
        nodes.append({"op": node.op, "name": node.name, "target": str(target),
                      "args": _plain(tuple(node.args), node.name), "kwargs": _plain(dict(node.kwargs), node.name)})
    state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    return {"format": PORTABLE_FORMAT, "version": VERSION, "modules": modules, "graph": nodes, "state_dict": state,
            "meta": dict(meta or {})}


def from_portable(obj: Mapping[str, Any]) -> nn.Module:
    """Rebuild the module from ``to_portable``'s data (as read by ``torch.load(weights_only=True)``)."""
    try:
        if obj.get("format") != PORTABLE_FORMAT or int(obj.get("version", 0)) > VERSION:
            raise CheckpointError("not an eegdeploy portable model (or a newer version)", fix="upgrade eegdeploy")
        root = nn.Module()
        for qual, spec in obj["modules"].items():
            cls = getattr(nn, str(spec["type"]), None)
            if not (isinstance(cls, type) and issubclass(cls, nn.Module) and cls.__module__.startswith("torch.nn.modules")):
                raise CheckpointError(f"slim.pt names an unknown layer type {spec['type']!r}", fix="re-export the model")
            kwargs = {k: _unplain(v, {}) for k, v in spec["args"].items()}
            parent = root
            parts = str(qual).split(".")
            for p in parts[:-1]:
                if not hasattr(parent, p):
                    parent.add_module(p, nn.Module())
                parent = getattr(parent, p)
            parent.add_module(parts[-1], cls(**kwargs))
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
            elif op == "call_function":
                if target not in _FUNCTIONS:
                    raise CheckpointError(f"slim.pt calls {target!r}, which is not allowed", fix="re-export the model")
                if target == "getattr" and (len(args) < 2 or args[1] not in _GETATTR_NAMES):
                    raise CheckpointError("slim.pt reads a forbidden attribute", fix="re-export the model")
                node = graph.call_function(_FUNCTIONS[target], args, kwargs)
            elif op == "call_method":
                if target not in _METHODS:
                    raise CheckpointError(f"slim.pt calls method {target!r}, which is not allowed", fix="re-export the model")
                node = graph.call_method(target, args, kwargs)
            else:
                raise CheckpointError(f"slim.pt has an unknown node kind {op!r}", fix="re-export the model")
            node.name = str(n["name"])
            env[str(n["name"])] = node
        gm = fx.GraphModule(root, graph)
        missing, unexpected = gm.load_state_dict(dict(obj["state_dict"]), strict=True), None
        del missing, unexpected
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, RuntimeError, IndexError) as err:
        raise CheckpointError(f"slim.pt is malformed ({type(err).__name__}: {str(err)[:120]})",
                              fix="re-create it with eegdeploy compress") from None
    return gm.eval()


def save_portable(module: nn.Module, example: torch.Tensor | None, path: str | Path, *,
                  meta: Mapping[str, Any] | None = None, verify: bool = True) -> Path:
    """Write ``module`` as a portable slim.pt (atomically); with ``verify`` reload it and compare outputs."""
    obj = to_portable(module, meta=meta)
    if verify and example is not None:
        with torch.no_grad():
            back = from_portable(obj)
            x = torch.randn((4, *example.shape[1:]), generator=torch.Generator().manual_seed(0))
            diff = float((back(x) - module.eval()(x)).abs().max())
        if diff > 1e-6:
            from eegdeploy.errors import ParityError

            raise ParityError(f"slim.pt reloads with outputs {diff:.3g} away from the model", fix="report this")
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def load_portable(path: str | Path) -> nn.Module:
    try:
        obj = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"cannot read {str(path)!r} as a portable model ({type(err).__name__})",
                              fix="give a slim.pt written by eegdeploy compress") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{str(path)!r} is not a portable model", fix="give a slim.pt written by eegdeploy")
    return from_portable(obj)
