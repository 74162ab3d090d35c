"""The deployable package of one model: the verified ONNX file and everything that travels with it.

``export_package`` is the one place that writes a package; ``eegdeploy export`` and ``compress`` both call it:

    files = PackageFiles.beside("model.onnx")            # model.onnx, model.test-vectors.npz, model.model-card.md...
    pkg = export_package(model, stage_dir, files, PackageConfig(int8=True), example=x, metadata=meta,
                         check_inputs=X[:32], vectors=X[:8], calibration=train.X[:128], test=test,
                         card=card_from_bundle(bundle))
    pkg.written        # file names inside stage_dir, in the order written

It exports and verifies the fp32 file (``export_onnx``), writes the test vectors, the optional int8 / fp16 / ORT-format
copies (each checked against the fp32 file), measures latency when asked, and renders the model card from what it
measured. The caller stages the folder (``eegdeploy.io.Staging``) so nothing appears unless every check passed.

The int8 copy has two policies. ``int8_policy="always"`` (``export --int8``) writes it and warns when it is slower
or less accurate; ``"if-better"`` (``compress --int8``) keeps it only when it is faster than fp32 at the measured
batch and loses at most ``ExportConfig.max_accuracy_drop`` of test accuracy, and otherwise records why it was
dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from eegdeploy.errors import ParityError, invalid_value
from eegdeploy.export.card import ModelCardInfo, render_model_card
from eegdeploy.export.onnx_export import ExportConfig, ExportResult
from eegdeploy.io import write_json, write_text

if TYPE_CHECKING:  # pragma: no cover
    import torch
    import torch.nn as nn

    from eegdeploy.export.quant import AccuracyComparison, QuantResult

__all__ = ["INT8_POLICIES", "OrtFormatResult", "PackageConfig", "PackageFiles", "PackageResult", "card_from_bundle",
           "export_bundle", "export_package", "to_ort_format", "write_package_card", "write_record"]

INT8_POLICIES = ("always", "if-better")


@dataclass(frozen=True)
class PackageFiles:
    """File names of a package inside its folder (``record``: the export.json summary, or None)."""

    onnx: str
    vectors: str
    card: str
    int8: str
    fp16: str
    ort: str
    record: str | None = None

    @classmethod
    def beside(cls, onnx_name: str) -> "PackageFiles":
        """``eegdeploy export`` naming: every file starts with the ONNX file's stem."""
        stem = Path(onnx_name).with_suffix("").name
        return cls(onnx=Path(onnx_name).name, vectors=f"{stem}.test-vectors.npz", card=f"{stem}.model-card.md",
                   int8=f"{stem}.int8.onnx", fp16=f"{stem}.fp16.onnx", ort=f"{stem}.ort", record=f"{stem}.export.json")

    @classmethod
    def compress(cls) -> "PackageFiles":
        """``compress`` naming (DESIGN.md): slim.onnx, test-vectors.npz, model-card.md."""
        return cls(onnx="slim.onnx", vectors="test-vectors.npz", card="model-card.md", int8="slim.int8.onnx",
                   fp16="slim.fp16.onnx", ort="slim.ort")


@dataclass(frozen=True)
class PackageConfig:
    """What goes into a package besides the fp32 ONNX file, and how it is measured.

    ``bench_batches``: ort-cpu latency batches for the card (empty: not measured). ``int8_batch``: the batch at which
    int8 and fp32 are timed against each other (interleaved, ``threads`` threads).
    """

    export: ExportConfig = ExportConfig()
    int8: bool = False
    int8_policy: str = "always"
    int8_batch: int = 16
    fp16: bool = False
    ort_format: bool = False
    bench_batches: tuple[int, ...] = ()
    iters: int = 20
    threads: int = 1
    rewrite: Any = None  # an eegdeploy.rewrite.RewriteConfig: exact deployment rewrites of the fp32 file (--optimize)

    def __post_init__(self) -> None:
        from eegdeploy.errors import ConfigError, unknown_name

        if self.int8_policy not in INT8_POLICIES:
            raise unknown_name("int8 policy", self.int8_policy, INT8_POLICIES)
        if self.iters < 1:
            raise invalid_value("iters", self.iters, "a positive integer")
        if self.int8_batch < 1:
            raise invalid_value("int8 batch", self.int8_batch, "a positive integer")
        if self.int8 and not self.export.dynamic_batch:
            raise ConfigError("--int8 needs a dynamic batch axis (calibration and timing use other batches)",
                              fix="drop --batch N, or quantize the dynamic-batch export")


