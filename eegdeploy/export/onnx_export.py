"""Export to simplified ONNX that is proven to compute what the PyTorch model computes.

Each exporter attempt runs in a forked child process: torch 2.13's dynamo exporter segfaults on some torcheeg
models (the max-norm ones such as EEGNet), and a crash there must not take the CLI down. The TorchScript exporter (``dynamo=False``,
opset 17) goes first and the dynamo exporter is the fallback (or the other way round on request); the report
names the one that produced the file. onnxsim runs in the child too; the simplified graph is only kept if
onnxruntime loads it and its parity holds, otherwise the unsimplified graph is used with a warning. The final
file passes ``onnx.checker``, carries metadata, matches PyTorch at batch 1, at batch 16 and on real samples within
the tolerance, and is written atomically: on any failure nothing is left at ``path``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from eegdeploy.errors import ExportError, InputError, ParityError, invalid_value, unknown_name
from eegdeploy.export.parity import ort_run, parity_checks, split_gpu
from eegdeploy.io import TMP_PREFIX, atomic_path, ensure_writable_dir

if TYPE_CHECKING:  # pragma: no cover - torch loads inside the functions: the config imports without it
    import torch
    import torch.nn as nn

__all__ = ["EXPORTERS", "ExportConfig", "ExportResult", "export_onnx", "ort_run"]

EXPORTERS = ("auto", "torchscript", "dynamo")
INPUT_NAME, OUTPUT_NAME = "input", "logits"


@dataclass(frozen=True)
class ExportConfig:
    """How to export and how strictly to verify.

    ``tolerance`` bounds max |onnxruntime(CPU) - PyTorch| at batch 1, 16 and on real samples; ``gpu_tolerance``
    does the same on CUDAExecutionProvider when a GPU is present (cuDNN picks other algorithms, so it is looser).
    ``max_accuracy_drop`` is the accuracy loss (a fraction, 0.02 = 2 points) above which int8/fp16 copies warn.
    """

    opset: int = 17
    exporter: str = "auto"  # auto: torchscript, then dynamo
    simplify: bool = True
    tolerance: float = 1e-4
    dynamic_batch: bool = True
    batch: int | None = None  # fixed batch when dynamic_batch is False
    timeout_s: float = 600.0
    max_accuracy_drop: float = 0.02
    gpu_parity: bool = True
    gpu_tolerance: float = 1e-3

    def __post_init__(self) -> None:
        if self.exporter not in EXPORTERS:
            raise unknown_name("exporter", self.exporter, EXPORTERS)
        if isinstance(self.opset, bool) or not isinstance(self.opset, int) or not 7 <= self.opset <= 21:
            raise invalid_value("opset", self.opset, "an ONNX opset between 7 and 21 (17 is well supported)")
        for name in ("tolerance", "gpu_tolerance", "timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0 or value != value:
                raise invalid_value(name.replace("_", "-"), value, "a number > 0")
        if not isinstance(self.max_accuracy_drop, (int, float)) or not 0 <= self.max_accuracy_drop <= 1:
            raise invalid_value("max-accuracy-drop", self.max_accuracy_drop, "a fraction between 0 and 1, e.g. 0.02")
        if not self.dynamic_batch and self.batch is not None and (isinstance(self.batch, bool) or
                                                                  not isinstance(self.batch, int) or self.batch < 1):
            raise invalid_value("batch", self.batch, "'dynamic' or a positive integer")


@dataclass
class ExportResult:
    path: Path
    bytes: int
    exporter: str
    opset: int
    simplified: bool
    parity_max_abs: float
    parity: dict[str, float] = field(default_factory=dict)  # check -> max abs diff
    warnings: list[str] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)  # "torchscript: ok", "dynamo: crashed (signal 11)"
    seconds: float = 0.0
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    input_shape: list[Any] = field(default_factory=list)
    output_shape: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. "GPU parity skipped: ..."

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (for export.json and report extras)."""
        return {"file": str(self.path), "bytes": self.bytes, "exporter": self.exporter, "attempts": list(self.attempts),
                "opset": self.opset, "simplified": self.simplified, "parity_max_abs": self.parity_max_abs,
                "parity": dict(self.parity), "warnings": list(self.warnings), "notes": list(self.notes),
                "seconds": round(self.seconds, 3), "input": {"name": self.input_name, "shape": list(self.input_shape)},
                "output": {"name": self.output_name, "shape": list(self.output_shape)}}


