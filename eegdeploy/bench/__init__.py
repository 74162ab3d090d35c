"""Benchmarks: counting (params, MACs, FLOPs) and latency in onnxruntime and PyTorch.

Importing this package does not import torch: ``benchmark_onnx`` runs with only onnxruntime, numpy and rich
(``pip install eegdeploy[bench]`` on a target device). Torch-based parts load on first use.
"""

from __future__ import annotations

from eegdeploy.bench.env import cpu_name, environment
from eegdeploy.bench.onnx_runner import RUNTIMES, BenchConfig, LatencyResult, benchmark_onnx
from eegdeploy.lazy import lazy_api

__all__ = ["RUNTIMES", "BenchConfig", "CountResult", "LatencyResult", "benchmark_onnx", "benchmark_torch",
           "compare_latency", "compare_many", "count", "cpu_name", "environment", "nonzero_params"]

_LAZY = {"count": "counting", "CountResult": "counting", "nonzero_params": "counting", "benchmark_torch": "torch_runner",
         "compare_latency": "torch_runner", "compare_many": "torch_runner"}

__getattr__, __dir__ = lazy_api(__name__, {k: f"eegdeploy.bench.{v}" for k, v in _LAZY.items()})
