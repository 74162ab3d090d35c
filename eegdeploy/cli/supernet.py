"""eegdeploy supernet: sandwich-rule training of a transformer's shared weights (TNAS-style weight sharing)."""

from __future__ import annotations

import argparse
from pathlib import Path

from eegdeploy.cli._common import add_data_args, add_model_args, load_bundle, load_splits, profile_for


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("supernet", help="train a transformer as a supernet of nested subnets (sandwich rule)",
                       description="Fine-tune the shared weights so that subnets sliced from the transformer search "
                                   "space (heads, MLP width, embedding width) are accurate without their own "
                                   "training: each step trains the largest subnet, the smallest and random ones, "
                                   "the largest teaching the others (in-place distillation). Writes a checkpoint "
                                   "that 'search' and 'compress --plan' accept.")
    add_model_args(p)
    add_data_args(p)
    p.add_argument("--space", metavar="FILE", help="search space file (TOML or JSON); default: derived from the model")
    p.add_argument("--epochs", type=int, default=2, help="supernet epochs (default 2)")
    p.add_argument("--random-subnets", type=int, default=2, help="random subnets per step besides the largest and "
                   "smallest (default 2)")
    p.add_argument("--lr", type=float, help="learning rate (default: the profile's)")
    p.add_argument("--temperature", type=float, default=1.0, help="distillation temperature (default 1)")
    p.add_argument("--out", metavar="FILE", help="checkpoint to write (default reports/<model>-supernet.pt)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console) -> int:
    import torch

    from eegdeploy.io import check_writable
    from eegdeploy.models import save_checkpoint
    from eegdeploy.search.space import build_space, load_space_file
    from eegdeploy.search.supernet import SupernetConfig, train_supernet

    cfg = SupernetConfig(epochs=args.epochs, random_subnets=args.random_subnets, lr=args.lr,
                         temperature=args.temperature, seed=args.seed)
    spec = load_space_file(args.space) if args.space else None
    bundle = load_bundle(args, prunable=True)
    example = torch.zeros((1, *bundle.input.shape))
    space = build_space(bundle.module, example, spec, where=f"space file {args.space!r}" if args.space else "space")
    out = Path(args.out) if args.out else Path("reports") / f"{bundle.name}-supernet.pt"
    check_writable(out)
    profile = profile_for(bundle, args)
    splits = load_splits(args, profile)
    console.print(f"supernet over {space.size():,} subnets ({len(space.blocks)} blocks) on {splits.describe()}")

    def show(epoch: int, total: int, row: dict) -> None:
        console.print(f"[dim]epoch {epoch}/{total}: loss {row['loss']:.3f}, validation largest "
                      f"{100 * row['val_largest']:.1f}%, smallest {100 * row['val_smallest']:.1f}%[/]")

    result = train_supernet(bundle.module, space, splits, example, cfg, train=profile.train, progress=show)
    bundle.metadata["supernet"] = {**result, "space": space.to_dict()}
    save_checkpoint(bundle, out)
    console.print(f"saved [bold]{out}[/]; search it with [bold]eegdeploy search {out}[/]")
    return 0


def run_tnas_if_transformer(args: argparse.Namespace, console) -> bool:
    """``eegdeploy search`` on a transformer (or with --space): NSGA-II over the TNAS space. False for a CNN."""
    import shlex
    import sys

    import torch

    from eegdeploy.errors import ConfigError, invalid_value
    from eegdeploy.io import Staging, check_writable_dir
    from eegdeploy.prune.trace import analyse
    from eegdeploy.search.space import build_space, has_space, load_space_file
    from eegdeploy.search.tnas import TnasConfig, tnas_search, write_tnas

    spec = load_space_file(args.space) if args.space else None
    bundle = load_bundle(args, prunable=True)
    example = torch.zeros((1, *bundle.input.shape))
    analysis = analyse(bundle.module, example)
    if spec is None and not has_space(analysis):
        if args.max_params is not None:
            raise ConfigError("--max-params applies to transformers only", fix="use --max-macs on a CNN")
        return False
    objs = [o.strip() for o in (args.objectives or "accuracy,params").split(",") if o.strip()]
    if len(objs) != 2 or objs[0] != "accuracy" or objs[1] not in ("params", "macs", "latency"):
        raise invalid_value("objectives", args.objectives, "accuracy,params, accuracy,macs or accuracy,latency")
    if args.max_macs is not None or args.max_latency_ms is not None or args.epochs:
        raise ConfigError("--max-macs, --max-latency-ms and --epochs apply to the CNN search only",
                          fix="use --max-params on a transformer (subnets are scored without training: train the "
                              "supernet first with 'eegdeploy supernet')")
    cfg = TnasConfig(objective=objs[1], population=args.population, generations=args.generations,
                     max_params=args.max_params, seed=args.seed)
    where = f"space file {args.space!r}" if args.space else "space"
    # a supernet checkpoint stores its units in importance order: its subnets are storage prefixes
    sorted_weights = bool((bundle.metadata.get("supernet") or {}).get("sorted"))
    space = build_space(bundle.module, example, spec, analysis=analysis, where=where, stored_order=sorted_weights)
    profile = profile_for(bundle, args)
    splits = load_splits(args, profile)
    out = Path(args.out) if args.out else Path("reports") / f"{bundle.name}-search"
    check_writable_dir(out)
    console.print(f"transformer search over {space.size():,} subnets ({len(space.blocks)} blocks), "
                  f"objectives accuracy,{cfg.objective}")
    res = tnas_search(bundle.module, space, splits, example, cfg, progress=lambda m: console.print(f"[dim]{m}[/]"))
    with Staging(out) as stage:
        write_tnas(res, space, stage.path, "eegdeploy " + " ".join(shlex.quote(a) for a in sys.argv[1:]))
        stage.commit()
    c = res.chosen
    console.print(f"{len(res.candidates)} subnets, {len(res.front)} on the front; chosen: accuracy "
                  f"{100 * c.accuracy:.1f}%, {c.params:,} params ({100 * c.params / res.baseline['params']:.0f}%), "
                  f"MACs {100 * c.macs_fraction:.0f}%: {space.describe(c.genes)}")
    console.print(f"wrote {out}/front.md, front.png, candidates.json, plan.json; apply it with "
                  f"[bold]eegdeploy compress MODEL --plan {out}/plan.json[/]")
    return True
