"""`python -m benchmarks.transformer_slim [--profile vit-deap] [--ratio-depth 0.5]`: LFP 0.5 on a transformer
profile, measured.

Prints MACs slim/base (torch FlopCounterMode, attention included), slim-vs-masked parity, ONNX parity of the
slim export (onnxruntime vs torch) and onnxruntime CPU latency at batch 64 on 1 thread, baseline and slim
alternating run by run (compare_many), so machine load hits both alike. With ``--ratio-depth`` the slim model
also drops residual blocks, and the width-only slim model is timed in the same interleaved run for comparison.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="vit-deap")
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--ratio-depth", type=float, default=0.0)
    ap.add_argument("--iters", type=int, default=40)
    args = ap.parse_args(argv)

    from eegdeploy.bench.torch_runner import compare_many
    from eegdeploy.config import load_profile
    from eegdeploy.export import ExportConfig, export_onnx
    from eegdeploy.models import bundle_from_profile
    from eegdeploy.prune import LFPConfig, ZeroBranch, prune, slim, verify_slim
    from eegdeploy.prune.coverage import flop_macs

    prof = load_profile(args.profile)
    model = bundle_from_profile(prof, seed=0).module.eval()
    x = torch.randn(1, *prof.input.shape, generator=torch.Generator().manual_seed(0))
    plan = prune(model, LFPConfig(args.ratio, ratio_depth=args.ratio_depth), example=x)
    small = slim(model, plan, x)
    parity = verify_slim(model, small, plan, x)
    macs = flop_macs(small, x) / flop_macs(model, x)
    widths = None
    if args.ratio_depth > 0:
        wplan = prune(model, LFPConfig(args.ratio), example=x)
        widths = slim(model, wplan, x)
        wmacs = flop_macs(widths, x) / flop_macs(model, x)
    with tempfile.TemporaryDirectory() as tmp:
        base = export_onnx(model, Path(tmp) / "baseline.onnx", ExportConfig(), example=x)
        res = export_onnx(small, Path(tmp) / "slim.onnx", ExportConfig(), example=x)
        runs = [(model, base.path), (small, res.path)]
        if widths is not None:
            runs.append((widths, export_onnx(widths, Path(tmp) / "widths.onnx", ExportConfig(), example=x).path))
        lat = compare_many(runs, example=x, batches=(64,), threads=1, iters=args.iters, runtimes=("ort-cpu",),
                           labels=["baseline", "slim", "widths only"][:len(runs)])
    b, s = (r.latency_ms["ort-cpu"]["64"]["p50"] for r in lat[:2])
    print(f"{args.profile}: LFP {args.ratio}, ratio_depth {args.ratio_depth}")
    print(f"groups kept/size: {', '.join(f'{g}={len(k)}/{plan.sizes[g]}' for g, k in plan.keep.items())}")
    print(f"dropped branches: {sum(isinstance(m, ZeroBranch) for m in small.modules())}")
    print(f"MACs slim/base: {macs:.3f}")
    print(f"slim vs masked max abs: {parity:.2e}")
    print(f"ONNX (slim) vs torch max abs: {res.parity_max_abs:.2e} ({res.exporter}, opset {res.opset})")
    print(f"onnxruntime CPU batch 64, 1 thread, p50: baseline {b:.2f} ms, slim {s:.2f} ms, speedup {b / s:.2f}x")
    if widths is not None:
        w = lat[2].latency_ms["ort-cpu"]["64"]["p50"]
        print(f"widths only (ratio_depth 0), same run: MACs {wmacs:.3f}, {w:.2f} ms, speedup {b / w:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
