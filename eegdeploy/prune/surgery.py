"""Applying a plan: zeroing (the "pruned" model) and physical removal (the "slim" model).

Both work from the same channel analysis, so they agree by construction: ``apply_masks`` zeroes the removed
channels' filters, biases and BatchNorm affine parameters *and* the consumers' weights that read them, so the
removed channels cannot influence anything downstream whatever value they carry (an activation with f(0) != 0
included); ``slim`` cuts the same rows and columns out and rebuilds each layer smaller. The invariant
``slim(m, plan)(x) == apply_masks(copy(m), plan)(x)`` holds up to float summation order and is checked.
"""

from __future__ import annotations

import copy
import numpy as np
import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError, ParityError
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.trace import Analysis, analyse

SLIM_TOLERANCE = 1e-5


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
    """For every conv/linear/norm layer, boolean keep masks over its input and output channels (None: all kept)."""
    removed = removed_units(analysis, plan)
    return {name: (_keep_mask(analysis, lay.in_slots, removed), _keep_mask(analysis, lay.out_slots, removed))
            for name, lay in analysis.layers.items()}


@torch.no_grad()
def apply_masks(model: nn.Module, plan: PrunePlan, example: torch.Tensor | None = None) -> nn.Module:
    """Zero in place what ``plan`` removes; returns ``model`` (the pruned, still dense model)."""
    if plan.kind == "unstructured":
        params = dict(model.named_parameters())
        for name, mask in plan.masks.items():
            if name not in params:
                raise ConfigError(f"the plan masks parameter {name!r}, which this model does not have",
                                  fix="make the plan for this model")
            params[name].mul_(mask.to(params[name].dtype))
        return model
    analysis = analyse(model, _example(model, plan, example))
    for name, (keep_in, keep_out) in layer_masks(analysis, plan).items():
        lay = analysis.layers[name]
        m = model.get_submodule(name)
        if lay.kind == "norm":
            if keep_out is not None and not keep_out.all() and m.affine:
                drop = torch.from_numpy(~keep_out)
                m.weight[drop] = 0
                m.bias[drop] = 0
            continue
        if keep_out is not None and not keep_out.all():
            drop = torch.from_numpy(~keep_out)
            m.weight[drop] = 0
            if m.bias is not None:
                m.bias[drop] = 0
        depthwise = lay.kind == "conv" and m.groups > 1
        if keep_in is not None and not keep_in.all() and not depthwise:
            m.weight[:, torch.from_numpy(~keep_in)] = 0
    return model


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
    analysis = analyse(out, x)
    for name, (keep_in, keep_out) in layer_masks(analysis, plan).items():
        cut_layer(out.get_submodule(name), analysis.layers[name].kind, keep_in, keep_out)
    if verify:
        verify_slim(model, out, plan, x)
    return out


def check_slim(slim_model: nn.Module, reference: nn.Module, inputs: torch.Tensor, *, what: str = "pruned") -> float:
    """max |slim(x) - reference(x)| over ``inputs`` (both in eval mode); a ParityError above ``SLIM_TOLERANCE``.

    The one slim-vs-pruned check: ``slim(verify=True)`` and ``compress`` both go through it.
    """
    was = (slim_model.training, reference.training)
    slim_model.eval()
    reference.eval()
    try:
        with torch.no_grad():
            diff = float((slim_model(inputs) - reference(inputs)).abs().max())
    finally:
        slim_model.train(was[0])
        reference.train(was[1])
    if not diff <= SLIM_TOLERANCE:
        raise ParityError(f"the slim model differs from the {what} model by {diff:.3g} (tolerance {SLIM_TOLERANCE})",
                          fix="report this with the model; meanwhile keep the offending layer with --keep")
    return diff


def verify_slim(model: nn.Module, slim_model: nn.Module, plan: PrunePlan, example: torch.Tensor,
                inputs: torch.Tensor | None = None) -> float:
    """max |slim(x) - pruned(x)| over random inputs of the example's shape; a ParityError above the tolerance."""
    pruned = apply_masks(copy.deepcopy(model).eval(), plan, example)
    gen = torch.Generator().manual_seed(0)
    x = inputs if inputs is not None else torch.randn((8, *example.shape[1:]), generator=gen)
    return check_slim(slim_model, pruned, x)
