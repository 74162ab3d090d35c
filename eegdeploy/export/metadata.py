"""ONNX metadata_props describing the input, so an app developer can feed the model correctly."""

from __future__ import annotations

from typing import Any


def model_metadata(bundle: Any) -> dict[str, str]:  # bundle: eegdeploy.models.Bundle
    spec = bundle.input
    axes = ", ".join(f"{i + 1}={name}" for i, name in enumerate(spec.layout)) or "unspecified"
    return {
        "eegdeploy.model": bundle.name,
        "eegdeploy.arch": bundle.arch,
        "eegdeploy.input_name": "input",
        "eegdeploy.input_layout": f"0=batch, {axes}",
        "eegdeploy.input_shape": "batch," + ",".join(map(str, spec.shape)),
        "eegdeploy.electrodes": ",".join(spec.electrodes),
        "eegdeploy.electrode_grid": spec.grid or "",
        "eegdeploy.sampling_rate_hz": "" if spec.sampling_rate is None else f"{spec.sampling_rate:g}",
        "eegdeploy.class_names": ",".join(bundle.class_names),
        "eegdeploy.preprocessing": spec.preprocessing,
        "eegdeploy.output": "logits (apply softmax for probabilities)",
    }
