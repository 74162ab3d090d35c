import pytest

from .catalog import ROWS, prepare, run_args


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_catalog(row, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text('{"previous": "run"}')
    args = prepare(row, tmp_path)  # may add an existing output of its own under out/
    before = _snapshot(out)
    res = run_args(row, args, tmp_path)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == row.code, res.stderr
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert row.expect.lower() in lines[0].lower(), lines[0]
    assert lines[0].startswith("eegdeploy: error: ")
    assert _snapshot(out) == before
    leftovers = [p for p in tmp_path.rglob(".eegdeploy-tmp-*")]
    assert leftovers == []
    assert not (tmp_path / "PWNED").exists()  # no file's payload ran
    assert "\x1b" not in res.stderr and "\x1b" not in res.stdout  # no escape sequence from a file reached the terminal
