"""Seed architectures for motor imagery (2 electrodes x 750 samples at 250 Hz, 2 classes), as plain PyTorch.

``eegdeploy:EEGNetBCI``, ``eegdeploy:DeepConvNetBCI`` and ``eegdeploy:ShallowConvNetBCI`` follow the published
layouts (EEGNet: Lawhern et al., 2018; Deep and Shallow ConvNet: Schirrmeister et al., 2017) at the sizes the EEG-pruning literature uses for BCI data, with a
selectable activation so the slimming engine is exercised with f(0) = 0 and f(0) != 0 alike.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from eegdeploy.errors import unknown_name

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU}


def _act(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise unknown_name("activation", name, tuple(ACTIVATIONS))
    return ACTIVATIONS[name]()


class EEGNetBCI(nn.Module):
    """Temporal conv (16, 1x51) → BN → depthwise spatial conv (2x1, x2) → BN → act → avg-pool 1x4 → dropout →
    separable conv (1x15, 32) → BN → act → avg-pool 1x8 → dropout → flatten → linear."""

    def __init__(self, num_electrodes: int = 2, chunk_size: int = 750, num_classes: int = 2,
                 activation: str = "elu", dropout: float = 0.25) -> None:
        super().__init__()
        self.temporal = nn.Conv2d(1, 16, (1, 51), padding=(0, 25), bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.spatial = nn.Conv2d(16, 32, (num_electrodes, 1), groups=16, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.act1 = _act(activation)
        self.pool1 = nn.AvgPool2d((1, 4))
        self.drop1 = nn.Dropout(dropout)
        self.separable = nn.Conv2d(32, 32, (1, 15), padding=(0, 7), bias=False)
        self.bn3 = nn.BatchNorm2d(32)
        self.act2 = _act(activation)
        self.pool2 = nn.AvgPool2d((1, 8))
        self.drop2 = nn.Dropout(dropout)
        self.classifier = nn.Linear(32 * (chunk_size // 4 // 8), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn1(self.temporal(x))
        x = self.drop1(self.pool1(self.act1(self.bn2(self.spatial(x)))))
        x = self.drop2(self.pool2(self.act2(self.bn3(self.separable(x)))))
        return self.classifier(torch.flatten(x, 1))


class DeepConvNetBCI(nn.Module):
    """conv 1x5 (25) → conv 2x1 (25) → BN → act → max-pool 1x2 → dropout, then three blocks conv 1x5 → BN → act →
    max-pool 1x2 → dropout with 50, 100, 200 filters, flatten → linear.

    Every conv has a bias, as in the Lab3 table: 25·5 + 25, 25·25·C + 25, 25·50·5 + 50, 50·100·5 + 100,
    100·200·5 + 200 parameters (C electrodes), plus BatchNorm and the classifier.
    """

    def __init__(self, num_electrodes: int = 2, chunk_size: int = 750, num_classes: int = 2,
                 activation: str = "elu", dropout: float = 0.5) -> None:
        super().__init__()
        self.temporal = nn.Conv2d(1, 25, (1, 5))
        self.spatial = nn.Conv2d(25, 25, (num_electrodes, 1))
        self.bn0 = nn.BatchNorm2d(25)
        self.act0 = _act(activation)
        self.pool0 = nn.MaxPool2d((1, 2))
        self.drop0 = nn.Dropout(dropout)
        blocks = []
        c, t = 25, (chunk_size - 4) // 2
        for width in (50, 100, 200):
            blocks.append(nn.Sequential(nn.Conv2d(c, width, (1, 5)), nn.BatchNorm2d(width),
                                        _act(activation), nn.MaxPool2d((1, 2)), nn.Dropout(dropout)))
            c, t = width, (t - 4) // 2
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(c * t, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop0(self.pool0(self.act0(self.bn0(self.spatial(self.temporal(x))))))
        x = self.blocks(x)
        return self.classifier(torch.flatten(x, 1))


class ShallowConvNetBCI(nn.Module):
    """Temporal conv (40, 1x25) → spatial conv over the electrodes (40) → BN → square → avg-pool 1x75 stride 15 →
    log → dropout → flatten → linear. Square and log are the band-power non-linearities of FBCSP; log takes
    ``clamp(x, min=1e-6)`` so a removed channel (all zeros) stays finite."""

    def __init__(self, num_electrodes: int = 2, chunk_size: int = 750, num_classes: int = 2,
                 filters: int = 40, dropout: float = 0.5) -> None:
        super().__init__()
        self.temporal = nn.Conv2d(1, filters, (1, 25))
        self.spatial = nn.Conv2d(filters, filters, (num_electrodes, 1), bias=False)
        self.bn = nn.BatchNorm2d(filters)
        self.pool = nn.AvgPool2d((1, 75), stride=(1, 15))
        self.drop = nn.Dropout(dropout)
        steps = (chunk_size - 24 - 75) // 15 + 1
        self.classifier = nn.Linear(filters * steps, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.spatial(self.temporal(x)))
        x = torch.log(torch.clamp(self.pool(torch.square(x)), min=1e-6))
        return self.classifier(torch.flatten(self.drop(x), 1))


ARCHITECTURES: dict[str, type[nn.Module]] = {"EEGNetBCI": EEGNetBCI, "DeepConvNetBCI": DeepConvNetBCI,
                                             "ShallowConvNetBCI": ShallowConvNetBCI}
