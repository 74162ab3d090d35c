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
    p.add_argument("--space", metavar="FILE", help="transformer search space file (TOML or JSON) to validate and show")
    p.add_argument("--rewrites", choices=("cost", "measure"), metavar="cost|measure",
                   help="FILE.onnx only: the exact deployment rewrites 'export --optimize' would consider, every "
                        "chain with its forms and the one chosen, by the cost model ('cost', instant) or timed in "
                        "onnxruntime ('measure'); nothing is written")
    p.add_argument("--batch", type=int, default=64, help="with --rewrites: batch to cost or time at (default 64)")
    p.add_argument("--threads", type=int, default=1, help="with --rewrites measure: onnxruntime threads (default 1)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, console) -> int:
    if args.model.endswith(".onnx"):
        return _onnx(Path(args.model), console, args)
    if args.rewrites:
        from eegdeploy.errors import InputError

        raise InputError("--rewrites works on an ONNX file, not a checkpoint",
                         fix=f"export it first (eegdeploy export {args.model}) and inspect the .onnx file")
    import torch
    from rich.table import Table

    from eegdeploy.bench import count
    from eegdeploy.cli._common import load_bundle
    from eegdeploy.prune import analyse

    bundle = load_bundle(args)
    example = torch.zeros((1, *bundle.input.shape))
    frozen = getattr(bundle.module, "not_prunable", None)
    if frozen:  # an ATen-graph slim.pt: its layers and their cost, but no channel groups to cut
        c = count(bundle.module, example, cross_check=False)
        table = Table(title=f"{bundle.name}: ATen-graph slim.pt, {c.params:,} parameters, {c.macs:,} MACs",
                      title_justify="left")
        for col in ("layer", "MACs", "MACs share"):
            table.add_column(col, justify="left" if col == "layer" else "right")
        for name, macs in c.per_layer.items():
            table.add_row(name, f"{macs:,}", f"{100 * macs / max(1, c.macs):.1f}%")
        console.print(table)
        console.print(f"note: {frozen}; compress the checkpoint it came from to prune it", markup=False)
        return 0
    analysis = analyse(bundle.module, example, keep=args.keep)
    space = _space(args, bundle.module, example, analysis)  # a bad space file fails before anything is shown
    c = count(bundle.module, example, cross_check=False)
    table = Table(title=f"{bundle.name}: {len(analysis.groups)} channel groups, {c.macs:,} MACs", title_justify="left")
    for col in ("group", "channels", "prunable", "producers", "MACs share", "why not"):
        table.add_column(col, justify="right" if col in ("channels", "MACs share") else "left")
    for g in analysis.groups:
        share = sum(c.per_layer.get(m, 0) for m in g.producers) / max(1, c.macs)
        table.add_row(g.name, str(g.size), "yes" if g.prunable else "no", ", ".join(g.producers),
                      f"{100 * share:.1f}%", g.reason or "")
    console.print(table)
    if analysis.depth or analysis.depth_refused:
        console.print(_depth_table(analysis, c))
    if space:
        console.print(space, markup=False)
    return 0


def _depth_table(analysis, c):
    """Depth groups (residual blocks that can be dropped whole, --ratio-depth) and adds that are not droppable."""
    from rich.table import Table

    from eegdeploy.text import safe

    t = Table(title="depth: residual blocks (dropped with --ratio-depth)", title_justify="left")
    for col in ("group", "blocks", "droppable", "blocks (branches)", "MACs share", "why not"):
        t.add_column(col, justify="right" if col in ("blocks", "MACs share") else "left")
    for g in analysis.depth:
        branches = [br.module for b in analysis.blocks[g.name] for br in b.branches]
        macs = sum(v for k, v in c.per_layer.items() if any(k == m or k.startswith(m + ".") for m in branches))
        names = "; ".join(f"{b.name} ({', '.join(br.module[len(b.name) + 1:] or br.module for br in b.branches)})"
                          for b in analysis.blocks[g.name])
        t.add_row(safe(g.name), str(g.size), "yes" if g.prunable else "no", safe(names),
                  f"{100 * macs / max(1, c.macs):.1f}%", safe(g.reason or ""))
    for where, why in analysis.depth_refused:
        t.add_row(safe(where), "-", "no", "", "", safe(why))
    return t


def _space(args: argparse.Namespace, module, example, analysis) -> str:
    """A transformer's search space (heads, MLP widths, embedding width) and its size; nothing for a CNN."""
    from eegdeploy.search.space import build_space, has_space, load_space_file

    spec = load_space_file(args.space) if args.space else None
    if spec is None and not has_space(analysis):
        return ""
    where = f"space file {args.space!r}" if args.space else "space"
    sp = build_space(module, example, spec, analysis=analysis, where=where)
    lines = [f"search space: {sp.size():,} subnets; embedding width {sp.embedding} -> choices "
             f"{list(sp.embedding_choices) if sp.embedding_group else 'kept whole'}"]
    for b in sp.blocks:
        drop = ("kept or dropped" if 0 in b.drop_choices else "always kept") if sp.depth_group else "always kept"
        lines.append(f"  {b.name}: heads {b.heads} -> {list(b.heads_choices)}, MLP width {b.hidden} -> "
                     f"{list(b.hidden_choices)}, {drop}")
    lines += [f"  note: {n}" for n in sp.notes]
    return "\n".join(lines)


def _onnx(path: Path, console, args: argparse.Namespace) -> int:
    from eegdeploy.export.inspect import inspect_onnx, onnx_info_table

    rcfg = None
    if args.rewrites:
        from eegdeploy.rewrite import RewriteConfig

        rcfg = RewriteConfig(batch=args.batch, threads=args.threads, measure=args.rewrites == "measure")
    console.print(onnx_info_table(inspect_onnx(path)))
    if rcfg is not None:
        from eegdeploy.rewrite import rewrite_onnx, rewrites_table

        res = rewrite_onnx(path, rcfg)
        how = (f"timed in onnxruntime, batch {rcfg.batch}, {rcfg.threads} thread(s)" if rcfg.measure
               else f"cost model, batch {rcfg.batch}")
        console.print(rewrites_table(res.rewrites, title=f"exact rewrites ({how}): {len(res.applied)} of "
                                                         f"{len(res.rewrites)} chains would change"))
        for note in res.notes:
            console.print(f"note: {note}", markup=False)
        console.print(f"rewritten vs as given: max abs difference {res.parity_max_abs:.1e} "
                      f"(apply with: eegdeploy export MODEL --optimize)", markup=False)
    return 0
