import pytest

from .catalog import ROWS, prepare, run_args, run_args_in_process


def _snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_catalog(row, tmp_path):
    """Each row in this process, through the CLI's main(): the fast tier."""
    _check(row, tmp_path, run_args_in_process)


@pytest.mark.slow
@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_catalog_in_a_fresh_process(row, tmp_path):
    """Each row through `python -m eegdeploy`, as a user runs it (and as docs/errors.md is generated)."""
    _check(row, tmp_path, run_args)


def _check(row, tmp_path, run):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text('{"previous": "run"}')
    args = prepare(row, tmp_path)  # may add an existing output of its own under out/
    before = _snapshot(out)
    res = run(row, args, tmp_path)
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
