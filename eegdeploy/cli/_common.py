"""Flags and helpers shared by several commands (no heavy imports at module level)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from eegdeploy.config import RECOVERIES as _config_recoveries
from eegdeploy.errors import invalid_value


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise invalid_value("input-shape", text, "comma-separated positive integers such as 4,9,9") from None
    if not shape or any(v < 1 for v in shape):
        raise invalid_value("input-shape", text, "comma-separated positive integers such as 4,9,9")
    return shape


def parse_ints(text: str, field: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise invalid_value(field, text, "comma-separated positive integers such as 1,64") from None
    if not values or any(v < 1 for v in values):
        raise invalid_value(field, text, "comma-separated positive integers such as 1,64")
    return values


def parse_json_object(text: str | None, field: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise invalid_value(field, text, f"a JSON object such as '{{\"num_classes\": 2}}' ({err.msg})") from None
    if not isinstance(value, dict):
        raise invalid_value(field, text, "a JSON object such as '{\"num_classes\": 2}'")
    return value


def add_model_args(p: argparse.ArgumentParser, *, model: bool = True) -> None:
    if model:
        p.add_argument("model", metavar="MODEL", help="checkpoint: eegdeploy .pt, a state_dict (with --profile or --arch), "
                       "or a pickled module (with --trust-pickle)")
    p.add_argument("--profile", help="shipped profile name or a .toml path (see 'eegdeploy profiles')")
    p.add_argument("--arch", help="architecture for a plain state_dict or a custom model: package.module:Class, "
                   "torcheeg:CCNN, eegdeploy:EEGNetBCI")
    p.add_argument("--arch-kwargs", metavar="JSON", help="keyword arguments for --arch, as a JSON object")
    p.add_argument("--input-shape", metavar="C,H,W", help="input shape without batch, e.g. 4,9,9")
    p.add_argument("--classes", metavar="A,B,...", help="class names (default: the profile's)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow loading a whole pickled module; this RUNS CODE from the file, use only for files you trust")


# Torch-free copies of registry keys for help texts (importing the registries would import torch on every
# command, bench included); tests/cli/test_help.py checks that each equals its registry.
METHOD_NAMES: tuple[str, ...] = ("lfp", "sfp", "nsfp", "uwmp")
RECOVERIES: tuple[str, ...] = _config_recoveries
KG_MODES: tuple[str, ...] = ("region", "sample", "both")


def data_help() -> str:
    from eegdeploy.data import DATA_SOURCES

    return "data: " + "; ".join(f"{k} ({v})" for k, v in DATA_SOURCES.items())


def add_data_args(p: argparse.ArgumentParser, *, split: bool = True) -> None:
    p.add_argument("--data", metavar="D", help=data_help())
    if split:
        p.add_argument("--split", dest="data_split", default="random", metavar="S",
                       help="how the data is split into train / validation / test: random (windows, the default), "
                            "trial (whole trials: the honest protocol for windows cut from trials, docs/data.md) "
                            "or subject (whole subjects)")
    p.add_argument("--seed", type=int, default=0, help="seed for data splits, initialisation and training (default 0)")


def load_bundle(args: argparse.Namespace, *, prunable: bool = False):  # -> Bundle
    """The model of ``args.model``; with ``prunable``, refused at once when it cannot be pruned (check_prunable)."""
    from eegdeploy.models import check_prunable, load_model

    bundle = load_model(
        Path(args.model),
        profile=args.profile,
        arch=args.arch,
        arch_kwargs=parse_json_object(args.arch_kwargs, "arch-kwargs") if args.arch_kwargs else None,
        input_shape=parse_shape(args.input_shape) if args.input_shape else None,
        class_names=tuple(c for c in args.classes.split(",") if c) if getattr(args, "classes", None) else None,
        trust_pickle=args.trust_pickle,
    )
    if prunable:
        check_prunable(bundle, str(args.model))
    return bundle


def profile_for(bundle, args: argparse.Namespace):  # -> Profile
    """The profile behind a bundle: --profile, the checkpoint's own, or one made from the bundle."""
    from eegdeploy.models import resolve_profile

    return resolve_profile(bundle, getattr(args, "profile", None))


def load_splits(args: argparse.Namespace, profile):  # -> Splits
    from eegdeploy.data import load_data

    return load_data(getattr(args, "data", None), profile, seed=args.seed, split=getattr(args, "data_split", "random"))


def epoch_progress(console, description: str):
    """A Rich progress bar driven by fit()'s progress callback; use as a context manager."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, transient=False)
    task = progress.add_task(description, total=None, info="")

    def update(epoch: int, total: int, row: dict) -> None:
        progress.update(task, completed=epoch, total=total,
                        info=f"loss {row['loss']:.3f}  val acc {100 * row['val_accuracy']:.1f}%")

    return progress, update
