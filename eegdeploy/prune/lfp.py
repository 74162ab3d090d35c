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
from eegdeploy.prune.methods import (SCOPES, Method, MethodConfig, method_analysis, plan_from_scores, prunable_groups,
                                    register)
from eegdeploy.prune.plan import PrunePlan


@dataclass(frozen=True)
class LFPConfig(MethodConfig):
    """``scope``: rank filters within each layer (``layer``, the paper's setting) or across layers (``global``)."""

    scope: str = "layer"

    def validate(self) -> None:
        if self.scope not in SCOPES:
            raise unknown_name("scope", self.scope, SCOPES)


@register("lfp")
class LFP(Method):
    config_type = LFPConfig

    def plan(self, model: nn.Module, config: LFPConfig, *, example: torch.Tensor, splits: Any = None,
             train: Any = None, seed: int = 0) -> PrunePlan:
        analysis = method_analysis(model, example, config)
        imp = L1Importance()
        scores = {g.name: imp(analysis, g) for g in prunable_groups(analysis)}
        return plan_from_scores(analysis, scores, config.ratio, scope=config.scope, method="lfp",
                                overrides=config.overrides(analysis))
