"""Public names that load on first use, so importing a package never pulls in torch or onnx before it must.

    __getattr__, __dir__ = lazy_api(__name__, {"export_onnx": "eegdeploy.export.onnx_export", ...})

A name resolves by importing its module once; the value is then cached in the package's namespace.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable, Mapping

__all__ = ["lazy_api"]


def lazy_api(package: str, api: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``; ``api`` maps each name to its module."""

    def __getattr__(name: str) -> Any:
        if name in api:
            value = getattr(importlib.import_module(api[name]), name)
            setattr(sys.modules[package], name, value)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(api))

    return __getattr__, __dir__
