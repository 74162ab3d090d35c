import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from eegdeploy.bench import BenchConfig, benchmark_onnx, compare_latency, count, nonzero_params
from eegdeploy.bench.devices import load_device
from eegdeploy.errors import ConfigError, InputError
from eegdeploy.report.merge import merge_reports

ROOT = Path(__file__).resolve().parents[2]


def test_count_exact_macs_for_hand_computed_layers():
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1),  # out 4x4x4 = 64 outputs, 2*9 MACs each
        nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 8, (1, 3), groups=4, dilation=(1, 2), padding=(0, 2)),  # 8x4x4 out, 1*3 MACs each
        nn.Flatten(), nn.Linear(128, 5))
    c = count(model.eval(), torch.zeros(1, 2, 8, 8))
    assert c.macs == 64 * 18 + 128 * 3 + 128 * 5
    assert c.params == sum(p.numel() for p in model.parameters())
    # FLOPs: 2*MACs + conv1 bias 64 + BN 2*64 + ReLU 64 + conv2 bias 128 + linear bias 5
    assert c.flops == 2 * c.macs + 64 + 128 + 64 + 128 + 5
    assert c.counters["torch"]["macs"] == c.macs
    assert "MACs" in c.convention


class _Attention(nn.Module):
    """Single-head attention over 5 tokens of width 8, written with the operators models use."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24, bias=False)
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, -1)
        a = (q @ k.transpose(-1, -2)).softmax(-1)  # 5x5 scores, 8 MACs each
        y = torch.matmul(a, v)  # 5x8 outputs, 5 MACs each
        y = y + nn.functional.scaled_dot_product_attention(y, y, y)  # 5x5x8 twice
        y = y + self.mha(y, y, y)[0]  # 4 projections 5x8x8, scores 5x5x8, values 5x5x8
        z = torch.einsum("bnd,bnd->bn", y, y)  # 5x8
        return self.out(y.mean(1)) + z.sum(1, keepdim=True)


def test_count_includes_attention_products_in_every_written_form():
    c = count(_Attention().eval(), torch.zeros(1, 5, 8))
    linear = 5 * 24 * 8 + 3 * 8
    products = 5 * 5 * 8 + 5 * 8 * 5 + 2 * 5 * 5 * 8 + 5 * 8
    mha = 4 * 5 * 8 * 8 + 2 * 5 * 5 * 8
    assert c.macs == linear + products + mha
    assert c.per_layer["mha"] == mha and c.per_layer["qkv"] == 5 * 24 * 8
    assert c.skipped_ops == []


def test_count_of_an_aten_graph_equals_the_module_count():
    from eegdeploy.models.aten import from_aten, to_aten

    model = _Attention().eval()
    x = torch.randn(2, 5, 8)
    graph = from_aten(to_aten(model, x))
    assert count(graph, x, cross_check=False).macs == count(model, x, cross_check=False).macs


def test_count_flags_disagreement_of_a_counter_that_skips_subclassed_convs():
    class MyConv(nn.Conv2d):  # thop does not count subclasses of nn.Conv2d
        pass

    model = nn.Sequential(MyConv(1, 8, 3), nn.Flatten(), nn.Linear(8 * 36, 2)).eval()
    c = count(model, torch.zeros(1, 1, 8, 8))
    assert c.macs == 8 * 36 * 9 + 8 * 36 * 2
    # thop skips the subclassed conv, so it sees only the linear layer's 8*36*2 MACs: a disagreement to flag
    assert c.counters["thop"]["macs"] == 8 * 36 * 2
    assert any("thop" in d for d in c.disagreements)


def test_nonzero_params():
    m = nn.Linear(4, 2)
    with torch.no_grad():
        m.weight[0] = 0
    assert nonzero_params(m) == 4 + 2


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    from eegdeploy.export import ExportConfig, export_onnx

    d = tmp_path_factory.mktemp("onnx")
    big = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(16 * 64, 2)).eval()
    small = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 64, 2)).eval()
    x = torch.zeros(1, 1, 8, 8)
    export_onnx(big, d / "big.onnx", ExportConfig(), example=x, metadata={"eegdeploy.input_shape": "batch,1,8,8"})
    export_onnx(small, d / "small.onnx", ExportConfig(), example=x, metadata={})
    return d, big, small


def test_benchmark_onnx_structure(tiny_onnx):
    d, _, _ = tiny_onnx
    r = benchmark_onnx(d / "big.onnx", BenchConfig(batches=(1, 4), iters=3, warmup=1))
    assert set(r.latency_ms) == {"ort-cpu"} and set(r.latency_ms["ort-cpu"]) == {"1", "4"}
    s = r.latency_ms["ort-cpu"]["4"]
    assert s["n"] == 3 and s["p50"] <= s["p90"] <= s["p99"] and s["throughput_per_s"] > 0



@pytest.mark.skipif(__import__("onnxruntime").get_device() == "GPU", reason="checks the skip path on a CPU-only build")
def test_benchmark_onnx_on_cuda_without_a_gpu_is_skipped_with_a_note(tiny_onnx):
    d, _, _ = tiny_onnx
    cuda = benchmark_onnx(d / "big.onnx", BenchConfig(batches=(1,), iters=2, device="cuda"))
    assert cuda.latency_ms == {} and "skipped" in cuda.notes[0]


def test_compare_latency_interleaves_both_models(tiny_onnx):
    d, big, small = tiny_onnx
    a, b = compare_latency(baseline=(big, d / "big.onnx"), slim=(small, d / "small.onnx"),
                           example=torch.zeros(1, 1, 8, 8), batches=(2,), iters=4, warmup=1,
                           runtimes=("ort-cpu", "torch-cpu", "torch-cuda"))
    for res in (a, b):
        assert res.latency_ms["ort-cpu"]["2"]["n"] == 4 and res.latency_ms["torch-cpu"]["2"]["n"] == 4
    assert torch.cuda.is_available() or any("torch-cuda skipped" in n for n in a.notes)


def test_compare_many_times_an_onnx_only_candidate_in_onnxruntime_only(tiny_onnx):
    from eegdeploy.bench import compare_many

    d, big, small = tiny_onnx
    base, int8 = compare_many([(big, d / "big.onnx"), (None, d / "small.onnx")], example=torch.zeros(1, 1, 8, 8),
                              batches=(2,), iters=3, warmup=1, runtimes=("ort-cpu", "torch-cpu"))
    assert set(base.latency_ms) == {"ort-cpu", "torch-cpu"}
    assert set(int8.latency_ms) == {"ort-cpu"} and int8.latency_ms["ort-cpu"]["2"]["n"] == 3


def test_bench_onnx_imports_no_torch(tiny_onnx, tmp_path):
    """The target-device path: with torch unimportable, `eegdeploy bench x.onnx --json` still works."""
    d, _, _ = tiny_onnx
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "torch.py").write_text("raise ImportError('torch is blocked in this test')\n")
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{ROOT}"}
    out = tmp_path / "b.json"
    res = subprocess.run([sys.executable, "-m", "eegdeploy", "bench", str(d / "big.onnx"), "--iters", "3",
                          "--batch", "1,2", "--json", str(out)], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert data["environment"]["torch"] is None and set(data["latency_ms"]["ort-cpu"]) == {"1", "2"}


def test_device_profiles():
    assert load_device("cpu-1t").threads == 1
    assert load_device("cpu-all").threads == (os.cpu_count() or 1)
    assert load_device("rpi4").batches == (1, 8)
    with pytest.raises(ConfigError, match="cpu-1t"):
        load_device("toaster")


def test_bad_device_profile_file(tmp_path):
    p = tmp_path / "x.toml"
    p.write_text("threads = [oops\n")
    with pytest.raises(ConfigError, match="x.toml"):
        load_device(str(p))


def test_report_merge_two_thread_settings(tmp_path):
    def bench_json(path, threads, p50):
        lat = {"ort-cpu": {"1": {"p50": p50, "p90": p50 * 1.1, "p99": p50 * 1.2, "throughput_per_s": 1000 / p50}}}
        path.write_text(json.dumps({"kind": "eegdeploy-bench", "file": "slim.onnx", "device_profile": "default",
                                    "environment": {"cpu": "X", "threads": threads}, "latency_ms": lat}))
        return path

    rows = merge_reports([bench_json(tmp_path / "a.json", 1, 2.0), bench_json(tmp_path / "b.json", 4, 0.5)])
    assert rows == [["slim.onnx", "X", 1, "ort-cpu", 1, "2.000", "2.200", "2.400", "500"],
                    ["slim.onnx", "X", 4, "ort-cpu", 1, "0.500", "0.550", "0.600", "2000"]]
    (tmp_path / "c.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="not a JSON object"):
        merge_reports([tmp_path / "c.json"])
