"""Applying a plan: zeroing (the "pruned" model) and physical removal (the "slim" model).

Both work from the same channel analysis, so they agree by construction. The analysis says, for every parameter
and buffer axis, which unit each position belongs to. ``apply_masks`` zeroes every *parameter* position of a
removed unit: the filters, biases and norm affine parameters that produce it *and* the consumers' weights that
read it, so a removed channel cannot influence anything downstream whatever value it carries (an activation
with f(0) != 0 included). A LayerNorm over channels that lose some gets a hook that normalises over the kept
ones only, which is what the slim LayerNorm computes. A plan's depth entries (``depth:<container>``, see
``depth.py``) drop residual blocks: the masked model multiplies each dropped branch's output by 0, the slim model
replaces the branch's module by a ``ZeroBranch``. ``slim`` cuts the same positions out of parameters and
buffers, then rewrites the attributes ``forward`` reads (``out_channels``, ``groups``, ``normalized_shape``,
head counts...). The invariant ``slim(m, plan)(x) == apply_masks(copy(m), plan)(x)`` holds up to float
summation order and is checked.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from eegdeploy.errors import ConfigError, ParityError
from eegdeploy.prune.depth import DEPTH_PREFIX, drop_blocks, dropped_blocks, mask_blocks
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.trace import Analysis, analyse

SLIM_TOLERANCE = 1e-5
WIDE_TOLERANCE = 1e-9  # the same check in float64, where rounding stays near 1e-12


def _example(model: nn.Module, plan: PrunePlan, example: torch.Tensor | None) -> torch.Tensor:
    if example is not None:
        return example[:1]
    shape = getattr(plan, "input_shape", None)
    if not shape:
        raise ConfigError("the plan does not record the model's input shape", fix="pass example= or --input-shape")
    p = next(model.parameters(), None)
    return torch.zeros((1, *shape), dtype=p.dtype if p is not None else torch.float32)


def removed_units(analysis: Analysis, plan: PrunePlan) -> set[int]:
    """Unit roots a structured plan removes; checks the plan against the model."""
    removed: set[int] = set()
    for gname, kept in plan.keep.items():
        if gname.startswith(DEPTH_PREFIX):  # blocks, not channels: dropped_blocks checks them
            continue
        g = analysis.group(gname)
        size = plan.sizes.get(gname, g.size)
        if size != g.size:
            raise ConfigError(f"the plan says group {gname!r} has {size} channels, the model has {g.size}",
                              fix="make the plan for this model")
        if len(kept) == g.size:
            continue
        if not g.prunable:
            raise ConfigError(f"the plan prunes group {gname!r}, which cannot be pruned ({g.reason})",
                              fix="keep that group whole")
        bad = [k for k in kept if not 0 <= k < g.size]
        if bad or not kept:
            raise ConfigError(f"the plan keeps channels {bad or 'none'} of group {gname!r} (size {g.size})",
                              fix="keep at least one valid channel index per group")
        keep_set = set(kept)
        removed |= {u for i, u in enumerate(g.units) if i not in keep_set}
    return removed


def _keep_mask(analysis: Analysis, slots: np.ndarray | None, removed: set[int]) -> np.ndarray | None:
    if slots is None:
        return None
    units = analysis.unit_of[slots]
    return np.array([int(u) not in removed for u in units], dtype=bool)


def layer_masks(analysis: Analysis, plan: PrunePlan) -> dict[str, tuple[np.ndarray | None, np.ndarray | None]]:
    """For every layer the analysis records, boolean keep masks over its input and output channels (None: all
    kept). Slimming itself cuts parameter axes (``slim``); this per-layer view serves latency tables."""
    removed = removed_units(analysis, plan)
    return {name: (_keep_mask(analysis, lay.in_slots, removed), _keep_mask(analysis, lay.out_slots, removed))
            for name, lay in analysis.layers.items()}


def _tensor_masks(analysis: Analysis, removed: set[int]) -> dict[str, dict[int, np.ndarray]]:
    """fqn -> axis -> keep mask, for the axes that lose positions."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for fqn, axes in analysis.params.items():
        for axis, slots in axes.items():
            keep = _keep_mask(analysis, slots, removed)
            if keep is not None and not keep.all():
                out.setdefault(fqn, {})[axis] = keep
    return out


