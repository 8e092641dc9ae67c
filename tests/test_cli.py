"""The command line: every command and subcommand answers --help, and errors are one line."""

from __future__ import annotations

import argparse

import pytest

from svhn_erase import cli


def _all_command_paths() -> list[list[str]]:
    """Every command path, e.g. ['data', 'synth'], found by walking the parser."""
    paths: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    paths.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(cli.build_parser(), [])
    return paths


def test_expected_commands_exist() -> None:
    names = {" ".join(p) for p in _all_command_paths()}
    assert {"data", "data synth", "data index", "data download"} <= names


@pytest.mark.parametrize("path", _all_command_paths(), ids=lambda p: " ".join(p))
def test_every_command_has_help(path: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([*path, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: svhn-erase " + " ".join(path))
    assert len(out.splitlines()) > 3


def test_user_error_is_one_line_exit_2(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["data", "index", "--root", str(tmp_path), "--split", "nope"])
    assert code == 2
    err = capsys.readouterr().err
    assert "nope" in err and "Traceback" not in err


def test_detect_help_quotes_the_packaged_detector(capsys: pytest.CaptureFixture[str]) -> None:
    """The other numbers' score --help quotes is the packaged detector's own (it said 0.6
    after a recalibration had made it 0.5)."""
    from svhn_erase.detection import load_detector

    with pytest.raises(SystemExit):
        cli.main(["detect", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    other = load_detector().settings.other_min_score
    assert f"other_min_score, {other:g} for the packaged detector" in text
