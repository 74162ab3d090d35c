"""eegdeploy sweep: methods × ratios × recoveries (× folds) through compress, resumable, local or on Ray."""

from __future__ import annotations

import argparse
from pathlib import Path

from eegdeploy.cli._common import add_data_args, add_model_args, load_bundle, parse_ints


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a grid of methods x ratios x recoveries and tabulate it",
                       description="Run every cell (method, ratio, recovery, fold) through compress into "
                                   "--out/cells/, record finished cells in sweep.json (a rerun resumes), then write "
                                   "sweep.md (method x ratio x recovery: accuracy mean ± std, params/MACs/FLOPs "
                                   "reductions, ort-cpu latency) and accuracy-vs-MACs/latency plots.")
    add_model_args(p)
    add_data_args(p, split=False)  # --split below names the sweep's protocol
    p.add_argument("--methods", default="lfp,sfp,nsfp,uwmp", help="comma-separated methods")
    p.add_argument("--ratios", default="0.1,0.3,0.5,0.7,0.9", help="comma-separated ratios")
    p.add_argument("--recover", default="finetune", help="comma-separated: finetune, scratch, distill, none")
    p.add_argument("--epochs", type=int, help="recovery epochs per cell (default: the profile's)")
    p.add_argument("--split", default="holdout", help="holdout (one seeded split), kfold, subject, trial")
    p.add_argument("--folds", type=int, default=1, help="folds for kfold/subject/trial protocols")
    p.add_argument("--backend", default="local", help="local (this machine) or ray")
    p.add_argument("--ray-address", help="Ray cluster address (default: start a local cluster)")
    p.add_argument("--cpus-per-cell", type=int, default=1, help="CPUs reserved per cell on Ray (default 1)")
    p.add_argument("--jobs", type=int, default=1,
                   help="local backend: cells run at once, one process and one torch thread each (default 1)")
    p.add_argument("--iters", type=int, default=10, help="timed iterations per latency measurement (default 10)")
    p.add_argument("--batch", default="1,64", help="benchmark batch sizes (default 1,64)")
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/<model>-sweep)")
    g = p.add_argument_group("method options (each applies to its method's cells only)")
    g.add_argument("--scope", help="lfp ranking: layer (same fraction per layer, default) or global")
    g.add_argument("--sfp-schedule", help="sfp: constant (default) or linear ramp up to the ratio")
    g.add_argument("--sfp-epochs", type=int, help="sfp: soft-pruning epochs (default: the recovery recipe's)")
    g.add_argument("--sparsity", type=float, help="nsfp: L1 penalty on BatchNorm scales (default 1e-4)")
    g.add_argument("--include-linear", action="store_true", default=None,
                   help="every method: also prune hidden linear layers on flattened features (default: conv filters "
                        "and conv weights only, as the papers define the methods)")
    g.add_argument("--ratio-heads", type=float, help="structured methods: fraction of attention heads to remove "
                   "(default: the cell's ratio)")
    g.add_argument("--ratio-mlp", type=float, help="structured methods: fraction of MLP width to remove")
    g.add_argument("--ratio-embed", type=float, help="structured methods: fraction of embedding width to remove")
    g.add_argument("--ratio-depth", type=float, help="structured methods: fraction of residual blocks to drop "
                   "whole (opt-in, default 0)")
    p.set_defaults(run=run)


def sweep_method_options(args: argparse.Namespace, methods: tuple[str, ...]) -> dict[str, dict]:
    """Per-method config options from the flags, validated now (not in the first cell that needs them)."""
    from eegdeploy.prune.methods import OPTION_FLAGS, options_from_flags

    return options_from_flags({flag: getattr(args, flag, None) for flag in OPTION_FLAGS}, methods)


def run(args: argparse.Namespace, console) -> int:
    from eegdeploy.cli._common import load_splits, profile_for
    from eegdeploy.cli.sensitivity import parse_ratios
    from eegdeploy.io import check_writable_dir
    from eegdeploy.models import save_checkpoint
    from eegdeploy.sweep import SweepConfig, sweep

    cfg = SweepConfig(methods=tuple(m.strip() for m in args.methods.split(",") if m.strip()),
                      ratios=parse_ratios(args.ratios),
                      recovers=tuple(r.strip() for r in args.recover.split(",") if r.strip()),
                      epochs=args.epochs, seed=args.seed, folds=args.folds, split=args.split, iters=args.iters,
                      batches=parse_ints(args.batch, "batch"), backend=args.backend, ray_address=args.ray_address,
                      cpus_per_cell=args.cpus_per_cell, jobs=args.jobs)
    options = sweep_method_options(args, cfg.methods)
    bundle = load_bundle(args, prunable=True)
    out = Path(args.out) if args.out else Path("reports") / f"{bundle.name}-sweep"
    check_writable_dir(out)
    load_splits(args, profile_for(bundle, args))  # bad data fails now, before any cell or file is written
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "baseline.pt"
    if not ckpt.exists():
        save_checkpoint(bundle, ckpt)
    spec = {"checkpoint": str(ckpt.resolve()), "model": str(Path(args.model).resolve()), "profile": args.profile or bundle.profile, "data": args.data,
            "seed": args.seed, "epochs": args.epochs, "split": cfg.split, "folds": cfg.folds, "iters": cfg.iters,
            "batches": list(cfg.batches), "out": str(out.resolve()), "threads": 1, "method_options": options}
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("", total=None)

        def on_cell(kind: str, cell, n: int, total: int) -> None:
            bar.update(task, completed=n, total=total, description=f"running {cell.id}" if kind == "start" else "")

        table = sweep(spec, cfg, progress=lambda msg: bar.console.print(_safe(msg)), on_cell=on_cell)
    from rich.table import Table

    t = Table(title=f"sweep of {_safe(bundle.name)} ({len(table['rows'])} settings)", title_justify="left")
    for col in ("method", "ratio", "recovery", "n", "accuracy %", "MACs −", "speedup"):
        t.add_column(col, justify="left" if col in ("method", "recovery") else "right")
    for r in table["rows"]:
        t.add_row(r["method"], f"{r['ratio']:g}", r["recover"], str(r["n"]),
                  f"{100 * r['accuracy']:.1f} ± {100 * r['accuracy_std']:.1f}", f"{100 * r['macs_reduction']:.0f}%",
                  "-" if r["speedup"] is None else f"{r['speedup']:.2f}x")
    console.print(t)
    from eegdeploy.text import safe  # reasons may come from sweep.json or quote a file

    for k, v in table["skipped"].items():
        console.print(f"[yellow]skipped[/] {safe(k)}: {safe(v)}")
    for k, v in table["failed"].items():
        console.print(f"[red]failed[/] {safe(k)}: {safe(v)}")
    console.print(f"wrote {out}/sweep.md, sweep.json, aggregate.json and plots")
    if table["failed"]:
        console.print(f"[red]{len(table['failed'])} cell(s) failed[/]; run the same command again to retry them")
        return 1
    return 0


def _safe(text: str) -> str:
    from eegdeploy.text import safe

    return safe(text, max_len=2000)