@dataclass
class OrtFormatResult:
    """The ORT-format copy (what onnxruntime's mobile and minimal builds load), checked against the ONNX file."""

    path: Path
    bytes: int
    optimization: str
    parity_max_abs: float

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.path.name, "bytes": self.bytes, "optimization": self.optimization,
                "parity_max_abs": self.parity_max_abs}


@dataclass
class PackageResult:
    """What ``export_package`` wrote and measured. File names are relative to the package folder."""

    files: PackageFiles
    export: ExportResult
    written: list[str] = field(default_factory=list)
    num_vectors: int = 0
    onnx_accuracy: float | None = None
    latency_ms: dict[str, Any] = field(default_factory=dict)
    int8: QuantResult | None = None
    int8_kept: bool = False
    int8_reason: str = ""  # why the int8 copy was dropped (policy "if-better"), or ""
    fp16: dict[str, Any] | None = None
    ort: OrtFormatResult | None = None
    rewrite: Any = None  # the eegdeploy.rewrite.RewriteResult when rewrites ran
    unrewritten: bytes | None = None  # the fp32 file as exported, before the rewrites
    notes: list[str] = field(default_factory=list)  # lines for the model card's notes
    lines: list[str] = field(default_factory=list)  # one summary line per int8 / fp16 / ORT-format copy
    warnings: list[str] = field(default_factory=list)

    def line(self, text: str) -> None:
        self.lines.append(text)
        self.notes.append(text)

    def int8_summary(self) -> dict[str, Any] | None:
        """The int8 decision for report.json: measured figures, whether the file was kept, and why not."""
        if self.int8 is None:
            return None
        d = self.int8.to_dict()
        d["path"] = self.files.int8 if self.int8_kept else None
        return d | {"kept": self.int8_kept, "reason": self.int8_reason}


def card_from_bundle(bundle: Any, **fields: Any) -> ModelCardInfo:
    """A model card's description of ``bundle`` (an ``eegdeploy.models.Bundle``); ``fields`` override or add."""
    spec = bundle.input
    base = dict(name=bundle.name, arch=str(bundle.metadata.get("source_arch") or bundle.arch),
                input_shape=tuple(spec.shape), layout=tuple(spec.layout), electrodes=tuple(spec.electrodes),
                sampling_rate=spec.sampling_rate, preprocessing=spec.preprocessing,
                class_names=tuple(bundle.class_names))
    return ModelCardInfo(**(base | fields))


def to_ort_format(onnx_path: str | Path, out: str | Path, *, check_inputs: np.ndarray, tolerance: float
                  ) -> OrtFormatResult:
    """Write the ORT-format copy of ``onnx_path`` and check it against the ONNX file on ``check_inputs``.

    Basic (hardware-independent) graph optimizations only, so the file runs on any device's minimal build.
    """
    import onnxruntime as ort

    from eegdeploy.export.quant import onnx_logits
    from eegdeploy.io import atomic_path

    out = Path(out)
    with atomic_path(out, suffix=".ort") as tmp:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(tmp)
        opts.add_session_config_entry("session.save_model_format", "ORT")
        ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
        ref = onnx_logits(onnx_path, check_inputs)
        got = onnx_logits(tmp, check_inputs)
        diff = float(np.abs(ref.astype(np.float64) - got).max())
        if not diff <= tolerance:
            raise ParityError(f"the ORT-format file differs from the ONNX file by {diff:.3g} (tolerance {tolerance:g});"
                              " nothing was written", fix="export without --ort-format and report this")
    return OrtFormatResult(out, out.stat().st_size, "basic", diff)


