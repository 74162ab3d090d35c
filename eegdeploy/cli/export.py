"""eegdeploy export: a verified, simplified ONNX file with metadata, test vectors and a model card."""

from __future__ import annotations

import argparse
from pathlib import Path

from eegdeploy.cli._common import add_data_args, add_model_args, load_bundle, profile_for


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a model to verified, simplified ONNX",
        description="Export MODEL to ONNX (exporter in a child process with fallback, onnxsim, onnx.checker, "
                    "onnxruntime parity at batch 1, 16 and on real samples) with metadata; writes FILE.onnx, "
                    "FILE.test-vectors.npz and FILE.model-card.md. Optionally int8 (static QDQ) or fp16 copies.")
    add_model_args(p)
    add_data_args(p)
    p.add_argument("--out", metavar="FILE.onnx", help="output file (default: MODEL with .onnx)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--batch", default="dynamic", help="'dynamic' (default) or a fixed batch size")
    p.add_argument("--exporter", default="auto", help="auto (torchscript, then dynamo), torchscript or dynamo")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max |onnxruntime - torch| allowed (default 1e-4)")
    p.add_argument("--no-simplify", action="store_true", help="skip onnxsim")
    p.add_argument("--quantize", choices=["int8"], help="also write FILE.int8.onnx (static QDQ, calibrated on "
                   "training samples) and compare its accuracy")
    p.add_argument("--max-accuracy-drop", type=float, default=0.02,
                   help="warn when int8 accuracy is lower than fp32 by more than this (default 0.02)")
    p.add_argument("--fp16", action="store_true", help="also write FILE.fp16.onnx (fp16 weights, for GPU targets)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console) -> int:
    import numpy as np
    import torch

    from eegdeploy.errors import invalid_value
    from eegdeploy.export import ExportConfig, ModelCardInfo, export_onnx, render_model_card, write_test_vectors
    from eegdeploy.io import write_text

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
    config = ExportConfig(opset=args.opset, exporter=args.exporter, simplify=not args.no_simplify,
                          tolerance=args.tolerance, dynamic_batch=dynamic, batch=batch)
    bundle = load_bundle(args)
    out = Path(args.out) if args.out else Path(args.model).with_suffix(".onnx")
    example = torch.zeros((1, *bundle.input.shape))
    profile = profile_for(bundle, args)
    samples = None
    splits = None
    if args.data or args.quantize:
        from eegdeploy.data import load_data

        splits = load_data(args.data, profile, seed=args.seed)
        samples = splits.test.X[:16]
    from eegdeploy.export.metadata import model_metadata

    meta = model_metadata(bundle)
    res = export_onnx(bundle.module.eval(), out, config, example=example if dynamic else example.expand(batch, *example.shape[1:]),
                      metadata=meta, check_inputs=samples)
    vectors = samples[:8] if samples is not None else torch.randn((4, *bundle.input.shape),
                                                                  generator=torch.Generator().manual_seed(0)).numpy()
    if not dynamic:
        vectors = np.repeat(vectors[:1], batch, axis=0)
    stem = out.with_suffix("")
    write_test_vectors(out, vectors, Path(f"{stem}.test-vectors.npz"))
    extra = [f"exported by {res.exporter} (attempts: {'; '.join(res.attempts)})"] + res.warnings
    console.print(f"wrote [bold]{out}[/] ({res.bytes / 1024:.1f} KiB, {res.exporter}, opset {res.opset}, "
                  f"{'simplified' if res.simplified else 'not simplified'}); onnxruntime vs torch max abs diff "
                  f"{res.parity_max_abs:.2g} ({', '.join(f'{k}: {v:.2g}' for k, v in res.parity.items())})")
    for w in res.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    record: dict = {"kind": "eegdeploy-export", "version": 1, "file": str(out), "bytes": res.bytes,
                    "exporter": res.exporter, "attempts": res.attempts, "opset": res.opset,
                    "simplified": res.simplified, "parity_max_abs": res.parity_max_abs, "parity": res.parity,
                    "warnings": res.warnings, "input": {"name": res.input_name, "shape": res.input_shape},
                    "output": {"name": res.output_name, "shape": res.output_shape}, "metadata": meta}
    if args.quantize:
        from eegdeploy.export.quant import quantize_int8

        q = quantize_int8(out, Path(f"{stem}.int8.onnx"), calibration=splits.train.X[:128], test=splits.test,
                          max_accuracy_drop=args.max_accuracy_drop)
        extra.append(q.summary())
        record["int8"] = q.to_dict()
        console.print(q.summary())
        for w in q.warnings:
            console.print(f"[yellow]warning:[/] {w}")
    if args.fp16:
        from eegdeploy.export.quant import to_fp16

        f16 = to_fp16(out, Path(f"{stem}.fp16.onnx"))
        record["fp16"] = {"file": str(f16), "bytes": f16.stat().st_size}
        console.print(f"wrote {f16} (fp16 weights, for GPU targets)")
    card = ModelCardInfo(name=bundle.name, arch=bundle.arch, input_shape=tuple(bundle.input.shape),
                         layout=tuple(bundle.input.layout), electrodes=tuple(bundle.input.electrodes),
                         sampling_rate=bundle.input.sampling_rate, preprocessing=bundle.input.preprocessing,
                         class_names=tuple(bundle.class_names),
                         params=sum(p.numel() for p in bundle.module.parameters()),
                         macs=_macs(bundle.module, example),
                         size_bytes=res.bytes, onnx_file=out.name, input_name=res.input_name,
                         output_name=res.output_name, opset=res.opset, extra=extra)
    write_text(Path(f"{stem}.model-card.md"), render_model_card(card))
    from eegdeploy.io import write_json

    write_json(Path(f"{stem}.export.json"), record)
    console.print(f"wrote {stem}.test-vectors.npz, {stem}.model-card.md and {stem}.export.json")
    return 0


def _macs(model, example) -> int:
    from eegdeploy.bench import count

    return count(model, example, cross_check=False).macs
