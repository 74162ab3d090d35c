"""Each size bomb is refused before allocation: one child process loads them all through the library and its
peak memory (VmHWM) stays under 500 MB. Time per refusal is printed by the child, not asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability import bombs

ROOT = Path(__file__).resolve().parents[2]

CHILD = r'''
import json, resource, sys, time
from pathlib import Path
from eegdeploy.config import load_profile
from eegdeploy.errors import EegDeployError
from eegdeploy.models import load_model
from eegdeploy.data import load_data
files = json.loads(sys.argv[1])
prof = load_profile("eegnet-deap")
calls = {
    "slim_layer": lambda p: load_model(p),
    "slim_repeat": lambda p: load_model(p),
    "slim_aten_repeat": lambda p: load_model(p),
    "slim_aten_fanout": lambda p: load_model(p),
    "pt_zip": lambda p: load_model(p, profile="ccnn-deap"),
    "npz": lambda p: load_data(p, prof, seed=0),
    "npz_header": lambda p: load_data(p, prof, seed=0),
    "deap": lambda p: load_data("deap:" + p, prof, seed=0),
    "onnx": lambda p: __import__("eegdeploy.bench.onnx_runner", fromlist=["x"]).benchmark_onnx(
        p, __import__("eegdeploy.bench.onnx_runner", fromlist=["x"]).BenchConfig(iters=1, warmup=0)),
    "toml": lambda p: load_profile(p),
}
out = {}
for name, path in files.items():
    t = time.perf_counter()
    try:
        calls[name](path)
        out[name] = ["loaded", 0.0]
    except EegDeployError as err:
        out[name] = [str(err), time.perf_counter() - t]
# VmHWM: this process's own peak RSS (ru_maxrss after fork+exec would include the parent's)
out["maxrss_kib"] = int([l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM")][0])
print(json.dumps(out))
'''

EXPECT = {"slim_layer": "parameter count", "slim_repeat": "activation", "slim_aten_repeat": "activation",
          "slim_aten_fanout": "holds more than", "pt_zip": "expands", "npz": "expands",
          "npz_header": "declares shape", "deap": "not a numeric array", "onnx": "input sample size",
          "toml": "nests deeper"}


@pytest.mark.slow  # one child process measuring peak memory; the catalog's bomb rows refuse each in-process (fast tier)
def test_every_size_bomb_is_refused_under_500_mb(tmp_path):
    makers = {"slim_layer": bombs.slim_layer_bomb, "slim_repeat": bombs.slim_repeat_bomb,
              "slim_aten_repeat": bombs.slim_aten_repeat_bomb, "slim_aten_fanout": bombs.slim_aten_fanout_bomb, "pt_zip": bombs.pt_zip_bomb,
              "npz": bombs.npz_bomb, "npz_header": bombs.npz_header_bomb, "deap": bombs.deap_memo_bomb,
              "onnx": bombs.onnx_dims_bomb, "toml": bombs.deep_toml}
    files = {}
    for name, make in makers.items():
        d = tmp_path / name
        d.mkdir()
        p = make(d)
        size = sum(f.stat().st_size for f in p.rglob("*")) if p.is_dir() else p.stat().st_size
        assert size < 3_000_000, (name, size)  # small files...
        files[name] = str(p)
    res = subprocess.run([sys.executable, "-c", CHILD, json.dumps(files)], capture_output=True, text=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
                         timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    for name, words in EXPECT.items():
        assert words in out[name][0], (name, out[name])
    print({k: round(v[1], 3) for k, v in out.items() if isinstance(v, list)})
    assert out["maxrss_kib"] < 500 * 1024  # ...refused with peak memory under 500 MB
