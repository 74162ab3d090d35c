"""The model card: what an app developer needs to run the exported ONNX file correctly.

``render_model_card`` is a pure function of ``ModelCardInfo``; the only value filled in implicitly is
``versions`` (the installed versions of the toolchain, read from package metadata without importing torch).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from importlib import metadata as _md
from typing import Any, Mapping, Sequence

__all__ = ["ModelCardInfo", "render_model_card", "stack_versions"]

_PACKAGES = ("eegdeploy", "torch", "torcheeg", "onnx", "onnxruntime", "onnxsim")


def stack_versions() -> dict[str, str]:
    """Installed versions of Python and the export toolchain (packages that are missing are left out)."""
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = _md.version(pkg)
        except _md.PackageNotFoundError:
            if pkg == "eegdeploy":
                from eegdeploy._version import __version__

                out[pkg] = __version__
    return out


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
    test_vectors: str = "test-vectors.npz"
    num_test_vectors: int | None = None
    exporter: str | None = None
    parity_max_abs: float | None = None
    dynamic_batch: bool = True
    batch: int | None = None  # the fixed batch when not dynamic
    title: str = "slim"  # what this file is: "slim", "baseline", "export"
    int8: Mapping[str, Any] | None = None  # the int8 copy measured beside this file (see export.package)
    accuracy: Mapping[str, Any] | None = None  # eegdeploy.report.accuracy.accuracy_section(...): data, n, intervals
    versions: Mapping[str, str] = field(default_factory=stack_versions)


def _n(v: int | None) -> str:
    return "n/a" if v is None else f"{v:,}"


def _pct(v: float | None) -> str:
    return "not measured" if v is None else f"{100 * v:.1f}%"


def _latency(info: ModelCardInfo) -> str:
    rows = []
    for runtime, per_batch in info.latency.items():
        for b, s in per_batch.items():
            rows.append(f"| {runtime} | {b} | {s['p50']:.3f} | {s['p90']:.3f} | {s['p99']:.3f} |")
    if not rows:
        return "Not measured by this run; measure it with `eegdeploy bench " + info.onnx_file + "`."
    return ("Milliseconds per batch, measured on the machine that ran eegdeploy; measure on your device with\n"
            f"`eegdeploy bench {info.onnx_file}` (needs only onnxruntime, numpy and rich).\n\n"
            "| runtime | batch | p50 ms | p90 ms | p99 ms |\n|---|---|---|---|---|\n" + "\n".join(rows))


def _int8(info: ModelCardInfo) -> str:
    q = info.int8
    if not q:
        return ""
    acc = lambda v: "not measured" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    status = (f"shipped as `{q['file']}`" if q.get("file") else f"not shipped: {q.get('reason') or 'dropped'}")
    return (f"\n### int8 (static QDQ, calibrated on training samples): {status}\n"
            f"| | fp32 | int8 |\n|---|---|---|\n"
            f"| test accuracy | {acc(q.get('fp32_accuracy'))} | {acc(q.get('accuracy'))} |\n"
            f"| file size | {q['fp32_bytes'] / 1024:.1f} KiB | {q['bytes'] / 1024:.1f} KiB |\n"
            f"| ort-cpu p50, batch {q['batch']} | {q['fp32_p50_ms']:.3f} ms | {q['p50_ms']:.3f} ms |\n")
def _acc(info: ModelCardInfo, side: str, value: float | None) -> str:
    """'83.3% (95% CI 74.2–89.6%, n=90)' when the context is known, else the bare figure."""
    ctx = (info.accuracy or {}).get(side)
    if value is None or not ctx:
        return _pct(value)
    lo, hi = ctx["ci95"]
    return f"{100 * value:.1f}% (95% CI {100 * lo:.1f}–{100 * hi:.1f}%, n={ctx['n']})"


def _accuracy_context(info: ModelCardInfo) -> str:
    a = info.accuracy
    if not a:
        return ""
    data = f"**synthetic** EEG ({a['data']})" if a.get("synthetic") else f"`{a['data']}`"
    lines = [f"Accuracy is measured on the test split of {data}: {a['n_test']} samples, so one sample is "
             f"{a['one_sample_pts']:.1f} points; the interval is a {a.get('interval', 'Wilson score, 95%')} interval."]
    for side, label in (("baseline", "Baseline"), ("slim", "This model")):
        if (a.get(side) or {}).get("training"):
            lines.append(f"{label}: {a[side]['training']}.")
    if a.get("synthetic"):
        lines.append("**Synthetic data**: generated EEG, not recordings. These accuracies check the pipeline; "
                     "they say nothing about accuracy on real EEG. Measure on your own recordings.")
    if a.get("warning"):
        lines.append(f"**Warning**: {a['warning']}.")
    return lines[0] + "\n\n" + "".join(f"- {line}\n" for line in lines[1:])


def _escaped(info: ModelCardInfo) -> ModelCardInfo:
    """Every string that may come from a file (checkpoint, profile, metadata), escaped for Markdown; those that
    sit inside code spans or the Python snippet only lose backticks and quotes."""
    import dataclasses

    from eegdeploy.text import md, md_code

    def code(v: str) -> str:
        return md_code(v).replace('"', "'")

    return dataclasses.replace(
        info, name=md(info.name), arch=code(info.arch), title=md(info.title), layout=tuple(code(a) for a in info.layout),
        electrodes=tuple(md(e) for e in info.electrodes), preprocessing=md(info.preprocessing),
        class_names=tuple(md(c) for c in info.class_names), onnx_file=code(info.onnx_file),
        input_name=code(info.input_name), output_name=code(info.output_name), test_vectors=code(info.test_vectors),
        recipe={md(k): md(v) for k, v in info.recipe.items()}, extra=[md(e) for e in info.extra],
        exporter=None if info.exporter is None else md(info.exporter),
        versions={md(k): md(v) for k, v in info.versions.items()},
        latency={md(r): {md(b): s for b, s in per.items()} for r, per in info.latency.items()})


def render_model_card(info: ModelCardInfo) -> str:
    """Markdown: input and output contract, accuracy, cost, how to run it, how to check it, provenance."""
    info = _escaped(info)
    batch = "batch" if info.dynamic_batch else str(info.batch or 1)
    shape = ", ".join([batch, *map(str, info.input_shape)])
    sample = ", ".join(map(str, info.input_shape))
    n = 1 if info.dynamic_batch else (info.batch or 1)
    axes = ", ".join(f"`{a}`" for a in ("batch", *info.layout)) if info.layout else "batch, then the model's axes"
    classes = "\n".join(f"| {i} | {c} |" for i, c in enumerate(info.class_names)) or "| 0..K-1 | (unnamed) |"
    electrodes = ", ".join(info.electrodes) if info.electrodes else "see the producer's documentation"
    rate = f"{info.sampling_rate:g} Hz" if info.sampling_rate else "not recorded"
    recipe = ", ".join(f"{k} {v}" for k, v in info.recipe.items()
                       if k in ("method", "ratio", "recover", "epochs", "seed"))
    origin = f"compressed by eegdeploy from `{info.arch}` ({recipe})" if recipe else f"exported by eegdeploy from `{info.arch}`"
    size = f"{info.size_bytes / 1024:.1f} KiB ({info.size_bytes:,} bytes)" if info.size_bytes else "n/a"
    extra = "\n".join(f"- {e}" for e in info.extra)
    nvec = f"{info.num_test_vectors} samples: " if info.num_test_vectors else ""
    k = len(info.class_names) or "K"
    prov = [f"- recipe: {recipe}" if recipe else "- recipe: none (exported as given)",
            f"- exporter: {info.exporter}" if info.exporter else "",
            f"- opset: {info.opset}" if info.opset else "",
            f"- onnxruntime vs PyTorch max abs difference: {info.parity_max_abs:.2g}"
            if info.parity_max_abs is not None else "",
            "- versions: " + ", ".join(f"{k_} {v}" for k_, v in info.versions.items())]
    provenance = "\n".join(p for p in prov if p)
    notes = f"\n## Notes\n{extra}\n" if extra else ""
    return f"""# Model card: {info.name} ({info.title})

