"""`python -m benchmarks.search`: searched per-layer plans vs uniform LFP at matched MACs -> benchmarks/SEARCH.md.

Trains a tsception-deap baseline on seeded synthetic EEG, runs the NSGA-II search (accuracy vs MACs), and for
each uniform LFP ratio compares it with the most accurate searched candidate that uses no more MACs. Every
candidate, uniform or searched, is evaluated the same way (slim, BatchNorm recalibration, validation accuracy),
in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace

import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="tsception-deap")
    ap.add_argument("--population", type=int, default=10)
    ap.add_argument("--generations", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=6, help="baseline training epochs")
    ap.add_argument("--out", default="benchmarks/SEARCH.md")
    args = ap.parse_args(argv)

    from eegdeploy.config import load_profile
    from eegdeploy.data import load_data
    from eegdeploy.io import write_text
    from eegdeploy.models import bundle_from_profile
    from eegdeploy.recover import fit
    from eegdeploy.report.render import markdown_table
    from eegdeploy.search import SearchConfig, search

    torch.set_num_threads(1)
    t0 = time.time()
    prof = load_profile(args.profile)
    splits = load_data(None, prof, seed=0)
    bundle = bundle_from_profile(prof, seed=0)
    fit(bundle.module, splits, replace(prof.train, epochs=args.epochs), seed=0)
    res = search(bundle.module, splits, torch.zeros(1, *prof.input.shape),
                 SearchConfig(population=args.population, generations=args.generations, seed=0), train=prof.train,
                 progress=lambda m: print(m, flush=True))
    rows = []
    for u in res.uniform:
        better = [c for c in res.candidates if c.macs <= u.macs]
        best = max(better, key=lambda c: c.accuracy) if better else None
        rows.append([u.source.replace("uniform-lfp-", "LFP ratio "), f"{100 * u.macs_fraction:.1f}%", f"{100 * u.accuracy:.1f}",
                     "-" if best is None else f"{100 * best.macs_fraction:.1f}%",
                     "-" if best is None else f"{100 * best.accuracy:.1f}",
                     "-" if best is None else f"{100 * (best.accuracy - u.accuracy):+.1f}",
                     "-" if best is None else ", ".join(f"{g}={k:g}" for g, k in best.keep_ratios.items())])
    text = f"""# Searched plans vs uniform LFP

Produced by `python -m benchmarks.search --profile {args.profile} --population {args.population} --generations
{args.generations}` in {time.time() - t0:.0f} s on this machine (1 thread): a {args.profile} baseline trained
{args.epochs} epochs on seeded synthetic EEG (validation accuracy {100 * res.baseline['accuracy']:.1f}%,
{res.baseline['macs']:,} MACs), then NSGA-II over per-group keep ratios, {len(res.candidates)} candidates.
Every model below was slimmed and BatchNorm-recalibrated on training batches, without fine-tuning, and scored on
the validation split in this run; "searched" is the most accurate evaluated candidate using no more MACs than the
uniform plan it is compared with.

{markdown_table(["uniform plan", "MACs", "accuracy %", "searched MACs", "searched accuracy %", "difference (pts)",
                 "searched keep ratios"], rows)}

Pareto front (accuracy vs MACs):

{markdown_table(["MACs", "accuracy %", "keep ratios"], [[f"{100 * c.macs_fraction:.1f}%", f"{100 * c.accuracy:.1f}",
                ", ".join(f"{g}={k:g}" for g, k in c.keep_ratios.items())] for c in res.front])}
"""
    write_text(args.out, text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
