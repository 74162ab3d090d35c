"""eegdeploy export: a verified, simplified ONNX file with metadata, test vectors and a model card."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from eegdeploy.cli._common import add_data_args, add_model_args, load_bundle, load_splits, parse_ints, profile_for


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
    p.add_argument("--ort-format", action="store_true", help="also write FILE.ort, the ORT format that onnxruntime's "
                   "mobile and minimal builds load (basic optimizations; checked against FILE.onnx like the export)")
    p.add_argument("--optimize", action="store_true",
                   help="apply eegdeploy's exact deployment rewrites (merged or electrodes-first conv chains, pooling "
                        "before monotonic activations), each kept only where faster in onnxruntime at "
                        "--optimize-batch and --threads, and checked against the plain export and PyTorch")
    p.add_argument("--optimize-batch", type=int, default=64, metavar="N",
                   help="batch the rewrites are timed at (default 64; a fixed --batch wins)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads for --optimize timing (default 1)")
    p.add_argument("--no-measure", action="store_true",
                   help="with --optimize: choose forms with the cost model instead of timing them")
    p.add_argument("--bench-batches", default="1,64", metavar="1,64",
                   help="ort-cpu latency batches for the model card (default 1,64)")
    p.add_argument("--iters", type=int, default=20, help="timed runs per latency figure (default 20)")
    p.add_argument("--no-bench", action="store_true", help="skip the latency measurement")
    p.set_defaults(run=run)


def _config(args: argparse.Namespace) -> Any:
    from eegdeploy.errors import invalid_value
    from eegdeploy.export import ExportConfig, PackageConfig

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
    export = ExportConfig(opset=args.opset, exporter=args.exporter, simplify=not args.no_simplify,
                          tolerance=args.tolerance, dynamic_batch=dynamic, batch=batch,
                          max_accuracy_drop=args.max_accuracy_drop)
    rewrite = None
    if args.optimize:
        from eegdeploy.rewrite import RewriteConfig

        for flag in ("optimize_batch", "threads"):
            if getattr(args, flag) < 1:
                raise invalid_value(flag.replace("_", "-"), getattr(args, flag), "a positive integer")

        rewrite = RewriteConfig(batch=batch or args.optimize_batch, threads=args.threads, measure=not args.no_measure)
    return PackageConfig(export=export, int8=args.quantize == "int8", fp16=args.fp16, ort_format=args.ort_format,
                         bench_batches=() if args.no_bench else parse_ints(args.bench_batches, "bench-batches"),
                         iters=args.iters, threads=args.threads, rewrite=rewrite)


def _out_path(args: argparse.Namespace) -> Path:
    """The .onnx path; refused early (before any work) if it is a folder or cannot be written."""
    from eegdeploy.io import check_writable

    out = Path(args.out) if args.out else Path(args.model).with_suffix(".onnx")
    return check_writable(out)


def run(args: argparse.Namespace, console) -> int:
    from eegdeploy.export import export_bundle
    from eegdeploy.io import Staging

    config = _config(args)
    out = _out_path(args)
    bundle = load_bundle(args)
    splits = load_splits(args, profile_for(bundle, args))
    with Staging(out.parent) as stage:
        pkg = export_bundle(bundle, splits, stage.path, out.name, config)
        stage.commit()
    _render(pkg, console, out)
    return 0


def _render(pkg: Any, console, out: Path) -> None:
    res = pkg.export
    console.print(f"{out.name}: {res.bytes / 1024:.1f} KiB, exporter {res.exporter}, opset {res.opset}, "
                  f"{'simplified' if res.simplified else 'not simplified'}; onnxruntime vs torch max abs diff "
                  f"{res.parity_max_abs:.2g} ({', '.join(f'{k}: {v:.2g}' for k, v in res.parity.items())})")
    console.print(f"attempts: {'; '.join(res.attempts)}")
    for w in pkg.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    for n in res.notes:
        console.print(f"[dim]note: {n}[/]")
    for line in pkg.lines:
        console.print(line)
    console.print("wrote " + ", ".join(str(out.parent / n) for n in pkg.written))
