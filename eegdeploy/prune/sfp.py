"""SFP: soft filter pruning (He et al., 2018). While training, after every epoch the filters with the smallest L2
norm in each layer are zeroed, but they keep receiving gradient updates, so a zeroed filter can come back; the
zero set after the last epoch becomes the plan and is removed physically. ``schedule="linear"`` ramps the ratio
from ratio/epochs up to ratio over the epochs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError, unknown_name
from eegdeploy.prune.importance import L2Importance
from eegdeploy.prune.methods import Method, check_ratio, plan_from_scores, prunable_groups, register
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.surgery import apply_masks
from eegdeploy.prune.trace import analyse

SCHEDULES = ("constant", "linear")


@dataclass(frozen=True)
class SFPConfig:
    ratio: float = 0.5
    schedule: str = "constant"
    keep: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_ratio(self.ratio)
        if self.schedule not in SCHEDULES:
            raise unknown_name("sfp schedule", self.schedule, SCHEDULES)


class SoftFilterPrune:
    """Epoch-end callback: zero the lowest-L2 filters of each prunable group at the scheduled ratio."""

    def __init__(self, config: SFPConfig, example: torch.Tensor) -> None:
        self.config, self.example = config, example
        self.plans: list[PrunePlan] = []  # the zero set of each epoch, for the report and the tests

    def ratio_at(self, epoch: int, epochs: int) -> float:
        if self.config.schedule == "linear":
            return self.config.ratio * (epoch + 1) / max(1, epochs)
        return self.config.ratio

    def plan_now(self, model: nn.Module, ratio: float) -> PrunePlan:
        analysis = analyse(model, self.example, keep=self.config.keep)
        imp = L2Importance()
        scores = {g.name: imp(analysis, g) for g in prunable_groups(analysis)}
        return plan_from_scores(analysis, scores, ratio, method="sfp")

    def on_epoch_end(self, model: nn.Module, epoch: int, epochs: int) -> None:
        plan = self.plan_now(model, self.ratio_at(epoch, epochs))
        apply_masks(model, plan, self.example)
        self.plans.append(plan)


@register("sfp")
class SFP(Method):
    config_type = SFPConfig
    trains = True

    def plan(self, model: nn.Module, config: SFPConfig, *, example: torch.Tensor, splits: Any = None,
             train: Any = None, seed: int = 0) -> PrunePlan:
        from eegdeploy.recover.loop import fit

        if splits is None or train is None or train.epochs < 1:
            raise ConfigError("soft filter pruning zeroes filters while training, so it needs data and at least one "
                              "epoch", fix="pass --epochs 1 or more, or use --method lfp for one-shot pruning")
        cb = SoftFilterPrune(config, example)
        fit(model, splits, train, callbacks=[cb], seed=seed, restore_best=False)
        plan = cb.plans[-1] if cb.plans else cb.plan_now(model, config.ratio)
        plan.ratio = config.ratio
        plan.notes.append(f"sfp: {len(cb.plans)} epochs of soft pruning ({config.schedule} schedule)")
        return plan
