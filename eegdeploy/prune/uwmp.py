"""UWMP: unstructured weight magnitude pruning. One global threshold on |w| over all conv weights (and hidden
linear weights with ``include_linear``); recovery keeps pruned weights at zero (KeepMasks). Dense latency does
not drop: the report shows sparsity, non-zero parameters and compressed size instead. Channels that end up
entirely unused (every consumer weight reading them is zero) are removed physically (``dead_channel_plan``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from eegdeploy.config import compile_patterns, matches_any
from eegdeploy.prune.methods import Method, MethodConfig, register
from eegdeploy.prune.plan import PrunePlan
from eegdeploy.prune.trace import analyse


@dataclass(frozen=True)
class UWMPConfig(MethodConfig):
    """Weights of conv layers (and of linear layers with ``include_linear``) below one global |w| threshold."""

    def validate(self) -> None:
        given = [n for n in ("ratio_heads", "ratio_mlp", "ratio_embed") if getattr(self, n) is not None]
        if self.ratio_depth:
            given.append("ratio_depth")
        if given:
            from eegdeploy.errors import ConfigError

            flags = ", ".join("--" + n.replace("_", "-") for n in given)
            raise ConfigError(f"{flags} need a structured method: uwmp zeroes single weights, it removes no "
                              "heads, widths or blocks", fix="use --method lfp, sfp or nsfp, or drop " + flags)


@register("uwmp")
class UWMP(Method):
    config_type = UWMPConfig
    structured = False

    def plan(self, model: nn.Module, config: UWMPConfig, *, example: torch.Tensor, splits: Any = None,
             train: Any = None, seed: int = 0) -> PrunePlan:
        analysis = analyse(model, example)
        out_layers = {n for n, lay in analysis.layers.items()
                      if lay.out_slots is not None and any(analysis.frozen.get(int(u), "").startswith("model output")
                                                           for u in analysis.unit_of[lay.out_slots])}
        keep = compile_patterns(list(config.keep))
        targets: dict[str, torch.Tensor] = {}
        for name, m in model.named_modules():
            if matches_any(name, keep) or name in out_layers:
                continue
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) or (config.include_linear and isinstance(m, nn.Linear)):
                targets[f"{name}.weight"] = m.weight.detach()
        plan = PrunePlan(method="uwmp", ratio=float(config.ratio), kind="unstructured", input_shape=analysis.input_shape)
        if not targets:
            plan.notes.append("no conv weights to prune")
            return plan
        flat = torch.cat([w.abs().flatten() for w in targets.values()])
        k = int(config.ratio * flat.numel())
        threshold = torch.kthvalue(flat, k).values if k > 0 else flat.min() - 1
        for pname, w in targets.items():
            plan.masks[pname] = w.abs() > threshold
        total = sum(m.numel() for m in plan.masks.values())
        zeroed = sum(int((~m).sum()) for m in plan.masks.values())
        plan.notes.append(f"uwmp: {zeroed:,} of {total:,} weights zeroed ({zeroed / total:.1%}) by a global |w| "
                          f"threshold of {float(threshold):.3g}")
        return plan


def dead_channel_plan(model: nn.Module, example: torch.Tensor) -> PrunePlan:
    """A structured plan removing the channels nothing reads any more: every consumer weight that reads the
    channel is zero. Removing them changes no output, so the slim model stays exact."""
    analysis = analyse(model, example)
    plan = PrunePlan(method="uwmp-dead-channels", ratio=0.0, input_shape=analysis.input_shape)
    read: dict[int, bool] = {}
    for name, lay in analysis.layers.items():
        if lay.kind not in ("conv", "linear") or lay.in_slots is None:
            continue
        w = lay.module.weight.detach()
        if lay.kind == "conv" and lay.module.groups > 1:
            continue  # depthwise: tied units, judged by their own consumers
        cols = w.transpose(0, 1).reshape(w.shape[1], -1).abs().sum(dim=1) if w.dim() > 2 else w.abs().sum(dim=0)
        for slot, c in zip(lay.in_slots, cols):
            u = int(analysis.unit_of[slot])
            read[u] = read.get(u, False) or bool(c > 0)
    for g in analysis.groups:
        plan.sizes[g.name] = g.size
        if not g.prunable:
            plan.keep[g.name] = list(range(g.size))
            continue
        kept = [i for i, u in enumerate(g.units) if read.get(u, True)]
        plan.keep[g.name] = kept or [0]
    return plan