def _child(model: nn.Module, example: torch.Tensor, out: str, exporter: str, cfg: ExportConfig, err_path: str) -> None:
    try:
        import torch

        torch.set_num_threads(1)
        import warnings

        warnings.simplefilter("ignore")
        dyn = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if cfg.dynamic_batch else None
        model.eval()
        if exporter == "torchscript":
            torch.onnx.export(model, (example,), out, dynamo=False, opset_version=cfg.opset, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], dynamic_axes=dyn, do_constant_folding=True)
        else:
            shapes = ({0: torch.export.Dim("batch", min=1, max=4096)},) if cfg.dynamic_batch else None
            prog = torch.onnx.export(model, (example,), dynamo=True, opset_version=max(cfg.opset, 18),
                                     input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_shapes=shapes,
                                     verbose=False)
            prog.save(out)
        if cfg.simplify:
            try:
                import onnx
                from onnxsim import simplify

                m, ok = simplify(onnx.load(out))
                if ok:
                    onnx.save(m, out + ".sim")
            except Exception as e:  # recorded; the unsimplified graph is used
                Path(err_path + ".sim").write_text(f"{type(e).__name__}: {e}"[:300])
        os._exit(0)
    except BaseException as e:
        Path(err_path).write_text(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
                                  + "\n" + traceback.format_exc()[-2000:])
        os._exit(3)


def _attempt(model: nn.Module, example: torch.Tensor, exporter: str, cfg: ExportConfig, workdir: str
             ) -> tuple[str | None, str | None, str]:
    """(raw path or None, simplified path or None, outcome) for one exporter, run in a forked child."""
    raw = os.path.join(workdir, f"{exporter}.onnx")
    err = os.path.join(workdir, f"{exporter}.err")
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=_child, args=(model, example, raw, exporter, cfg, err))
    proc.start()
    proc.join(cfg.timeout_s)
    if proc.is_alive():
        proc.kill()
        proc.join()
        return None, None, f"{exporter}: timed out after {cfg.timeout_s:.0f} s"
    if proc.exitcode != 0 or not os.path.exists(raw):
        if proc.exitcode is not None and proc.exitcode < 0:
            return None, None, f"{exporter}: crashed (signal {-proc.exitcode})"
        msg = Path(err).read_text().splitlines()[0] if os.path.exists(err) else f"exit code {proc.exitcode}"
        return None, None, f"{exporter}: failed ({msg})"
    sim = raw + ".sim"
    note = f" (onnxsim: {Path(err + '.sim').read_text()})" if os.path.exists(err + ".sim") else ""
    return raw, (sim if os.path.exists(sim) else None), f"{exporter}: ok{note}"


def _parity(model: nn.Module, onnx_bytes: bytes, example: torch.Tensor, check_inputs: np.ndarray | None,
            cfg: ExportConfig) -> tuple[dict[str, float], list[str]]:
    return parity_checks(model, onnx_bytes, example, check_inputs, dynamic_batch=cfg.dynamic_batch,
                         gpu=cfg.gpu_parity)


def drop_zero_branches(m: Any) -> int:
    """Remove what a dropped residual branch leaves in the graph: ``Add(x, Mul(x, 0))`` becomes ``x``.

    A block dropped by depth pruning is a ``ZeroBranch`` (``x * 0``) under the model's own residual add, which
    exporters and onnxsim keep (``x * 0`` is not 0 for an infinite or NaN ``x``). For finite inputs the add is
    the identity, so its uses read ``x`` instead (an ``Identity`` where it is a graph output) and the ``Mul``
    goes when nothing else reads it. The parity check that follows runs on the result. Returns the adds removed.
    """
    import numpy as np
    from onnx import numpy_helper

    g = m.graph
    if any(a.type in (a.GRAPH, a.GRAPHS) for n in g.node for a in n.attribute):
        return 0  # control flow: names inside subgraphs are out of this pass's sight
    zero = {i.name for i in g.initializer if i.data_type == 1 and int(np.prod(i.dims)) == 1
            and float(numpy_helper.to_array(i).reshape(-1)[0]) == 0.0}
    for node in g.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            t = node.attribute[0].t
            if t.data_type == 1 and int(np.prod(t.dims)) == 1 and float(numpy_helper.to_array(t).reshape(-1)[0]) == 0:
                zero.add(node.output[0])
    producer = {o: n for n in g.node for o in n.output}
    outputs = {o.name for o in g.output}
    removed = 0
    for add in [n for n in g.node if n.op_type == "Add" and len(n.input) == 2]:
        for x, other in ((add.input[0], add.input[1]), (add.input[1], add.input[0])):
            mul = producer.get(other)
            if mul is None or mul.op_type != "Mul" or len(mul.input) != 2:
                continue
            rest = list(mul.input)
            if x not in rest:
                continue
            rest.remove(x)
            if rest[0] not in zero:
                continue
            out = add.output[0]
            if out in outputs:
                add.op_type, add.input[:] = "Identity", [x]
            else:
                for n in g.node:
                    n.input[:] = [x if i == out else i for i in n.input]
                g.node.remove(add)
            removed += 1
            if not any(mul.output[0] in n.input for n in g.node) and mul.output[0] not in outputs:
                g.node.remove(mul)
            break
    if removed:  # the zeros nothing reads any more
        used = {i for n in g.node for i in n.input} | outputs
        for n in [n for n in g.node if n.op_type == "Constant" and n.output[0] in zero and n.output[0] not in used]:
            g.node.remove(n)
        for i in [i for i in g.initializer if i.name in zero and i.name not in used]:
            g.initializer.remove(i)
    return removed


