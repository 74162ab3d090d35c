"""eegdeploy export: a verified, simplified ONNX file with metadata, test vectors and a model card."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eegdeploy.cli._common import add_data_args, add_model_args, load_bundle, parse_ints, profile_for


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a model to verified, simplified ONNX (+ test vectors, model card, int8/fp16)",
        description="Export MODEL to ONNX: each exporter runs in a child process (TorchScript first, dynamo as "
                    "fallback), onnxsim, onnx.checker, and an onnxruntime parity check against PyTorch at batch 1, "
                    "16 and on samples of the data (the profile's synthetic EEG unless --data). Writes FILE.onnx "
                    "with metadata, FILE.test-vectors.npz, FILE.model-card.md and FILE.export.json, all or nothing: "
                    "if parity exceeds --tolerance nothing is written. Optionally an int8 (static QDQ) or fp16 copy, "
                    "with accuracy, size and latency compared against fp32.")
    add_model_args(p)
    add_data_args(p)
    p.add_argument("--out", metavar="FILE.onnx", help="output file (default: MODEL with .onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--batch", default="dynamic", metavar="dynamic|N", help="'dynamic' (default) or a fixed batch size")
    p.add_argument("--exporter", default="auto", metavar="NAME",
                   help="auto (torchscript, then dynamo; default), torchscript or dynamo")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max |onnxruntime - torch| allowed (default 1e-4)")
    p.add_argument("--no-simplify", action="store_true", help="skip onnxsim")
    p.add_argument("--quantize", choices=["int8"], help="also write FILE.int8.onnx (onnxruntime static QDQ, "
                   "calibrated on up to 128 training samples) and compare its accuracy, size and latency")
    p.add_argument("--int8", dest="quantize", action="store_const", const="int8", help="same as --quantize int8")
    p.add_argument("--max-accuracy-drop", type=float, default=0.02, metavar="F",
                   help="warn when int8/fp16 accuracy is lower than fp32 by more than F (a fraction; default 0.02)")
    p.add_argument("--fp16", action="store_true", help="also write FILE.fp16.onnx (fp16 weights and activations, "
                   "fp32 inputs and outputs, for GPU targets)")
    p.add_argument("--bench-batches", default="1,64", metavar="1,64",
                   help="ort-cpu latency batches for the model card (default 1,64)")
    p.add_argument("--iters", type=int, default=20, help="timed runs per latency figure (default 20)")
    p.add_argument("--no-bench", action="store_true", help="skip the latency measurement")
    p.set_defaults(run=run)


def _config(args: argparse.Namespace) -> Any:
    from eegdeploy.errors import invalid_value
    from eegdeploy.export import ExportConfig

    if args.batch == "dynamic":
        dynamic, batch = True, None
    else:
        try:
            batch = int(args.batch)
        except ValueError:
            raise invalid_value("batch", args.batch, "'dynamic' or a positive integer") from None
        if batch < 1:
            raise invalid_value("batch", args.batch, "'dynamic' or a positive integer")
        dynamic = False
    if args.iters < 1:
        raise invalid_value("iters", args.iters, "a positive integer")
    if args.quantize and not dynamic:
        from eegdeploy.errors import ConfigError

        raise ConfigError("--quantize int8 needs a dynamic batch axis (calibration and timing use other batches)",
                          fix="drop --batch N, or quantize the dynamic-batch export")
    return ExportConfig(opset=args.opset, exporter=args.exporter, simplify=not args.no_simplify,
                        tolerance=args.tolerance, dynamic_batch=dynamic, batch=batch,
                        max_accuracy_drop=args.max_accuracy_drop)


def _out_path(args: argparse.Namespace) -> Path:
    """The .onnx path; refused early (before any work) if it is a folder or cannot be written."""
    import os

    from eegdeploy.errors import OutputError

    out = Path(args.out) if args.out else Path(args.model).with_suffix(".onnx")
    if out.is_dir():
        raise OutputError(f"--out {str(out)!r} is a folder", fix="give a file name such as model.onnx")
    existing = out.parent.resolve()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {str(out)!r}: {str(existing)!r} is not a writable folder",
                          fix="choose another --out")
    return out


def run(args: argparse.Namespace, console) -> int:
    import os
    import shutil
    import tempfile

    from eegdeploy.io import TMP_PREFIX, ensure_writable_dir

    config = _config(args)
    batches = parse_ints(args.bench_batches, "bench-batches")
    out = _out_path(args)
    bundle = load_bundle(args)
    made = [d for d in (out.parent.resolve(), *out.parent.resolve().parents) if not d.exists()]
    ensure_writable_dir(out.parent)
    stage = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=out.parent))
    try:
        names = _export_all(args, console, config, bundle, out, stage, batches)
        for name in names:  # every check passed: move the files into place, each by an atomic rename
            os.replace(stage / name, out.parent / name)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        for d in made:  # deepest first: folders this run created stay only if it succeeded
            try:
                d.rmdir()
            except OSError:
                break
        raise
    shutil.rmtree(stage, ignore_errors=True)
    console.print("wrote " + ", ".join(str(out.parent / n) for n in names))
    return 0


def _export_all(args: argparse.Namespace, console, config: Any, bundle: Any, out: Path, stage: Path,
                batches: tuple[int, ...]) -> list[str]:
    import numpy as np
    import torch

    from eegdeploy.data import load_data
    from eegdeploy.export import ModelCardInfo, export_onnx, render_model_card, write_test_vectors
    from eegdeploy.export.metadata import model_metadata
    from eegdeploy.io import write_json, write_text
    from eegdeploy.recover import evaluate

    stem = out.with_suffix("").name
    files = {"onnx": out.name, "vectors": f"{stem}.test-vectors.npz", "card": f"{stem}.model-card.md",
             "record": f"{stem}.export.json", "int8": f"{stem}.int8.onnx", "fp16": f"{stem}.fp16.onnx"}
    model = bundle.module.eval()
    example = torch.zeros((1, *bundle.input.shape))
    if not config.dynamic_batch:
        example = example.expand(config.batch, *example.shape[1:]).clone()
    splits = load_data(args.data, profile_for(bundle, args), seed=args.seed)
    test = splits.test
    accuracy = evaluate(model, test) if len(test) else None

    meta = model_metadata(bundle)
    carried = dict(bundle.metadata.get("onnx_metadata") or {})  # a slim.pt remembers its recipe and accuracies
    for key in ("eegdeploy.recipe", "eegdeploy.accuracy_baseline", "eegdeploy.accuracy_slim"):
        if key in carried:
            meta[key] = str(carried[key])
    if accuracy is not None:
        meta["eegdeploy.accuracy"] = f"{accuracy:.4f}"
        meta["eegdeploy.accuracy_data"] = f"{splits.source} test split ({len(test)} samples)"

    res = export_onnx(model, stage / files["onnx"], config, example=example, metadata=meta,
                      check_inputs=test.X[:32] if len(test) else None)
    console.print(f"{out.name}: {res.bytes / 1024:.1f} KiB, exporter {res.exporter}, opset {res.opset}, "
                  f"{'simplified' if res.simplified else 'not simplified'}; onnxruntime vs torch max abs diff "
                  f"{res.parity_max_abs:.2g} ({', '.join(f'{k}: {v:.2g}' for k, v in res.parity.items())})")
    console.print(f"attempts: {'; '.join(res.attempts)}")
    for w in res.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    for n in res.notes:
        console.print(f"[dim]note: {n}[/]")

    source = test.X if len(test) else splits.train.X
    vectors = np.ascontiguousarray(source[:8], dtype=np.float32)
    if not config.dynamic_batch:
        vectors = np.resize(vectors, (config.batch, *vectors.shape[1:]))  # the file takes exactly this batch
    write_test_vectors(stage / files["onnx"], vectors, stage / files["vectors"])

    record: dict[str, Any] = {"kind": "eegdeploy-export", "version": 2, **res.to_dict(), "file": str(out),
                              "metadata": meta, "test_vectors": {"file": files["vectors"], "n": len(vectors)}}
    extra = [f"exported by the {res.exporter} exporter (attempts: {'; '.join(res.attempts)})", *res.warnings,
             *res.notes]
    written = [files["onnx"], files["vectors"]]

    if args.quantize:
        from eegdeploy.export.quant import quantize_int8

        q = quantize_int8(stage / files["onnx"], stage / files["int8"], calibration=splits.train.X[:128],
                          test=test if len(test) else None, max_accuracy_drop=config.max_accuracy_drop)
        q.path = out.parent / files["int8"]
        record["int8"] = q.to_dict()
        extra.append(q.summary())
        console.print(q.summary())
        for w in q.warnings:
            console.print(f"[yellow]warning:[/] {w}")
        written.append(files["int8"])
    if args.fp16:
        from eegdeploy.export.quant import compare_accuracy, to_fp16

        f16 = to_fp16(stage / files["onnx"], stage / files["fp16"])
        rec: dict[str, Any] = {"file": str(out.parent / files["fp16"]), "bytes": f16.stat().st_size}
        line = f"fp16 {files['fp16']}: {f16.stat().st_size / 1024:.1f} KiB"
        try:
            cmp = compare_accuracy(stage / files["onnx"], f16, test.X if len(test) else vectors,
                                   test.y if len(test) else None)
            rec["comparison"] = cmp.to_dict()
            line += f", max |fp16 - fp32| logit {cmp.max_abs_logit_diff:.2g} on onnxruntime CPU"
            if cmp.accuracy_drop is not None:
                line += (f", accuracy {100 * cmp.reference_accuracy:.1f}% -> {100 * cmp.candidate_accuracy:.1f}%")
                if cmp.accuracy_drop > config.max_accuracy_drop:
                    rec["warning"] = (f"fp16 loses {100 * cmp.accuracy_drop:.1f} accuracy points (threshold "
                                      f"{100 * config.max_accuracy_drop:.1f})")
                    console.print(f"[yellow]warning:[/] {rec['warning']}")
        except Exception as err:  # the CPU provider lacks some fp16 kernels: the file is for GPU targets anyway
            line += f" (not run on onnxruntime CPU: {type(err).__name__})"
        record["fp16"] = rec
        extra.append(line)
        console.print(line)
        written.append(files["fp16"])

    latency: dict[str, Any] = {}
    if not args.no_bench:
        from eegdeploy.bench import BenchConfig, benchmark_onnx

        if not config.dynamic_batch:
            batches = (config.batch,)
        lat = benchmark_onnx(stage / files["onnx"], BenchConfig(batches=batches, threads=1, iters=args.iters,
                                                                 warmup=3))
        latency = lat.latency_ms
        record["latency_ms"] = latency
        extra += lat.notes

    onnx_acc = None
    if len(test):
        from eegdeploy.export.quant import onnx_accuracy

        onnx_acc = onnx_accuracy(stage / files["onnx"], test.X, test.y)
        record["accuracy"] = {"torch": accuracy, "onnx": onnx_acc, "data": meta["eegdeploy.accuracy_data"]}
        extra.append(f"accuracy measured in onnxruntime on the {meta['eegdeploy.accuracy_data']}")

    def carried_acc(key: str) -> float | None:
        try:
            return float(carried[key])
        except (KeyError, TypeError, ValueError):
            return None

    card = ModelCardInfo(
        name=bundle.name, arch=str(bundle.metadata.get("source_arch") or bundle.arch),
        input_shape=tuple(bundle.input.shape), layout=tuple(bundle.input.layout),
        electrodes=tuple(bundle.input.electrodes), sampling_rate=bundle.input.sampling_rate,
        preprocessing=bundle.input.preprocessing, class_names=tuple(bundle.class_names),
        accuracy_baseline=carried_acc("eegdeploy.accuracy_baseline"), accuracy_slim=onnx_acc,
        params=sum(p.numel() for p in model.parameters()), macs=_macs(model, example[:1]), size_bytes=res.bytes,
        latency=latency, recipe=dict(bundle.metadata.get("recipe") or {}), onnx_file=out.name,
        input_name=res.input_name, output_name=res.output_name, opset=res.opset, extra=extra,
        test_vectors=files["vectors"], num_test_vectors=len(vectors), exporter=res.exporter,
        parity_max_abs=res.parity_max_abs, dynamic_batch=config.dynamic_batch, batch=config.batch,
        title="slim" if bundle.arch == "portable" else "export")
    write_text(stage / files["card"], render_model_card(card))
    write_json(stage / files["record"], record)
    return written + [files["card"], files["record"]]


def _macs(model, example) -> int | None:
    from eegdeploy.bench import count

    try:
        return count(model, example, cross_check=False).macs
    except Exception:  # counting is informative only; the card says n/a
        return None
