"""Exact deployment rewrites of exported models: linear-chain reassociation and pool/activation order.

    from eegdeploy.rewrite import RewriteConfig, rewrite_onnx
    res = rewrite_onnx("slim.onnx", RewriteConfig(batch=64, threads=1))
    res.model  # bytes of the rewritten ONNX model; res.rewrites says what changed and what it bought

Works on the ONNX graph (what is deployed), needs only onnx, onnxruntime and numpy. See ``forms`` for the
chains and their exactness rules, ``choose`` for how a form is picked, ``stage`` for the verification.
"""

from __future__ import annotations

from eegdeploy.lazy import lazy_api


_API: dict[str, str] = {
    "Rewrite": "stage", "RewriteConfig": "stage", "RewriteResult": "stage", "rewrite_onnx": "stage",
    "Chain": "forms", "find_chains": "forms", "MONOTONIC": "forms", "Graph": "graph", "cost": "choose",
    "rewrites_table": "render", "rewrites_markdown": "render", "rewrites_rows": "render",
}

__all__ = sorted(_API)

__getattr__, __dir__ = lazy_api(__name__, {k: f"eegdeploy.rewrite.{v}" for k, v in _API.items()})
