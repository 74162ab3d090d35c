"""eegdeploy inspect: a model's prunable channel groups, or an ONNX file's metadata and graph summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from eegdeploy.cli._common import add_model_args


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect", help="show a model's prunable groups, or an ONNX file's metadata",
        description="For a checkpoint: the channel groups the slimming engine found, which are prunable (and why "
                    "not), and each group's share of the MACs. For FILE.onnx: inputs, outputs, opset, node count, "
                    "size and eegdeploy metadata (needs only onnx or onnxruntime).")
    add_model_args(p)
    p.add_argument("--keep", action="append", default=[], metavar="NAME_OR_REGEX", help="treat as never pruned")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console) -> int:
    if args.model.endswith(".onnx"):
        return _onnx(Path(args.model), console)
    import torch
    from rich.table import Table

    from eegdeploy.bench import count
    from eegdeploy.cli._common import load_bundle
    from eegdeploy.prune import analyse

    bundle = load_bundle(args)
    example = torch.zeros((1, *bundle.input.shape))
    analysis = analyse(bundle.module, example, keep=args.keep)
    c = count(bundle.module, example, cross_check=False)
    table = Table(title=f"{bundle.name}: {len(analysis.groups)} channel groups, {c.macs:,} MACs", title_justify="left")
    for col in ("group", "channels", "prunable", "producers", "MACs share", "why not"):
        table.add_column(col, justify="right" if col in ("channels", "MACs share") else "left")
    for g in analysis.groups:
        share = sum(c.per_layer.get(m, 0) for m in g.producers) / max(1, c.macs)
        table.add_row(g.name, str(g.size), "yes" if g.prunable else "no", ", ".join(g.producers),
                      f"{100 * share:.1f}%", g.reason or "")
    console.print(table)
    return 0


def _onnx(path: Path, console) -> int:
    from eegdeploy.export.inspect import inspect_onnx, onnx_info_table

    console.print(onnx_info_table(inspect_onnx(path)))
    return 0