def export_package(model: nn.Module, folder: str | Path, files: PackageFiles, config: PackageConfig, *,
                   example: torch.Tensor, metadata: Mapping[str, str], check_inputs: np.ndarray | None,
                   vectors: np.ndarray, calibration: np.ndarray | None = None, test: Any = None,
                   card: ModelCardInfo | None = None) -> PackageResult:
    """Write the package of ``model`` into ``folder`` (a staging folder; see the module docstring).

    ``test`` (anything with ``X``, ``y``) gives the file's onnxruntime accuracy and the int8/fp16 comparisons;
    ``card`` (without the measured fields, which the package fills in) makes the model card; None skips it.
    """
    from eegdeploy.export.onnx_export import export_onnx
    from eegdeploy.export.vectors import write_test_vectors

    folder = Path(folder)
    xcfg = config.export
    res = export_onnx(model, folder / files.onnx, xcfg, example=example, metadata=metadata, check_inputs=check_inputs)
    pkg = PackageResult(files=files, export=res, written=[files.onnx])
    pkg.notes += [f"exported by the {res.exporter} exporter (attempts: {'; '.join(res.attempts)})",
                  *res.warnings, *res.notes]
    pkg.warnings += res.warnings
    if config.rewrite is not None:
        _rewrite(pkg, folder, config, model, example, check_inputs, metadata)

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if not xcfg.dynamic_batch and xcfg.batch is not None:
        vectors = np.resize(vectors, (xcfg.batch, *vectors.shape[1:]))  # the file takes exactly this batch
    write_test_vectors(folder / files.onnx, vectors, folder / files.vectors)
    pkg.written.append(files.vectors)
    pkg.num_vectors = len(vectors)
    has_test = test is not None and len(test.X) > 0

    if config.int8:
        _int8(pkg, folder, config, calibration, test if has_test else None)
    if config.fp16:
        _fp16(pkg, folder, config, test if has_test else None, vectors)
    if config.ort_format:
        pkg.ort = to_ort_format(folder / files.onnx, folder / files.ort,
                                check_inputs=check_inputs if check_inputs is not None else vectors,
                                tolerance=xcfg.tolerance)
        pkg.written.append(files.ort)
        pkg.line(f"ORT format {files.ort} (for onnxruntime mobile and minimal builds): "
                 f"{pkg.ort.bytes / 1024:.1f} KiB, max |ort - onnx| {pkg.ort.parity_max_abs:.2g}")
    if config.bench_batches:
        from eegdeploy.bench import BenchConfig, benchmark_onnx

        batches = config.bench_batches if xcfg.dynamic_batch else (xcfg.batch or 1,)
        lat = benchmark_onnx(folder / files.onnx, BenchConfig(batches=batches, threads=config.threads,
                                                               iters=config.iters, warmup=3))
        pkg.latency_ms = lat.latency_ms
        pkg.notes += lat.notes
    if has_test:
        from eegdeploy.export.quant import onnx_accuracy

        pkg.onnx_accuracy = onnx_accuracy(folder / files.onnx, test.X, test.y)
    if card is not None:
        write_package_card(pkg, folder, card)
    return pkg


def write_package_card(pkg: PackageResult, folder: str | Path, card: ModelCardInfo,
                       latency: Mapping[str, Any] | None = None) -> Path:
    """Render the package's model card: ``card`` describes the model, the package fills in what it measured."""
    res = pkg.export
    xcfg_batch = None if res.input_shape and isinstance(res.input_shape[0], str) else (
        res.input_shape[0] if res.input_shape else None)
    info = replace(card, size_bytes=res.bytes, latency=dict(latency if latency is not None else pkg.latency_ms),
                   onnx_file=pkg.files.onnx, input_name=res.input_name, output_name=res.output_name, opset=res.opset,
                   exporter=res.exporter, parity_max_abs=res.parity_max_abs, test_vectors=pkg.files.vectors,
                   num_test_vectors=pkg.num_vectors, extra=[*card.extra, *pkg.notes],
                   dynamic_batch=xcfg_batch is None, batch=xcfg_batch,
                   int8=_card_int8(pkg))
    path = Path(folder) / pkg.files.card
    write_text(path, render_model_card(info))
    if pkg.files.card not in pkg.written:
        pkg.written.append(pkg.files.card)
    return path


def write_record(pkg: PackageResult, folder: str | Path, record: Mapping[str, Any]) -> Path:
    """The export.json summary (``eegdeploy export``): the export result, files and measurements."""
    path = Path(folder) / str(pkg.files.record)
    write_json(path, dict(record))
    if pkg.files.record not in pkg.written:
        pkg.written.append(str(pkg.files.record))
    return path


def _card_int8(pkg: PackageResult) -> dict[str, Any] | None:
    q = pkg.int8
    if q is None:
        return None
    return {"file": pkg.files.int8 if pkg.int8_kept else None, "kept": pkg.int8_kept, "reason": pkg.int8_reason,
            "accuracy": q.int8_accuracy, "fp32_accuracy": q.fp32_accuracy, "bytes": q.int8_bytes,
            "fp32_bytes": q.fp32_bytes, "p50_ms": q.int8_p50_ms, "fp32_p50_ms": q.fp32_p50_ms,
            "batch": q.latency_batch}


