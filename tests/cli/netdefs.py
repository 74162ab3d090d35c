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


class MyNet(nn.Module):
    """A newcomer's own CNN (issue 17): temporal conv, depthwise spatial conv, squeeze-and-excitation gate, a
    residual block and global pooling, for input (1, electrodes, time)."""

    def __init__(self, electrodes: int = 4, num_classes: int = 2, f: int = 8) -> None:
        super().__init__()
        self.temporal = nn.Sequential(nn.Conv2d(1, f, (1, 15), padding=(0, 7), bias=False), nn.BatchNorm2d(f))
        self.spatial = nn.Sequential(nn.Conv2d(f, 2 * f, (electrodes, 1), groups=f, bias=False),
                                     nn.BatchNorm2d(2 * f), nn.ELU(), nn.AvgPool2d((1, 4)))
        self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * f, f), nn.ReLU(),
                                nn.Linear(f, 2 * f), nn.Sigmoid())
        self.res = nn.Sequential(nn.Conv2d(2 * f, 2 * f, (1, 5), padding=(0, 2), bias=False),
                                 nn.BatchNorm2d(2 * f), nn.ELU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(2 * f, num_classes)

    def forward(self, x):
        x = self.spatial(self.temporal(x))
        x = x * self.se(x)[:, :, None, None]
        x = x + self.res(x)
        return self.head(self.pool(x).flatten(1))
