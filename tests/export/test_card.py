import os
import re

import numpy as np

from eegdeploy.export import ModelCardInfo, render_model_card, stack_versions


def _info(**kw) -> ModelCardInfo:
    base = dict(name="tiny-test", arch="tests:Tiny", input_shape=(1, 8, 8), layout=("plane", "electrode", "time"),
                electrodes=("C3", "Cz", "C4"), sampling_rate=250.0, preprocessing="z-scored per electrode",
                class_names=("a", "b", "c"), accuracy_baseline=0.8125, accuracy_slim=0.79, params=475, macs=12_345,
                size_bytes=2850, latency={"ort-cpu": {"1": {"p50": 0.1234, "p90": 0.2, "p99": 0.3}}},
                recipe={"method": "lfp", "ratio": 0.5, "recover": "finetune", "epochs": 3, "seed": 0, "x": 1},
                onnx_file="tiny.onnx", opset=17, test_vectors="tiny.test-vectors.npz", num_test_vectors=6,
                exporter="torchscript", parity_max_abs=3.2e-8, versions={"eegdeploy": "0.1.0", "onnxruntime": "1.32.0"})
    return ModelCardInfo(**{**base, **kw})


def test_card_states_the_input_output_contract_and_figures():
    md = render_model_card(_info())
    assert "shape `[batch, 1, 8, 8]` (batch axis dynamic)" in md and "dtype float32" in md
    assert "axes: `batch`, `plane`, `electrode`, `time`" in md and "in this order: C3, Cz, C4" in md
    assert "sampling rate of the recording: 250 Hz" in md and "z-scored per electrode" in md
    assert "shape `[batch, 3]`: **logits**" in md and "| 2 | c |" in md
    assert "| test accuracy, baseline | 81.2% |" in md and "| test accuracy, this model | 79.0% |" in md
    assert "| parameters | 475 (counted in PyTorch" in md and "| MACs per sample | 12,345 |" in md and "2,850 bytes" in md
    assert "| ort-cpu | 1 | 0.123 | 0.200 | 0.300 |" in md
    assert "compressed by eegdeploy from `tests:Tiny` (method lfp, ratio 0.5, recover finetune, epochs 3, seed 0)" in md
    assert "`tiny.test-vectors.npz` holds arrays `inputs` and `outputs` (6 samples" in md
    assert "- versions: eegdeploy 0.1.0, onnxruntime 1.32.0" in md and "- exporter: torchscript" in md
    for runtime in ("C++", "Java / Android", "JavaScript"):
        assert f"**{runtime}**" in md


def test_missing_figures_say_so_instead_of_inventing_them():
    md = render_model_card(_info(accuracy_baseline=None, accuracy_slim=None, latency={}, recipe={}, macs=None,
                                 sampling_rate=None))
    assert "| test accuracy, baseline | not measured |" in md and "| MACs per sample | n/a |" in md
    assert "Not measured by this run" in md and "sampling rate of the recording: not recorded" in md
    assert "exported by eegdeploy from `tests:Tiny`." in md and "- recipe: none" in md


def test_the_python_snippet_in_the_card_runs(tiny_onnx, tmp_path):
    path, model, _ = tiny_onnx
    md = render_model_card(_info(onnx_file=path.name))
    code = re.search(r"```python\n(.*?)```", md, re.S).group(1)
    cwd = os.getcwd()
    os.chdir(path.parent)
    try:
        scope: dict = {}
        exec(code, scope)
    finally:
        os.chdir(cwd)
    assert scope["logits"].shape == (1, 3) and np.allclose(scope["probs"].sum(1), 1.0)


def test_fixed_batch_card_and_versions():
    md = render_model_card(_info(dynamic_batch=False, batch=4))
    assert "shape `[4, 1, 8, 8]` (fixed batch)" in md and "np.zeros((4, 1, 8, 8)" in md
    v = stack_versions()
    assert {"python", "eegdeploy", "onnx", "onnxruntime"} <= set(v) and all(isinstance(x, str) for x in v.values())