def _finish(path: str, metadata: Mapping[str, str]) -> bytes:
    import onnx

    m = onnx.load(path)
    drop_zero_branches(m)
    onnx.checker.check_model(m)
    keep = [p for p in m.metadata_props if not p.key.startswith("onnxsim.")]  # onnxsim's bookkeeping: noise here
    del m.metadata_props[:]
    m.metadata_props.extend(keep)
    existing = {p.key: p for p in m.metadata_props}
    for k, v in metadata.items():
        if k in existing:
            existing[k].value = str(v)
        else:
            p = m.metadata_props.add()
            p.key, p.value = str(k), str(v)
    from eegdeploy._version import __version__

    m.producer_name, m.producer_version = "eegdeploy", __version__
    return m.SerializeToString()


def export_onnx(model: nn.Module, path: str | Path, config: ExportConfig = ExportConfig(), *, example: torch.Tensor,
                metadata: Mapping[str, str] | None = None, check_inputs: np.ndarray | None = None) -> ExportResult:
    """Export, simplify, check, verify in onnxruntime and write ``path`` atomically."""
    from eegdeploy._version import __version__

    t0 = time.perf_counter()
    path = Path(path)
    ensure_writable_dir(path.parent)
    model = model.eval()
    x = example[:1] if config.dynamic_batch else (example if config.batch is None
                                                   else example[:1].expand(config.batch, *example.shape[1:]).clone())
    if check_inputs is not None:
        check_inputs = np.asarray(check_inputs, dtype=np.float32)
        if check_inputs.ndim != example.ndim or tuple(check_inputs.shape[1:]) != tuple(example.shape[1:]):
            raise InputError(f"check inputs have shape {list(check_inputs.shape)}, the model takes "
                             f"[N, {', '.join(map(str, example.shape[1:]))}]",
                             fix="give samples with the model's input shape (the profile's --data)")
    order = {"auto": ("torchscript", "dynamo"), "torchscript": ("torchscript",), "dynamo": ("dynamo",)}[config.exporter]
    shape = ",".join(["batch" if config.dynamic_batch else str(x.shape[0]), *map(str, x.shape[1:])])
    meta = {"eegdeploy.version": __version__, "eegdeploy.input_name": INPUT_NAME, "eegdeploy.input_shape": shape,
            "eegdeploy.input_dtype": "float32", "eegdeploy.output_name": OUTPUT_NAME,
            **{str(k): str(v) for k, v in (metadata or {}).items()}}
    attempts: list[str] = []
    warns: list[str] = []
    parity_failure = ""
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as work:
        for exporter in order:
            raw, sim, outcome = _attempt(model, x, exporter, config, work)
            attempts.append(outcome)
            if raw is None:
                continue
            candidates = ([(sim, True)] if sim else []) + [(raw, False)]
            for cand, simplified in candidates:
                label = f"{exporter}{' simplified' if simplified else ''} graph"
                try:
                    data = _finish(cand, meta)
                    parity, notes = _parity(model, data, x, check_inputs, config)
                except Exception as err:
                    reason = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
                    warns.append(f"{label} rejected: {reason}")
                    continue
                cpu, gpu = split_gpu(parity)
                worst, worst_gpu = max(cpu.values()), max(gpu.values(), default=0.0)
                if worst > config.tolerance or worst_gpu > config.gpu_tolerance:
                    where = (f"by {worst:.3g} on CPU (tolerance {config.tolerance:g})" if worst > config.tolerance
                             else f"by {worst_gpu:.3g} on CUDA (tolerance {config.gpu_tolerance:g})")
                    check = max(parity, key=lambda k: parity[k])
                    warns.append(f"{label}: onnxruntime differs from PyTorch {where}, worst on {check}")
                    parity_failure = f"onnxruntime differs from PyTorch {where}, worst on {check}"
                    continue
                if config.simplify and not simplified:
                    warns.append("onnxsim could not simplify this graph; the unsimplified graph is used")
                with atomic_path(path) as tmp:
                    tmp.write_bytes(data)
                import onnx

                g = onnx.load_from_string(data).graph

                def dims(v: Any) -> list[Any]:
                    return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

                return ExportResult(path=path, bytes=len(data), exporter=exporter, opset=_opset(data),
                                    simplified=simplified, parity_max_abs=worst, parity=parity, warnings=warns,
                                    attempts=attempts, seconds=time.perf_counter() - t0,
                                    input_name=g.input[0].name, output_name=g.output[0].name,
                                    input_shape=dims(g.input[0]), output_shape=dims(g.output[0]), notes=notes)
    if parity_failure:
        raise ParityError(f"ONNX export of {type(model).__name__} does not match PyTorch: {parity_failure}; "
                          "nothing was written",
                          fix="raise --tolerance only if you accept the difference, or try --exporter dynamo")
    raise ExportError(f"ONNX export of {type(model).__name__} failed: {'; '.join(attempts + warns)}",
                      fix="try --exporter dynamo or torchscript, or --opset 18; see docs/export.md")


def _opset(data: bytes) -> int:
    import onnx

    m = onnx.load_from_string(data)
    return int(next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 0))