def _get(model: nn.Module, fqn: str) -> tuple[nn.Module, str, Any]:
    owner, _, leaf = fqn.rpartition(".")
    mod = model.get_submodule(owner) if owner else model
    return mod, leaf, getattr(mod, leaf)


class _KeptLayerNorm:
    """Forward hook: a LayerNorm normalising over the kept channels only (what the slim LayerNorm computes)."""

    eegdeploy_mask_hook = True  # the analysis ignores it: it is masking, not the model's structure

    def __init__(self, keep: np.ndarray) -> None:
        self.keep = torch.from_numpy(np.flatnonzero(keep))

    def __call__(self, m: nn.LayerNorm, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        x = inputs[0]
        k = self.keep.to(x.device)
        w = m.weight[k] if m.weight is not None else None
        b = m.bias[k] if getattr(m, "bias", None) is not None else None
        y = torch.zeros_like(output)
        y[..., k] = F.layer_norm(x.index_select(-1, k), (len(k),), w, b, m.eps)
        return y


def clear_masks(model: nn.Module) -> nn.Module:
    """Remove the forward hooks ``apply_masks`` adds (kept-channel LayerNorms, zeroed branches); returns ``model``.

    Zeroed weights stay zero: restore them from the unmasked model before masking it again for another plan."""
    for m in model.modules():
        for k in [k for k, v in m._forward_hooks.items() if getattr(v, "eegdeploy_mask_hook", False)]:
            del m._forward_hooks[k]
    return model


@torch.no_grad()
def apply_masks(model: nn.Module, plan: PrunePlan, example: torch.Tensor | None = None, *,
                analysis: Analysis | None = None) -> nn.Module:
    """Zero in place what ``plan`` removes; returns ``model`` (the pruned, still dense model)."""
    if plan.kind == "unstructured":
        params = dict(model.named_parameters())
        for name, mask in plan.masks.items():
            if name not in params:
                raise ConfigError(f"the plan masks parameter {name!r}, which this model does not have",
                                  fix="make the plan for this model")
            params[name].mul_(mask.to(params[name].dtype))
        return model
    analysis = analysis or analyse(model, _example(model, plan, example))
    removed = removed_units(analysis, plan)
    params = dict(model.named_parameters())
    for fqn, axes in _tensor_masks(analysis, removed).items():
        if fqn not in params:  # buffers (running statistics) are left: the affine parameters are zero
            continue
        p = params[fqn]
        for axis, keep in axes.items():
            idx = [slice(None)] * p.dim()
            idx[axis] = torch.from_numpy(~keep)
            p[tuple(idx)] = 0
    for name, lay in analysis.layers.items():
        m = model.get_submodule(name) if name else model
        keep_in = _keep_mask(analysis, lay.in_slots, removed)
        keep_out = _keep_mask(analysis, lay.out_slots, removed)
        if lay.kind == "layernorm" and keep_in is not None and not keep_in.all():
            for h in [k for k, v in m._forward_hooks.items() if isinstance(v, _KeptLayerNorm)]:
                del m._forward_hooks[h]
            m.register_forward_hook(_KeptLayerNorm(keep_in))
        elif lay.kind == "custom":
            rule = getattr(lay, "rule")
            if keep_out is not None and lay.out_slots is not lay.in_slots and not keep_out.all():
                rule.mask_out(m, torch.from_numpy(np.flatnonzero(~keep_out)))
            if keep_in is not None and not keep_in.all():
                rule.mask_in(m, torch.from_numpy(np.flatnonzero(~keep_in)))
    mask_blocks(model, dropped_blocks(analysis, plan))
    return model


@torch.no_grad()
def _cut_tensors(model: nn.Module, masks: dict[str, dict[int, np.ndarray]]) -> None:
    for fqn, axes in masks.items():
        mod, leaf, t = _get(model, fqn)
        new = t.detach()
        for axis, keep in axes.items():
            new = new.index_select(axis, torch.from_numpy(np.flatnonzero(keep)))
        if isinstance(t, nn.Parameter):
            setattr(mod, leaf, nn.Parameter(new.clone(), requires_grad=t.requires_grad))
        else:
            setattr(mod, leaf, new.clone())


def _fix_attributes(model: nn.Module, analysis: Analysis, removed: set[int]) -> None:
    """Rewrite what forward reads to the new sizes."""
    for name, lay in analysis.layers.items():
        m = model.get_submodule(name) if name else model
        keep_in = _keep_mask(analysis, lay.in_slots, removed)
        keep_out = _keep_mask(analysis, lay.out_slots, removed)
        if lay.kind == "conv":
            old_out, old_groups = m.out_channels, m.groups
            m.out_channels = int(m.weight.shape[0])
            if old_groups > 1 and lay.groups_mode == "whole":
                m.groups = m.out_channels // (old_out // old_groups)
            m.in_channels = int(m.weight.shape[1]) * m.groups
        elif lay.kind == "linear":
            m.out_features, m.in_features = (int(s) for s in m.weight.shape)
        elif lay.kind == "norm":
            ref = m.weight if getattr(m, "weight", None) is not None else m.running_mean
            if ref is not None:
                m.num_features = int(ref.shape[0])
        elif lay.kind == "layernorm" and keep_in is not None:
            m.normalized_shape = (int(keep_in.sum()),)
        elif lay.kind == "groupnorm" and keep_in is not None:
            cpg = m.num_channels // m.num_groups
            m.num_channels = int(keep_in.sum())
            m.num_groups = m.num_channels // cpg
        elif lay.kind == "rnn":
            m.input_size = int(m.weight_ih_l0.shape[1])
        elif lay.kind == "custom":
            rule = getattr(lay, "rule")
            if keep_out is not None and lay.out_slots is not lay.in_slots and not keep_out.all():
                rule.prune_out(m, torch.from_numpy(np.flatnonzero(keep_out)))
            if keep_in is not None and not keep_in.all():
                rule.prune_in(m, torch.from_numpy(np.flatnonzero(keep_in)))
    for fx_ in analysis.fixups:
        keep = _keep_mask(analysis, fx_.blocks, removed)
        m = model.get_submodule(fx_.module) if fx_.module else model
        setattr(m, fx_.attr, int(keep.sum()))
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            m.embedding_dim = int(m.weight.shape[1])


def _index(mask: np.ndarray | None, n: int) -> torch.Tensor:
    return torch.arange(n) if mask is None else torch.from_numpy(np.flatnonzero(mask))


@torch.no_grad()
def cut_layer(m: nn.Module, kind: str, keep_in: np.ndarray | None, keep_out: np.ndarray | None) -> None:
    """Rebuild one layer in place with only the kept input and output channels (``kind``: conv, linear, norm)."""
    def set_param(attr: str, value: torch.Tensor | None) -> None:
        if value is not None:
            old = getattr(m, attr)
            setattr(m, attr, nn.Parameter(value.clone(), requires_grad=old.requires_grad))

    if kind == "norm":
        idx = _index(keep_out, m.num_features)
        if m.affine:
            set_param("weight", m.weight[idx]); set_param("bias", m.bias[idx])
        if m.track_running_stats and m.running_mean is not None:
            m.running_mean = m.running_mean[idx].clone(); m.running_var = m.running_var[idx].clone()
        m.num_features = len(idx)
        return
    if kind == "linear":
        o, i = _index(keep_out, m.out_features), _index(keep_in, m.in_features)
        set_param("weight", m.weight[o][:, i])
        if m.bias is not None:
            set_param("bias", m.bias[o])
        m.out_features, m.in_features = len(o), len(i)
        return
    o, i = _index(keep_out, m.out_channels), _index(keep_in, m.in_channels)
    if m.groups > 1:  # depthwise: the analysis tied outputs to inputs (or across groups), so groups stay equal
        set_param("weight", m.weight[o])
        m.groups = len(i)
        if len(o) % len(i):
            raise ParityError(f"depthwise cut left {len(o)} outputs for {len(i)} groups", fix="report this")
    else:
        set_param("weight", m.weight[o][:, i])
    if m.bias is not None:
        set_param("bias", m.bias[o])
    m.out_channels, m.in_channels = len(o), len(i)


def slim(model: nn.Module, plan: PrunePlan, example: torch.Tensor | None = None, *, verify: bool = True) -> nn.Module:
    """A new, dense, smaller module computing what ``apply_masks(copy(model), plan)`` computes.

    Unstructured plans remove nothing (weights are zeroed, not channels) and return the masked copy.
    With ``verify`` the two are compared on random inputs and a ParityError raised above 1e-5.
    """
    x = _example(model, plan, example)
    out = copy.deepcopy(model).eval()
    if plan.kind == "unstructured":
        return apply_masks(out, plan)
    analysis = analyse(model, x)  # the original's graph (cached from planning); cuts are made by name on the copy
    removed = removed_units(analysis, plan)
    blocks = dropped_blocks(analysis, plan)
    _cut_tensors(out, _tensor_masks(analysis, removed))
    _fix_attributes(out, analysis, removed)
    drop_blocks(out, blocks)  # after the cuts: a dropped branch's tensors were cut with the rest, then go
    if verify:
        try:
            verify_slim(model, out, plan, x, analysis=analysis)
        except ParityError:
            raise
        except Exception as err:  # the slim model does not run: an attribute forward reads was not rewritten
            raise ParityError(f"the slim model does not run ({type(err).__name__}: {str(err)[:160]})",
                              fix="report this with the model; meanwhile keep the offending layer with --keep") from None
    return out


def check_slim(slim_model: nn.Module, reference: nn.Module, inputs: torch.Tensor, *, what: str = "pruned") -> float:
    """max |slim(x) - reference(x)| over ``inputs`` (both in eval mode); a ParityError above the tolerance,
    ``SLIM_TOLERANCE`` x max(1, max |reference(x)|).

    Both run in float64 (copies) where the models allow it, against ``WIDE_TOLERANCE`` x max(1, max |reference|):
    a slim layer sums fewer terms than its masked original, in another blocking order, and through a deep
    transformer float32 rounding alone reaches 3e-5, which would hide a real difference of that size (an attention
    scale read from a rewritten width); in float64 rounding stays near 1e-12. A model that does not run in float64
    (a dtype fixed in its forward) is compared in its own precision against ``SLIM_TOLERANCE``. The one slim-vs-pruned check: ``slim(verify=True)`` and
    ``compress`` both go through it.
    """
    was = (slim_model.training, reference.training)
    slim_model.eval()
    reference.eval()
    try:
        with torch.no_grad():
            tolerance = WIDE_TOLERANCE
            try:
                if inputs.dtype != torch.float32:
                    raise TypeError("compared in the input's own precision")
                wide = inputs.double()
                ref = copy.deepcopy(reference).double()(wide)
                got = copy.deepcopy(slim_model).double()(wide)
            except Exception:
                tolerance = SLIM_TOLERANCE
                ref = reference(inputs)
                got = slim_model(inputs)
            diff = float((got - ref).abs().max())
            scale = max(1.0, float(ref.abs().max()))
    finally:
        slim_model.train(was[0])
        reference.train(was[1])
    tolerance *= scale
    if not diff <= tolerance:
        raise ParityError(f"the slim model differs from the {what} model by {diff:.3g} (tolerance {tolerance:.3g})",
                          fix="report this with the model; meanwhile keep the offending layer with --keep")
    return diff


def verify_slim(model: nn.Module, slim_model: nn.Module, plan: PrunePlan, example: torch.Tensor,
                inputs: torch.Tensor | None = None, *, analysis: Analysis | None = None) -> float:
    """max |slim(x) - pruned(x)| over random inputs of the example's shape; a ParityError above the tolerance."""
    pruned = apply_masks(copy.deepcopy(model).eval(), plan, example, analysis=analysis)
    gen = torch.Generator().manual_seed(0)
    x = inputs if inputs is not None else torch.randn((8, *example.shape[1:]), generator=gen)
    return check_slim(slim_model, pruned, x)


def plan_summary(plan: PrunePlan) -> dict[str, Any]:
    return {g: f"{len(k)}/{plan.sizes[g]}" for g, k in plan.keep.items()}
