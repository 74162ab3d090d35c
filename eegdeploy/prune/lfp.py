"""LFP: L1-norm filter pruning (Li et al., 2017). One shot: rank each layer's filters by the L1 norm of their
weights and remove the same fraction from every prunable layer (``scope="layer"``, the literature's setting), or
rank all filters together after normalising each layer's norms by their mean (``scope="global"``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from eegdeploy.errors import unknown_name
from eegdeploy.prune.importance import L1Importance
from eegdeploy.prune.methods import SCOPES, Method, check_ratio, plan_from_scores, prunable_groups, register
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.trace import analyse


@dataclass(frozen=True)
class LFPConfig:
    ratio: float = 0.5
    scope: str = "layer"
    keep: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_ratio(self.ratio)
        if self.scope not in SCOPES:
            raise unknown_name("scope", self.scope, SCOPES)


@register("lfp")
class LFP(Method):
    config_type = LFPConfig

    def plan(self, model: nn.Module, config: LFPConfig, *, example: torch.Tensor, splits: Any = None,
             train: Any = None, seed: int = 0) -> PrunePlan:
        analysis = analyse(model, example, keep=config.keep)
        imp = L1Importance()
        scores = {g.name: imp(analysis, g) for g in prunable_groups(analysis)}
        return plan_from_scores(analysis, scores, config.ratio, scope=config.scope, method="lfp")
