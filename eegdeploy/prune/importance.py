"""Importance criteria: one score per unit of a channel group (what to cut; surgery decides how)."""

from __future__ import annotations

import torch
import torch.nn as nn

from eegdeploy.prune.trace import Analysis, ChannelGroup


class Importance:
    """Scores the units of a group; higher means more important. Producers are normalised by their mean score,
    so a group fed by several layers (a residual block, EEGNet's temporal + depthwise convs) weighs them alike.
    A depth group's units are residual blocks, scored by the same per-row norm summed over the weights of the
    layers each block writes back into the residual stream with (``depth.block_scores``)."""

    def __call__(self, analysis: Analysis, group: ChannelGroup) -> torch.Tensor:
        if group.kind == "depth":  # residual blocks: the norm of the weights each writes back with
            from eegdeploy.prune.depth import block_scores

            return block_scores(analysis, group, self.row_scores)
        total = torch.zeros(group.size, dtype=torch.float64)
        for name in group.producers:
            rows = analysis.producer_rows(group, name)
            w = analysis.layers[name].module.weight.detach().double()
            per_row = self.row_scores(w.reshape(w.shape[0], -1))
            scores = torch.stack([per_row[torch.as_tensor(r)].sum() if len(r) else per_row.new_zeros(())
                                  for r in rows])
            mean = scores.mean()
            total += scores / mean if mean > 0 else scores
        return total

    def row_scores(self, w: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class L1Importance(Importance):
    """L1 norm of each filter (Li et al., 2017)."""

    def row_scores(self, w: torch.Tensor) -> torch.Tensor:
        return w.abs().sum(dim=1)


class L2Importance(Importance):
    """L2 norm of each filter (soft filter pruning, He et al., 2018)."""

    def row_scores(self, w: torch.Tensor) -> torch.Tensor:
        return w.pow(2).sum(dim=1).sqrt()


class BNScaleImportance(Importance):
    """|gamma| of the BatchNorm layers on the group's channels (network slimming, Liu et al., 2017).
    Unnormalised, so scores compare across groups for global ranking; groups without BatchNorm score NaN."""

    def __call__(self, analysis: Analysis, group: ChannelGroup) -> torch.Tensor:
        units = {u: i for i, u in enumerate(group.units)}
        total = torch.zeros(group.size, dtype=torch.float64)
        count = torch.zeros(group.size, dtype=torch.float64)
        for name in group.members:
            lay = analysis.layers[name]
            if lay.kind != "norm" or not getattr(lay.module, "affine", False) or lay.out_slots is None:
                continue
            gamma = lay.module.weight.detach().double().abs()
            for ch, u in enumerate(analysis.unit_of[lay.out_slots]):
                if int(u) in units:
                    total[units[int(u)]] += gamma[ch]
                    count[units[int(u)]] += 1
        if (count == 0).all():
            return torch.full((group.size,), float("nan"), dtype=torch.float64)
        return total / count.clamp(min=1)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)) for m in model.modules())
