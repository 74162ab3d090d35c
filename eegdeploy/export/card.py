"""The model card: what an app developer needs to run slim.onnx correctly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence


@dataclass
class ModelCardInfo:
    name: str
    arch: str
    input_shape: tuple[int, ...]
    layout: tuple[str, ...] = ()
    electrodes: tuple[str, ...] = ()
    sampling_rate: float | None = None
    preprocessing: str = ""
    class_names: tuple[str, ...] = ()
    accuracy_baseline: float | None = None
    accuracy_slim: float | None = None
    params: int | None = None
    macs: int | None = None
    size_bytes: int | None = None
    latency: Mapping[str, Mapping[str, Mapping[str, float]]] = field(default_factory=dict)
    recipe: Mapping[str, Any] = field(default_factory=dict)
    onnx_file: str = "slim.onnx"
    input_name: str = "input"
    output_name: str = "logits"
    opset: int | None = None
    extra: Sequence[str] = ()  # further notes (int8 results, warnings)


def _n(v: int | None) -> str:
    return "n/a" if v is None else f"{v:,}"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def render_model_card(info: ModelCardInfo) -> str:
    shape = ", ".join(["batch", *map(str, info.input_shape)])
    axes = ", ".join(f"`{a}`" for a in ("batch", *info.layout)) if info.layout else "batch, then the model's axes"
    classes = "\n".join(f"| {i} | {c} |" for i, c in enumerate(info.class_names)) or "| 0..K-1 | (unnamed) |"
    lat_rows = []
    for runtime, per_batch in info.latency.items():
        for b, s in per_batch.items():
            lat_rows.append(f"| {runtime} | {b} | {s['p50']:.3f} | {s['p90']:.3f} | {s['p99']:.3f} |")
    lat = ("| runtime | batch | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|---|\n" + "\n".join(lat_rows)
           if lat_rows else "not measured")
    electrodes = ", ".join(info.electrodes) if info.electrodes else "see the producer's documentation"
    recipe = ", ".join(f"{k} {v}" for k, v in info.recipe.items() if k in ("method", "ratio", "recover", "epochs", "seed"))
    size = f"{info.size_bytes / 1024:.1f} KiB" if info.size_bytes else "n/a"
    extra = "\n".join(f"- {e}" for e in info.extra)
    sample = ", ".join(map(str, info.input_shape))
    return f"""# Model card: {info.name} (slim)

`{info.onnx_file}`: an EEG classifier compressed by eegdeploy from `{info.arch}` ({recipe}).
Everything below was measured by the run that produced the file.

## Input
- name `{info.input_name}`, float32, shape `[{shape}]` (batch axis dynamic)
- axes: {axes}
- electrodes, in this order: {electrodes}
- sampling rate: {info.sampling_rate or 'n/a'} Hz
- preprocessing expected: {info.preprocessing or 'as in training'}

## Output
- name `{info.output_name}`, float32, shape `[batch, {len(info.class_names) or 'K'}]`: **logits**; apply softmax for
  probabilities, argmax for the class.

| index | class |
|---|---|
{classes}

## Quality and cost
| | value |
|---|---|
| test accuracy, baseline | {_pct(info.accuracy_baseline)} |
| test accuracy, this model | {_pct(info.accuracy_slim)} |
| parameters | {_n(info.params)} |
| MACs per sample | {_n(info.macs)} |
| file size | {size} |

Latency (milliseconds per batch, on the machine that ran eegdeploy; measure on your device with
`eegdeploy bench {info.onnx_file}`, which needs only onnxruntime, numpy and rich):

{lat}

## Run it (Python, onnxruntime)
```python
import numpy as np, onnxruntime as ort
sess = ort.InferenceSession("{info.onnx_file}", providers=["CPUExecutionProvider"])
x = np.zeros((1, {sample}), dtype=np.float32)          # one preprocessed window
logits = sess.run(None, {{"{info.input_name}": x}})[0]
probs = np.exp(logits - logits.max(1, keepdims=True)); probs /= probs.sum(1, keepdims=True)
```

## Other runtimes
- **C++**: `Ort::Session` with the same input name and shape; inputs are row-major float32.
- **Java / Android**: `OrtSession.run(Map.of("{info.input_name}", OnnxTensor.createTensor(env, FloatBuffer, shape)))`.
- **JavaScript (onnxruntime-web / node)**: `new ort.Tensor("float32", data, [1, {sample}])`.
- Opset {info.opset or 'see the file'}; only standard ONNX operators.

## Check your integration
`test-vectors.npz` holds arrays `inputs` and `outputs` (this file's outputs in onnxruntime on CPU). Feed `inputs`
through your integration and compare: differences above about 1e-5 mean the preprocessing, axis order or dtype
differ. The metadata inside the file (`metadata_props`, readable with `onnx.load`) repeats the input description.
{extra}
"""
