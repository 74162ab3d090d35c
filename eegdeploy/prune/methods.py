"""Pruning methods: a registry of scoring rules and schedules, each with a frozen config.

    plan = prune(model, LFPConfig(ratio=0.5), example=x)
    plan = prune(model, make_config("nsfp", 0.5, sparsity=1e-4), example=x, splits=splits, train=recipe)

A method decides *what* to cut and returns a PrunePlan; ``apply_masks``/``slim`` do the cutting, the same way for
every method. Methods that train (sfp, nsfp) train ``model`` in place and say so with ``trains = True``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, ClassVar, Sequence

import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError, invalid_value, unknown_name
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.trace import Analysis, ChannelGroup

SCOPES = ("layer", "global")


class Method:
    name: ClassVar[str] = ""
    config_type: ClassVar[type] = object
    trains: ClassVar[bool] = False

    def plan(self, model: nn.Module, config: Any, *, example: torch.Tensor, splits: Any = None,
             train: Any = None, seed: int = 0) -> PrunePlan:
        raise NotImplementedError


METHODS: dict[str, type[Method]] = {}


def register(name: str) -> Callable[[type[Method]], type[Method]]:
    def deco(cls: type[Method]) -> type[Method]:
        cls.name = name
        METHODS[name] = cls
        return cls
    return deco


def check_ratio(ratio: Any) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 < float(ratio) < 1.0:
        raise invalid_value("ratio", ratio, "a number in (0, 1)")


def make_config(name: str, ratio: float, *, keep: Sequence[str] = (), **options: Any) -> Any:
    """The config of method ``name``; unknown methods or options fail with the valid ones listed."""
    if name not in METHODS:
        raise unknown_name("method", name, sorted(METHODS))
    cls = METHODS[name].config_type
    fields = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(options) - fields)
    if bad:
        allowed = sorted(fields - {"ratio", "keep"})
        raise ConfigError(f"method {name} has no option {', '.join(bad)}",
                          fix=f"its options are: {', '.join(allowed) or 'none'}")
    return cls(ratio=ratio, keep=tuple(keep), **options)


def prune(model: nn.Module, config: Any, *, example: torch.Tensor, splits: Any = None, train: Any = None,
          seed: int = 0) -> PrunePlan:
    """Plan the pruning of ``model`` with the method ``config`` belongs to."""
    for cls in METHODS.values():
        if isinstance(config, cls.config_type):
            plan = cls().plan(model, config, example=example, splits=splits, train=train, seed=seed)
            plan.input_shape = tuple(example.shape[1:])
            return plan
    raise ConfigError(f"{type(config).__name__} is not a pruning method's config",
                      fix=f"use one of: {', '.join(sorted(c.config_type.__name__ for c in METHODS.values()))}")


def n_remove(ratio: float, size: int) -> int:
    """Channels to remove from a group of ``size`` at ``ratio``: floor, at least one kept."""
    return max(0, min(size - 1, int(math.floor(ratio * size + 1e-9))))


def plan_from_scores(analysis: Analysis, scores: dict[str, torch.Tensor], ratio: float, *, scope: str = "layer",
                     method: str = "lfp", ratios: dict[str, float] | None = None) -> PrunePlan:
    """Keep the highest-scoring units: per group at ``ratio`` (or ``ratios[group]``), or ranked globally.

    Global ranking normalises each group's scores by their mean so layers of different scale compare, removes
    the lowest ``ratio`` of all prunable units, and keeps at least one unit per group.
    """
    if scope not in SCOPES:
        raise unknown_name("scope", scope, SCOPES)
    groups = {g.name: g for g in analysis.groups}
    plan = PrunePlan(method=method, ratio=float(ratio), input_shape=analysis.input_shape)
    for g in analysis.groups:
        plan.sizes[g.name] = g.size
        plan.keep[g.name] = list(range(g.size))
        if not g.prunable:
            plan.notes.append(f"{g.name}: kept whole ({g.reason})")
    prunable = [n for n in scores if groups[n].prunable]
    if scope == "layer" or ratios is not None:
        for n in prunable:
            r = ratios.get(n, ratio) if ratios is not None else ratio
            k = n_remove(r, groups[n].size)
            order = torch.argsort(scores[n], stable=True)
            plan.keep[n] = sorted(int(i) for i in order[k:])
        return plan
    pool = []
    for n in prunable:
        s = scores[n].double()
        mean = s.mean()
        norm = s / mean if mean > 0 else s
        pool += [(float(v), n, i) for i, v in enumerate(norm)]
    total = n_remove(ratio, len(pool)) if pool else 0
    pool.sort(key=lambda t: t[0])
    drop: dict[str, set[int]] = {n: set() for n in prunable}
    for v, n, i in pool:
        if total == 0:
            break
        if len(drop[n]) < groups[n].size - 1:
            drop[n].add(i)
            total -= 1
    for n in prunable:
        plan.keep[n] = [i for i in range(groups[n].size) if i not in drop[n]]
    return plan


def prunable_groups(analysis: Analysis) -> list[ChannelGroup]:
    return [g for g in analysis.groups if g.prunable]
