from __future__ import annotations

import pytest

from eegdeploy.cli import COMMANDS, build_parser


def test_help_lists_every_command(cli) -> None:
    res = cli("--help")
    assert res.returncode == 0
    for name in build_parser()._subparsers._group_actions[0].choices:  # type: ignore[union-attr]
        assert name in res.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(cli, command: str) -> None:
    choices = build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert command in choices
    res = cli(command, "--help")
    assert res.returncode == 0, res.stderr
    assert "usage: eegdeploy " + command in res.stdout


def test_profiles_lists_shipped(cli) -> None:
    res = cli("profiles")
    assert res.returncode == 0
    for name in ("ccnn-deap", "fbccnn-deap", "tsception-deap", "eegnet-deap"):
        assert name in res.stdout


def test_version(cli) -> None:
    res = cli("--version")
    assert res.returncode == 0 and res.stdout.startswith("eegdeploy ")


@pytest.mark.slow
def test_unknown_profile_is_one_line(cli, tmp_path) -> None:
    res = cli("train", "--profile", "nope", "--out", str(tmp_path / "m.pt"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert lines[0].startswith("eegdeploy: error: unknown profile 'nope', expected one of")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_missing_checkpoint_is_one_line(cli, tmp_path) -> None:
    res = cli("compress", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "out"))
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [f"eegdeploy: error: checkpoint '{tmp_path / 'nope.pt'}' not found; check the path"]
    assert not (tmp_path / "out").exists()


def test_internal_failure_is_exit_1_with_hint_and_traceback_only_with_debug(monkeypatch, capsys) -> None:
    import eegdeploy.cli.profiles as profiles
    from eegdeploy.cli import main

    def boom(args, console):
        raise RuntimeError("something broke inside")

    monkeypatch.setattr(profiles, "run", boom)
    assert main(["profiles"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: something broke inside" in err and "--debug" in err
    assert "Traceback" not in err
    assert main(["--debug", "profiles"]) == 1
    assert "Traceback" in capsys.readouterr().err
