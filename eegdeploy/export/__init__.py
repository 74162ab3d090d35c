"""ONNX export with verification, test vectors, quantization and the model card."""

from eegdeploy.export.card import ModelCardInfo, render_model_card
from eegdeploy.export.onnx_export import EXPORTERS, ExportConfig, ExportResult, export_onnx, ort_run
from eegdeploy.export.vectors import check_test_vectors, write_test_vectors

__all__ = ["EXPORTERS", "ExportConfig", "ExportResult", "ModelCardInfo", "check_test_vectors", "export_onnx",
           "ort_run", "render_model_card", "write_test_vectors"]
