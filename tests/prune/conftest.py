import os

import torch
import torch.nn as nn


def examples(full: int) -> int:
    """Hypothesis examples for a property test: ``full`` in make test, a third of them (at least 4) in the fast
    tier (tests/conftest.py sets EEGDEPLOY_TEST_TIER for -m "not slow"). Both draw a fixed, derandomized set."""
    return max(4, full // 3) if os.environ.get("EEGDEPLOY_TEST_TIER") == "fast" else full


class Residual(nn.Module):
    """conv -> BN -> relu, two convs added back (residual), channel concat with a 1x1 branch, flatten -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.a = nn.Conv2d(8, 8, 3, padding=1)
        self.b = nn.Conv2d(8, 6, 1)
        self.mix = nn.Conv2d(14, 10, 3, padding=1, bias=False)
        self.head = nn.Linear(10 * 4 * 4, 3)

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        x = x + torch.relu(self.a(x))
        x = torch.cat([x, self.b(x)], dim=1)
        x = nn.functional.avg_pool2d(torch.nn.functional.elu(self.mix(x)), 2)
        return self.head(x.flatten(1))


class Depthwise(nn.Module):
    """EEGNet-like: temporal conv, depthwise spatial conv with depth multiplier 2, separable conv."""

    def __init__(self, act: str = "elu") -> None:
        super().__init__()
        self.t = nn.Conv2d(1, 4, (1, 5), padding=(0, 2), bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.dw = nn.Conv2d(4, 8, (3, 1), groups=4, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.sep = nn.Conv2d(8, 8, (1, 3), padding=(0, 1), groups=8, bias=False)
        self.pw = nn.Conv2d(8, 6, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(6)
        self.act = {"elu": nn.ELU(), "relu": nn.ReLU(), "sigmoid": nn.Sigmoid()}[act]
        self.fc = nn.Linear(6 * 16, 2)

    def forward(self, x):
        x = self.bn1(self.t(x))
        x = self.act(self.bn2(self.dw(x)))
        x = self.act(self.bn3(self.pw(self.sep(x))))
        return self.fc(x.flatten(1))


class Unknown(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 3)
        self.c2 = nn.Conv2d(6, 6, 3)
        self.fc = nn.Linear(6, 2)

    def forward(self, x):
        x = self.c1(x)
        x = torch.roll(x, 1, dims=1)  # mixes channels: the analysis must not prune c1
        x = self.c2(x)
        return self.fc(x.mean(dim=(2, 3)))


def macs(model, x):
    total = [0]

    def hook(m, i, o):
        if isinstance(m, nn.Conv2d):
            total[0] += o.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total[0] += m.in_features * m.out_features

    hs = [m.register_forward_hook(hook) for m in model.modules()]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return total[0]
