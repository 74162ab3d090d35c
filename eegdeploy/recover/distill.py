"""Knowledge distillation from the unpruned baseline: ``compress --recover distill``.

The pruned network inherits its weights (as in fine-tuning) and is trained on a blend of the task loss and the
Kullback-Leibler divergence between the teacher's and the student's class distributions softened by a temperature
``T`` (Hinton et al., 2015):

    loss = (1 - weight) * task_loss + weight * T**2 * KL(softmax(teacher / T) || softmax(student / T))

``T**2`` keeps the soft term's gradient on the scale of the hard one as ``T`` grows. The task loss is whatever
came before this callback: plain cross-entropy, or the knowledge-guided loss when ``--kg`` is on, so the two
combine. The teacher runs in eval mode without gradients, on the same batch as the student.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from eegdeploy.errors import invalid_value

__all__ = ["DistillConfig", "Distill", "distillation_loss"]


@dataclass(frozen=True)
class DistillConfig:
    """``temperature`` > 0 softens both distributions; ``weight`` in [0, 1] is the share of the soft term."""

    temperature: float = 4.0
    weight: float = 0.5

    def __post_init__(self) -> None:
        t, w = self.temperature, self.weight
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < float(t) <= 100:
            raise invalid_value("distill-temperature", t, "a number in (0, 100], e.g. 4")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= float(w) <= 1:
            raise invalid_value("distill-weight", w, "a number in [0, 1], e.g. 0.5")

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T**2 * KL(p_teacher || p_student)`` at temperature ``T``, averaged over the batch."""
    t = float(temperature)
    log_p_student = F.log_softmax(student_logits / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.detach() / t, dim=-1)
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * (t * t)


class Distill:
    """A recovery callback (eegdeploy.recover.fit ``callbacks=``) blending the task loss with the teacher's."""

    def __init__(self, teacher: nn.Module, config: DistillConfig) -> None:
        self.teacher = copy.deepcopy(teacher).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.config = config

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor,
             loss: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        w = float(self.config.weight)
        return (1 - w) * loss + w * distillation_loss(logits, teacher_logits, self.config.temperature)
