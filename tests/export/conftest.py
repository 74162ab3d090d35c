"""A tiny exported model shared by the export tests (exported once per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> tuple[Path, nn.Module, np.ndarray]:
    """(path to tiny.onnx, the torch model, 6 sample inputs) for a 1x8x8 -> 3-class CNN."""
    from eegdeploy.export import ExportConfig, export_onnx

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)).eval()
    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    export_onnx(model, path, ExportConfig(exporter="torchscript"), example=torch.zeros(1, 1, 8, 8),
                metadata={"eegdeploy.class_names": "a,b,c"})
    x = np.random.default_rng(0).standard_normal((6, 1, 8, 8)).astype(np.float32)
    return path, model, x
