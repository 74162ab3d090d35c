import numpy as np
import torch

from eegdeploy.data import split_arrays
from eegdeploy.prune.sensitivity import plot_sensitivity, sensitivity, to_markdown

from .conftest import Depthwise


def test_sensitivity_covers_every_prunable_group(tmp_path):
    model = Depthwise("elu").eval()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 1, 3, 16)).astype(np.float32)
    y = (X[:, 0, 0, :4].mean(axis=1) > 0).astype(np.int64)
    splits = split_arrays(X, y, None, None, seed=0, val=0.5, test=0.25)
    res = sensitivity(model, splits, example=torch.zeros(1, 1, 3, 16), ratios=(0.25, 0.75))
    assert set(res.accuracy) == {"t", "pw"} and all(len(v) == 2 for v in res.accuracy.values())
    assert set(res.most_sensitive()) == {"t", "pw"}
    md = to_markdown(res, plot="s.png")
    assert "| t | 4 |" in md and "Most sensitive" in md
    assert plot_sensitivity(res, tmp_path / "s.png").stat().st_size > 1000
