"""Groups the slim model cannot cut, found by cutting them: kept whole, with what went wrong as the reason.

The graph analysis (``trace``) proves what the captured graph shows. It cannot see where a size in the graph came
from: torch.export writes every size as a literal, so ``x.view(b, self.n_filters, -1)`` and ``x.view(b, c, -1)``
with ``c = x.shape[1]`` look alike, as do an einops pattern with a constructor constant and a LayerNorm sized by
an argument. When ``forward`` reads such a width from the module rather than from its tensors, the slim model
fails to run, or runs and computes something else than the masked model.

``probe_groups`` settles that by running the slim model: every prunable group (depth groups included) loses the
upper half of its units in one slim copy, which is compared with the masked model on random inputs, the same
check as ``slim(verify=True)``. When that copy fails, each group is tried alone (up to ``MAX_TRIALS`` groups; with
more, the groups are split in halves and each half tried, down to the groups that fail alone, within ``MAX_TRIALS``
copies: groups left untried stay prunable, and the slim check of the run itself still guards them); the groups
that fail are kept whole, with the error as their reason. A model the analysis gets right costs one slim copy. Verdicts are cached
per model object and input shape, like the capture, so planning, slimming and search pay once.
"""

from __future__ import annotations

import contextlib
import weakref
from collections import OrderedDict
from typing import Any, Iterator

import torch
import torch.nn as nn

from eegdeploy.prune.units import Analysis, ChannelGroup

_CACHE: "OrderedDict[tuple[int, tuple[int, ...], tuple[str, ...]], tuple[weakref.ref, dict[str, str]]]" = \
    OrderedDict()
_CACHE_SIZE = 32
MAX_TRIALS = 40  # slim copies after the first (each group alone, or a bisection's within this budget)
_ACTIVE = [False]  # the probe's own slim calls analyse the model again: they must not probe


@contextlib.contextmanager
def _probing() -> Iterator[None]:
    _ACTIVE[0] = True
    try:
        yield
    finally:
        _ACTIVE[0] = False


def probing() -> bool:
    return _ACTIVE[0]


def _trial(model: nn.Module, analysis: Analysis, groups: list[ChannelGroup], example: torch.Tensor) -> str | None:
    """None when cutting the upper half of every group in ``groups`` gives a slim model equal to the masked one;
    else what went wrong, in a few words."""
    from eegdeploy.prune.plan import PrunePlan
    from eegdeploy.prune.surgery import slim, verify_slim

    keep = {g.name: list(range(g.size - max(1, g.size // 2))) for g in groups}
    plan = PrunePlan(method="probe", ratio=0.5, keep=keep, sizes={g.name: g.size for g in groups},
                     input_shape=tuple(example.shape[1:]))
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn((2, *example.shape[1:]), generator=gen, dtype=example.dtype)
    try:
        small = slim(model, plan, example[:1], verify=False)
        verify_slim(model, small, plan, example[:1], inputs, analysis=analysis)
    except Exception as err:
        text = str(err).splitlines()[0].split("; ")[0] if str(err) else ""
        return f"{type(err).__name__}: {text[:140]}"
    return None


def _bisect(model: nn.Module, analysis: Analysis, groups: list[ChannelGroup], example: torch.Tensor,
            failed: str | None, budget: list[int]) -> dict[str, str]:
    if failed is None:
        return {}
    if len(groups) == 1:
        return {groups[0].name: failed}
    mid = len(groups) // 2
    out: dict[str, str] = {}
    for half in (groups[:mid], groups[mid:]):
        if budget[0] <= 0:  # left prunable: the slim check of the run itself still guards them
            break
        budget[0] -= 1
        out.update(_bisect(model, analysis, half, example, _trial(model, analysis, half, example), budget))
    return out


def probe_groups(model: nn.Module, analysis: Analysis, example: torch.Tensor,
                 keep: tuple[str, ...] = ()) -> dict[str, str]:
    """Group name -> why it is kept whole, for the prunable groups of ``analysis`` whose cut the slim model does
    not reproduce (cached per model object, input shape and keep patterns)."""
    key = (id(model), tuple(example.shape[1:]), tuple(keep))
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is model:
        _CACHE.move_to_end(key)
        return hit[1]
    groups = [g for g in list(analysis.groups) + list(getattr(analysis, "depth", [])) if g.prunable and g.size > 1]
    verdicts: dict[str, str] = {}
    if groups:
        was = model.training
        model.eval()
        try:
            with _probing(), torch.random.fork_rng():
                failed = _trial(model, analysis, groups, example)
                if failed is not None and len(groups) <= MAX_TRIALS:  # each alone: exact, n more slim copies
                    for g in groups:
                        why = _trial(model, analysis, [g], example)
                        if why is not None:
                            verdicts[g.name] = why
                else:
                    verdicts = _bisect(model, analysis, groups, example, failed, [MAX_TRIALS])
        finally:
            model.train(was)
    _CACHE[key] = (weakref.ref(model), verdicts)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return verdicts


def apply_verdicts(analysis: Analysis, verdicts: dict[str, Any]) -> None:
    for g in list(analysis.groups) + list(getattr(analysis, "depth", [])):
        if g.name in verdicts and g.prunable:
            g.prunable = False
            g.reason = f"the slim model cannot cut it ({verdicts[g.name]}): its forward reads a width it does " \
                       "not take from its tensors"


__all__ = ["apply_verdicts", "probe_groups", "probing"]
