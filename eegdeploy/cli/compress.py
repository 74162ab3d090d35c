"""eegdeploy compress: prune, recover, slim, export and benchmark one model."""

from __future__ import annotations

import argparse
from pathlib import Path

from eegdeploy.cli._common import (KG_MODES, METHOD_NAMES, RECOVERIES, add_data_args, add_model_args, load_bundle,
                                   load_splits, parse_ints, profile_for)

METHOD_CHOICES = METHOD_NAMES


def _regions() -> tuple[str, ...]:
    from eegdeploy.data.electrodes import REGIONS

    return REGIONS


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compress", help="prune, recover, slim, export and benchmark a model",
        description="Prune MODEL with one of the EEG-pruning methods, recover accuracy, rebuild the dense smaller "
                    "network, export baseline and slim ONNX checked in onnxruntime, benchmark both side by side, "
                    "and write report.json, report.md, model-card.md, test-vectors.npz, slim.pt and plots to --out.")
    add_model_args(p)
    add_data_args(p)
    p.add_argument("--method", default="lfp", help=f"one of {', '.join(METHOD_NAMES)}: lfp (L1 filter), sfp (soft "
                   "filter), nsfp (network slimming), uwmp (unstructured magnitude); default lfp")
    p.add_argument("--ratio", type=float, default=0.5,
                   help="fraction of channels (or weights, for uwmp) to remove, in (0, 1): every width dimension "
                        "(conv filters, attention heads, MLP width, embedding width) unless overridden below")
    d = p.add_argument_group("per-dimension ratios (transformers; structured methods)")
    d.add_argument("--ratio-heads", type=float, default=None, help="fraction of attention heads to remove "
                   "(default: --ratio)")
    d.add_argument("--ratio-mlp", type=float, default=None, help="fraction of MLP hidden width to remove "
                   "(default: --ratio)")
    d.add_argument("--ratio-embed", type=float, default=None, help="fraction of the embedding width (the residual "
                   "stream) to remove (default: --ratio)")
    d.add_argument("--ratio-depth", type=float, default=None, help="fraction of residual blocks to drop whole, in "
                   "[0, 1); opt-in: default 0, no block dropped whatever --ratio is ('eegdeploy inspect' lists the "
                   "droppable blocks)")
    p.add_argument("--recover", default="finetune",
                   help=f"one of {', '.join(RECOVERIES)}: finetune inherits the pruned weights, scratch "
                        "re-initialises them, distill inherits them and learns from the unpruned baseline as teacher, "
                        "none skips training; default finetune")
    p.add_argument("--distill-temperature", type=float, default=4.0,
                   help="distill: softmax temperature T (default 4)")
    p.add_argument("--distill-weight", type=float, default=0.5,
                   help="distill: share of the teacher term in the loss, 0..1 (default 0.5)")
    p.add_argument("--epochs", type=int, help="recovery epochs (default: the profile's recipe)")
    p.add_argument("--lr", type=float, help="recovery learning rate (default: the profile's)")
    p.add_argument("--batch-size", type=int, help="recovery batch size (default: the profile's)")
    p.add_argument("--patience", type=int, help="stop recovery after N epochs without validation improvement")
    p.add_argument("--scope", default=None, help="lfp ranking: layer (same fraction per layer; default) or global")
    p.add_argument("--sfp-schedule", default=None, help="sfp: constant ratio every epoch, or linear ramp up to --ratio")
    p.add_argument("--sfp-epochs", type=int, default=None,
                   help="sfp: epochs of soft-pruning training (default: the recovery epochs)")
    p.add_argument("--sparsity", type=float, default=None,
                   help="nsfp: L1 penalty on BatchNorm scales during sparsity training (default 1e-4)")
    p.add_argument("--include-linear", action="store_true", default=None,
                   help="every method: also prune hidden linear layers on flattened features, like CCNN's lin1 "
                        "(default: conv filters, and conv weights for uwmp, as the papers define the methods)")
    p.add_argument("--kg", default=None, metavar="|".join(KG_MODES),
                   help="knowledge-guided recovery loss (region-wise, sample-wise or both)")
    p.add_argument("--kg-region", default="prefrontal", help="kg region: a named set (" + ", ".join(_regions())
                   + ") or comma-separated 10-20 names; default prefrontal")
    p.add_argument("--kg-weight", type=float, default=1.0, help="kg loss weight lambda (default 1.0)")
    p.add_argument("--kg-layer", default=None, help="kg evidence layer (module name; default the first conv)")
    p.add_argument("--keep", action="append", default=[], metavar="NAME_OR_REGEX",
                   help="never prune this module (name, or re:REGEX); repeatable")
    p.add_argument("--plan", metavar="plan.json", help="apply a saved/searched plan instead of a method")
    p.add_argument("--batch", default="1,64", help="benchmark batch sizes (default 1,64)")
    p.add_argument("--threads", type=int, default=1, help="benchmark threads (default 1)")
    p.add_argument("--cuda", action="store_true", help="also time torch-cuda and ort-cuda (skipped with a note "
                   "in the report when no GPU or no CUDA provider is present)")
    p.add_argument("--iters", type=int, default=30, help="timed iterations per measurement (default 30)")
    p.add_argument("--int8", action="store_true", help="also quantize the slim model to int8 (static QDQ, calibrated "
                   "on training samples); slim.int8.onnx is kept only where it is faster than slim.onnx and loses at "
                   "most --int8-max-drop accuracy, otherwise the report says why it was dropped")
    p.add_argument("--int8-max-drop", type=float, default=0.01, metavar="F",
                   help="int8 accuracy tolerance against the fp32 slim model (a fraction; default 0.01 = 1 point)")
    p.add_argument("--no-rewrite", action="store_true",
                   help="deliver slim.onnx as exported (skip the exact deployment rewrites)")
    p.add_argument("--no-measure", action="store_true",
                   help="choose rewrite forms with the cost model instead of timing them in onnxruntime")
    p.add_argument("--round-to", type=int, default=16, metavar="N",
                   help="round kept channel counts to multiples of N (default 16: onnxruntime's AVX-512 block; "
                        "1 turns it off; see benchmarks/RESULTS.md)")
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/<model>-<method>-<ratio>)")
    p.set_defaults(run=run)


