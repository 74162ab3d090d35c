"""`python -m benchmarks.slim_pt [--profiles vit-deap conformer-deap]`: the slim.pt of models torch.fx cannot trace.

For each profile: LFP 0.5, slim, write slim.pt (the ATen kind for these), reload it, and print the kind, the file
size, the largest difference from the slim model at batch 1 and 16, and torch-cpu latency (1 thread) of the slim
model and the reloaded slim.pt timed interleaved (compare_many), so the interpreter's overhead is a ratio from one
run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profiles", nargs="+", default=["vit-deap", "conformer-deap"])
    ap.add_argument("--iters", type=int, default=30)
    args = ap.parse_args(argv)

    from eegdeploy.bench.torch_runner import compare_many
    from eegdeploy.config import load_profile
    from eegdeploy.models import bundle_from_profile, load_model
    from eegdeploy.models.portable import write_portable
    from eegdeploy.prune import LFPConfig, prune, slim

    print("| profile | kind | file KB | write s | max diff b1 | max diff b16 | torch b1 slim / slim.pt ms | "
          "torch b16 slim / slim.pt ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.profiles:
        prof = load_profile(name)
        model = bundle_from_profile(prof, seed=0).module.eval()
        x = torch.randn(1, *prof.input.shape, generator=torch.Generator().manual_seed(0))
        small = slim(model, prune(model, LFPConfig(0.5), example=x), x).eval()
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            path, kind = write_portable(small, x, Path(d) / "slim.pt", meta={"input": prof.input.to_dict()})
            took = time.perf_counter() - t
            size = path.stat().st_size / 1024
            back = load_model(path).module
        diffs = []
        for batch in (1, 16):
            xb = torch.randn(batch, *prof.input.shape, generator=torch.Generator().manual_seed(batch))
            with torch.no_grad():
                diffs.append(float((back(xb) - small(xb)).abs().max()))
        a, b = compare_many([(small, None), (back, None)], example=x, batches=(1, 16), threads=1, iters=args.iters,
                            warmup=3, runtimes=("torch-cpu",), labels=("slim", "slim.pt"))
        cells = [f"{a.latency_ms['torch-cpu'][bt]['p50']:.2f} / {b.latency_ms['torch-cpu'][bt]['p50']:.2f}"
                 for bt in ("1", "16")]
        print(f"| {name} | {kind} | {size:.0f} | {took:.1f} | {diffs[0]:.1e} | {diffs[1]:.1e} | {cells[0]} | "
              f"{cells[1]} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