def _patch_form(pkg: PackageResult, config: PackageConfig, rcfg: Any, model: Any, example: Any,
                check_inputs: np.ndarray | None, metadata: Mapping[str, str]) -> tuple[bytes, Any]:
    """The file to rewrite: as exported, or the model exported with its ViT patch embeddings as strided convs
    (``eegdeploy.models.patch_embedding_as_conv``: the einops patch cut exports to a rank-7 Transpose of the
    whole input, the largest single cost of a slim ViT in onnxruntime). The conv form is checked against the
    model in PyTorch and in onnxruntime, and kept when measured faster by ``min_gain``, as every rewrite is;
    with the cost model (which has no term for a strided Transpose) it is always taken. Returns the bytes and
    the decision as a ``Rewrite`` (None for a model without such an embedding)."""
    import tempfile

    from eegdeploy.export.onnx_export import export_onnx
    from eegdeploy.models.patch import patch_embedding_as_conv, patch_embedding_names
    from eegdeploy.rewrite.choose import measure, random_input
    from eegdeploy.rewrite.stage import Rewrite

    names = patch_embedding_names(model)
    if not names:
        return pkg.unrewritten, None
    conv, _ = patch_embedding_as_conv(model, example)
    with tempfile.TemporaryDirectory(prefix="eegdeploy-patch-") as tmp:
        res = export_onnx(conv, Path(tmp) / "patch.onnx", config.export, example=example, metadata=metadata,
                          check_inputs=check_inputs)
        data = res.path.read_bytes()
    options = {"as-is": pkg.unrewritten, "strided-conv": data}
    if rcfg.measure:
        clock = "cpu" if rcfg.threads == 1 else "wall"
        x = random_input(data, rcfg.batch, seed=3)
        scores = measure(options, x, threads=rcfg.threads, rounds=rcfg.rounds, quantile=25.0, clock=clock)
        unit = "cpu-ms" if clock == "cpu" else "ms"
        keep = scores["as-is"] >= rcfg.min_gain * scores["strided-conv"]
        gain = scores["as-is"] / scores["strided-conv"] if keep else 1.0
    else:
        scores, unit, keep, gain = {}, "cost", True, 1.0
    decision = Rewrite("patch-conv", names, "strided-conv" if keep else "as-is", scores, unit, gain,
                       res.parity_max_abs if keep else 0.0)
    return (data if keep else pkg.unrewritten), decision


def _rewrite(pkg: PackageResult, folder: Path, config: PackageConfig, model: Any, example: Any,
             check_inputs: np.ndarray | None, metadata: Mapping[str, str] | None = None) -> None:
    """Rewrite the fp32 file in place (eegdeploy.rewrite): a ViT's patch embedding as a strided conv (see
    ``_patch_form``), then the ONNX chains; the rewritten file is checked against the file it started from
    (inside ``rewrite_onnx``) and against PyTorch here, both within the export tolerance."""
    import torch

    from eegdeploy.export.parity import max_abs_diff, ort_run
    from eegdeploy.io import write_bytes
    from eegdeploy.rewrite import rewrite_onnx

    path = folder / pkg.files.onnx
    pkg.unrewritten = path.read_bytes()
    rcfg = replace(config.rewrite, tolerance=config.export.tolerance)
    start, patch = _patch_form(pkg, config, rcfg, model, example, check_inputs, metadata or {})
    res = rewrite_onnx(start, rcfg, check_inputs=check_inputs)
    if patch is not None:
        res.rewrites.insert(0, patch)
        if patch.form == "as-is":
            res.notes.append(f"{', '.join(patch.layers)}: the patch embedding as a strided conv was not faster; "
                             "kept as exported")
    x = check_inputs if check_inputs is not None and len(check_inputs) else \
        torch.randn((8, *example.shape[1:]), generator=torch.Generator().manual_seed(0)).numpy()
    if not pkg.export.input_shape or isinstance(pkg.export.input_shape[0], str):
        pass
    else:  # a fixed batch: the file takes exactly that many samples
        x = np.resize(x, (int(pkg.export.input_shape[0]), *x.shape[1:]))
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
    diff = max_abs_diff(ort_run(res.model, x), ref)
    if start is not pkg.unrewritten:  # the ONNX chains started from the conv form: measure against the export
        res.parity_max_abs = max(res.parity_max_abs, max_abs_diff(ort_run(res.model, x), ort_run(pkg.unrewritten, x)))
    if not diff <= config.export.tolerance:  # both checks held unless something is badly wrong: never ship it
        raise ParityError(f"the rewritten ONNX file differs from PyTorch by {diff:.3g}; nothing was written",
                          fix="export without --optimize (compress: --no-rewrite) and report this")
    write_bytes(path, res.model)
    pkg.rewrite = res
    pkg.export.bytes = len(res.model)
    pkg.export.parity_max_abs = max(pkg.export.parity_max_abs, diff)
    applied = [f"{r.form} ({' → '.join(r.layers)}" + (f", {r.gain:.2f}x)" if r.candidates else ", not costed)")
               for r in res.applied]
    pkg.line(f"exact rewrites ({'measured in onnxruntime' if res.measured else 'cost model'}, batch "
             f"{rcfg.batch}, {rcfg.threads} thread(s)): " + ("; ".join(applied) if applied else "none paid off")
             + f"; max |rewritten - exported| {res.parity_max_abs:.2g}")
    pkg.notes += res.notes


