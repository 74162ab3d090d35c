"""Supernet training over a transformer search space: the sandwich rule with in-place distillation.

Every step trains, on the same batch, the largest subnet (task loss), the smallest and ``random_subnets`` random
ones (distillation from the largest's logits, ``T**2``-scaled KL at temperature ``temperature``). A subnet runs
as the masked model on the shared weights (``apply_masks`` on one working copy, reset to the shared weights before
each subnet: removed channels zeroed, LayerNorms over the kept channels), and its gradients reach only the positions it keeps, so every subnet trains the slice of
the shared weights that ``slim`` later cuts out. Gradients of the subnets are summed, then one optimizer step.
Before training, the units of every searched group are put in importance order in storage
(``sort_by_importance``, a function-preserving permutation), so each subnet trains a prefix of the shared weights
and a smaller subnet's weights are literally a prefix of a larger one's. The result is the same function class
with new weights: an ordinary checkpoint that ``search`` (in storage order) and ``compress --plan`` accept.
"""

from __future__ import annotations

import copy
import random
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from eegdeploy.errors import invalid_value
from eegdeploy.prune.surgery import apply_masks, clear_masks
from eegdeploy.prune.trace import analyse
from eegdeploy.recover.distill import distillation_loss
from eegdeploy.search.space import TransformerSpace, sort_by_importance


@dataclass(frozen=True)
class SupernetConfig:
    epochs: int = 2
    random_subnets: int = 2
    lr: float | None = None  # None: the profile's
    batch_size: int | None = None
    temperature: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise invalid_value("epochs", self.epochs, "an integer >= 1")
        if self.random_subnets < 0:
            raise invalid_value("random-subnets", self.random_subnets, "an integer >= 0")
        if not self.temperature > 0:
            raise invalid_value("temperature", self.temperature, "a positive number, e.g. 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def keep_masks(model: nn.Module, space: TransformerSpace, genes: list[int], example: torch.Tensor,
               analysis: Any = None) -> dict[str, torch.Tensor]:
    """Parameter name -> bool tensor, True where the subnet ``genes`` keeps the weight (from ``apply_masks`` on a
    model of ones, so it is exactly what masking and slimming remove)."""
    ones = copy.deepcopy(model)
    with torch.no_grad():
        for p in ones.parameters():
            p.fill_(1.0)
    apply_masks(ones, space.plan(genes), example, analysis=analysis)
    return {n: p != 0 for n, p in ones.named_parameters()}


@torch.no_grad()
def reset(work: nn.Module, model: nn.Module) -> nn.Module:
    """Make ``work`` (a copy of ``model``) equal to ``model`` again: its parameters and buffers copied back, its
    gradients cleared and the hooks of an earlier ``apply_masks`` removed. The same as a fresh ``deepcopy`` of
    ``model`` for masking and training a subnet, without allocating a model per subnet and batch."""
    for w, p in zip(work.parameters(), model.parameters()):
        w.copy_(p)
        w.grad = None
    for w, b in zip(work.buffers(), model.buffers()):
        w.copy_(b)
    work.train(model.training)
    return clear_masks(work)


def sandwich(space: TransformerSpace, rng: random.Random, n_random: int) -> list[list[int]]:
    """Largest first (the teacher), then the smallest and ``n_random`` random subnets."""
    return [space.largest(), space.smallest(), *(space.sample(rng) for _ in range(n_random))]


def train_supernet(model: nn.Module, space: TransformerSpace, splits: Any, example: torch.Tensor,
                   cfg: SupernetConfig, train: Any = None, progress: Callable[[int, int, dict], None] | None = None
                   ) -> dict[str, Any]:
    """Fine-tune ``model`` in place with the sandwich rule; returns per-epoch losses and validation accuracy of
    the largest and smallest subnets (sliced, as ``search`` sees them). ``model``'s units are first sorted by
    importance in storage and ``space`` switched to storage order (both in place)."""
    from eegdeploy.recover.loop import batches

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    lr = cfg.lr or (getattr(train, "lr", None) or 1e-3)
    bs = cfg.batch_size or (getattr(train, "batch_size", None) or 32)
    analysis = analyse(model, example)
    sort_by_importance(model, space, example, analysis=analysis)
    masks: dict[tuple[int, ...], dict[str, torch.Tensor]] = {}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    work = copy.deepcopy(model)  # one working copy, reset to the shared weights before each subnet
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        total, steps = 0.0, 0
        for xb, yb in batches(splits.train, bs, shuffle=True, generator=gen):
            for p in model.parameters():
                p.grad = torch.zeros_like(p)
            teacher = None
            step_loss = 0.0
            for i, genes in enumerate(sandwich(space, rng, cfg.random_subnets)):
                key = tuple(genes)
                if key not in masks:
                    masks[key] = keep_masks(model, space, genes, example, analysis)
                reset(work, model)
                apply_masks(work, space.plan(genes), example, analysis=analysis)
                logits = work(xb)
                if i == 0:
                    loss = F.cross_entropy(logits, yb)
                    teacher = logits.detach()
                else:
                    loss = distillation_loss(logits, teacher, cfg.temperature)
                loss.backward()
                with torch.no_grad():
                    for (n, p), q in zip(model.named_parameters(), work.parameters()):
                        if q.grad is not None:
                            p.grad += q.grad * masks[key][n]
                step_loss += float(loss.detach())
            opt.step()
            total += step_loss
            steps += 1
        row = {"epoch": epoch + 1, "loss": total / max(1, steps)}
        row.update(_val(model, space, splits, example))
        history.append(row)
        if progress:
            progress(epoch + 1, cfg.epochs, row)
    model.eval()
    return {"config": cfg.to_dict(), "history": history, "sorted": True}


def _val(model: nn.Module, space: TransformerSpace, splits: Any, example: torch.Tensor) -> dict[str, float]:
    from eegdeploy.prune.surgery import slim
    from eegdeploy.recover.loop import evaluate

    split = splits.val if len(splits.val) else splits.test
    return {"val_largest": evaluate(model, split),
            "val_smallest": evaluate(slim(model, space.plan(space.smallest()), example, verify=False), split)}
