"""Sensitivity: each group pruned alone with LFP, evaluated without retraining; renderers and plot."""

import copy
import io

import numpy as np
import pytest
import torch
from rich.console import Console

from eegdeploy.data import split_arrays
from eegdeploy.errors import ConfigError, DataError
from eegdeploy.prune.sensitivity import (SensitivityResult, plot, plot_sensitivity, sensitivity, to_markdown,
                                         to_table)

from .conftest import Depthwise

X1 = torch.zeros(1, 1, 3, 16)


def _splits(val=0.5):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 1, 3, 16)).astype(np.float32)
    y = (X[:, 0, 0, :4].mean(axis=1) > 0).astype(np.int64)
    return split_arrays(X, y, None, None, seed=0, val=val, test=0.25)


def _l1(w: torch.Tensor) -> torch.Tensor:
    return w.detach().double().reshape(w.shape[0], -1).abs().sum(dim=1)


def _reference_accuracy(model, split, hooks: dict) -> float:
    """Accuracy with the given output channels forced to zero after a layer (forward hooks), by plain argmax:
    what removing those channels means, computed without the pruning code."""
    handles = [getattr(model, name).register_forward_hook(
        lambda m, i, o, ch=ch: o.index_fill(1, torch.as_tensor(ch, dtype=torch.long), 0.0)) for name, ch in hooks.items()]
    try:
        with torch.no_grad():
            pred = model(torch.from_numpy(split.X)).argmax(1).numpy()
    finally:
        for h in handles:
            h.remove()
    return float((pred == split.y).mean())


def test_each_group_is_pruned_alone_with_lfp_and_not_retrained():
    model = Depthwise("elu").eval()
    before = copy.deepcopy(model.state_dict())
    splits = _splits()
    res = sensitivity(model, splits, example=X1, ratios=(0.25, 0.75))
    assert set(res.accuracy) == {"t", "pw"} and res.sizes == {"t": 4, "pw": 6} and res.split == "val"
    assert res.baseline_accuracy == _reference_accuracy(model, splits.val, {})
    # By hand. Group "t" is a unit of t's filter c with the depthwise outputs 2c, 2c+1 of dw and sep: its L1 score
    # sums each producer's rows normalised by that producer's mean. Group "pw" is pw's filters alone.
    def norm(v):
        return v / v.mean()

    pair = lambda v: v.reshape(4, 2).sum(1)  # noqa: E731  (depthwise outputs 2c, 2c+1 belong to unit c)
    scores = {"t": norm(_l1(model.t.weight)) + norm(pair(_l1(model.dw.weight))) + norm(pair(_l1(model.sep.weight))),
              "pw": _l1(model.pw.weight)}
    for r, i in ((0.25, 0), (0.75, 1)):
        gone_t = torch.argsort(scores["t"])[:int(r * 4)].tolist()  # floor(r * size) lowest scores go
        gone_pw = torch.argsort(scores["pw"])[:int(r * 6)].tolist()
        # removing unit c of "t" silences bn2's channels 2c and 2c+1 (ELU(0) = 0, no biases after); "pw" bn3's c
        want_t = _reference_accuracy(model, splits.val, {"bn2": [k for c in gone_t for k in (2 * c, 2 * c + 1)]})
        want_pw = _reference_accuracy(model, splits.val, {"bn3": gone_pw})
        assert res.accuracy["t"][i] == pytest.approx(want_t, abs=1e-9)
        assert res.accuracy["pw"][i] == pytest.approx(want_pw, abs=1e-9)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the model is untouched


def test_falls_back_to_test_when_val_is_empty_and_says_so():
    res = sensitivity(Depthwise().eval(), _splits(val=0.0), example=X1, ratios=(0.5,))
    assert res.split == "test"


def test_bad_input_is_named():
    with pytest.raises(ConfigError, match="ratios"):
        sensitivity(Depthwise(), _splits(), example=X1, ratios=(0.5, 1.5))
    with pytest.raises(ConfigError, match="split"):
        sensitivity(Depthwise(), _splits(), example=X1, split="holdout")


def _result():
    return SensitivityResult(0.8, (0.1, 0.5, 0.9), {"conv1": [0.8, 0.7, 0.5], "conv2": [0.8, 0.4, 0.2],
                                                  "conv3": [0.8, 0.8, 0.8]}, {"conv1": 8, "conv2": 16, "conv3": 4})


def test_most_sensitive_ranks_by_mean_drop():
    res = _result()
    assert res.most_sensitive() == ["conv2", "conv1", "conv3"]
    assert res.most_sensitive(1) == ["conv2"]
    assert res.drop_at("conv2", 0.5) == pytest.approx(0.4)
    assert res.to_dict()["most_sensitive"] == ["conv2", "conv1", "conv3"]


def test_markdown_and_table_render_exactly():
    md = to_markdown(_result(), plot="s.png")
    assert "Most sensitive (largest mean drop): conv2, conv1, conv3." in md
    assert "| group (layer) | channels | 10% | 50% | 90% |" in md
    assert "| conv2 | 16 | 80.0 | 40.0 | 20.0 |" in md and "![sensitivity](s.png)" in md
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(to_table(_result()))
    lines = buf.getvalue().splitlines()
    assert "val accuracy with one group pruned alone (baseline 80.0%)" in " ".join(buf.getvalue().split())
    assert [ln.split() for ln in lines if "conv" in ln or ln.split()[:1] == ["group"]] == [
        ["group", "ch", "10%", "50%", "90%"], ["conv1", "8", "80.0", "70.0", "50.0"],
        ["conv2", "16", "80.0", "40.0", "20.0"], ["conv3", "4", "80.0", "80.0", "80.0"]]


def test_plot_writes_a_png(tmp_path):
    assert plot is plot_sensitivity
    path = plot(_result(), tmp_path / "s.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and path.stat().st_size > 1000


def test_empty_evaluation_data_is_a_data_error():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 1, 3, 16)).astype(np.float32)
    splits = split_arrays(X, np.arange(8) % 2, None, None, seed=0, val=0.0, test=0.0)
    with pytest.raises(DataError, match="val and test splits are empty"):
        sensitivity(Depthwise(), splits, example=X1)
