"""Budgets every loader checks before it allocates, and parsers that cannot be driven into deep recursion.

A model or data file is data from someone else. Each loader compares what a file *declares* (layer widths,
parameter counts, zip member sizes, array shapes, ONNX input dims, nesting depth) with the limits below before it
allocates anything, and refuses with one line past them. The limits are generous for EEG: the largest shipped
profile model (ccnn-deap) has 6.2 M parameters.
docs/errors.md lists them (generated from ``LIMITS``).

This module imports nothing heavy (no torch, no numpy): the bench path uses it too.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable

from eegdeploy.errors import InputError

MAX_PARAMS = 32_000_000  # parameters + buffers of one model (128 MB as float32)
MAX_SAMPLE_ELEMENTS = 1 << 23  # values in one input sample / one activation of one sample (32 MB float32)
MAX_LIVE_ELEMENTS = 1 << 24  # values alive at once in a model's forward, per sample (64 MB float32)
MAX_FLOPS_PER_SAMPLE = 20_000_000_000  # 20 GFLOP per sample (EEG CNNs need < 1)
MAX_BATCH_ELEMENTS = 1 << 26  # values in one benchmark input batch (256 MB float32)
MAX_GRAPH_NODES = 20_000  # nodes in a slim.pt graph
MAX_NESTING = 64  # nesting depth of JSON / TOML / stored arguments
MAX_ITEMS = 1 << 19  # values visited in the nested structure of one model file (lists, dicts, numbers, strings)
MAX_ZIP_BYTES = 4 << 30  # uncompressed bytes of all members of one .pt / .npz
MAX_ZIP_RATIO = 100  # uncompressed / compressed for a compressed member past 16 MB
MAX_ZIP_MEMBERS = 100_000
MAX_PICKLE_ARRAY_BYTES = 2 << 30  # one DEAP subject file's arrays

LIMITS: dict[str, tuple[object, str]] = {
    "MAX_PARAMS": (MAX_PARAMS, "parameters and buffers of a model in a checkpoint or slim.pt"),
    "MAX_SAMPLE_ELEMENTS": (MAX_SAMPLE_ELEMENTS, "values in one input sample, and in one activation per sample"),
    "MAX_LIVE_ELEMENTS": (MAX_LIVE_ELEMENTS, "values alive at once in a slim.pt forward, per sample"),
    "MAX_FLOPS_PER_SAMPLE": (MAX_FLOPS_PER_SAMPLE, "FLOPs of one forward per sample"),
    "MAX_BATCH_ELEMENTS": (MAX_BATCH_ELEMENTS, "values in one input batch that `bench` allocates"),
    "MAX_GRAPH_NODES": (MAX_GRAPH_NODES, "nodes in a slim.pt graph"),
    "MAX_NESTING": (MAX_NESTING, "nesting depth of JSON, TOML and stored arguments"),
    "MAX_ITEMS": (MAX_ITEMS, "values in the nested structure of a checkpoint or slim.pt (shared lists counted per use)"),
    "MAX_ZIP_BYTES": (MAX_ZIP_BYTES, "uncompressed bytes of all members of a .pt or .npz"),
    "MAX_ZIP_RATIO": (MAX_ZIP_RATIO, "compression ratio of a compressed .pt/.npz member larger than 16 MB"),
    "MAX_PICKLE_ARRAY_BYTES": (MAX_PICKLE_ARRAY_BYTES, "bytes of the arrays in one DEAP .dat file"),
}


class BudgetError(InputError):
    """A file declares more than a loader's budget allows (see eegdeploy.limits)."""


def over(what: str, value: int | float, limit: int | float, where: str, fix: str) -> BudgetError:
    return BudgetError(f"{where}: {what} is {value:,}, over the limit of {limit:,}", fix=fix)


