"""supernet -> search -> compress --plan on a tiny torcheeg ViT; inspect shows the space; bad space files."""

import json

import pytest

from eegdeploy.cli import main

TINY = """name = "tiny-vit"
description = "a tiny torcheeg ViT for tests"
task = "valence"
classes = ["low", "high"]

[model]
arch = "torcheeg:ViT"
kwargs = { chunk_size = 32, grid_size = [9, 9], t_patch_size = 16, s_patch_size = [3, 3], hid_channels = 16, depth = 2, heads = 2, head_channels = 8, mlp_channels = 32, num_classes = 2 }

[input]
shape = [32, 9, 9]
layout = ["time", "grid_row", "grid_col"]
sampling_rate = 128
grid = "deap"

[synthetic]
n_samples = 64
n_subjects = 4

[train]
epochs = 1
batch_size = 16
lr = 0.001
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from eegdeploy.config import load_profile
    from eegdeploy.models import bundle_from_profile, save_checkpoint

    d = tmp_path_factory.mktemp("tnas")
    (d / "tiny.toml").write_text(TINY)
    prof = load_profile(str(d / "tiny.toml"))
    save_checkpoint(bundle_from_profile(prof), d / "vit.pt")
    return d


@pytest.mark.slow
def test_inspect_shows_the_space(tiny, capsys):
    assert main(["inspect", str(tiny / "vit.pt"), "--profile", str(tiny / "tiny.toml")]) == 0
    out = capsys.readouterr().out
    # by hand: embedding 16 -> 8,10,12,14,16; heads 1,2; MLP 32 -> 8,16,24,32; 2 blocks each kept or dropped:
    # 5 x (2 x 4 x 2)^2 = 1280
    assert "search space: 1,280 subnets" in out and "heads 2 -> [1, 2]" in out and "[8, 16, 24, 32]" in out
    assert "kept or dropped" in " ".join(out.split())  # the console wraps long lines


@pytest.mark.parametrize("text, words", [
    ("heads = [3]\n", "heads: choice 3 is not a head count between 1 and 2"),
    ("mlp_ratio = [0.01]\n", "mlp_ratio: ratio 0.01 gives MLP width 0"),
    ("depth = [1]\n", "unknown key 'depth'"),
    ("heads = [1,\n", "is not valid TOML"),
])
def test_bad_space_file_is_one_line_exit_2(tiny, tmp_path, capsys, text, words):
    f = tmp_path / "space.toml"
    f.write_text(text)
    out = tmp_path / "sn.pt"
    assert main(["supernet", str(tiny / "vit.pt"), "--profile", str(tiny / "tiny.toml"), "--space", str(f),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not out.exists()


@pytest.mark.slow
def test_supernet_search_compress(tiny, tmp_path, capsys):
    prof = ["--profile", str(tiny / "tiny.toml")]
    sn = tmp_path / "sn.pt"
    assert main(["supernet", str(tiny / "vit.pt"), *prof, "--epochs", "1", "--random-subnets", "1",
                 "--out", str(sn)]) == 0
    out = tmp_path / "search"
    assert main(["search", str(sn), *prof, "--population", "6", "--generations", "2", "--out", str(out)]) == 0
    for name in ("front.md", "front.png", "candidates.json", "plan.json"):
        assert (out / name).is_file()
    res = json.loads((out / "candidates.json").read_text())
    assert res["objective"] == "params" and res["front"]
    # the smallest subnet is always evaluated: by hand its params are below the model's
    assert min(c["params"] for c in res["candidates"]) < res["baseline"]["params"]
    plan = json.loads((out / "plan.json").read_text())
    assert "subnet" in plan
    comp = tmp_path / "comp"
    assert main(["compress", str(sn), *prof, "--plan", str(out / "plan.json"), "--recover", "none",
                 "--no-measure", "--out", str(comp)]) == 0
    assert (comp / "slim.onnx").is_file()
    rep = json.loads((comp / "report.json").read_text())
    assert json.dumps(rep).count("slim.onnx") >= 1
    # the report shows the transformer's shape before and after: the chosen subnet's widths and kept blocks
    st, sub = rep["extras"]["structure"], plan["subnet"]
    assert st["embedding"] == [16, sub["embedding"]]
    assert st["depth"] == [2, sum(b["kept"] for b in sub["blocks"])]
    for b, s in zip(st["blocks"], sub["blocks"]):
        assert b["heads"] == [2, s["heads"] if s["kept"] else 0] and b["mlp"][0] == 32
    assert "## Transformer structure" in (comp / "report.md").read_text()
    # slim.onnx is verified, and ships the patch embedding as a strided conv (the cost model always takes it)
    assert rep["parity"]["onnx_vs_torch_max_abs"] <= 1e-4
    assert (rep["rewrites"][0]["kind"], rep["rewrites"][0]["form"]) == ("patch-conv", "strided-conv")
    import onnx

    ops = [n.op_type for n in onnx.load(comp / "slim.onnx").graph.node]
    assert "Conv" in ops and "Conv" not in [n.op_type for n in onnx.load(comp / "baseline.onnx").graph.node]
    assert "strided-conv (to_patch_embedding, not costed)" in (comp / "model-card.md").read_text()
