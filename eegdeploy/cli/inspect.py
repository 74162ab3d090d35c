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
    from rich.table import Table

    from eegdeploy.errors import InputError

    if not path.is_file():
        raise InputError(f"ONNX file {str(path)!r} does not exist", fix="check the path")
    try:
        import onnx

        m = onnx.load(str(path))
    except ImportError:
        m = None
    except Exception as err:
        raise InputError(f"{str(path)!r} is not a readable ONNX file ({type(err).__name__})",
                         fix="give a file written by eegdeploy export") from None
    table = Table(title=f"{path.name}: {path.stat().st_size / 1024:.1f} KiB", title_justify="left", show_header=False)
    table.add_column("field"); table.add_column("value")
    if m is not None:
        def dims(v):
            return "x".join(str(d.dim_param or d.dim_value) for d in v.type.tensor_type.shape.dim)

        table.add_row("opset", ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in m.opset_import))
        table.add_row("nodes", f"{len(m.graph.node)} ({', '.join(sorted({n.op_type for n in m.graph.node}))})")
        for v in m.graph.input:
            table.add_row(f"input {v.name}", dims(v))
        for v in m.graph.output:
            table.add_row(f"output {v.name}", dims(v))
        meta = {p.key: p.value for p in m.metadata_props}
    else:
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        for v in sess.get_inputs():
            table.add_row(f"input {v.name}", str(v.shape))
        for v in sess.get_outputs():
            table.add_row(f"output {v.name}", str(v.shape))
        meta = dict(sess.get_modelmeta().custom_metadata_map)
    for k, v in meta.items():
        table.add_row(k, v)
    console.print(table)
    return 0
