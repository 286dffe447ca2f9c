"""Every CLI argument explains itself, and every command's ``--help`` ends with an example that really parses."""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex
import subprocess
import sys

import pytest

from socialcrm.cli import build_parser
from socialcrm.cli.examples import EXAMPLES, command_line, subcommands

PARSER = build_parser()
COMMANDS = subcommands(PARSER)


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction | argparse._VersionAction)
    ]


def test_every_argument_and_command_has_help() -> None:
    missing: list[str] = []
    for action in _arguments(PARSER):
        if not action.help or action.help == argparse.SUPPRESS:
            missing.append(f"socialcrm {'/'.join(action.option_strings)}")
    for name, parser in [("", PARSER), *COMMANDS]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                missing += [
                    f"socialcrm {name} {sub}".replace("  ", " ") for sub in action.choices if not helps.get(sub)
                ]
        for action in _arguments(parser) if name else []:
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"socialcrm {name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "arguments without help text:\n" + "\n".join(missing)


def test_every_command_has_an_example_and_only_real_commands_do() -> None:
    names = {name for name, _ in COMMANDS}
    assert sorted(names - EXAMPLES.keys()) == [], "commands without an example in socialcrm/cli/examples.py"
    assert sorted(EXAMPLES.keys() - names) == [], "examples for commands that do not exist"
    for name, parser in COMMANDS:
        assert "example" in parser.format_help().split("options:")[-1], name


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_parses_with_the_real_parser(name: str) -> None:
    for example in EXAMPLES[name]:
        argv = shlex.split(command_line(example))
        assert argv[0] == "socialcrm"
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr):
                args = PARSER.parse_args(argv[1:])
        except SystemExit:
            pytest.fail(f"example of {name!r} does not parse: {example}\n{stderr.getvalue()}")
        command = [args.command] + [
            value
            for key, value in vars(args).items()
            if key.endswith("_command") and isinstance(value, str) and key != "command"
        ]
        ran = " ".join(command)
        assert f"{ran} ".startswith(f"{name} "), f"example of {name!r} runs {ran!r}: {example}"


def test_help_of_a_command_shows_its_example_from_the_installed_script() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "socialcrm", "customers", "import", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "the CSV file (UTF-8; a header row names the columns)" in result.stdout
    assert "example:\n  socialcrm customers import customers.csv --map customer_ref=Kundennummer" in result.stdout


def test_version_prints_the_package_version() -> None:
    from socialcrm import __version__

    result = subprocess.run(
        [sys.executable, "-m", "socialcrm", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"socialcrm {__version__}"
