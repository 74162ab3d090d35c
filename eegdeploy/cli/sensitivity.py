"""eegdeploy sensitivity: accuracy of the model with each prunable layer pruned alone at 10%..90%."""

from __future__ import annotations

import argparse
from pathlib import Path

from eegdeploy.cli._common import add_data_args, add_model_args, load_bundle, load_splits, profile_for


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sensitivity", help="accuracy with each layer pruned alone at 10%%..90%%",
                       description="Prune each prunable channel group alone (L1, no retraining) at each ratio and "
                                   "evaluate; writes sensitivity.md, sensitivity.json and sensitivity.png to --out "
                                   "and names the most sensitive layers.")
    add_model_args(p)
    add_data_args(p)
    p.add_argument("--ratios", default="0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9", help="ratios to try")
    p.add_argument("--keep", action="append", default=[], metavar="NAME_OR_REGEX", help="never prune this module")
    p.add_argument("--out", metavar="DIR", help="output folder (default reports/<model>-sensitivity)")
    p.set_defaults(run=run)


def parse_ratios(text: str) -> tuple[float, ...]:
    from eegdeploy.errors import invalid_value

    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise invalid_value("ratios", text, "comma-separated numbers in (0, 1) such as 0.1,0.5,0.9") from None
    if not vals or any(not 0 < v < 1 for v in vals):
        raise invalid_value("ratios", text, "comma-separated numbers in (0, 1) such as 0.1,0.5,0.9")
    return vals


def run(args: argparse.Namespace, console) -> int:
    import torch

    from eegdeploy.io import Staging, check_writable_dir, write_json, write_text
    from eegdeploy.prune.sensitivity import plot_sensitivity, sensitivity, to_markdown, to_table

    ratios = parse_ratios(args.ratios)
    bundle = load_bundle(args, prunable=True)
    splits = load_splits(args, profile_for(bundle, args))
    out = Path(args.out) if args.out else Path("reports") / f"{bundle.name}-sensitivity"
    check_writable_dir(out)
    res = sensitivity(bundle.module, splits, example=torch.zeros((1, *bundle.input.shape)), ratios=ratios,
                      keep=args.keep)
    with Staging(out) as stage:
        plot_sensitivity(res, stage.path / "sensitivity.png")
        write_text(stage.path / "sensitivity.md", to_markdown(res, plot="sensitivity.png"))
        write_json(stage.path / "sensitivity.json", res.to_dict())
        stage.commit()
    console.print(to_table(res, title=f"{bundle.name}: {res.split} accuracy with one group pruned alone "
                                      f"(baseline {100 * res.baseline_accuracy:.1f}%)"))
    most = ", ".join(res.most_sensitive()) or "none (no prunable group)"
    console.print(f"most sensitive: [bold]{most}[/]; wrote {out}/sensitivity.md, sensitivity.json, sensitivity.png")
    return 0
