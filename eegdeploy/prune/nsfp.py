"""NSFP: network slimming (Liu et al., 2017). Train with an L1 penalty on the BatchNorm scale factors γ, then rank
all BatchNorm channels globally by |γ| and remove the smallest fraction, keeping at least one channel per layer.
Channel groups without a BatchNorm layer are kept whole; a model without any BatchNorm is an error.

Without data or a training recipe (or with 0 epochs) the ranking is made on the model as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError, invalid_value
from eegdeploy.prune.callbacks import BNSparsity
from eegdeploy.prune.importance import BNScaleImportance, has_batchnorm
from eegdeploy.prune.methods import Method, MethodConfig, method_analysis, n_remove, register
from eegdeploy.prune.plan import PrunePlan

__all__ = ["NSFP", "NSFPConfig", "bn_global_plan"]


@dataclass(frozen=True)
class NSFPConfig(MethodConfig):
    """``sparsity``: the L1 penalty on BatchNorm scales during sparsity training (0: plain training)."""

    sparsity: float = 1e-4

    def validate(self) -> None:
        s = self.sparsity
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not 0 <= s < float("inf"):
            raise invalid_value("sparsity", self.sparsity, "a number >= 0 such as 1e-4")


def _norms(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) and m.affine]


def bn_global_plan(model: nn.Module, example: torch.Tensor, ratio: float, keep: tuple[str, ...] = (),
                   include_linear: bool = False, config: NSFPConfig | None = None) -> PrunePlan:
    """Global |γ| ranking over every prunable group that has BatchNorm; at least one channel kept per group.
    Groups with a per-dimension ratio in ``config`` are ranked alone at that ratio."""
    analysis = method_analysis(model, example, NSFPConfig(ratio, keep=tuple(keep), include_linear=include_linear))
    overrides = config.overrides(analysis) if config is not None else {}
    own: dict[str, torch.Tensor] = {}
    imp = BNScaleImportance()
    plan = PrunePlan(method="nsfp", ratio=float(ratio), input_shape=analysis.input_shape)
    scored: dict[str, torch.Tensor] = {}
    for g in analysis.groups:
        plan.sizes[g.name] = g.size
        plan.keep[g.name] = list(range(g.size))
        if not g.prunable:
            plan.notes.append(f"{g.name}: kept whole ({g.reason})")
            continue
        s = imp(analysis, g)
        if torch.isnan(s).any():
            plan.notes.append(f"{g.name}: kept whole (no BatchNorm to rank)")
            continue
        if overrides and g.name in overrides:
            own[g.name] = s
            continue
        scored[g.name] = s
    pool = sorted((float(v), n, i) for n, s in scored.items() for i, v in enumerate(s))
    budget = n_remove(ratio, len(pool)) if pool else 0
    drop: dict[str, set[int]] = {n: set() for n in scored}
    for _, n, i in pool:
        if budget == 0:
            break
        if len(drop[n]) < len(scored[n]) - 1:
            drop[n].add(i)
            budget -= 1
    for n in scored:
        plan.keep[n] = [i for i in range(len(scored[n])) if i not in drop[n]]
    for n, r in (overrides or {}).items():  # per-dimension ratios: that group ranked alone at its own ratio
        if n in own:
            order = torch.argsort(own[n], stable=True)
            plan.keep[n] = sorted(int(i) for i in order[n_remove(r, len(own[n])):])
    return plan


@register("nsfp")
class NSFP(Method):
    config_type = NSFPConfig
    trains = True

    def plan(self, model: nn.Module, config: NSFPConfig, *, example: torch.Tensor, splits: Any = None,
             train: Any = None, seed: int = 0) -> PrunePlan:
        if not has_batchnorm(model):
            raise ConfigError(f"{type(model).__name__} has no BatchNorm layers; network slimming ranks BatchNorm "
                              "scales", fix="use --method lfp or sfp for this model")
        epochs = 0
        if splits is not None and train is not None and train.epochs > 0:
            from eegdeploy.recover.loop import fit

            # sparsity 0 is plain training: the baseline that the penalty is compared against
            callbacks = [BNSparsity(config.sparsity, _norms(model))] if config.sparsity > 0 else []
            epochs = fit(model, splits, train, callbacks=callbacks, seed=seed).epochs_run
        plan = bn_global_plan(model, example, config.ratio, config.keep, config.include_linear, config)
        plan.notes.append(f"nsfp: sparsity {config.sparsity:g} on BatchNorm scales, {epochs} training epoch{'s' if epochs != 1 else ''}, "
                          "global |gamma| ranking")
        return plan
