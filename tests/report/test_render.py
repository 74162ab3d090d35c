from __future__ import annotations

import io

from rich.console import Console

from eegdeploy.report.render import to_markdown, to_table
from eegdeploy.report.schema import CompressResult, StageFigures, validate_report


def _lat(p50: float) -> dict:
    return {"ort-cpu": {"1": {"p50": p50 / 10, "p90": p50 / 9, "p99": p50 / 8},
                        "64": {"p50": p50, "p90": p50 * 1.1, "p99": p50 * 1.2}}}


def make_result() -> CompressResult:
    return CompressResult(
        eegdeploy_version="0.1.0",
        model={"name": "ccnn-deap", "arch": "torcheeg:CCNN", "input_shape": [4, 9, 9], "num_classes": 2},
        recipe={"method": "lfp", "ratio": 0.5, "recover": "finetune", "epochs": 3, "seed": 0},
        data={"source": "synthetic:ccnn-deap", "n_train": 700, "n_val": 150, "n_test": 150},
        baseline=StageFigures(6_233_602, 80_000_000, 160_000_000, 0.85, 24_000_000, _lat(60.0)),
        slim=StageFigures(1_600_000, 20_000_000, 40_000_000, 0.84, 6_000_000, _lat(15.0)),
        parity={"slim_vs_pruned_max_abs": 1e-7, "onnx_vs_torch_max_abs": 2e-6},
        timings_s={"baseline": 1.0},
        environment={"cpu": "x", "threads": 1, "torch": "2.13.0", "onnxruntime": "1.32.0", "gpu": None},
    )


def test_report_dict_follows_schema_1() -> None:
    d = make_result().to_dict()
    assert d["schema"] == 1
    assert validate_report(d) == []
    d["baseline"]["latency_ms"]["tvm-cpu"] = {}
    assert validate_report(d) == ["baseline.latency_ms: unknown runtime 'tvm-cpu'"]


def test_terminal_table_shows_ratios() -> None:
    buf = io.StringIO()
    Console(file=buf, width=100, color_system=None).print(to_table(make_result()))
    text = buf.getvalue()
    assert "ccnn-deap: lfp ratio 0.5, recover finetune (1 thread(s))" in text
    assert "0.25x (75.0% less)" in text  # MACs
    assert "4.00x faster" in text  # ort-cpu batch 64: 60 ms -> 15 ms
    assert "-1.0 pts" in text  # accuracy 85% -> 84%


def test_markdown_has_tables_and_plots() -> None:
    md = to_markdown(make_result(), plots=["comparison.png"])
    assert "| MACs | 80.00M | 20.00M | 0.25x (75.0% less) |" in md
    assert "![comparison.png](comparison.png)" in md
    assert "| slim vs pruned (masked) model, PyTorch | 1e-07 |" in md


def test_int8_rows_in_the_table_and_report_json() -> None:
    from eegdeploy.report.render import int8_rows

    r = make_result()
    r.extras["int8"] = {"kept": True, "reason": ""}
    r.int8 = StageFigures(1_600_000, 20_000_000, 40_000_000, 0.845, 1_500_000,
                          {"ort-cpu": {"64": {"p50": 4.0, "p90": 4.4, "p99": 4.8}}})
    # by hand: 84.5 - 85.0 = -0.5 pts; 1.5e6 B / 24e6 B = 0.0625 (1.43 / 22.89 MiB); 60 ms / 4 ms = 15x
    assert int8_rows(r) == [("int8 test accuracy", "85.0%", "84.5%", "-0.5 pts"),
                            ("int8 ONNX size", "22.89 MiB", "1.43 MiB", "0.06x (93.8% less)"),
                            ("int8 ort-cpu p50, batch 64", "60.000 ms", "4.000 ms", "15.00x faster")]
    d = r.to_dict()
    assert d["int8"]["onnx_bytes"] == 1_500_000 and validate_report(d) == []
    buf = io.StringIO()
    Console(file=buf, width=80, color_system=None).print(to_table(r))
    assert "│ int8 ort-cpu p50, batch 64 │" in buf.getvalue().replace("  ", " ").replace("  ", " ")
    r.int8 = None
    r.extras["int8"] = {"kept": False, "reason": "int8 is not faster than fp32 here"}
    assert int8_rows(r) == [("int8", "", "dropped", "int8 is not faster than fp32 here")]
    assert "int8" not in r.to_dict()


def test_no_int8_rows_unless_asked() -> None:
    from eegdeploy.report.render import int8_rows

    assert int8_rows(make_result()) == []