def _int8(pkg: PackageResult, folder: Path, config: PackageConfig, calibration: np.ndarray | None, test: Any) -> None:
    from eegdeploy.errors import InputError
    from eegdeploy.export.quant import quantize_int8

    files, xcfg = pkg.files, config.export
    if calibration is None or len(calibration) == 0:
        raise InputError("int8 calibration needs training samples", fix="give training data with --data")
    q = quantize_int8(folder / files.onnx, folder / files.int8, calibration=calibration, test=test,
                      max_accuracy_drop=xcfg.max_accuracy_drop, latency_batch=config.int8_batch,
                      threads=config.threads)
    pkg.int8 = q
    if config.int8_policy == "always":
        pkg.int8_kept = True
    else:
        drop = q.accuracy_drop
        if q.int8_p50_ms >= q.fp32_p50_ms:
            pkg.int8_reason = (f"int8 is not faster than fp32 here ({q.int8_p50_ms:.2f} vs {q.fp32_p50_ms:.2f} ms at "
                               f"batch {q.latency_batch}, {config.threads} thread(s))")
        elif drop is None:
            pkg.int8_reason = "no labelled test samples to check int8 accuracy on"
        elif drop > xcfg.max_accuracy_drop:
            pkg.int8_reason = (f"int8 loses {100 * drop:.1f} accuracy points (tolerance "
                               f"{100 * xcfg.max_accuracy_drop:.1f})")
        pkg.int8_kept = not pkg.int8_reason
        if not pkg.int8_kept:
            (folder / files.int8).unlink()
            q.warnings.clear()  # the reason says it; the file is gone
    if pkg.int8_kept:
        pkg.written.append(files.int8)
        pkg.line(q.summary())
        pkg.notes += q.warnings
        pkg.warnings += q.warnings
    else:
        pkg.line(f"int8 copy dropped: {pkg.int8_reason}")


def _fp16(pkg: PackageResult, folder: Path, config: PackageConfig, test: Any, vectors: np.ndarray) -> None:
    from eegdeploy.export.quant import compare_accuracy, to_fp16

    files, xcfg = pkg.files, config.export
    f16 = to_fp16(folder / files.onnx, folder / files.fp16)
    rec: dict[str, Any] = {"file": files.fp16, "bytes": f16.stat().st_size}
    line = f"fp16 {files.fp16}: {f16.stat().st_size / 1024:.1f} KiB"
    try:
        cmp: AccuracyComparison = compare_accuracy(folder / files.onnx, f16, test.X if test is not None else vectors,
                                                   test.y if test is not None else None)
        rec["comparison"] = cmp.to_dict()
        line += f", max |fp16 - fp32| logit {cmp.max_abs_logit_diff:.2g} on onnxruntime CPU"
        if cmp.accuracy_drop is not None:
            line += f", accuracy {100 * cmp.reference_accuracy:.1f}% -> {100 * cmp.candidate_accuracy:.1f}%"
            if cmp.accuracy_drop > xcfg.max_accuracy_drop:
                rec["warning"] = (f"fp16 loses {100 * cmp.accuracy_drop:.1f} accuracy points (threshold "
                                  f"{100 * xcfg.max_accuracy_drop:.1f})")
                pkg.warnings.append(rec["warning"])
    except Exception as err:  # the CPU provider lacks some fp16 kernels: the file is for GPU targets anyway
        line += f" (not run on onnxruntime CPU: {type(err).__name__})"
    pkg.fp16 = rec
    pkg.line(line)
    pkg.written.append(files.fp16)


