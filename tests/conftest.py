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
