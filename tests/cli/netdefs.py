"""A user's own CNN, imported by --arch tests.cli.netdefs:SmallCNN in the CLI tests."""

import torch.nn as nn


class SmallCNN(nn.Module):
    def __init__(self, channels: int = 8, num_classes: int = 2) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, channels, (1, 7), padding=(0, 3)), nn.BatchNorm2d(channels),
                                      nn.ReLU(), nn.Conv2d(channels, 2 * channels, (4, 1)), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d((1, 4)))
        self.head = nn.Linear(2 * channels * 4, num_classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


class Branchy(nn.Module):
    """Data-dependent control flow: the channel analysis cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x)
        if float(y.mean()) > 0:
            y = -y
        return self.head(y.mean(dim=(2, 3)))
