"""`python -m benchmarks.transformer_slim [--profile vit-deap]`: LFP 0.5 on a transformer profile, measured.

Prints MACs slim/base (torch FlopCounterMode, attention included), slim-vs-masked parity, ONNX parity of the
slim export (onnxruntime vs torch) and onnxruntime CPU latency at batch 64 on 1 thread, baseline and slim
alternating run by run (compare_latency), so machine load hits both alike.
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
    ap.add_argument("--iters", type=int, default=40)
    args = ap.parse_args(argv)

    from eegdeploy.bench.torch_runner import compare_latency
    from eegdeploy.config import load_profile
    from eegdeploy.export import ExportConfig, export_onnx
    from eegdeploy.models import bundle_from_profile
    from eegdeploy.prune import LFPConfig, prune, slim, verify_slim
    from eegdeploy.prune.coverage import flop_macs

    prof = load_profile(args.profile)
    model = bundle_from_profile(prof, seed=0).module.eval()
    x = torch.randn(1, *prof.input.shape, generator=torch.Generator().manual_seed(0))
    plan = prune(model, LFPConfig(args.ratio), example=x)
    small = slim(model, plan, x)
    parity = verify_slim(model, small, plan, x)
    macs = flop_macs(small, x) / flop_macs(model, x)
    with tempfile.TemporaryDirectory() as tmp:
        base = export_onnx(model, Path(tmp) / "baseline.onnx", ExportConfig(), example=x)
        res = export_onnx(small, Path(tmp) / "slim.onnx", ExportConfig(), example=x)
        lb, ls = compare_latency(baseline=(model, base.path), slim=(small, res.path), example=x, batches=(64,),
                                 threads=1, iters=args.iters, runtimes=("ort-cpu",))
    b = lb.latency_ms["ort-cpu"]["64"]["p50"]
    s = ls.latency_ms["ort-cpu"]["64"]["p50"]
    print(f"{args.profile}: LFP {args.ratio}")
    print(f"groups kept/size: {', '.join(f'{g}={len(k)}/{plan.sizes[g]}' for g, k in plan.keep.items())}")
    print(f"MACs slim/base: {macs:.3f}")
    print(f"slim vs masked max abs: {parity:.2e}")
    print(f"ONNX (slim) vs torch max abs: {res.parity_max_abs:.2e} ({res.exporter}, opset {res.opset})")
    print(f"onnxruntime CPU batch 64, 1 thread, p50: baseline {b:.2f} ms, slim {s:.2f} ms, speedup {b / s:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