def check_zip(path: str | Path, where: str, *, total_limit: int = MAX_ZIP_BYTES) -> None:
    """Refuse a zip (.pt, .npz) whose members declare more than the budget, or compress suspiciously well.

    Only the central directory is read. Python's and PyTorch's zip readers stop at a member's declared size, so
    declared sizes bound what decompression can produce."""
    p = Path(path)
    try:
        if not zipfile.is_zipfile(p):
            return
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
    except (OSError, zipfile.BadZipFile, ValueError, EOFError):
        return  # the real reader reports the corruption in its own words
    if len(infos) > MAX_ZIP_MEMBERS:
        raise over("the number of zip members", len(infos), MAX_ZIP_MEMBERS, where, "give a file written by numpy/torch")
    total = 0
    for info in infos:
        total += info.file_size
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > (16 << 20) \
                and info.file_size > MAX_ZIP_RATIO * max(1, info.compress_size):
            raise BudgetError(f"{where}: member {clean_name(info.filename)!r} expands {info.compress_size:,} bytes "
                              f"to {info.file_size:,} (more than {MAX_ZIP_RATIO}x)",
                              fix="a compression bomb is refused; save it uncompressed (np.savez, torch.save)")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise BudgetError(f"{where}: member {clean_name(info.filename)!r} declares inconsistent sizes",
                              fix="give a file written by numpy or torch")
    if total > total_limit:
        raise over("the uncompressed size (bytes)", total, total_limit, where, "split the data into smaller files")


def clean_name(name: str) -> str:
    from eegdeploy.text import clean

    return clean(name)[:80]


def nesting_depth(obj: Any, limit: int = MAX_NESTING, max_items: int = MAX_ITEMS) -> int:
    """Depth of nested lists/tuples/dicts, stopping (and returning limit + 1) past ``limit``, or once ``max_items``
    values were visited (a pickle memo can share one list at every level: a few KB that fan out into 4096^k paths);
    iterative."""
    stack = [(obj, 1)]
    deepest = 0
    seen = 0
    while stack:
        o, d = stack.pop()
        seen += 1
        if seen > max_items:
            return limit + 1
        if isinstance(o, (list, tuple, dict)):
            if d > limit:
                return limit + 1
            deepest = max(deepest, d)
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return deepest


def text_depth(text: str) -> int:
    """Bracket nesting depth of JSON/TOML text outside strings (an upper bound on the parsed depth)."""
    depth = deepest = 0
    quote = ""
    escape = False
    for ch in text:
        if quote:
            if escape:
                escape = False
            elif ch == "\\" and quote == '"':
                escape = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
        elif ch == "#":
            pass
    return deepest


def parse_json(text: str, where: str, error: Callable[[str, str], Exception] | None = None) -> Any:
    """``json.loads`` that refuses nesting past MAX_NESTING with one line instead of a RecursionError."""
    make = error or (lambda m, f: InputError(m, fix=f))
    if text_depth(text) > MAX_NESTING:
        raise make(f"{where} nests deeper than {MAX_NESTING} levels", "give a file written by eegdeploy")
    try:
        return json.loads(text)
    except RecursionError:
        raise make(f"{where} nests too deeply", "give a file written by eegdeploy") from None


def check_npz(p: Path | str, where: str) -> None:
    """Before numpy allocates: member sizes within budget, and each array's header shape matching the bytes its
    member declares (numpy allocates from the header, then reads)."""
    import numpy as np

    p = Path(p)
    check_zip(p, where)
    try:
        with zipfile.ZipFile(p) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with z.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    shape, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                       else np.lib.format.read_array_header_2_0(f))
                    header = f.tell()
                need = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if need > MAX_ZIP_BYTES or need > info.file_size - header + 64:
                    raise BudgetError(f"{where}: array {info.filename[:-4][:40]!r} declares shape {list(shape)[:8]} "
                                      f"({need:,} bytes) but its member holds {info.file_size:,} bytes",
                                      fix="save it with numpy.savez")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, TypeError):
        return  # np.load reports it in its own words
