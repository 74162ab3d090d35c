from __future__ import annotations

import os

import pytest

from eegdeploy.errors import OutputError
from eegdeploy.io import TMP_PREFIX, Staging, write_json, write_text


def test_write_is_atomic_and_leaves_no_temp(tmp_path) -> None:
    p = write_json(tmp_path / "a.json", {"x": 1})
    assert p.read_text().strip() == '{\n  "x": 1\n}'
    assert [f.name for f in tmp_path.iterdir()] == ["a.json"]


def test_failed_write_keeps_previous_content(tmp_path) -> None:
    target = tmp_path / "r.json"
    write_text(target, "old")
    with pytest.raises(ValueError):
        write_json(target, {"bad": float("nan")})  # allow_nan=False
    assert target.read_text() == "old"
    assert not any(f.name.startswith(TMP_PREFIX) for f in tmp_path.iterdir())


def test_staging_commits_only_on_success(tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("previous")
    with pytest.raises(RuntimeError):
        with Staging(out) as stage:
            write_text(stage.path / "report.json", "new")
            raise RuntimeError("stage failed")
    assert (out / "report.json").read_text() == "previous"
    with Staging(out) as stage:
        write_text(stage.path / "report.json", "new")
        stage.commit()
    assert (out / "report.json").read_text() == "new"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["out"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_not_writable(tmp_path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(OutputError, match="not writable"):
        with Staging(ro):
            pass


def test_output_path_is_a_file(tmp_path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        with Staging(f):
            pass


def test_commit_removes_only_the_replaced_files_this_run_did_not_write(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name, text in (("slim.pt", "old model"), ("slim.int8.onnx", "old int8"), ("mine.txt", "user")):
        (out / name).write_text(text)
    with Staging(out) as stage:
        (stage.path / "slim.int8.onnx").write_text("new int8")
        (stage.path / "report.json").write_text("{}")
        moved = stage.commit(replaces=("slim.pt", "slim.int8.onnx"))
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt", "report.json", "slim.int8.onnx"]
    assert (out / "slim.int8.onnx").read_text() == "new int8" and (out / "mine.txt").read_text() == "user"
    assert sorted(p.name for p in moved) == ["report.json", "slim.int8.onnx"]
