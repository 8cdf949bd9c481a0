"""Every ``fcemu`` command documents itself (issue 11, failure 10): a one-line summary in
``fcemu --help``, a description paragraph on its own ``--help`` page, and help text for every
option and positional argument."""

from __future__ import annotations

import argparse

import pytest

from fcemu.cli.help import DESCRIPTIONS
from fcemu.cli.main import build_parser


def _subcommands(parser: argparse.ArgumentParser
                 ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action


def _undocumented(parser: argparse.ArgumentParser) -> list[str]:
    return [a.dest for a in parser._actions
            if not isinstance(a, argparse._SubParsersAction)
            and (not a.help or a.help == argparse.SUPPRESS)]


def test_every_command_has_a_summary_and_a_description() -> None:
    subcommands = _subcommands(build_parser())
    summaries = {c.dest: c.help for c in subcommands._choices_actions}
    assert set(summaries) == set(subcommands.choices) == set(DESCRIPTIONS)
    for name, parser in subcommands.choices.items():
        assert summaries[name] and "\n" not in summaries[name], name
        assert parser.description == DESCRIPTIONS[name] and len(parser.description) > 40, name


@pytest.mark.parametrize("name", sorted(DESCRIPTIONS))
def test_every_option_and_argument_has_help(name: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    parser = _subcommands(build_parser()).choices[name]
    assert _undocumented(parser) == []
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    page = capsys.readouterr().out
    assert DESCRIPTIONS[name][:40] in " ".join(page.split())


def test_the_top_level_options_have_help() -> None:
    parser = build_parser()
    assert _undocumented(parser) == [] and _subcommands(parser).help


@pytest.mark.parametrize(("args", "says"), [
    (["tasks", "--limit", "0"], "must be 1 or more"),
    (["tasks", "--limit", "many"], "expected a whole number"),
    (["serve", "--log-level", "loud"], "invalid choice"),
    (["invoke", "f", "--async", "--wait", "-1"], "must be 0 or more seconds"),
])
def test_bad_option_values_are_usage_errors(args: list[str], says: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(args)
    assert exited.value.code == 2 and says in capsys.readouterr().err


def test_log_level_is_case_insensitive() -> None:
    assert build_parser().parse_args(["serve", "--log-level", "debug"]).log_level == "DEBUG"
