"""eegdeploy search: NSGA-II over per-layer keep ratios; Pareto front of accuracy vs MACs or latency."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from eegdeploy.cli._common import add_data_args, add_model_args, load_bundle, load_splits, profile_for


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="multi-objective search of per-layer pruning ratios",
                       description="Search per-group keep ratios with NSGA-II (pymoo): each candidate is slimmed, "
                                   "recovered briefly (or BatchNorm-recalibrated) and measured. Writes "
                                   "candidates.json, front.md, front.png (uniform LFP on the same axes) and plan.json "
                                   "(knee point, or best under the constraint) for 'compress --plan'.")
    add_model_args(p)
    add_data_args(p)
    p.add_argument("--objectives", help="accuracy,macs or accuracy,latency; on a transformer also accuracy,params "
                   "(its default)")
    p.add_argument("--space", metavar="FILE", help="transformer search space file (TOML or JSON); a transformer is "
                   "searched over heads, MLP and embedding widths (see docs/search.md)")
    p.add_argument("--max-params", type=float, help="transformer constraint: params at most this fraction of the "
                   "baseline")
    p.add_argument("--population", type=int, default=12, help="population size (default 12)")
    p.add_argument("--generations", type=int, default=4, help="generations (default 4)")
    p.add_argument("--epochs", type=int, default=0, help="recovery epochs per candidate (0: BatchNorm recalibration)")
    p.add_argument("--max-macs", type=float, help="constraint: MACs at most this fraction of the baseline")
    p.add_argument("--max-latency-ms", type=float, help="constraint: predicted latency (batch 16, 1 thread) in ms")
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/<model>-search)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console) -> int:
    import torch

    from eegdeploy.errors import invalid_value
    from eegdeploy.io import Staging, check_writable_dir
    from eegdeploy.search import SearchConfig, search
    from eegdeploy.search.report import write_search

    from eegdeploy.cli.supernet import run_tnas_if_transformer

    if run_tnas_if_transformer(args, console):
        return 0
    objs = [o.strip() for o in (args.objectives or "accuracy,macs").split(",") if o.strip()]
    if len(objs) != 2 or objs[0] != "accuracy" or objs[1] not in ("macs", "latency"):
        raise invalid_value("objectives", args.objectives, "accuracy,macs or accuracy,latency")
    cfg = SearchConfig(objective=objs[1], population=args.population, generations=args.generations,
                       epochs=args.epochs, max_macs=args.max_macs, max_latency_ms=args.max_latency_ms, seed=args.seed)
    bundle = load_bundle(args, prunable=True)
    profile = profile_for(bundle, args)
    splits = load_splits(args, profile)
    out = Path(args.out) if args.out else Path("reports") / f"{bundle.name}-search"
    check_writable_dir(out)
    res = search(bundle.module, splits, torch.zeros((1, *bundle.input.shape)), cfg, train=profile.train,
                 progress=lambda m: console.print(f"[dim]{m}[/]"))
    with Staging(out) as stage:
        write_search(res, stage.path, "eegdeploy " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
        stage.commit()
    c = res.chosen
    console.print(f"{len(res.candidates)} candidates, {len(res.front)} on the front; chosen: accuracy "
                  f"{100 * c.accuracy:.1f}%, MACs {100 * c.macs_fraction:.1f}% of baseline"
                  + (f", {c.latency_ms:.2f} ms predicted" if c.latency_ms else ""))
    console.print(f"wrote {out}/front.md, front.png, candidates.json, plan.json; apply it with "
                  f"[bold]eegdeploy compress MODEL --plan {out}/plan.json[/]")
    return 0
