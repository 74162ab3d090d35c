"""A thin, mutable view of an ONNX graph: constants as numpy arrays, producers and consumers, node attributes.

The rewrite stage edits ONNX graphs (the form that is deployed) rather than PyTorch modules, so every rewrite
applies to any exported model, pruned or not, and is timed in the runtime that will run it. Torch-free.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ConvAttrs", "Graph", "conv_attrs"]


@dataclass(frozen=True)
class ConvAttrs:
    """A 2-D Conv's geometry (ONNX defaults filled in). ``pads`` is (top, left, bottom, right)."""

    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    pads: tuple[int, int, int, int]
    group: int


def attr_dict(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def conv_attrs(node: Any, weight: np.ndarray) -> ConvAttrs | None:
    """The geometry of a 2-D Conv, or None when it is not a plain 2-D conv (auto_pad, other ranks)."""
    a = attr_dict(node)
    if weight.ndim != 4 or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    kernel = tuple(a.get("kernel_shape", weight.shape[2:]))
    return ConvAttrs(kernel=(int(kernel[0]), int(kernel[1])),
                     strides=tuple(int(v) for v in a.get("strides", (1, 1))),  # type: ignore[arg-type]
                     dilations=tuple(int(v) for v in a.get("dilations", (1, 1))),  # type: ignore[arg-type]
                     pads=tuple(int(v) for v in a.get("pads", (0, 0, 0, 0))),  # type: ignore[arg-type]
                     group=int(a.get("group", 1)))


class Graph:
    """Mutable helper over a ``ModelProto`` copy. Node names are made unique so rewrites can name layers."""

    def __init__(self, model: Any) -> None:
        self.model = copy.deepcopy(model)
        self.g = self.model.graph
        seen: set[str] = set()
        for i, n in enumerate(self.g.node):
            if not n.name or n.name in seen:
                n.name = f"{n.op_type}_{i}"
            seen.add(n.name)
        self._fresh = 0
        self._shapes: dict[str, list[int]] | None = None

    # -- lookups ---------------------------------------------------------------------------------------------
    def node(self, name: str) -> Any:
        for n in self.g.node:
            if n.name == name:
                return n
        raise KeyError(name)

    def consumers(self, tensor: str) -> list[Any]:
        return [n for n in self.g.node if tensor in n.input]

    def is_output(self, tensor: str) -> bool:
        return any(o.name == tensor for o in self.g.output)

    def only_consumer(self, tensor: str) -> Any | None:
        """The single node reading ``tensor``, or None when it fans out or is a graph output."""
        users = self.consumers(tensor)
        return users[0] if len(users) == 1 and not self.is_output(tensor) else None

    def const(self, name: str) -> np.ndarray | None:
        from onnx import numpy_helper

        if not name:
            return None
        for init in self.g.initializer:
            if init.name == name:
                return numpy_helper.to_array(init)
        for n in self.g.node:
            if n.op_type == "Constant" and n.output and n.output[0] == name:
                v = attr_dict(n).get("value")
                return None if v is None else numpy_helper.to_array(v)
        return None

    def shape(self, tensor: str) -> list[int] | None:
        """The inferred shape of ``tensor`` with the batch axis as -1 (onnx shape inference), or None if unknown."""
        if self._shapes is None:
            import onnx

            m = copy.deepcopy(self.model)
            try:
                m = onnx.shape_inference.infer_shapes(m)
            except Exception:  # shape inference is a help here, never a requirement
                self._shapes = {}
                return None
            self._shapes = {}
            for v in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
                if v.type.tensor_type.HasField("shape"):
                    self._shapes[v.name] = [d.dim_value if d.HasField("dim_value") else -1
                                            for d in v.type.tensor_type.shape.dim]
        return self._shapes.get(tensor)

    # -- edits -----------------------------------------------------------------------------------------------
    def add_const(self, stem: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self._fresh += 1
        name = f"{stem}__rw{self._fresh}"
        self.g.initializer.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=np.float32), name))
        return name

    def fresh_tensor(self, stem: str) -> str:
        self._fresh += 1
        return f"{stem}__rw{self._fresh}"

    def replace(self, old: list[Any], new: list[Any]) -> None:
        """Put ``new`` where the first of ``old`` stood (keeps topological order), drop ``old``."""
        names = {n.name for n in old}
        at = min(i for i, n in enumerate(self.g.node) if n.name in names)
        kept = [n for n in self.g.node if n.name not in names]
        before = [n for n in kept if self._index(n) < at]
        after = [n for n in kept if self._index(n) > at]
        self._set_nodes(before + new + after)
        self.prune_initializers()

    def _index(self, n: Any) -> int:
        for i, m in enumerate(self.g.node):
            if m.name == n.name:
                return i
        return -1

    def _set_nodes(self, nodes: list[Any]) -> None:
        self._shapes = None
        nodes = [copy.deepcopy(n) for n in nodes]
        del self.g.node[:]
        self.g.node.extend(nodes)

    def prune_initializers(self) -> None:
        used = {i for n in self.g.node for i in n.input}
        keep = [t for t in self.g.initializer if t.name in used]
        if len(keep) != len(self.g.initializer):
            del self.g.initializer[:]
            self.g.initializer.extend(keep)

    def to_bytes(self) -> bytes:
        return self.model.SerializeToString()
