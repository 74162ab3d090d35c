"""What an ONNX file says about itself: inputs, outputs, opset, nodes, size and eegdeploy metadata.

Torch-free: reads the file with ``onnx`` when installed, otherwise with onnxruntime (then node counts are unknown),
so ``eegdeploy inspect FILE.onnx`` works on a target device.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eegdeploy.errors import InputError

__all__ = ["OnnxInfo", "TensorInfo", "inspect_onnx", "onnx_info_table"]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int | str, ...]  # a string is a named dynamic axis ("batch")

    def shape_text(self) -> str:
        return "[" + ", ".join(map(str, self.shape)) + "]"


@dataclass
class OnnxInfo:
    path: Path
    bytes: int
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    opsets: dict[str, int] = field(default_factory=dict)  # domain ("ai.onnx" for the default) -> version
    nodes: int | None = None  # None when only onnxruntime was available
    op_types: dict[str, int] = field(default_factory=dict)
    parameters: int | None = None  # elements in the initializers
    producer: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def opset(self) -> int | None:
        return self.opsets.get("ai.onnx")

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "bytes": self.bytes, "opset": self.opset, "opsets": dict(self.opsets),
                "nodes": self.nodes, "op_types": dict(self.op_types), "parameters": self.parameters,
                "producer": self.producer,
                "inputs": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in self.inputs],
                "outputs": [{"name": t.name, "dtype": t.dtype, "shape": list(t.shape)} for t in self.outputs],
                "metadata": dict(self.metadata)}


def _from_onnx(path: Path) -> OnnxInfo:
    import onnx
    from onnx import helper

    try:
        m = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf's DecodeError and friends
        raise InputError(f"{str(path)!r} is not a readable ONNX file ({type(err).__name__})",
                         fix="give a .onnx file written by eegdeploy export") from None
    if m.ir_version == 0 or not m.graph.output:  # protobuf reads an empty or foreign file as an empty model
        raise InputError(f"{str(path)!r} is not an ONNX model (empty, or no graph outputs)",
                         fix="give a .onnx file written by eegdeploy export")

    def tensor(v: Any) -> TensorInfo:
        t = v.type.tensor_type
        dtype = helper.tensor_dtype_to_np_dtype(t.elem_type).name if t.elem_type else "unknown"
        return TensorInfo(v.name, dtype, tuple(d.dim_param or d.dim_value or "?" for d in t.shape.dim))

    inits = {i.name for i in m.graph.initializer}
    params = 0
    for i in m.graph.initializer:
        n = 1
        for d in i.dims:
            n *= int(d)
        params += n
    return OnnxInfo(
        path=path, bytes=path.stat().st_size,
        inputs=[tensor(v) for v in m.graph.input if v.name not in inits],
        outputs=[tensor(v) for v in m.graph.output],
        opsets={(o.domain or "ai.onnx"): int(o.version) for o in m.opset_import},
        nodes=len(m.graph.node), op_types=dict(sorted(Counter(n.op_type for n in m.graph.node).items())),
        parameters=params, producer=" ".join(x for x in (m.producer_name, m.producer_version) if x),
        metadata={p.key: p.value for p in m.metadata_props})


def _from_ort(path: Path) -> OnnxInfo:
    from eegdeploy.export.parity import ort_session

    try:
        sess = ort_session(path)
    except Exception as err:
        raise InputError(f"{str(path)!r} is not a readable ONNX file ({type(err).__name__})",
                         fix="give a .onnx file written by eegdeploy export") from None

    def tensor(v: Any) -> TensorInfo:
        dtype = str(v.type).removeprefix("tensor(").removesuffix(")")
        dtype = {"float": "float32", "double": "float64"}.get(dtype, dtype)
        return TensorInfo(v.name, dtype, tuple(d if d is not None else "?" for d in v.shape))

    meta = sess.get_modelmeta()
    return OnnxInfo(path=path, bytes=path.stat().st_size, inputs=[tensor(v) for v in sess.get_inputs()],
                    outputs=[tensor(v) for v in sess.get_outputs()], producer=meta.producer_name or "",
                    metadata=dict(meta.custom_metadata_map))


def inspect_onnx(path: str | Path) -> OnnxInfo:
    """Read ``path``'s interface, opsets, node counts, size and ``metadata_props``."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"ONNX file {str(p)!r} does not exist", fix="check the path")
    try:
        import onnx  # noqa: F401
    except ImportError:
        return _from_ort(p)
    return _from_onnx(p)


def onnx_info_table(info: OnnxInfo) -> Any:  # rich.table.Table
    """A two-column Rich table of ``info``: interface first, then the eegdeploy metadata."""
    from rich.table import Table
    from rich.text import Text

    from eegdeploy.text import clean, safe

    table = Table(title=safe(f"{info.path.name}: {info.bytes / 1024:.1f} KiB"), title_justify="left",
                  show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")

    def row(key: str, value: str) -> None:
        # Text: shapes like [batch, 4] are not Rich markup; clean: metadata_props come from the file
        table.add_row(Text(clean(key, max_len=200)), Text(clean(value, max_len=2000)))

    for t in info.inputs:
        row(f"input {t.name}", f"{t.dtype} {t.shape_text()}")
    for t in info.outputs:
        row(f"output {t.name}", f"{t.dtype} {t.shape_text()}")
    if info.opsets:
        row("opset", ", ".join(f"{d} {v}" for d, v in info.opsets.items()))
    if info.nodes is not None:
        ops = ", ".join(f"{op} {n}" for op, n in info.op_types.items())
        row("nodes", f"{info.nodes} ({ops})" if ops else str(info.nodes))
    if info.parameters is not None:
        row("parameters", f"{info.parameters:,}")
    if info.producer:
        row("producer", info.producer)
    for k, v in info.metadata.items():
        row(k, v)
    return table
