"""Graph capture for the channel analysis: ``torch.export`` first, ``torch.fx`` symbolic tracing as a fallback.

``torch.export.export(model, (x,), strict=False)`` runs ``forward`` on fake tensors of the example's shape, so
ordinary model code captures: ``len()`` of a tensor, shape arithmetic, iterating, ``getattr``, einops, item
assignment and ``if`` on shapes. What comes out is a graph of ATen operations whose parameters are placeholders
named by their module path (``blocks.0.attn.to_qkv.weight``), and whose nodes carry the module they ran in, so
channel groups keep readable names. A ``forward`` that branches on tensor *values* cannot be captured by any
tracer; the error then names the file and line of the branch. When export fails for another reason, torch.fx
symbolic tracing (module-level graph, narrower vocabulary: see ``fxwalk``) is tried before giving up.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import logging
import os
import traceback
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from eegdeploy.errors import UnsupportedLayerError

_TORCH_DIR = os.path.dirname(torch.__file__)


@dataclass
class Captured:
    """An ATen graph of ``model`` with each parameter/buffer placeholder mapped to its fully qualified name."""

    graph: fx.Graph
    tensors: dict[str, str]  # placeholder name -> parameter/buffer fqn
    user_inputs: list[str]
    module_types: dict[str, type] = field(default_factory=dict)  # module path -> type (from the module stack)


def module_stack(node: fx.Node) -> list[str]:
    """Module paths the node ran inside, outermost first ('' for the root)."""
    stack = node.meta.get("nn_module_stack") or {}
    return [str(v[0]) for v in stack.values()]


def _user_frame(err: BaseException) -> tuple[str, int, str] | None:
    """The innermost frame of the error outside torch and outside eegdeploy: where the user's code branched."""
    found = None
    for fs in traceback.extract_tb(err.__traceback__):
        fname = fs.filename or ""
        if fname.startswith(_TORCH_DIR) or "/eegdeploy/prune/" in fname or "/contextlib.py" in fname:
            continue
        found = (fname, fs.lineno or 0, (fs.line or linecache.getline(fname, fs.lineno or 0)).strip())
    return found


def _data_dependent(err: BaseException) -> bool:
    text = f"{type(err).__name__} {err}"
    return any(k in text for k in ("GuardOnDataDependent", "data-dependent", "data dependent",
                                   "DataDependentOutputException", "Could not guard on data-dependent"))


_CACHE: "OrderedDict[int, tuple[weakref.ref, tuple, Captured]]" = OrderedDict()
_CACHE_SIZE = 32


def fingerprint(model: nn.Module, example: torch.Tensor) -> tuple:
    """What the captured graph of one live model depends on besides its code: classes, attributes, hooks,
    parameter and buffer shapes and the example's shape (not the weights' values: a graph that depended on them
    could not be exported)."""
    parts: list[Any] = [tuple(example.shape), str(example.dtype)]
    for name, m in model.named_modules():
        attrs = []
        for k, v in sorted(vars(m).items()):
            if k.startswith("_"):
                continue
            simple = isinstance(v, (int, float, str, bool, type(None))) or (
                isinstance(v, tuple) and all(isinstance(i, (int, float, str, bool)) for i in v))
            attrs.append((k, v) if simple else (k, type(v).__qualname__, id(v)))
        parts.append((name, type(m).__qualname__, id(type(m)), tuple(attrs), len(m._forward_hooks),
                      len(m._forward_pre_hooks)))
        for pn, p in list(m._parameters.items()) + list(m._buffers.items()):
            parts.append((pn, None if p is None else (tuple(p.shape), str(p.dtype))))
    return tuple(parts)


def capture(model: nn.Module, example: torch.Tensor) -> Captured | fx.GraphModule:
    """Capture ``model`` on ``example``: a ``Captured`` ATen graph, or an fx GraphModule from the fallback.
    The exported graph of a live model is reused while its ``fingerprint`` is unchanged (training changes
    weights, not the graph), so methods that re-analyse every epoch do not re-export."""
    key = fingerprint(model, example)
    hit = _CACHE.get(id(model))
    if hit is not None and hit[0]() is model and hit[1] == key:
        _CACHE.move_to_end(id(model))
        return hit[2]
    cap = _capture(model, example)
    if isinstance(cap, Captured):
        _CACHE[id(model)] = (weakref.ref(model), key, cap)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return cap


def _capture(model: nn.Module, example: torch.Tensor) -> Captured | fx.GraphModule:
    quiet = [logging.getLogger(n) for n in ("torch", "torch.fx", "torch._dynamo", "torch.export")]
    levels = [lg.level for lg in quiet]
    try:
        for lg in quiet:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")  # torch prints the partial graph of a failed capture
            ep = torch.export.export(model, (example,), strict=False)
    except Exception as err:  # export raises many types; each is reported or falls back below
        if _data_dependent(err):
            where = _user_frame(err)
            at = f" at {where[0]}:{where[1]} ({where[2]})" if where else ""
            raise UnsupportedLayerError(
                f"cannot capture {type(model).__name__}: its forward branches on tensor values{at}",
                fix="compute that branch with torch.where (or on shapes only) so the graph is the same for every "
                    "input") from None
        export_error = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:160] if str(err).strip() else ''}"
        for lg, lv in zip(quiet, levels):
            lg.setLevel(lv)
        from eegdeploy.prune.fxwalk import trace as fx_trace

        try:
            return fx_trace(model)
        except UnsupportedLayerError:
            raise UnsupportedLayerError(
                f"cannot capture {type(model).__name__} for channel analysis (torch.export: {export_error}; "
                "torch.fx tracing failed too)",
                fix="see docs/slimming.md (what capture needs); --keep cannot help here") from None
    finally:
        for lg, lv in zip(quiet, levels):
            lg.setLevel(lv)
    sig = ep.graph_signature
    tensors = {**sig.inputs_to_parameters, **sig.inputs_to_buffers}
    types: dict[str, type] = {}
    for node in ep.graph.nodes:
        for v in (node.meta.get("nn_module_stack") or {}).values():
            t = v[1]
            if isinstance(t, type):
                types[str(v[0])] = t
    return Captured(ep.graph, dict(tensors), list(sig.user_inputs), types)


def value_shape(node: Any) -> tuple[int, ...] | None:
    val = node.meta.get("val") if isinstance(node, fx.Node) else None
    if isinstance(val, torch.Tensor):
        try:
            return tuple(int(s) for s in val.shape)
        except TypeError:  # symbolic sizes (should not happen with static shapes)
            return None
    return None
