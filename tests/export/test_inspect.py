import io
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from rich.console import Console

from eegdeploy.errors import InputError
from eegdeploy.export import inspect_onnx, onnx_info_table

ROOT = Path(__file__).resolve().parents[2]


def test_inspect_reads_interface_graph_and_metadata(tiny_onnx):
    path, model, _ = tiny_onnx
    info = inspect_onnx(path)
    m = onnx.load(str(path))
    assert [(t.name, t.dtype, t.shape) for t in info.inputs] == [("input", "float32", ("batch", 1, 8, 8))]
    assert [(t.name, t.dtype, t.shape) for t in info.outputs] == [("logits", "float32", ("batch", 3))]
    assert info.opset == 17 and info.nodes == len(m.graph.node) and sum(info.op_types.values()) == info.nodes
    assert info.parameters == 4 * 9 + 4 + 4 * 36 * 3 + 3  # conv (BatchNorm folded into it) + linear
    assert info.bytes == path.stat().st_size and info.producer.startswith("eegdeploy ")
    assert info.metadata["eegdeploy.class_names"] == "a,b,c" and info.metadata["eegdeploy.input_shape"] == "batch,1,8,8"


def test_table_renders_exactly(tiny_onnx):
    path, _, _ = tiny_onnx
    info = inspect_onnx(path)
    info.metadata = {"eegdeploy.class_names": "a,b,c"}
    info.producer = "eegdeploy 9.9"
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(onnx_info_table(info))
    lines = [line.rstrip() for line in console.file.getvalue().splitlines()]
    assert lines[0] == f"tiny.onnx: {info.bytes / 1024:.1f} KiB"
    body = [line.strip("│ ").split("│") for line in lines[2:-1]]
    assert [[c.strip() for c in row] for row in body] == [
        ["input input", "float32 [batch, 1, 8, 8]"],
        ["output logits", "float32 [batch, 3]"],
        ["opset", "ai.onnx 17"],
        ["nodes", "4 (Conv 1, Flatten 1, Gemm 1, Relu 1)"],
        ["parameters", "475"],
        ["producer", "eegdeploy 9.9"],
        ["eegdeploy.class_names", "a,b,c"],
    ]


def test_without_the_onnx_package_onnxruntime_reads_the_file(tiny_onnx, monkeypatch):
    path, _, _ = tiny_onnx
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    info = inspect_onnx(path)
    assert info.nodes is None and info.opsets == {}
    assert [(t.name, t.dtype, t.shape) for t in info.inputs] == [("input", "float32", ("batch", 1, 8, 8))]
    assert info.metadata["eegdeploy.class_names"] == "a,b,c"


def test_missing_and_corrupt_files_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        inspect_onnx(tmp_path / "nope.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x01garbage" * 20)
    with pytest.raises(InputError, match="not a readable ONNX file"):
        inspect_onnx(tmp_path / "bad.onnx")
    (tmp_path / "empty.onnx").write_bytes(b"")  # protobuf parses this as an empty model: refused, not tabled
    with pytest.raises(InputError, match="not an ONNX model"):
        inspect_onnx(tmp_path / "empty.onnx")


def test_onnx_side_of_export_imports_without_torch():
    code = ("import sys; import eegdeploy.export as e; e.inspect_onnx, e.write_test_vectors, e.check_test_vectors, "
            "e.quantize_int8, e.compare_accuracy, e.render_model_card, e.model_metadata, e.ModelCardInfo; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
