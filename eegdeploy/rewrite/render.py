"""Renderers for a :class:`RewriteResult`: a Rich table and Markdown rows (one per chain decided)."""

from __future__ import annotations

from typing import Any

__all__ = ["rewrites_markdown", "rewrites_rows", "rewrites_table"]


def rewrites_rows(rewrites: list[Any]) -> list[list[str]]:
    """chain kind, layers, form chosen, each candidate's figure, gain: plain strings."""
    rows = []
    for r in rewrites:
        d = r if isinstance(r, dict) else r.to_dict()
        unit = d.get("unit", "ms")
        fmt = (lambda v: f"{v:.3f} {unit}") if unit in ("ms", "cpu-ms") else (lambda v: f"{v:.3g}")
        cands = ", ".join(f"{k} {fmt(v)}" for k, v in d.get("candidates", {}).items())
        rows.append([d["kind"], " → ".join(d["layers"]), d["form"], cands or "-", f"{d['gain']:.2f}x"])
    return rows


def rewrites_table(rewrites: list[Any], title: str = "rewrites") -> Any:
    from rich.table import Table

    t = Table(title=title)
    for col in ("chain", "layers", "form", "candidates", "gain"):
        t.add_column(col, justify="right" if col == "gain" else "left")
    for row in rewrites_rows(rewrites):
        t.add_row(*row)
    return t


def rewrites_markdown(rewrites: list[Any]) -> str:
    lines = ["| chain | layers | form | candidates | gain |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rewrites_rows(rewrites)]
    return "\n".join(lines)
