"""eegdeploy compress: prune, recover, slim, export and benchmark one model."""

from __future__ import annotations

import argparse
from pathlib import Path

from eegdeploy.cli._common import (add_data_args, add_model_args, load_bundle, load_splits, parse_ints,
                                   profile_for)

METHOD_CHOICES = ("lfp", "sfp", "nsfp", "uwmp")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compress", help="prune, recover, slim, export and benchmark a model",
        description="Prune MODEL with one of the EEG-pruning methods, recover accuracy, rebuild the dense smaller "
                    "network, export baseline and slim ONNX checked in onnxruntime, benchmark both side by side, "
                    "and write report.json, report.md, model-card.md, test-vectors.npz, slim.pt and plots to --out.")
    add_model_args(p)
    add_data_args(p)
    p.add_argument("--method", default="lfp", help="lfp (L1 filter), sfp (soft filter), nsfp (network slimming), "
                   "uwmp (unstructured magnitude); default lfp")
    p.add_argument("--ratio", type=float, default=0.5, help="fraction of channels (or weights, for uwmp) to remove, in (0, 1)")
    p.add_argument("--recover", default="finetune", help="finetune (inherit weights), scratch (re-initialise), none")
    p.add_argument("--epochs", type=int, help="recovery epochs (default: the profile's recipe)")
    p.add_argument("--lr", type=float, help="recovery learning rate (default: the profile's)")
    p.add_argument("--batch-size", type=int, help="recovery batch size (default: the profile's)")
    p.add_argument("--patience", type=int, help="stop recovery after N epochs without validation improvement")
    p.add_argument("--scope", default="layer", help="lfp ranking: layer (same fraction per layer) or global")
    p.add_argument("--keep", action="append", default=[], metavar="NAME_OR_REGEX",
                   help="never prune this module (name, or re:REGEX); repeatable")
    p.add_argument("--plan", metavar="plan.json", help="apply a saved/searched plan instead of a method")
    p.add_argument("--batch", default="1,64", help="benchmark batch sizes (default 1,64)")
    p.add_argument("--threads", type=int, default=1, help="benchmark threads (default 1)")
    p.add_argument("--iters", type=int, default=30, help="timed iterations per measurement (default 30)")
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/<model>-<method>-<ratio>)")
    p.set_defaults(run=run)


def method_options(args: argparse.Namespace) -> dict:
    opts = {}
    if args.method == "lfp":
        opts["scope"] = args.scope
    for name in ("sparsity", "sfp_schedule", "include_linear"):
        if getattr(args, name, None) is not None:
            opts[name] = getattr(args, name)
    return opts


def run(args: argparse.Namespace, console) -> int:
    from dataclasses import replace

    from eegdeploy.errors import unknown_name
    from eegdeploy.pipeline import CompressConfig, compress
    from eegdeploy.report.render import to_table

    if args.method not in METHOD_CHOICES:
        raise unknown_name("method", args.method, METHOD_CHOICES)
    config = CompressConfig(method=args.method, ratio=args.ratio, recover=args.recover, epochs=args.epochs,
                            seed=args.seed, keep=tuple(args.keep), method_options=method_options(args),
                            batches=parse_ints(args.batch, "batch"), threads=args.threads, iters=args.iters,
                            plan_path=args.plan)
    bundle = load_bundle(args)
    profile = profile_for(bundle, args)
    train = profile.train
    overrides = {k: getattr(args, k) for k in ("lr", "batch_size", "patience") if getattr(args, k) is not None}
    if overrides:
        train = replace(train, **overrides)
    splits = load_splits(args, profile)
    out = Path(args.out) if args.out else Path("reports") / f"{bundle.name}-{args.method}-{args.ratio:g}"

    def progress(stage: str, message: str) -> None:
        console.print(f"[dim]{stage:>8}[/] {message}")

    result = compress(bundle, splits, config, out, train=train, progress=progress)
    console.print(to_table(result))
    console.print(f"wrote {out}/: report.json report.md model-card.md baseline.onnx slim.onnx slim.pt test-vectors.npz")
    return 0
