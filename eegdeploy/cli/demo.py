"""eegdeploy demo: the whole job on the default profile, no files needed."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="train a small CCNN on synthetic EEG and compress it at ratio 0.5",
        description="Train a baseline for the default profile (ccnn-deap) on seeded synthetic EEG, then compress "
                    "it with L1 filter pruning at ratio 0.5 and fine-tuning. Writes to --out (default reports/demo).")
    p.add_argument("--profile", default="ccnn-deap", help="profile (default ccnn-deap)")
    p.add_argument("--ratio", type=float, default=0.5, help="pruning ratio (default 0.5)")
    p.add_argument("--epochs", type=int, help="baseline training epochs (default: the profile's)")
    p.add_argument("--recover-epochs", type=int, default=4, help="fine-tuning epochs (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--out", default="reports/demo", metavar="DIR", help="output folder (default reports/demo)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console) -> int:
    from eegdeploy.cli.train import train_baseline
    from eegdeploy.config import load_profile
    from eegdeploy.data import load_data
    from eegdeploy.io import check_writable_dir
    from eegdeploy.models import save_checkpoint
    from eegdeploy.pipeline import CompressConfig, compress
    from eegdeploy.report.render import to_table

    profile = load_profile(args.profile)
    config = CompressConfig(method="lfp", ratio=args.ratio, recover="finetune", epochs=args.recover_epochs,
                            seed=args.seed, train=profile.train)
    out = Path(args.out)
    check_writable_dir(out)
    splits = load_data(None, profile, seed=args.seed)
    console.print(f"[bold]1/2[/] training a {profile.arch} baseline on {splits.source} {splits.sizes()}")
    bundle, _, acc = train_baseline(profile, splits, seed=args.seed, epochs=args.epochs, console=console)
    console.print(f"baseline test accuracy {100 * acc:.1f}%")
    console.print(f"[bold]2/2[/] compressing: lfp at ratio {args.ratio}, fine-tuning {args.recover_epochs} epochs")

    def progress(stage: str, message: str) -> None:
        console.print(f"[dim]{stage:>8}[/] {message}")

    result = compress(bundle, splits, config, out, progress=progress)
    save_checkpoint(bundle, out / "baseline.pt")
    console.print(to_table(result))
    console.print(f"wrote {out}/: {' '.join(result.extras.get('files', ()))}; baseline checkpoint "
                  f"{out / 'baseline.pt'}")
    return 0