def export_bundle(bundle: Any, splits: Any, folder: str | Path, onnx_name: str, config: PackageConfig
                  ) -> PackageResult:
    """``eegdeploy export``: the package of ``bundle`` (any model, slim or not) with its export.json record.

    Accuracy is measured on ``splits.test`` in PyTorch and in onnxruntime; int8 is calibrated on up to 128 training
    samples; a portable slim.pt's recipe and accuracies travel on into the ONNX metadata and the card.
    """
    import torch

    from eegdeploy.export.metadata import model_metadata
    from eegdeploy.recover import evaluate

    folder = Path(folder)
    files = PackageFiles.beside(onnx_name)
    xcfg = config.export
    model = bundle.module.eval()
    example = torch.zeros((1, *bundle.input.shape))
    if not xcfg.dynamic_batch:
        example = example.expand(xcfg.batch or 1, *example.shape[1:]).clone()
    test = splits.test
    accuracy = evaluate(model, test) if len(test) else None

    meta = model_metadata(bundle)
    from eegdeploy.report.accuracy import accuracy_section

    carried = dict(bundle.metadata.get("onnx_metadata") or {})  # a slim.pt remembers its recipe and accuracies
    for key in ("eegdeploy.recipe", "eegdeploy.accuracy_baseline", "eegdeploy.accuracy_slim"):
        if key in carried:
            meta[key] = str(carried[key])
    data_label = f"{splits.source} test split ({len(test)} samples)"
    if accuracy is not None:
        meta["eegdeploy.accuracy"] = f"{accuracy:.4f}"
        meta["eegdeploy.accuracy_data"] = data_label
    source = test.X if len(test) else splits.train.X
    pkg = export_package(model, folder, files, config, example=example, metadata=meta,
                         check_inputs=test.X[:32] if len(test) else None, vectors=source[:8],
                         calibration=splits.train.X[:128], test=test if len(test) else None)
    if pkg.onnx_accuracy is not None:
        pkg.notes.append(f"accuracy measured in onnxruntime on the {data_label}")

    def carried_acc(key: str) -> float | None:
        try:
            return float(carried[key])
        except (KeyError, TypeError, ValueError):
            return None

    card = card_from_bundle(bundle, accuracy_baseline=carried_acc("eegdeploy.accuracy_baseline"),
                            accuracy_slim=pkg.onnx_accuracy, params=sum(p.numel() for p in model.parameters()),
                            macs=_macs(model, example[:1]), recipe=dict(bundle.metadata.get("recipe") or {}),
                            title="slim" if bundle.arch == "portable" else "export",
                            accuracy=accuracy_section(None, pkg.onnx_accuracy, len(test), splits.source,
                                                      baseline_training="", slim_training="this file, in onnxruntime",
                                                      profile=bundle.profile))
    write_package_card(pkg, folder, card)
    record: dict[str, Any] = {"kind": "eegdeploy-export", "version": 2, **pkg.export.to_dict(),
                              "file": files.onnx, "metadata": meta,
                              "test_vectors": {"file": files.vectors, "n": pkg.num_vectors}}
    if pkg.int8 is not None:
        record["int8"] = pkg.int8_summary()
    if pkg.fp16 is not None:
        record["fp16"] = pkg.fp16
    if pkg.ort is not None:
        record["ort"] = pkg.ort.to_dict()
    if pkg.rewrite is not None:
        record["rewrites"] = pkg.rewrite.to_dict()
    if pkg.latency_ms:
        record["latency_ms"] = pkg.latency_ms
    if pkg.onnx_accuracy is not None:
        record["accuracy"] = {"torch": accuracy, "onnx": pkg.onnx_accuracy, "data": data_label}
    write_record(pkg, folder, record)
    return pkg


def _macs(model: Any, example: Any) -> int | None:
    from eegdeploy.bench import count

    try:
        return count(model, example, cross_check=False).macs
    except Exception:  # counting is informative only; the card says n/a
        return None
