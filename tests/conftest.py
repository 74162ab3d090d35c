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


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)
