"""eegdeploy train: train a baseline to compress."""

from __future__ import annotations

import argparse
from pathlib import Path

from eegdeploy.cli._common import add_data_args, epoch_progress, parse_json_object, parse_shape


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a baseline model for a profile",
        description="Train a baseline for a profile on its synthetic data or on --data, keep the best-validation "
                    "weights and save an eegdeploy checkpoint (loads with torch.load(weights_only=True)).")
    p.add_argument("--profile", required=True, help="profile name or .toml path (see 'eegdeploy profiles')")
    add_data_args(p)
    p.add_argument("--epochs", type=int, help="training epochs (default: the profile's)")
    p.add_argument("--lr", type=float, help="learning rate (default: the profile's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the profile's)")
    p.add_argument("--arch-kwargs", metavar="JSON", help="override the profile's architecture arguments")
    p.add_argument("--out", required=True, metavar="FILE.pt", help="where to write the checkpoint")
    p.set_defaults(run=run)


def train_baseline(profile, splits, *, seed: int, epochs: int | None = None, lr: float | None = None,
                   batch_size: int | None = None, arch_kwargs: dict | None = None, console=None):
    """Build, train and evaluate a baseline; returns (bundle, fit result, test accuracy)."""
    from dataclasses import replace

    from eegdeploy.models import bundle_from_profile
    from eegdeploy.recover import evaluate, fit

    if arch_kwargs:
        profile = replace(profile, arch_kwargs={**profile.arch_kwargs, **arch_kwargs})
    cfg = profile.train
    overrides = {k: v for k, v in (("epochs", epochs), ("lr", lr), ("batch_size", batch_size)) if v is not None}
    cfg = replace(cfg, **overrides)
    bundle = bundle_from_profile(profile, seed=seed)
    if console is not None:
        bar, update = epoch_progress(console, f"training {profile.name}")
        with bar:
            result = fit(bundle.module, splits, cfg, seed=seed, progress=update)
    else:
        result = fit(bundle.module, splits, cfg, seed=seed)
    acc = evaluate(bundle.module, splits.test)
    bundle.metadata.update({"trained_on": splits.source, "test_accuracy": acc, "seed": seed,
                            "best_val_accuracy": result.best_val_accuracy, "epochs": cfg.epochs,
                            **splits.sizes()})
    return bundle, result, acc


def cfg_epochs(result) -> str:
    return str(getattr(result, "epochs_run", "?"))


def run(args: argparse.Namespace, console) -> int:
    from eegdeploy.config import load_profile

    profile = load_profile(args.profile)  # a bad profile fails before anything heavy is imported
    arch_kwargs = parse_json_object(args.arch_kwargs, "arch-kwargs")

    from eegdeploy.data import load_data
    from eegdeploy.io import check_writable
    from eegdeploy.models import save_checkpoint
    from eegdeploy.report.accuracy import accuracy_context

    out = Path(args.out)
    check_writable(out)  # fails early on a non-writable destination; an existing file is not touched
    splits = load_data(args.data, profile, seed=args.seed, split=args.data_split)
    console.print(f"training {profile.name} on {splits.describe()}")
    bundle, result, acc = train_baseline(
        profile, splits, seed=args.seed, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
        arch_kwargs=arch_kwargs, console=console)
    save_checkpoint(bundle, out)
    ctx = accuracy_context(acc, len(splits.test), splits.source)
    console.print(f"saved [bold]{out}[/]: test accuracy {ctx.short() if ctx else 'n/a'} on "
                  f"{ctx.data_words() if ctx else splits.source} (best validation {100 * result.best_val_accuracy:.1f}% "
                  f"at epoch {result.best_epoch} of {cfg_epochs(result)})")
    return 0
