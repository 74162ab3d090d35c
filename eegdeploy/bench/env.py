"""The machine a measurement ran on (no torch import unless torch is already installed and asked for)."""

from __future__ import annotations

import os
import platform
from typing import Any


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def gpu_name(*, with_torch: bool = True) -> str | None:
    if with_torch:
        try:
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(0)
        except ImportError:
            pass
    return None


def ort_providers() -> list[str]:
    try:
        import onnxruntime as ort

        return list(ort.get_available_providers())
    except ImportError:
        return []


def environment(threads: int, *, with_torch: bool = True) -> dict[str, Any]:
    """cpu, cores, threads, library versions, ORT providers and the GPU (None when there is none)."""
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "threads": int(threads),
        "python": platform.python_version(),
        "torch": _version("torch") if with_torch else None,
        "onnxruntime": _version("onnxruntime"),
        "ort_providers": ort_providers(),
        "gpu": gpu_name(with_torch=with_torch),
        "platform": platform.platform(),
    }
