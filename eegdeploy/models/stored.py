"""Reading the stored arguments of a slim.pt graph: the one decoder both slim.pt kinds use.

A slim.pt graph (``portable`` for torch.fx-traced models, ``aten`` for torch.export graphs) stores each step's
arguments as plain data: numbers, short strings, lists, and one-key dicts naming a kind (``{"tuple": [...]}``,
``{"node": "conv1"}``, ``{"dtype": "float32"}``, ...). ``ArgDecoder`` turns them back into values; an earlier
step's output is only ever reached through a ``Ref`` position, never by name. Everything a crafted file could use
to grow or escape is bounded here once: nesting depth, the total number of values (a pickle memo can share one
list many times, so a few KB would otherwise fan out into billions of visits), list and string lengths, integer
range, keyword names. What differs between the kinds (which dtypes, which extra kinds) is passed in.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping

import torch.nn as nn

from eegdeploy.errors import CheckpointError
from eegdeploy.limits import MAX_NESTING
from eegdeploy.text import clean

FIX = "re-export the model with eegdeploy compress"
MAX_ARG_VALUES = 1 << 18  # values in all stored arguments of one file
MAX_LIST = 4096
MAX_STRING = 256
MAX_KWARGS = 64
MAX_INT = 1 << 40
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")  # an ASCII identifier of at most 64 characters
PART = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]{0,63}|[0-9]{1,6})\Z")  # one part of a dotted module path


def bad(msg: str) -> CheckpointError:
    """The one error a malformed slim.pt gets: names what is wrong, says to re-export."""
    return CheckpointError(f"slim.pt {msg}", fix=FIX)


def check_path(qual: Any, what: str) -> list[str]:
    """The parts of a dotted attribute path (``blocks.0.conv``): public identifiers or indices, nothing else."""
    parts = qual.split(".") if isinstance(qual, str) and 0 < len(qual) <= 256 else [""]
    if not all(PART.match(p) and not p.startswith("_") for p in parts):
        raise bad(f"names a {what} {clean(qual, max_len=60)!r} that is not a plain attribute path")
    return parts


class Ref:
    """The value of an earlier graph node (by position): the only way a stored argument reaches a value."""

    __slots__ = ("i",)

    def __init__(self, i: int) -> None:
        self.i = i


def kwarg(k: Any) -> str:
    """A keyword argument name: a plain public identifier, never ``out`` (no writing into a caller's tensor)."""
    if not (isinstance(k, str) and KEY.match(k)) or k.startswith("_") or k == "out":
        raise bad(f"uses a keyword argument name {clean(k, max_len=40)!r} that is not allowed")
    return k


class ArgDecoder:
    """Stored arguments -> values; one instance per file, so the value count covers the whole file.

    ``dtype`` resolves a ``{"dtype": name}`` entry (raising ``bad`` for a name outside the kind's whitelist);
    ``kinds`` maps further one-key kinds to ``(decoder, value, depth) -> value``; ``int_ends`` are integers
    allowed beyond the range bound (torch.export's "to the end" slice bounds)."""

    def __init__(self, dtype: Callable[[Any], Any],
                 kinds: Mapping[str, Callable[["ArgDecoder", Any, Mapping[str, int], int], Any]] | None = None,
                 int_ends: tuple[int, ...] = ()) -> None:
        self.items = 0
        self.dtype = dtype
        self.kinds = dict(kinds or {})
        self.int_ends = int_ends

    def __call__(self, v: Any, index: Mapping[str, int], depth: int = 0) -> Any:
        self.items += 1
        if self.items > MAX_ARG_VALUES:
            raise bad(f"holds more than {MAX_ARG_VALUES:,} argument values")
        if depth > MAX_NESTING:
            raise bad("nests arguments too deeply")
        if v is None or isinstance(v, (bool, float)):
            return v
        if isinstance(v, int):
            if abs(v) > MAX_INT and v not in self.int_ends:
                raise bad(f"holds an integer argument out of range ({v})")
            return v
        if isinstance(v, str):
            if len(v) > MAX_STRING:
                raise bad(f"holds a string argument longer than {MAX_STRING} characters")
            return v
        if isinstance(v, list):
            if len(v) > MAX_LIST:
                raise bad(f"holds a list argument longer than {MAX_LIST} items")
            return [self(x, index, depth + 1) for x in v]
        if isinstance(v, dict) and len(v) == 1:
            (kind, x), = v.items()
            if kind == "tuple" and isinstance(x, list):
                return tuple(self(x, index, depth))
            if kind == "node":
                if not isinstance(x, str) or x not in index:
                    raise bad(f"refers to node {clean(x, max_len=40)!r} before it is defined")
                return Ref(index[x])
            if kind == "dtype":
                return self.dtype(x)
            if kind == "dict" and isinstance(x, dict):
                if len(x) > MAX_KWARGS:
                    raise bad("holds too many keyword arguments")
                return {kwarg(k): self(e, index, depth + 1) for k, e in x.items()}
            if kind in self.kinds:
                return self.kinds[kind](self, x, index, depth)
        raise bad("holds an argument of an unknown kind")


def fill(v: Any, vals: list[Any]) -> Any:
    """``v`` with every ``Ref`` replaced by the value it points at."""
    if isinstance(v, Ref):
        return vals[v.i]
    if isinstance(v, list):
        return [fill(x, vals) for x in v]
    if isinstance(v, tuple):
        return tuple(fill(x, vals) for x in v)
    if isinstance(v, dict):
        return {k: fill(x, vals) for k, x in v.items()}
    if isinstance(v, slice):
        return slice(fill(v.start, vals), fill(v.stop, vals), fill(v.step, vals))
    return v


def refs(v: Any) -> list[int]:
    """The positions of the nodes ``v`` reads."""
    if isinstance(v, Ref):
        return [v.i]
    if isinstance(v, (list, tuple)):
        return [i for x in v for i in refs(x)]
    if isinstance(v, dict):
        return [i for x in v.values() for i in refs(x)]
    if isinstance(v, slice):
        return refs([v.start, v.stop, v.step])
    return []


def adopt(module: nn.Module, root: nn.Module) -> None:
    """Give ``module`` the layers, parameters and buffers built under ``root`` (under the same names)."""
    for name, child in root.named_children():
        module.add_module(name, child)
    for name, t in root.named_parameters(recurse=False):
        module.register_parameter(name, t)
    for name, t in root.named_buffers(recurse=False):
        module.register_buffer(name, t, persistent=name not in root._non_persistent_buffers_set)


def free_after(steps: list[tuple[str, Any, Any, Any]]) -> list[list[int]]:
    """For each step, the earlier values nothing reads after it (so an interpreter can drop them there)."""
    last = list(range(len(steps)))
    for i, (_, _, a, kw) in enumerate(steps):
        for j in refs(a) + refs(kw):
            last[j] = i
    out: list[list[int]] = [[] for _ in steps]
    for j, i in enumerate(last):
        if steps[j][0] != "output":
            out[i].append(j)
    return out
