"""Renderers beside the result: a Rich table for the terminal, Markdown for disk."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from eegdeploy.report.accuracy import accuracy_context, context_from
from eegdeploy.report.schema import CompressResult
from eegdeploy.text import md, md_code, safe


def _num(n: float | int | None) -> str:
    if n is None:
        return "n/a"
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:.0f}" if n == int(n) else f"{n:.3g}"


def _bytes(n: int | None) -> str:
    """Binary units, as the model card and the CLI print them (KiB, MiB)."""
    if n is None:
        return "n/a"
    for unit, scale in (("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n} B"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _change(r: float | None) -> str:
    if r is None:
        return "n/a"
    return f"{r:.2f}x ({(1 - r) * 100:.1f}% less)" if r <= 1 else f"{r:.2f}x ({(r - 1) * 100:.1f}% more)"


def summary_header(result: CompressResult) -> list[str]:
    """Column names of :func:`summary_rows`: with rewrites, the pruning-only model gets its own column."""
    if result.pruned is None:
        return ["figure", "baseline", "slim", "change"]
    return ["figure", "baseline", "slim (pruning only)", "slim + rewrites", "change"]


def summary_rows(result: CompressResult) -> list[tuple[str, ...]]:
    """(figure, baseline, [pruning only], slim, change) rows shared by the terminal and Markdown renderers;
    "change" compares the delivered slim model with the baseline."""
    rows = _summary_rows(result)
    p = result.pruned
    if p is None:
        return rows
    mid: list[str] = [_num(p.params), *([_num(p.nonzero_params)] if result.slim.nonzero_params is not None else []),
                      _num(p.macs), _num(p.flops), _pct(p.accuracy), *_interval_cell(result, p.accuracy),
                      _bytes(p.onnx_bytes)]
    for runtime in sorted(result.baseline.latency_ms):
        for batch in sorted(result.baseline.latency_ms[runtime], key=int):
            v = p.latency_ms.get(runtime, {}).get(batch, {}).get("p50")
            mid.append("n/a" if v is None else f"{v:.3f} ms")
    mid += [""] * (len(rows) - len(mid))  # the int8 rows compare the int8 copy with the baseline only
    return [(r[0], r[1], m, r[2], r[3]) for r, m in zip(rows, mid)]


def _interval_cell(result: CompressResult, accuracy: float | None) -> list[str]:
    """The '95% interval' cell of another column (empty list when the table has no interval row)."""
    ctx = result.extras.get("accuracy") or {}
    if not (context_from(ctx, "baseline") or context_from(ctx, "slim")):
        return []
    c = accuracy_context(accuracy, int(ctx.get("n_test") or 0), str(ctx.get("data", "")))
    return ["n/a" if c is None else f"{100 * c.ci95[0]:.1f}–{100 * c.ci95[1]:.1f}%"]


def _summary_rows(result: CompressResult) -> list[tuple[str, str, str, str]]:
    b, s = result.baseline, result.slim
    rows: list[tuple[str, str, str, str]] = []

    def ratio(key: str) -> str:
        return _change(result.ratio(key))

    rows.append(("params", _num(b.params), _num(s.params), ratio("params")))
    if s.nonzero_params is not None:
        nz_b = b.nonzero_params if b.nonzero_params is not None else b.params
        rows.append(("non-zero params", _num(nz_b), _num(s.nonzero_params), f"{s.nonzero_params / max(nz_b, 1):.2f}x"))
    rows.append(("MACs", _num(b.macs), _num(s.macs), ratio("macs")))
    rows.append(("FLOPs", _num(b.flops), _num(s.flops), ratio("flops")))
    acc_change = "n/a"
    if b.accuracy is not None and s.accuracy is not None:
        acc_change = f"{100 * (s.accuracy - b.accuracy):+.1f} pts"
    ctx = result.extras.get("accuracy") or {}
    label = "test accuracy" + (" (synthetic)" if ctx.get("synthetic") else "")
    if ctx.get("n_test"):
        acc_change += f" (1 sample = {100 / ctx['n_test']:.1f})"
    rows.append((label, _pct(b.accuracy), _pct(s.accuracy), acc_change))
    cb, cs = context_from(ctx, "baseline"), context_from(ctx, "slim")
    if cb or cs:
        def ci(c: Any) -> str:
            return "n/a" if c is None else f"{100 * c.ci95[0]:.1f}–{100 * c.ci95[1]:.1f}%"
        rows.append(("  95% interval", ci(cb), ci(cs), f"n={ctx['n_test']}"))
    rows.append(("ONNX size", _bytes(b.onnx_bytes), _bytes(s.onnx_bytes), ratio("onnx_bytes")))
    for runtime in sorted(b.latency_ms):
        for batch in sorted(b.latency_ms[runtime], key=int):
            sp = result.speedup(runtime, batch)
            bl = b.latency_ms[runtime][batch]["p50"]
            sl = s.latency_ms.get(runtime, {}).get(batch, {}).get("p50")
            rows.append((f"{runtime} p50, batch {batch}", f"{bl:.3f} ms",
                         "n/a" if sl is None else f"{sl:.3f} ms", "n/a" if sp is None else f"{sp:.2f}x faster"))
    rows += int8_rows(result)
    return rows


def int8_rows(result: CompressResult) -> list[tuple[str, str, str, str]]:
    """The int8 copy of the slim model (in the "slim" column) against the fp32 baseline: accuracy, size,
    onnxruntime latency; or why it was dropped. Empty when int8 was not asked for."""
    info = result.extras.get("int8")
    if not info:
        return []
    b, q = result.baseline, result.int8
    if q is None:
        return [("int8", "", "dropped", str(info.get("reason", "")))]
    acc = "n/a" if b.accuracy is None or q.accuracy is None else f"{100 * (q.accuracy - b.accuracy):+.1f} pts"
    rows = [("int8 test accuracy", _pct(b.accuracy), _pct(q.accuracy), acc),
            ("int8 ONNX size", _bytes(b.onnx_bytes), _bytes(q.onnx_bytes),
             _change(q.onnx_bytes / b.onnx_bytes if b.onnx_bytes else None))]
    for runtime in sorted(q.latency_ms):
        for batch in sorted(q.latency_ms[runtime], key=int):
            sp = result.speedup(runtime, batch, of="int8")
            bl = b.latency_ms.get(runtime, {}).get(batch, {}).get("p50")
            rows.append((f"int8 {runtime} p50, batch {batch}", "n/a" if bl is None else f"{bl:.3f} ms",
                         f"{q.latency_ms[runtime][batch]['p50']:.3f} ms", "n/a" if sp is None else f"{sp:.2f}x faster"))
    return rows


def to_table(result: CompressResult) -> Table:
    """Baseline vs slim, with the ratio of each figure."""
    r = result.recipe
    title = safe(f"{result.model['name']}: {r['method']} ratio {r['ratio']}, recover {r['recover']}"
                 f" ({result.environment.get('threads')} thread(s))")
    table = Table(title=title, title_justify="left")
    for i, col in enumerate(summary_header(result)):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in summary_rows(result):
        table.add_row(*(safe(c) for c in row))
    caption = accuracy_caption(result)
    if caption:
        table.caption = safe(caption)
        table.caption_justify = "left"
    return table


def accuracy_caption(result: CompressResult) -> str:
    """What the accuracies rest on: the data (synthetic said so), the test-set size, the training of each side."""
    a = result.extras.get("accuracy") or {}
    if not a.get("n_test"):
        return ""
    data = f"SYNTHETIC data ({a['data']})" if a.get("synthetic") else a["data"]
    parts = [f"accuracy: test split of {data}, {a['n_test']} samples (1 sample = {100 / a['n_test']:.1f} pts), "
             f"{a.get('interval', 'Wilson score, 95%')} intervals"]
    for side in ("baseline", "slim"):
        if (a.get(side) or {}).get("training"):
            parts.append(f"{side}: {a[side]['training']}")
    return "; ".join(parts)


def markdown_table(header: list[str], rows: list[list[Any]] | list[tuple[Any, ...]]) -> str:
    def esc(v: Any) -> str:  # cells may quote files (layer names, notes, bench JSON): data, never Markdown
        return md(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(result: CompressResult, *, plots: list[str] = ()) -> str:
    """report.md: the summary, parity, recipe, data, environment, plots, notes."""
    d = result.to_dict()
    m, r, data, env = d["model"], d["recipe"], d["data"], d["environment"]
    parts = [
        f"# eegdeploy report: {md(m['name'])}",
        "",
        f"Architecture `{md_code(m['arch'])}`, input {md(m['input_shape'])}, {md(m['num_classes'])} classes. "
        f"Method **{md(r['method'])}** at ratio {md(r['ratio'])}, recovery **{md(r['recover'])}** "
        f"({r['epochs']} epochs), seed {r['seed']}. eegdeploy {d['eegdeploy_version']}.",
        "",
        "## Baseline vs slim",
        "",
        markdown_table(summary_header(result), summary_rows(result)),
        "",
        "Every figure above was measured in this run; latencies of baseline and slim were measured "
        "side by side (interleaved, same process, same threads). Sizes are in binary units (1 KiB = 1024 bytes).",
        "",
        *_accuracy_markdown(result),
        "## Verification",
        "",
        markdown_table(["check", "max abs difference"], [
            ["slim vs pruned (masked) model, PyTorch", f"{d['parity']['slim_vs_pruned_max_abs']:.3g}"],
            ["slim ONNX (onnxruntime) vs slim PyTorch", f"{d['parity']['onnx_vs_torch_max_abs']:.3g}"],
            *([["rewritten slim ONNX vs pruning-only slim ONNX (onnxruntime)",
                f"{d['parity']['rewritten_vs_pruned_onnx_max_abs']:.3g}"]]
              if "rewritten_vs_pruned_onnx_max_abs" in d["parity"] else []),
        ]),
        "",
    ]
    if result.rewrites is not None:
        from eegdeploy.rewrite.render import rewrites_markdown

        parts += ["## Rewrites", "",
                  "Exact rewrites of slim.onnx (`eegdeploy.rewrite`), decided chain by chain: every candidate form "
                  "is checked against the model before it and timed beside it (interleaved, lower quartile, at the "
                  "largest benchmark batch) or costed; a form is kept only where it is faster. "
                  + ("No chain was found." if not result.rewrites else ""), ""]
        if result.rewrites:
            parts += [rewrites_markdown(result.rewrites), ""]
    extras = d.get("extras", {})
    if extras.get("counting"):
        parts += ["## Counting", "", md(extras["counting"].get("convention", "")), "",
                  "`params` counts the PyTorch parameters, BatchNorm scales and shifts included. The exported ONNX "
                  "graph folds each BatchNorm into the convolution before it, so a parameter count read from the "
                  "ONNX file (`eegdeploy inspect slim.onnx`) is lower by those BatchNorm parameters.", ""]
        for stage in ("baseline", "slim"):
            c = extras["counting"].get(stage)
            if c and c.get("counters"):
                rows = [[name, _num(v.get("macs")), ", ".join(map(str, v.get("skipped") or [])) or v.get("note") or "-"]
                        for name, v in c["counters"].items()]
                parts += [f"{stage}:", "", markdown_table(["counter", "MACs", "operators skipped"], rows), ""]
                for warn in c.get("disagreements", []):
                    parts.append(f"- {md(warn)}")
                parts.append("")
    if extras.get("plan"):
        plan = extras["plan"]
        rows = [[g, plan["sizes"][g], len(k), plan["sizes"][g] - len(k)] for g, k in plan["keep"].items()]
        parts += ["## Pruning plan", "", markdown_table(["group (layer)", "channels", "kept", "removed"], rows), ""]
        if "pruned_layers" in extras:
            parts += [f"Pruned layers: {', '.join(f'`{n}`' for n in extras['pruned_layers']) or 'none'}.", ""]
        for note in plan.get("notes", []):
            parts.append(f"- {md(note)}")
        parts.append("")
    if extras.get("structure"):
        st = extras["structure"]
        rows = [[md(b["name"]), "kept" if b["kept"] else "dropped", f"{b['heads'][0]} -> {b['heads'][1]}",
                 f"{b['mlp'][0]} -> {b['mlp'][1]}"] for b in st["blocks"]]
        parts += ["## Transformer structure", "",
                  f"Embedding width {st['embedding'][0]} -> {st['embedding'][1]}; depth {st['depth'][0]} -> "
                  f"{st['depth'][1]} blocks.", "",
                  markdown_table(["block", "", "heads", "MLP width"], rows), ""]
    if extras.get("kg"):
        kg = extras["kg"]
        parts += ["## Knowledge-guided recovery", "",
                  f"Loss {md(kg['mode'])}-wise, region `{md_code(kg['region'])}`, weight {kg['weight']:g}, evidence "
                  f"from layer `{md_code(kg['layer'])}` (Grad-CAM). Share of evidence inside the region, on the test split:", "",
                  markdown_table(["model", "in-region evidence share", "test accuracy"], [
                      ["slim, before recovery", f"{kg['share_before']:.3f}", "-"],
                      ["plain recovery", f"{kg['plain']['share']:.3f}", _pct(kg["plain"]["accuracy"])],
                      ["knowledge-guided recovery (kept)", f"{kg['kg']['share']:.3f}", _pct(kg["kg"]["accuracy"])],
                  ]), "", f"Extra cost of the knowledge-guided loss: {1000 * kg['cost_per_batch_s']:.1f} ms per batch.", ""]
    if extras.get("training"):
        parts += ["## Training", ""]
        for name, t in extras["training"].items():
            parts.append(f"- {md(name)}: best validation accuracy {_pct(t.get('best_val_accuracy'))} at epoch "
                         f"{t.get('best_epoch')} of {t.get('epochs_run')}, {t.get('seconds', 0):.1f} s")
        parts.append("")
    if extras.get("notes"):
        parts += ["## Notes", ""]
    for note in extras.get("notes", []):
        parts.append(f"- {md(note)}")
    if extras.get("notes"):
        parts.append("")
    if plots:
        parts += ["## Plots", ""]
        parts += [f"![{p}]({p})" for p in plots]
        parts.append("")
    parts += [
        "## Data",
        "",
        f"Source `{md_code(data['source'])}`: {data['n_train']} train, {data['n_val']} validation, {data['n_test']} test samples.",
        "",
        "## Environment and timings",
        "",
        markdown_table(["item", "value"], [[k, v] for k, v in env.items()]),
        "",
        markdown_table(["stage", "seconds"], [[k, f"{v:.2f}"] for k, v in d["timings_s"].items()]),
        "",
        "Stage times in seconds; report.json's `timings_s` also holds the report stage, written after this file.",
        "",
    ]
    return "\n".join(parts)


def _accuracy_markdown(result: CompressResult) -> list[str]:
    a = result.extras.get("accuracy") or {}
    if not a.get("n_test"):
        return []
    data = f"**synthetic** EEG (`{a['data']}`)" if a.get("synthetic") else f"`{a['data']}`"
    rows = []
    for side in ("baseline", "slim"):
        c = context_from(a, side)
        if c:
            rows.append([side, c.short(), c.training or "-"])
    out = ["## Accuracy in context", "",
           f"Measured on the test split of {data}: {a['n_test']} samples, so one sample is "
           f"{100 / a['n_test']:.1f} points. Intervals: {a.get('interval', 'Wilson score, 95%')}.", "",
           markdown_table(["model", "test accuracy", "training it received"], rows), ""]
    if a.get("synthetic"):
        out += ["Synthetic data is generated EEG, not recordings: these accuracies check the pipeline, not how the "
                "model does on real EEG.", ""]
    if a.get("warning"):
        out += [f"**Warning**: {a['warning']}.", ""]
    return out
