"""`make bench`: baseline vs LFP-slimmed CNN profiles, measured side by side, written to benchmarks/RESULTS.md.

No training is needed: latency depends on the architecture, not the weights. For every profile and ratio the
baseline and the slim model are timed interleaved (A, B, A, B, ...) in onnxruntime and eager PyTorch, at batch 1
and 64, with 1 thread and with all threads. Efficiency = speedup ÷ MACs reduction (1.0: the speedup is everything
the removed MACs promise). Where efficiency falls short, the per-layer time of the baseline (PyTorch, batch 64,
1 thread) shows how much of the time sits outside conv and linear layers, with the speedup that leaves possible.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn

PROFILES = ("ccnn-deap", "fbccnn-deap", "tsception-deap", "eegnet-deap", "eegnet-bci", "deepconvnet-bci",
            "shallowconvnet-bci")
RATIOS = (0.3, 0.5, 0.7)


def conv_share(model: nn.Module, x: torch.Tensor, reps: int = 5) -> float:
    """Fraction of eager time spent inside conv and linear layers (forward hooks with timers)."""
    spent = [0.0]
    starts: dict[int, float] = {}

    def pre(m, inp):
        starts[id(m)] = time.perf_counter()

    def post(m, inp, out):
        spent[0] += time.perf_counter() - starts.pop(id(m))

    hooks = []
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            hooks += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    with torch.inference_mode():
        model(x)
        spent[0] = 0.0
        t0 = time.perf_counter()
        for _ in range(reps):
            model(x)
        total = time.perf_counter() - t0
    for h in hooks:
        h.remove()
    return spent[0] / total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="benchmarks/RESULTS.md")
    ap.add_argument("--profiles", default=",".join(PROFILES))
    ap.add_argument("--ratios", default=",".join(map(str, RATIOS)))
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--no-grid", action="store_true", help="only the rewrites-and-widths section")
    args = ap.parse_args(argv)

    from eegdeploy.bench import compare_latency, count, environment
    from eegdeploy.config import load_profile
    from eegdeploy.export import ExportConfig, export_onnx
    from eegdeploy.io import write_text
    from eegdeploy.models import bundle_from_profile
    from eegdeploy.prune import LFPConfig, prune, slim
    from eegdeploy.report.render import markdown_table

    cores = os.cpu_count() or 1
    thread_settings = sorted({1, cores})
    rows, why = [], []
    t_start = time.time()
    for name in ([] if args.no_grid else args.profiles.split(",")):
        prof = load_profile(name)
        base = bundle_from_profile(prof, seed=0).module.eval()
        x = torch.zeros(1, *prof.input.shape)
        base_count = count(base, x, cross_check=False)
        with tempfile.TemporaryDirectory() as tmp:
            export_onnx(base, Path(tmp) / "base.onnx", ExportConfig(), example=x, metadata={})
            for ratio in (float(r) for r in args.ratios.split(",")):
                small = slim(base, prune(base, LFPConfig(ratio), example=x), x)
                c = count(small, x, cross_check=False)
                export_onnx(small, Path(tmp) / "slim.onnx", ExportConfig(), example=x, metadata={})
                macs_ratio = c.macs / base_count.macs
                for threads in thread_settings:
                    a, b = compare_latency(baseline=(base, Path(tmp) / "base.onnx"), slim=(small, Path(tmp) / "slim.onnx"),
                                           example=x, batches=(1, 64), threads=threads, iters=args.iters, warmup=3)
                    for runtime in ("ort-cpu", "torch-cpu"):
                        for batch in ("1", "64"):
                            sp = a.latency_ms[runtime][batch]["p50"] / b.latency_ms[runtime][batch]["p50"]
                            rows.append([name, f"{ratio:g}", f"{macs_ratio:.3f}", runtime, threads, batch,
                                         f"{a.latency_ms[runtime][batch]['p50']:.3f}",
                                         f"{b.latency_ms[runtime][batch]['p50']:.3f}", f"{sp:.2f}x",
                                         f"{sp * macs_ratio:.2f}"])
                            print(name, ratio, runtime, threads, batch, f"speedup {sp:.2f} efficiency {sp * macs_ratio:.2f}",
                                  flush=True)
                if ratio == 0.5:
                    torch.set_num_threads(1)
                    share = conv_share(base, torch.randn(64, *prof.input.shape))
                    bound = 1.0 / ((1 - share) + share * macs_ratio)
                    why.append([name, f"{100 * share:.0f}%", f"{macs_ratio:.3f}", f"{bound:.2f}x"])
    from benchmarks.rewrites import applied_rows, bench_profile, load_note
    from benchmarks.rewrites import rows as rewrite_rows

    rewrites = []
    for name in args.profiles.split(","):
        rb = bench_profile(name, rounds=args.iters)
        rewrites.append(rb)
        print(name, "rewrites:", {k: f"{rb.speedup(k):.2f}x" for k in rb.ms}, "cpu clock:",
              {k: f"{rb.speedup(k, 'cpu'):.2f}x" for k in rb.cpu}, flush=True)
    rw_header, rw_rows = rewrite_rows(rewrites)
    ap_header, ap_rows = applied_rows(rewrites)
    env = environment(1)
    command = " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])])
    header = ["profile", "ratio", "MACs slim/base", "runtime", "threads", "batch", "baseline p50 ms", "slim p50 ms",
              "speedup", "efficiency"]
    text = f"""# Benchmark results