def method_options(args: argparse.Namespace) -> dict:
    """Options for the chosen method's config; a flag meant for another method is an error, not ignored."""
    from eegdeploy.prune.methods import OPTION_FLAGS, options_from_flags

    if args.method not in METHOD_CHOICES:
        return {}
    values = {flag: getattr(args, flag, None) for flag in OPTION_FLAGS}
    return options_from_flags(values, (args.method,)).get(args.method, {})


def distill_options(args: argparse.Namespace):  # -> DistillConfig | None
    if getattr(args, "recover", None) != "distill":
        return None
    from eegdeploy.recover.distill import DistillConfig

    return DistillConfig(temperature=args.distill_temperature, weight=args.distill_weight)


def kg_options(args: argparse.Namespace):  # -> KGConfig | None
    if not getattr(args, "kg", None):
        return None
    from eegdeploy.recover.kg import KGConfig

    return KGConfig(mode=args.kg, region=args.kg_region, weight=args.kg_weight, layer=args.kg_layer)


def run(args: argparse.Namespace, console) -> int:
    from dataclasses import replace

    from eegdeploy.errors import unknown_name
    from eegdeploy.io import check_writable_dir
    from eegdeploy.pipeline import CompressConfig, compress
    from eegdeploy.report.accuracy import synthetic_warning
    from eegdeploy.report.render import to_table

    if args.method not in METHOD_CHOICES:
        raise unknown_name("method", args.method, METHOD_CHOICES)
    if args.plan:
        from eegdeploy.prune.plan import PrunePlan

        PrunePlan.load(args.plan)  # a missing or malformed plan fails before the model is even loaded
    config = CompressConfig(method=args.method, ratio=args.ratio, recover=args.recover, epochs=args.epochs,
                            seed=args.seed, keep=tuple(args.keep), method_options=method_options(args),
                            batches=parse_ints(args.batch, "batch"), threads=args.threads, iters=args.iters,
                            runtimes=("ort-cpu", "torch-cpu") + (("ort-cuda", "torch-cuda") if args.cuda else ()),
                            plan_path=args.plan, kg=kg_options(args), distill=distill_options(args), int8=args.int8,
                            int8_max_drop=args.int8_max_drop, rewrite=not args.no_rewrite,
                            rewrite_measure=not args.no_measure, round_to=args.round_to)
    bundle = load_bundle(args, prunable=True)
    out = Path(args.out) if args.out else Path("reports") / f"{bundle.name}-{args.method}-{args.ratio:g}"
    check_writable_dir(out)
    profile = profile_for(bundle, args)
    train = profile.train
    overrides = {k: getattr(args, k) for k in ("lr", "batch_size", "patience") if getattr(args, k) is not None}
    if overrides:
        train = replace(train, **overrides)
    config = replace(config, train=train)
    splits = load_splits(args, profile)

    from eegdeploy.text import safe  # messages and notes may quote file contents

    def progress(stage: str, message: str) -> None:
        console.print(f"[dim]{stage:>8}[/] {safe(message, max_len=2000)}")

    warning = synthetic_warning(splits.source, bundle.profile)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    result = compress(bundle, splits, config, out, progress=progress)
    console.print(to_table(result))
    console.print(f"pruned layers: {', '.join(result.extras.get('pruned_layers', [])) or 'none'}")
    for note in result.extras.get("notes", []):
        console.print(f"[yellow]note:[/] {safe(note, max_len=2000)}")
    if warning:
        console.print(f"[yellow]warning:[/] accuracies above are on synthetic data for a model that is not a shipped "
                      f"profile; pass --data for real figures", soft_wrap=True)
    console.print(f"wrote {safe(out)}/: {' '.join(safe(f) for f in result.extras.get('files', ()))}", soft_wrap=True)
    return 0
