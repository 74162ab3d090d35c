"""Hardware-friendly widths: round every pruned group's kept channel count to a multiple of N.

onnxruntime's blocked-layout (NCHWc) convolutions need channel counts that are multiples of the CPU's block size
(8 with AVX2, 16 with AVX-512); other widths fall back to im2col + GEMM. ``round_plan`` moves each structured
plan's kept count to the nearest multiple of ``multiple`` (never below ``multiple``, and never so far up that
the group is kept whole), adding back the removed channels with the highest L1 norm or dropping the kept ones with the lowest, so
the choice of channels stays the method's wherever the count allows. Groups not larger than ``multiple``, groups
kept whole and unstructured plans are left as they are.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from eegdeploy.errors import invalid_value
from eegdeploy.prune.importance import L1Importance
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.trace import analyse

__all__ = ["round_plan", "rounded_count"]


def rounded_count(kept: int, size: int, multiple: int) -> int:
    """The kept count rounded to the nearest multiple (ties up), at least ``multiple``; unchanged when that would
    keep the whole group (rounding never undoes a group's pruning) or the group is not larger than ``multiple``."""
    if multiple <= 1 or size <= multiple or kept == size:
        return kept
    target = max(multiple, int((kept + multiple / 2) // multiple) * multiple)
    return kept if target >= size else target


def round_plan(plan: PrunePlan, model: nn.Module, example: torch.Tensor, multiple: int) -> PrunePlan:
    """A copy of ``plan`` whose pruned groups keep a multiple of ``multiple`` channels (see the module doc)."""
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise invalid_value("round-to", multiple, "a positive integer such as 8 or 16 (1: no rounding)")
    if multiple == 1 or plan.kind != "structured":
        return plan
    out = copy.deepcopy(plan)
    analysis = analyse(model, example)
    groups = {g.name: g for g in analysis.groups}
    imp = L1Importance()
    for name, keep in plan.keep.items():
        size = plan.sizes[name]
        target = rounded_count(len(keep), size, multiple)
        if target == len(keep) or name not in groups or not groups[name].prunable:
            continue
        scores = imp(analysis, groups[name])
        if target > len(keep):
            removed = sorted(set(range(size)) - set(keep), key=lambda i: -float(scores[i]))
            out.keep[name] = sorted(keep + removed[:target - len(keep)])
        else:
            out.keep[name] = sorted(sorted(keep, key=lambda i: -float(scores[i]))[:target])
        out.notes.append(f"{name}: keeps {target} channels instead of {len(keep)} (round-to {multiple})")
    return out