Produced by `{command}` on {env['cpu']} ({cores} cores), Python
{platform.python_version()}, torch {env['torch']}, onnxruntime {env['onnxruntime']}, in {time.time() - t_start:.0f} s.
{load_note()}
Untrained weights (latency does not depend on them); LFP at each ratio, no recovery; baseline and slim timed
interleaved in the same run, {args.iters} timed runs each after warm-up, median (p50) shown.
Efficiency = speedup × (slim MACs / baseline MACs): 1.0 means the speedup delivers all the removed MACs promise.

{markdown_table(header, rows)}

## Where efficiency falls short, and why

Measured per-layer time of each baseline (eager PyTorch, batch 64, 1 thread): the share of time inside conv and
linear layers, the part that shrinks with the MACs. The rest (BatchNorm, activations, pooling, padding,
concatenation, memory traffic) does not shrink in proportion, so the speedup at ratio 0.5 is bounded by
1 / ((1 − share) + share × MACs ratio).

{markdown_table(["profile", "time in conv/linear", "MACs slim/base at 0.5", "speedup bound"], why)}

## Rewrites and hardware-friendly widths (what `compress` delivers)

LFP at 0.5, onnxruntime, batch 64, 1 thread; every column of a row is timed interleaved in one run (medians of
{args.iters} rounds) and shown as speedup over the unmodified baseline. "+ rewrites" is the rewrite stage
(`eegdeploy.rewrite`: linear chains merged or taken electrodes-first, pooling before monotonic activations, ELU
split into vectorised ops, average pools folded into the classifier, each kept only where measured faster and
checked against the model before it). "round-to N" rounds every
pruned layer's width to the nearest multiple of N (onnxruntime's blocked NCHWc convolutions need multiples of the
CPU's block size: 16 with AVX-512, 8 with AVX2); its MACs differ from plain LFP's, as shown. **Bold** is `compress`'s
default (round-to 16, rewrites on). The two CPU-clock columns time the same runs by the CPU time of the thread
running the model (with one onnxruntime thread the whole model runs on it): what an idle machine shows, since time
spent preempted by other processes does not count; on a loaded machine wall time penalises the longer-running
baseline more, so the two clocks bracket the idle figure. Compare within a row.

{markdown_table(rw_header, rw_rows)}

Rewrites applied (rewrites alone on the baseline, and on the default slim model):

{markdown_table(ap_header, ap_rows)}

Reproduce: `make bench` (or `python -m benchmarks.run --profiles ccnn-deap --ratios 0.5`; only this section:
`python -m benchmarks.run --no-grid`).
"""
    write_text(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
