"""eegdeploy bench: latency of an ONNX file (torch-free) or a checkpoint, on this machine or a device profile."""

from __future__ import annotations

import argparse
from pathlib import Path

from eegdeploy.cli._common import add_model_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="measure latency of FILE.onnx (no torch needed) or a checkpoint",
        description="Warm up, then time inference: p50/p90/p99, mean, std and throughput per batch size, with the "
                    "environment recorded. An .onnx file needs only onnxruntime, numpy and rich "
                    "(pip install eegdeploy[bench]); a checkpoint is timed in PyTorch and counted (params, MACs, "
                    "FLOPs from several counters).")
    p.add_argument("model", metavar="FILE.onnx|MODEL.pt")
    p.add_argument("--device-profile", metavar="NAME", help="settings from profiles/devices/NAME.toml "
                   "(cpu-1t, cpu-all, rpi4, jetson-orin-nano, cuda); flags given explicitly win")
    p.add_argument("--batch", help="batch sizes, e.g. 1,64 (default 1,64)")
    p.add_argument("--threads", type=int, help="intra-op threads (default 1)")
    p.add_argument("--warmup", type=int, help="untimed warm-up runs (default 5)")
    p.add_argument("--iters", type=int, help="timed runs (default 30)")
    p.add_argument("--min-time", type=float, help="keep timing for at least this many seconds")
    p.add_argument("--device", choices=["cpu", "cuda"], help="cpu (default) or cuda; cuda is skipped with a note "
                   "when no GPU is present")
    p.add_argument("--providers", help="onnxruntime providers, comma-separated (default from --device)")
    # --profile, --arch, --arch-kwargs for a checkpoint; --input-shape for a checkpoint's --arch, or for an ONNX file
    # with dynamic axes (default there: the shape in the file's eegdeploy metadata, shown in a note)
    add_model_args(p, model=False)
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    p.set_defaults(run=run)


def _config(args: argparse.Namespace):
    from eegdeploy.bench.devices import DeviceProfile, load_device
    from eegdeploy.bench.onnx_runner import BenchConfig
    from eegdeploy.cli._common import parse_ints, parse_shape
    from eegdeploy.errors import invalid_value

    dev = load_device(args.device_profile) if args.device_profile else DeviceProfile(name="default")
    for flag in ("threads", "warmup", "iters"):
        v = getattr(args, flag)
        if v is not None and v < (0 if flag == "warmup" else 1):
            raise invalid_value(flag, v, "a positive integer")
    return dev.name, BenchConfig(
        batches=parse_ints(args.batch, "batch") if args.batch else dev.batches,
        threads=args.threads or dev.threads, iters=args.iters or dev.iters,
        warmup=dev.warmup if args.warmup is None else args.warmup,
        min_time_s=args.min_time if args.min_time is not None else dev.min_time_s,
        device=args.device or dev.device,
        providers=tuple(p for p in args.providers.split(",") if p) if args.providers else dev.providers,
        input_shape=parse_shape(args.input_shape) if getattr(args, "input_shape", None) else ())


def run(args: argparse.Namespace, console) -> int:
    import dataclasses

    from rich.table import Table

    from eegdeploy.bench.env import environment
    from eegdeploy.errors import InputError
    from eegdeploy.io import check_writable, write_json

    path = Path(args.model)
    if not path.is_file():
        raise InputError(f"{str(path)!r} does not exist", fix="check the path")
    device_name, cfg = _config(args)
    if args.json:
        check_writable(Path(args.json), flag="--json")  # before timing; an existing file is not touched
    counts = None
    meta: dict = {}
    if path.suffix == ".onnx":
        from eegdeploy.bench.onnx_runner import benchmark_onnx, ort_session

        sess = ort_session(path, threads=cfg.threads)
        meta = dict(sess.get_modelmeta().custom_metadata_map)
        rank = len(sess.get_inputs()[0].shape)
        expected = meta.get("eegdeploy.input_shape")
        if expected and rank != len([d for d in expected.split(",") if d != "batch"]) + 1:
            raise InputError(f"{path.name} takes rank-{rank} input but its metadata says {expected}",
                             fix="re-export the model with eegdeploy export")
        result = benchmark_onnx(path, cfg)
        env = environment(cfg.threads, with_torch=False)
        from eegdeploy.report.merge import label_from_metadata

        label = label_from_metadata(meta, path.name)
    else:
        import torch

        from eegdeploy.bench import benchmark_torch, count
        from eegdeploy.cli._common import load_bundle

        bundle = load_bundle(args)
        example = torch.zeros((1, *bundle.input.shape))
        result = benchmark_torch(bundle.module, example, cfg)
        c = count(bundle.module, example)
        counts = {"params": c.params, "macs": c.macs, "flops": c.flops, "convention": c.convention,
                  "counters": c.counters, "disagreements": c.disagreements}
        env = environment(cfg.threads)
        label = f"{bundle.name} (checkpoint {path.name})"
    table = Table(title=f"{label} on {env['cpu']} ({cfg.threads} thread(s), device profile {device_name})",
                  title_justify="left")
    for col in ("runtime", "batch", "p50 ms", "p90 ms", "p99 ms", "mean ms", "std ms", "samples/s"):
        table.add_column(col, justify="left" if col == "runtime" else "right")
    for runtime, per_batch in result.latency_ms.items():
        for b, s in per_batch.items():
            table.add_row(runtime, b, f"{s['p50']:.3f}", f"{s['p90']:.3f}", f"{s['p99']:.3f}", f"{s['mean']:.3f}",
                          f"{s['std']:.3f}", f"{s['throughput_per_s']:.0f}")
    console.print(table)
    if counts:
        console.print(f"params {counts['params']:,}  MACs {counts['macs']:,}  FLOPs {counts['flops']:,}")
        for d in counts["disagreements"]:
            console.print(f"[yellow]counter disagreement:[/] {d}")
    for note in result.notes:
        console.print(f"[yellow]note:[/] {note}")
    if args.json:
        write_json(args.json, {"kind": "eegdeploy-bench", "version": 1, "file": str(path), "label": label,
                               "device_profile": device_name,
                               "config": dataclasses.asdict(cfg), "environment": env, "metadata": meta,
                               "latency_ms": result.latency_ms, "counts": counts, "notes": result.notes})
        console.print(f"wrote {args.json}")
    return 0
