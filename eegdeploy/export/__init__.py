"""ONNX export with verification, test vectors, quantization, inspection and the model card.

    from eegdeploy.export import ExportConfig, export_onnx
    res = export_onnx(model, "slim.onnx", ExportConfig(opset=17), example=x, metadata={"eegdeploy.model": "ccnn"})
    res.exporter, res.parity_max_abs, res.attempts

Names load on first use: ``write_test_vectors``, ``check_test_vectors``, ``inspect_onnx``, ``quantize_int8`` and
the model card need only onnx/onnxruntime and numpy; ``export_onnx`` needs torch.
"""

from __future__ import annotations

from eegdeploy.lazy import lazy_api


_API: dict[str, str] = {
    "EXPORTERS": "onnx_export", "ExportConfig": "onnx_export", "ExportResult": "onnx_export",
    "export_onnx": "onnx_export",
    "ort_run": "parity", "ort_session": "parity", "parity_checks": "parity", "cuda_available": "parity",
    "write_test_vectors": "vectors", "check_test_vectors": "vectors", "read_test_vectors": "vectors",
    "QuantResult": "quant", "AccuracyComparison": "quant", "quantize_int8": "quant", "to_fp16": "quant",
    "compare_accuracy": "quant", "onnx_accuracy": "quant",
    "ModelCardInfo": "card", "render_model_card": "card", "stack_versions": "card",
    "OnnxInfo": "inspect", "TensorInfo": "inspect", "inspect_onnx": "inspect", "onnx_info_table": "inspect",
    "model_metadata": "metadata", "onnx_logits": "quant",
    "PackageConfig": "package", "PackageFiles": "package", "PackageResult": "package", "export_package": "package",
    "card_from_bundle": "package", "export_bundle": "package", "write_record": "package", "to_ort_format": "package",
    "write_package_card": "package",
}

__all__ = sorted(_API)

__getattr__, __dir__ = lazy_api(__name__, {k: f"eegdeploy.export.{v}" for k, v in _API.items()})
