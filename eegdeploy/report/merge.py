"""One table across devices and models from several bench JSON files and/or compress report.json files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eegdeploy.errors import InputError
from eegdeploy.limits import parse_json
from eegdeploy.report.render import markdown_table
from eegdeploy.text import clean, md_code

COLUMNS = ["model", "cpu / device", "threads", "runtime", "batch", "p50 ms", "p90 ms", "p99 ms", "samples/s"]


def _plain_int(v: Any) -> Any:
    return v if isinstance(v, int) and not isinstance(v, bool) else clean(v, max_len=20)


def label_from_metadata(meta: dict[str, Any], fallback: str) -> str:
    """A row label from an ONNX file's eegdeploy metadata: model, stage and recipe, e.g.
    ``eegnet-bci (slim, nsfp 0.5 finetune)``; ``fallback`` (the file name) when the file has none."""
    model = meta.get("eegdeploy.model")
    if not model:
        return fallback
    recipe = dict(kv.split("=", 1) for kv in str(meta.get("eegdeploy.recipe", "")).split() if "=" in kv)
    stage = meta.get("eegdeploy.stage", "")
    parts = [stage] if stage else []
    if recipe and stage != "baseline":
        parts.append(" ".join(v for v in (recipe.get("method"), recipe.get("ratio"), recipe.get("recover")) if v))
    return f"{model} ({', '.join(parts)})" if parts else str(model)


def _rows_from(path: Path, d: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []

    def add(model: str, env: dict[str, Any], device: str, latency: dict[str, Any]) -> None:
        for runtime, per_batch in latency.items():
            for b, s in sorted(per_batch.items(), key=lambda kv: int(kv[0])):
                thr = s.get("throughput_per_s") or (int(b) * 1000.0 / s["p50"] if s["p50"] else 0.0)
                # strings from the JSON files are data: cleaned here, escaped by each renderer
                rows.append([clean(model, max_len=120), clean(device or env.get("cpu", "?"), max_len=120),
                             _plain_int(env.get("threads", "?")), clean(runtime, max_len=40), int(b),
                             f"{float(s['p50']):.3f}", f"{float(s['p90']):.3f}", f"{float(s['p99']):.3f}",
                             f"{float(thr):.0f}"])

    if d.get("kind") == "eegdeploy-bench":
        env = d.get("environment", {})
        dev = d.get("device_profile", "")
        name = d.get("label") or label_from_metadata(d.get("metadata") or {}, Path(str(d.get("file", path))).name)
        add(name, env, f"{env.get('cpu', '?')}" + (f" [{dev}]" if dev not in ("", "default") else ""),
            d.get("latency_ms", {}))
    elif d.get("schema") == 1:
        env = d.get("environment", {})
        name = d.get("model", {}).get("name", path.parent.name)
        for stage in ("baseline", "slim"):
            add(f"{name} ({stage})", env, env.get("cpu", "?"), d.get(stage, {}).get("latency_ms", {}))
    else:
        raise InputError(f"{str(path)!r} is neither an 'eegdeploy bench --json' file nor a compress report.json",
                         fix="merge files written by eegdeploy bench --json or eegdeploy compress")
    return rows


def merge_reports(paths: list[str | Path]) -> list[list[Any]]:
    """One row per model, device, runtime and batch; rows that would look identical (two files with the same
    label) get the file they came from appended, so they stay apart."""
    rows: list[list[Any]] = []
    origin: list[str] = []
    for p in map(Path, paths):
        if not p.is_file():
            raise InputError(f"{str(p)!r} does not exist", fix="check the path")
        try:
            d = parse_json(p.read_text(encoding="utf-8"), repr(str(p)))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"{str(p)!r} is not JSON ({type(err).__name__})", fix="give bench or report JSON files") from None
        if not isinstance(d, dict):
            raise InputError(f"{str(p)!r} is not a JSON object", fix="give bench or report JSON files")
        try:
            new = _rows_from(p, d)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise InputError(f"{str(p)!r} is malformed ({type(err).__name__}: {err})",
                             fix="regenerate it with eegdeploy bench --json") from None
        rows += new
        origin += [str(p)] * len(new)
    key = lambda r: (r[0], r[1], r[2], r[3], r[4])  # noqa: E731 - model, device, threads, runtime, batch
    seen: dict[tuple, set[str]] = {}
    for r, o in zip(rows, origin):
        seen.setdefault(key(r), set()).add(o)
    for r, o in zip(rows, origin):
        if len(seen[key(r)]) > 1:
            r[0] = clean(f"{r[0]} [{o}]", max_len=240)
    return rows


def merged_markdown(paths: list[str | Path]) -> str:
    rows = merge_reports(paths)
    sources = "\n".join(f"- `{md_code(p)}`" for p in paths)
    return f"# Latency across devices and models\n\nMerged from:\n{sources}\n\n{markdown_table(COLUMNS, rows)}\n"
