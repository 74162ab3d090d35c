"""SFP: soft filter pruning (He et al., 2018).

While training, after every epoch the filters with the smallest L2 norm in each prunable group are set to zero,
and only the filters: their BatchNorm, the layers that read them and the optimiser keep going, so the zeroed
filters still receive gradient and can come back in the next epoch. The zero set after the last epoch becomes the
plan, which ``slim`` removes physically. ``schedule="linear"`` ramps the ratio from ratio/epochs up to ratio.

    plan = prune(model, SFPConfig(0.5, schedule="linear"), example=x, splits=splits, train=recipe)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError, invalid_value, unknown_name
from eegdeploy.prune.importance import L2Importance
from eegdeploy.prune.methods import Method, MethodConfig, method_analysis, plan_from_scores, prunable_groups, register
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.surgery import apply_masks
from eegdeploy.prune.trace import Analysis

__all__ = ["SCHEDULES", "SFP", "SFPConfig", "SoftFilterPrune", "zero_filters"]

SCHEDULES = ("constant", "linear")


@dataclass(frozen=True)
class SFPConfig(MethodConfig):
    """``schedule``: constant ratio, or a linear ramp up to it; ``epochs``: soft-pruning training epochs (None: the
    training recipe's)."""

    schedule: str = "constant"
    epochs: int | None = None

    def validate(self) -> None:
        if self.schedule not in SCHEDULES:
            raise unknown_name("sfp schedule", self.schedule, SCHEDULES)
        if self.epochs is not None and (isinstance(self.epochs, bool) or not isinstance(self.epochs, int)
                                        or self.epochs < 1):
            raise invalid_value("sfp epochs", self.epochs, "an integer >= 1, or None for the recipe's epochs")


@torch.no_grad()
def zero_filters(model: nn.Module, analysis: Analysis, plan: PrunePlan) -> int:
    """Zero the filters ``plan`` removes: the output rows (weight and bias) of the removed units in each layer
    that makes them. Depthwise convs that only carry a unit on (EEGNet's spatial conv after its temporal conv)
    keep their rows: zeroing the whole chain would leave no path for gradient, and the filter is gone anyway.

    Unlike ``apply_masks`` this leaves BatchNorm parameters and the consumers' input weights alone, so gradient
    still reaches the zeroed filters (soft pruning). Returns the number of rows zeroed.
    """
    zeroed = 0
    for g in analysis.groups:
        kept = set(plan.keep.get(g.name, range(g.size)))
        if len(kept) == g.size:
            continue
        removed = [i for i in range(g.size) if i not in kept]
        for name in g.producers:
            m = model.get_submodule(name)
            if name != g.name and isinstance(m, nn.modules.conv._ConvNd) and m.groups > 1:
                continue  # a depthwise conv on the group's own channels: its input is already the zeroed filter
            rows_per_unit = analysis.producer_rows(g, name)
            rows = [int(r) for i in removed for r in rows_per_unit[i]]
            if not rows:
                continue
            idx = torch.as_tensor(rows)
            m.weight[idx] = 0
            if getattr(m, "bias", None) is not None:
                m.bias[idx] = 0
            zeroed += len(rows)
    return zeroed


class SoftFilterPrune:
    """Epoch-end callback for ``fit``: zero the lowest-L2 filters of each prunable group at the scheduled ratio.

    ``plans`` holds each epoch's zero set, so callers (and tests) can see filters leave and come back.
    """

    def __init__(self, config: SFPConfig, example: torch.Tensor) -> None:
        self.config, self.example = config, example[:1]
        self.plans: list[PrunePlan] = []

    def ratio_at(self, epoch: int, epochs: int) -> float:
        """The ratio after 0-based ``epoch`` of ``epochs``: constant, or a linear ramp ending at the ratio."""
        if self.config.schedule == "linear":
            return self.config.ratio * (epoch + 1) / max(1, epochs)
        return self.config.ratio

    def plan_now(self, model: nn.Module, ratio: float) -> PrunePlan:
        """The lowest-L2 filters of each prunable group at ``ratio``, from the current weights."""
        analysis = method_analysis(model, self.example, self.config)
        return self._plan(analysis, ratio)

    def _plan(self, analysis: Analysis, ratio: float) -> PrunePlan:
        imp = L2Importance()
        scores = {g.name: imp(analysis, g) for g in prunable_groups(analysis)}
        scale = ratio / self.config.ratio  # a ramped schedule scales the per-dimension ratios alike
        overrides = {g: r * scale for g, r in self.config.overrides(analysis).items()}
        return plan_from_scores(analysis, scores, ratio, method="sfp", overrides=overrides)

    def on_epoch_end(self, model: nn.Module, epoch: int, epochs: int) -> None:
        analysis = method_analysis(model, self.example, self.config)
        plan = self._plan(analysis, self.ratio_at(epoch, epochs))
        zero_filters(model, analysis, plan)
        self.plans.append(plan)


@register("sfp")
class SFP(Method):
    config_type = SFPConfig
    trains = True

    @classmethod
    def depth_importance(cls) -> L2Importance:
        return L2Importance()

    def plan(self, model: nn.Module, config: SFPConfig, *, example: torch.Tensor, splits: Any = None,
             train: Any = None, seed: int = 0) -> PrunePlan:
        """Train ``model`` in place with soft pruning; the last epoch's zero set is the plan, applied to ``model``
        with ``apply_masks`` at the end."""
        from eegdeploy.recover.loop import fit

        if splits is None or train is None:
            raise ConfigError("soft filter pruning zeroes filters while training, so it needs data and a training "
                              "recipe", fix="pass splits= and train=, or use --method lfp for one-shot pruning")
        if config.epochs is not None:
            train = replace(train, epochs=config.epochs)
        if train.epochs < 1:
            raise ConfigError("soft filter pruning zeroes filters while training, so it needs at least one epoch "
                              f"(got {train.epochs})", fix="pass --epochs 1 or more, or use --method lfp")
        cb = SoftFilterPrune(config, example)
        # The last epoch's state is the one its zero set was made on: the best-validation epoch may predate it.
        res = fit(model, splits, train, callbacks=[cb], seed=seed, restore_best=False)
        plan = cb.plans[-1]
        plan.ratio = float(config.ratio)
        # Soft pruning ends hard: the model left in place is the pruned model, so slim(model, plan) == model.
        apply_masks(model, plan, example)
        changes = sum(1 for a, b in zip(cb.plans, cb.plans[1:]) if a.keep != b.keep)
        plan.notes.append(f"sfp: {res.epochs_run} epochs of soft pruning ({config.schedule} schedule); the zero set "
                          f"changed after {changes} of them")
        return plan
