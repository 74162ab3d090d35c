"""Shared fixtures: tiny models and data, one thread, seeded."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch
from hypothesis import settings

torch.set_num_threads(1)

# Property and fuzz tests run a fixed, reproducible set of examples by default (CI must not flake);
# HYPOTHESIS_PROFILE=explore draws fresh random examples on every run to hunt for new failures.
settings.register_profile("ci", derandomize=True, deadline=None)
settings.register_profile("explore", derandomize=False, deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    # the fast tier (make test-fast: -m "not slow") tells property tests to draw fewer examples (tests/prune's
    # examples()); make test draws them all. Set here so that every xdist worker sees it before importing tests.
    if (config.getoption("markexpr") or "").strip() == "not slow":
        os.environ["EEGDEPLOY_TEST_TIER"] = "fast"


@pytest.fixture(scope="session", autouse=True)
def _data_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Generated data sets (synthetic:realistic) are cached in this run's temp folder, one per xdist worker, never
    in the user's ~/.cache; CLI subprocesses inherit it."""
    os.environ["EEGDEPLOY_CACHE"] = str(tmp_path_factory.mktemp("eegdeploy-cache"))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


class _Patchy(torch.nn.Module):
    """torcheeg ViT's patch embedding (time patches of 4, grid patches of 3x3 on a 6x6 grid) and a linear head."""

    def __init__(self, width: int, classes: int) -> None:
        super().__init__()
        from einops.layers.torch import Rearrange

        self.to_patch_embedding = torch.nn.Sequential(
            Rearrange("b (c p0) (h p1) (w p2) -> b c h w (p1 p2 p0)", p0=4, p1=3, p2=3), torch.nn.Linear(36, width))
        self.head = torch.nn.Linear(width, classes)

    def forward(self, x):
        return self.head(self.to_patch_embedding(x).flatten(1, 3).mean(1))


@pytest.fixture
def patchy():
    """Build a tiny ViT-style model: ``patchy(width, classes)``; input (batch, 8, 6, 6)."""
    return _Patchy
