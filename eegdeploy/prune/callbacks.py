"""Training callbacks used by pruning methods and recovery (see eegdeploy.recover.loop.fit)."""

from __future__ import annotations

import torch
import torch.nn as nn

from eegdeploy.errors import ConfigError
from eegdeploy.prune.plan import PrunePlan

__all__ = ["BNSparsity", "KeepMasks", "KeepStructure"]


class KeepMasks:
    """Re-apply an unstructured plan's weight masks after every optimiser step: pruned weights stay exactly 0."""

    def __init__(self, plan: PrunePlan) -> None:
        self.plan = plan

    @torch.no_grad()
    def after_step(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        for name, mask in self.plan.masks.items():
            p = params.get(name)
            if p is None or p.shape != mask.shape:
                raise ConfigError(f"the plan masks parameter {name!r} "
                                  + ("which this model does not have" if p is None else
                                     f"with shape {tuple(mask.shape)}, the model's is {tuple(p.shape)}"),
                                  fix="make the plan for this model")
            p.mul_(mask.to(device=p.device, dtype=p.dtype))


class KeepStructure:
    """Keep a structured plan's removed channels at zero while a dense model trains (the masked model)."""

    def __init__(self, plan: PrunePlan, example: torch.Tensor) -> None:
        self.plan, self.example = plan, example

    def after_step(self, model: nn.Module) -> None:
        from eegdeploy.prune.surgery import apply_masks

        apply_masks(model, self.plan, self.example)


class BNSparsity:
    """Network slimming's L1 penalty on BatchNorm scales: adds ``sparsity · Σ|γ|`` to the loss, whose gradient is
    the subgradient ``sparsity · sign(γ)`` of Liu et al. (2017)."""

    def __init__(self, sparsity: float, norms: list[nn.Module]) -> None:
        self.sparsity, self.norms = sparsity, norms

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor,
             loss: torch.Tensor) -> torch.Tensor:
        return loss + self.sparsity * sum(m.weight.abs().sum() for m in self.norms)