`{info.onnx_file}`: an EEG classifier {origin}.
Every figure below was measured by the run that produced the file.

## Input
- name `{info.input_name}`, dtype float32, shape `[{shape}]` ({'batch axis dynamic' if info.dynamic_batch else 'fixed batch'})
- axes: {axes}
- electrodes, in this order: {electrodes}
- sampling rate of the recording: {rate}
- preprocessing expected: {info.preprocessing or 'as in training (not recorded)'}

## Output
- name `{info.output_name}`, dtype float32, shape `[{batch}, {k}]`: **logits**; apply softmax for
  probabilities, argmax for the class.

| index | class |
|---|---|
{classes}

## Quality and cost
| | value |
|---|---|
| test accuracy, baseline | {_acc(info, "baseline", info.accuracy_baseline)} |
| test accuracy, this model | {_acc(info, "slim", info.accuracy_slim)} |
| parameters | {_n(info.params)} (counted in PyTorch; the ONNX graph folds BatchNorm into the convolutions, so `eegdeploy inspect` may count fewer) |
| MACs per sample | {_n(info.macs)} |
| file size | {size} |
{_int8(info)}

{_accuracy_context(info)}
{_latency(info)}

## Run it (Python, onnxruntime)
```python
import numpy as np, onnxruntime as ort
sess = ort.InferenceSession("{info.onnx_file}", providers=["CPUExecutionProvider"])
x = np.zeros(({n}, {sample}), dtype=np.float32)          # preprocessed window(s), axes as above
logits = sess.run(None, {{"{info.input_name}": x}})[0]    # shape ({n}, {k})
probs = np.exp(logits - logits.max(1, keepdims=True)); probs /= probs.sum(1, keepdims=True)
```

## Other runtimes
- **C++** (`onnxruntime_cxx_api.h`): `Ort::Session session(env, "{info.onnx_file}", opts);` then
  `Ort::Value::CreateTensor<float>(mem, data, count, shape, rank)` with shape `{{{n}, {sample}}}` and
  `session.Run(..., {{"{info.input_name}"}}, &input, 1, {{"{info.output_name}"}}, 1)`. Data is row-major (C order).
- **Java / Android** (`ai.onnxruntime`): `OnnxTensor.createTensor(env, FloatBuffer.wrap(data), new long[]{{{n}, {sample}}})`,
  then `session.run(Map.of("{info.input_name}", tensor))`.
- **JavaScript** (onnxruntime-web / onnxruntime-node): `new ort.Tensor("float32", data, [{n}, {sample}])`, then
  `await session.run({{ {info.input_name}: tensor }})`.
- Only standard ONNX operators (opset {info.opset or 'see the file'}), so mobile builds of onnxruntime run it;
  `eegdeploy inspect {info.onnx_file}` lists the operators used.

## Check your integration
`{info.test_vectors}` holds arrays `inputs` and `outputs` ({nvec}this file's outputs in onnxruntime on CPU).
Feed `inputs` through your integration and compare: differences above about 1e-5 mean the preprocessing, axis
order or dtype differ. The file's own metadata (`metadata_props`, readable with `onnx.load` or
`session.get_modelmeta().custom_metadata_map`) repeats the input description.

## Provenance
{provenance}
{notes}"""
