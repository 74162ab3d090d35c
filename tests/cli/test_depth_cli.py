"""--ratio-depth and the per-dimension ratios through the CLI: compress drops blocks end to end (report.json
recipe, parity, ONNX), inspect lists the depth group, bad values are one line with exit 2."""

import json

import pytest

from eegdeploy.cli import main

from .test_tnas_cli import tiny  # noqa: F401  (the tiny torcheeg ViT checkpoint fixture)


@pytest.mark.parametrize("flags, words", [
    (["--method", "uwmp", "--ratio-depth", "0.5"], "--ratio-depth need a structured method"),
    (["--ratio-depth", "1.5"], "ratio_depth"),
    (["--ratio-heads", "0"], "ratio_heads"),
], ids=["uwmp", "depth-range", "heads-range"])
def test_bad_dimension_ratios_are_one_line(tiny, tmp_path, capsys, flags, words):  # noqa: F811
    code = main(["compress", str(tiny / "vit.pt"), "--profile", str(tiny / "tiny.toml"), *flags,
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_compress_drops_a_block_and_inspect_lists_it(tiny, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.setenv("COLUMNS", "200")  # the table unwrapped
    prof = ["--profile", str(tiny / "tiny.toml")]
    assert main(["inspect", str(tiny / "vit.pt"), *prof]) == 0
    out = capsys.readouterr().out
    assert "depth:transformer.layers" in out and "transformer.layers.1 (0, 1)" in out
    out_dir = tmp_path / "c"
    assert main(["compress", str(tiny / "vit.pt"), *prof, "--recover", "none", "--ratio-depth", "0.5",
                 "--ratio-mlp", "0.25", "--batch", "1", "--iters", "2", "--no-rewrite", "--out", str(out_dir)]) == 0
    rep = json.loads((out_dir / "report.json").read_text())
    assert rep["recipe"]["options"]["ratio_depth"] == 0.5 and rep["recipe"]["options"]["ratio_mlp"] == 0.25
    assert rep["parity"]["slim_vs_pruned_max_abs"] <= 1e-5 and rep["parity"]["onnx_vs_torch_max_abs"] <= 1e-4
    # 2 layers at ratio_depth 0.5: one dropped (floor), listed with the pruned groups
    assert "depth:transformer.layers" in rep["extras"]["pruned_layers"]
    assert rep["slim"]["macs"] < rep["baseline"]["macs"] / 2
