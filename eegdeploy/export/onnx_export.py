"""Export to simplified ONNX that is proven to compute what the PyTorch model computes.

Each exporter attempt runs in a forked child process: torch 2.13's dynamo exporter segfaults on some torcheeg
models (FINDINGS.md), and a crash there must not take the CLI down. The TorchScript exporter (``dynamo=False``,
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
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn as nn

from eegdeploy.errors import ExportError, ParityError, invalid_value, unknown_name
from eegdeploy.io import TMP_PREFIX, atomic_path, ensure_writable_dir

EXPORTERS = ("auto", "torchscript", "dynamo")
INPUT_NAME, OUTPUT_NAME = "input", "logits"


@dataclass(frozen=True)
class ExportConfig:
    opset: int = 17
    exporter: str = "auto"  # auto: torchscript, then dynamo
    simplify: bool = True
    tolerance: float = 1e-4
    dynamic_batch: bool = True
    batch: int | None = None  # fixed batch when dynamic_batch is False
    timeout_s: float = 600.0

    def __post_init__(self) -> None:
        if self.exporter not in EXPORTERS:
            raise unknown_name("exporter", self.exporter, EXPORTERS)
        if not 7 <= int(self.opset) <= 21:
            raise invalid_value("opset", self.opset, "an ONNX opset between 7 and 21 (17 is well supported)")
        if not self.tolerance > 0:
            raise invalid_value("tolerance", self.tolerance, "a number > 0")


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


def _child(model: nn.Module, example: torch.Tensor, out: str, exporter: str, cfg: ExportConfig, err_path: str) -> None:
    try:
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


def ort_run(onnx_bytes_or_path: Any, x: np.ndarray, *, providers: tuple[str, ...] = ("CPUExecutionProvider",)
            ) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(onnx_bytes_or_path, sess_options=opts, providers=list(providers))
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]


def _parity(model: nn.Module, onnx_bytes: bytes, example: torch.Tensor, check_inputs: np.ndarray | None,
            cfg: ExportConfig) -> dict[str, float]:
    gen = torch.Generator().manual_seed(0)
    checks: dict[str, torch.Tensor] = {}
    if cfg.dynamic_batch:
        checks["random batch 1"] = torch.randn((1, *example.shape[1:]), generator=gen)
        checks["random batch 16"] = torch.randn((16, *example.shape[1:]), generator=gen)
        if check_inputs is not None and len(check_inputs):
            checks[f"real samples ({len(check_inputs)})"] = torch.as_tensor(np.asarray(check_inputs, np.float32))
    else:
        b = example.shape[0]
        checks[f"random batch {b}"] = torch.randn(tuple(example.shape), generator=gen)
        if check_inputs is not None and len(check_inputs) >= b:
            checks["real samples"] = torch.as_tensor(np.asarray(check_inputs[:b], np.float32))
    out: dict[str, float] = {}
    with torch.no_grad():
        for name, x in checks.items():
            ref = model(x).numpy()
            got = ort_run(onnx_bytes, x.numpy())
            if got.shape != ref.shape:
                out[name] = float("inf")
            else:
                out[name] = float(np.abs(got - ref).max())
    return out


def _finish(path: str, metadata: Mapping[str, str]) -> bytes:
    import onnx

    m = onnx.load(path)
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
    m.producer_name = "eegdeploy"
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
    order = {"auto": ("torchscript", "dynamo"), "torchscript": ("torchscript",), "dynamo": ("dynamo",)}[config.exporter]
    meta = {"eegdeploy.version": __version__, "eegdeploy.input_name": INPUT_NAME,
            "eegdeploy.output_name": OUTPUT_NAME, **{k: str(v) for k, v in (metadata or {}).items()}}
    attempts: list[str] = []
    warns: list[str] = []
    best_failure = ""
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as work:
        for exporter in order:
            raw, sim, outcome = _attempt(model, x, exporter, config, work)
            attempts.append(outcome)
            if raw is None:
                continue
            candidates = ([(sim, True)] if sim else []) + [(raw, False)]
            for cand, simplified in candidates:
                try:
                    data = _finish(cand, meta)
                    parity = _parity(model, data, x, check_inputs, config)
                except Exception as err:
                    reason = f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}"
                    warns.append(f"{exporter}{' simplified' if simplified else ''} graph rejected: {reason}")
                    best_failure = reason
                    continue
                worst = max(parity.values())
                if worst > config.tolerance:
                    warns.append(f"{exporter}{' simplified' if simplified else ''} graph: onnxruntime differs from "
                                 f"PyTorch by {worst:.3g} (tolerance {config.tolerance:g})")
                    best_failure = f"onnxruntime differs from PyTorch by {worst:.3g}"
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
                                    input_shape=dims(g.input[0]), output_shape=dims(g.output[0]))
    if best_failure.startswith("onnxruntime differs"):
        raise ParityError(f"ONNX export of {type(model).__name__} does not match PyTorch: {best_failure} "
                          f"(tolerance {config.tolerance:g}); nothing was written",
                          fix="raise --tolerance only if you accept the difference, or try --exporter dynamo")
    raise ExportError(f"ONNX export of {type(model).__name__} failed: {'; '.join(attempts + warns)}",
                      fix="try --exporter dynamo or torchscript, or --opset 18; see docs/export.md")


def _opset(data: bytes) -> int:
    import onnx

    m = onnx.load_from_string(data)
    return int(next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 0))
